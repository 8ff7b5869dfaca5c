"""A slide in a notebook: thumbnail, a zoom/pan viewport that reads regions on demand, and a viewer link.

``show(slide)`` builds an ipywidgets box: the thumbnail with the viewport drawn on it, sliders for level and
position (level-0 pixels), the viewport itself (only the tiles it covers are fetched, cached ones are read
from disk), and a link to the slide in the server's own WSI viewer (Orthanc's ``orthanc-wsi`` plugin), or a
line saying why there is none.
"""

from __future__ import annotations

import html
import io
import logging
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from workbench.imaging.slides.slide import Slide

logger = logging.getLogger(__name__)

VIEWPORT = 512
"""Side of the zoom/pan viewport in screen pixels."""


def _png(array: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def viewport_box(
    slide: Slide, level: int, x: int, y: int, size: int, thumb_shape: tuple[int, int]
) -> tuple[int, ...]:
    """The viewport ``(left, top, right, bottom)`` in thumbnail pixels."""
    width, height = slide.dimensions
    scale_x, scale_y = thumb_shape[1] / width, thumb_shape[0] / height
    extent = size * slide.level(level).downsample
    return (
        int(x * scale_x),
        int(y * scale_y),
        int(min(x + extent, width) * scale_x),
        int(min(y + extent, height) * scale_y),
    )


def link_html(slide: Slide) -> str:
    """An HTML link to the server's slide viewer, or the reason there is none."""
    url = slide.viewer_url()
    if url is None:
        return f"<i>{html.escape(slide.viewer_note())}</i>"
    return f'<a href="{html.escape(url)}" target="_blank">open in the server\'s slide viewer</a>'


def show(
    slide: Slide, *, thumbnail_size: int = 384, viewport: int = VIEWPORT, level: int | None = None
) -> Any:
    """An interactive view of ``slide`` (returned; a notebook displays it).

    Parameters
    ----------
    slide
        An open slide.
    thumbnail_size
        Longer side of the thumbnail.
    viewport
        Side of the zoom/pan view in pixels of the chosen level.
    level
        Starting level (default the coarsest whose whole slide is larger than the viewport).

    Returns
    -------
    ipywidgets.VBox
    """
    import ipywidgets as widgets
    from PIL import Image, ImageDraw

    thumb = slide.thumbnail(thumbnail_size)
    width, height = slide.dimensions
    if level is None:
        level = next((lvl.index for lvl in reversed(slide.levels) if max(lvl.size) > viewport), 0)
    level_slider = widgets.IntSlider(value=level, min=0, max=len(slide.levels) - 1, description="level")
    x_slider = widgets.IntSlider(value=0, min=0, max=max(width - 1, 0), step=64, description="x")
    y_slider = widgets.IntSlider(value=0, min=0, max=max(height - 1, 0), step=64, description="y")
    thumb_image = widgets.Image(format="png", layout=widgets.Layout(border="1px solid #ccc"))
    view_image = widgets.Image(format="png", width=viewport, height=viewport)
    status = widgets.HTML()

    def update(*_: Any) -> None:
        lvl = slide.level(level_slider.value)
        size = (min(viewport, lvl.width), min(viewport, lvl.height))
        region = slide.read_region((x_slider.value, y_slider.value), lvl.index, size)
        view_image.value = _png(region)
        marked = Image.fromarray(thumb)
        box = viewport_box(slide, lvl.index, x_slider.value, y_slider.value, max(size), thumb.shape[:2])
        ImageDraw.Draw(marked).rectangle(box, outline=(0, 160, 0), width=2)
        thumb_image.value = _png(np.asarray(marked))
        spacing = lvl.pixel_spacing_um
        status.value = (
            f"level {lvl.index}: {lvl.width}x{lvl.height} px, downsample {lvl.downsample:g}"
            + (f", {spacing[0]:.2f} µm/px" if spacing else "")
            + f"; tiles fetched {slide.stats.frames_fetched}, from cache {slide.stats.frames_cached}"
        )

    for control in (level_slider, x_slider, y_slider):
        control.observe(update, names="value")
    update()
    title = widgets.HTML(
        f"<b>{html.escape(slide.description.patient_name)}</b> {html.escape(slide.description.specimen)} "
        f"{html.escape(slide.description.stain)}<br>{width}x{height} px, {len(slide.levels)} levels"
    )
    controls = widgets.VBox(
        [title, thumb_image, level_slider, x_slider, y_slider, status, widgets.HTML(link_html(slide))]
    )
    return widgets.HBox([controls, view_image])
