"""A study browser for notebooks (ipywidgets): search form -> results table -> series -> slices.

The browser never blocks: every action runs in a button or slider callback. Its steps are also plain
methods (:meth:`StudyBrowser.search`, :meth:`~StudyBrowser.choose_study`, :meth:`~StudyBrowser.load`,
:meth:`~StudyBrowser.render`), so it is driven the same way headless (tests, papermill).
"""

from __future__ import annotations

import html
import io
import logging
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import WorkbenchError
from workbench.imaging.archive import Archive
from workbench.imaging.view import PRESETS, Preset, Window, window
from workbench.imaging.volume import Volume
from workbench.optional import optional_import

logger = logging.getLogger(__name__)

THUMBNAILS = 8
"""Thumbnails shown under the slice viewer."""


def to_png(image: np.ndarray, win: Window, *, aspect: float = 1.0, size: int | None = None) -> bytes:
    """A 2-D slice as 8-bit PNG bytes with a window applied (rows stretched by ``aspect`` = dy/dx).

    Parameters
    ----------
    image
        2-D array (or 3-D colour, shown as is).
    win
        Display window.
    aspect
        Physical height/width of a pixel; rows are repeated so the image is not distorted.
    size
        Longest side in pixels (thumbnails), by striding.
    """
    import matplotlib.image

    if image.ndim == 2:
        low, high = win.limits
        scaled = np.clip((image.astype(np.float32) - low) / max(high - low, 1e-6), 0, 1)
    else:
        scaled = image.astype(np.float32) / max(float(image.max()), 1.0)
    if size:
        step = max(1, int(np.ceil(max(scaled.shape[:2]) / size)))
        scaled = scaled[::step, ::step]
    if abs(aspect - 1.0) > 0.05:
        rows = np.round(np.arange(0, scaled.shape[0], 1 / aspect)).astype(int)
        scaled = scaled[np.clip(rows, 0, scaled.shape[0] - 1)]
    buffer = io.BytesIO()
    matplotlib.image.imsave(buffer, scaled, cmap="gray", vmin=0, vmax=1, format="png")
    return buffer.getvalue()


class StudyBrowser:
    """Search an archive, pick a study and a series, page through its slices with window/level controls.

    Parameters
    ----------
    archive
        Default: ``workbench.imaging.connect()``.
    limit
        Most studies listed per search.

    Attributes
    ----------
    widget : ipywidgets.VBox
        The whole browser; displaying the object displays it.
    studies : pandas.DataFrame
        The last search's results.
    volume : Volume or None
        The series being viewed.
    """

    def __init__(self, archive: Archive | None = None, *, limit: int = 200) -> None:
        w = optional_import("ipywidgets", what="the study browser")

        from workbench.imaging.connection import connect

        self.archive = archive if archive is not None else connect()
        self.limit = limit
        self.studies = pd.DataFrame()
        self.series = pd.DataFrame()
        self.volume: Volume | None = None

        self.patient_name = w.Text(description="Name", placeholder="山田, やまだ or yamada")
        self.patient_id = w.Text(description="Patient ID")
        self.date_from = w.DatePicker(description="From")
        self.date_to = w.DatePicker(description="To")
        self.modality = w.Dropdown(description="Modality", options=["", "CT", "MR", "CR", "DX", "PT", "US"])
        self.search_button = w.Button(description="Search", button_style="primary", icon="search")
        self.message = w.HTML()
        self.table = w.HTML()
        self.study_picker = w.Select(description="Study", rows=6, layout=w.Layout(width="95%"))
        self.explorer = w.HTML()
        self.series_picker = w.Dropdown(description="Series", layout=w.Layout(width="95%"))
        self.load_button = w.Button(description="Load series", icon="download")
        self.slice = w.IntSlider(description="Slice", min=0, max=0, continuous_update=False)
        self.preset = w.Dropdown(description="Window", options=["(file)", *[p.value for p in Preset]])
        self.center = w.FloatSlider(description="Center", min=-1500, max=3000, step=10)
        self.width = w.FloatSlider(description="Width", min=1, max=4000, step=10, value=400)
        self.image = w.Image(format="png")
        self.thumbnails = w.HBox()

        self.search_button.on_click(lambda _: self._guard(self.search))
        self.study_picker.observe(lambda change: self._guard(self.choose_study, change["new"]), names="value")
        self.load_button.on_click(lambda _: self._guard(self.load, self.series_picker.value))
        self.preset.observe(lambda change: self._apply_preset(change["new"]), names="value")
        for control in (self.slice, self.center, self.width):
            control.observe(lambda _: self._guard(self.render), names="value")

        form = w.VBox(
            [
                w.HBox([self.patient_name, self.patient_id, self.modality]),
                w.HBox([self.date_from, self.date_to, self.search_button]),
            ]
        )
        viewer = w.VBox(
            [
                w.HBox([self.slice, self.preset]),
                w.HBox([self.center, self.width]),
                self.image,
                self.thumbnails,
            ]
        )
        self.widget = w.VBox(
            [
                form,
                self.message,
                self.table,
                self.study_picker,
                self.explorer,
                w.HBox([self.series_picker, self.load_button]),
                viewer,
            ]
        )

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def _guard(self, action: Any, *args: Any) -> None:
        """Run a callback; a user's mistake becomes a message in the browser, not a traceback."""
        try:
            action(*args)
        except WorkbenchError as exc:
            self.message.value = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"

    # -- steps -----------------------------------------------------------------------------------------
    def search(self, **filters: Any) -> pd.DataFrame:
        """Search with the form's values (or ``filters``), fill the table and the study picker."""
        if not filters:
            filters = {
                "patient_name": self.patient_name.value or None,
                "patient_id": self.patient_id.value or None,
                "modality": self.modality.value or None,
                "study_date": (self.date_from.value, self.date_to.value)
                if self.date_from.value or self.date_to.value
                else None,
            }
        self.studies = self.archive.studies(**filters, limit=self.limit)
        shown = self.studies[
            ["study_date", "patient_id", "patient_name", "modalities", "study_description", "n_series"]
        ].copy()
        shown["study_date"] = shown["study_date"].dt.strftime("%Y-%m-%d").fillna("")
        self.table.value = shown.to_html(index=False, max_rows=20, escape=True)
        self.message.value = f"{len(self.studies)} studies"
        self.study_picker.options = [
            (
                f"{r.study_date:%Y-%m-%d} {r.patient_name} {r.modalities} {r.study_description}"
                if pd.notna(r.study_date)
                else f"{r.patient_name} {r.modalities}",
                r.study_uid,
            )
            for r in self.studies.itertuples()
        ]
        return self.studies

    def choose_study(self, study_uid: str | None) -> pd.DataFrame:
        """List the series of a study and link its page in Orthanc Explorer."""
        if not study_uid:
            return self.series
        self.series = self.archive.series(study_uid=study_uid)
        self.series_picker.options = [
            (f"#{r.series_number} {r.modality} {r.series_description} ({r.n_instances} images)", r.series_uid)
            for r in self.series.itertuples()
        ]
        if not self.series.empty:  # preselect the largest series
            self.series_picker.value = self.series.series_uid[self.series.n_instances.idxmax()]
        url = self.archive.explorer_url(study_uid)
        self.explorer.value = (
            f"<a href='{html.escape(url)}' target='_blank'>Open the study in the viewer ↗</a>"
        )
        return self.series

    def load(self, series_uid: str | None) -> Volume | None:
        """Load a series, reset the slider and window, draw the slice and thumbnails."""
        if not series_uid:
            return None
        self.volume = self.archive.load_series(series_uid, progress=False)
        depth = self.volume.array.shape[0]
        win = window(self.volume)
        with self.slice.hold_trait_notifications(), self.center.hold_trait_notifications():
            self.slice.max = depth - 1
            self.slice.value = depth // 2
            self.center.value = win.center
            self.width.value = win.width
        self.render()
        self._thumbnails(win)
        self.message.value = html.escape(repr(self.volume))
        return self.volume

    def render(self) -> bytes:
        """Draw the current slice with the current window; returns the PNG."""
        if self.volume is None:
            return b""
        sx, sy, _ = self.volume.spacing
        png = to_png(
            self.volume.array[self.slice.value], Window(self.center.value, self.width.value), aspect=sy / sx
        )
        self.image.value = png
        return png

    def _apply_preset(self, name: str) -> None:
        if name in (p.value for p in Preset):
            win = PRESETS[Preset(name)]
            self.center.value, self.width.value = win.center, win.width

    def _thumbnails(self, win: Window) -> None:
        w = optional_import("ipywidgets", what="the study browser")

        assert self.volume is not None
        depth = self.volume.array.shape[0]
        picks = np.unique(np.linspace(0, depth - 1, min(THUMBNAILS, depth)).round().astype(int))
        self.thumbnails.children = [
            w.VBox(
                [w.Image(value=to_png(self.volume.array[k], win, size=96), format="png"), w.Label(f"k={k}")]
            )
            for k in picks
        ]


def browser(archive: Archive | None = None, **kwargs: Any) -> StudyBrowser:
    """Build a :class:`StudyBrowser` (display it as a cell's last expression).

    Parameters
    ----------
    archive
        Default: ``workbench.imaging.connect()``.
    **kwargs
        Passed to :class:`StudyBrowser`.
    """
    return StudyBrowser(archive, **kwargs)
