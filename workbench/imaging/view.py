"""Looking at volumes: window/level presets, a montage of slices, three orthogonal planes at true scale.

matplotlib is imported when a figure is drawn, not when this module is imported.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from workbench.imaging.volume import Volume

logger = logging.getLogger(__name__)


class Preset(StrEnum):
    """Common CT windows (Hounsfield units)."""

    LUNG = "lung"
    MEDIASTINUM = "mediastinum"
    BONE = "bone"
    BRAIN = "brain"
    ABDOMEN = "abdomen"
    SOFT_TISSUE = "soft_tissue"


@dataclass(frozen=True)
class Window:
    """A display window: values below ``center - width/2`` are black, above ``center + width/2`` white."""

    center: float
    width: float

    @property
    def limits(self) -> tuple[float, float]:
        """(vmin, vmax) for matplotlib."""
        return self.center - self.width / 2, self.center + self.width / 2


PRESETS: dict[Preset, Window] = {
    Preset.LUNG: Window(-600, 1500),
    Preset.MEDIASTINUM: Window(50, 350),
    Preset.BONE: Window(400, 1800),
    Preset.BRAIN: Window(40, 80),
    Preset.ABDOMEN: Window(40, 400),
    Preset.SOFT_TISSUE: Window(50, 400),
}


def window(
    volume: Volume,
    preset: str | Preset | None = None,
    center: float | None = None,
    width: float | None = None,
) -> Window:
    """Choose a window: explicit ``center``/``width``, else a preset, else the file's, else the data range.

    Raises
    ------
    ValueError
        An unknown preset (the message lists the known ones) or a width that is not positive.
    """
    if center is not None or width is not None:
        if center is None or width is None or width <= 0:
            raise ValueError(f"give both center and a positive width, got center={center}, width={width}")
        return Window(float(center), float(width))
    if preset is not None:
        try:
            return PRESETS[Preset(preset)]
        except ValueError:
            raise ValueError(f"unknown preset {preset!r}; use one of {[p.value for p in Preset]}") from None
    meta = volume.metadata
    if meta.get("window_center") is not None and meta.get("window_width"):
        return Window(float(meta["window_center"]), float(meta["window_width"]))
    low, high = np.percentile(volume.array, [0.5, 99.5])
    return Window(float(low + high) / 2, float(max(high - low, 1e-6)))


def _planes(volume: Volume, index: tuple[int, int, int] | None) -> list[tuple[str, np.ndarray, float]]:
    """Axial, coronal and sagittal cuts through ``index`` (k, j, i), with the pixel aspect each needs."""
    k, j, i = index or tuple(s // 2 for s in volume.array.shape[:3])
    sx, sy, sz = volume.spacing
    return [
        (f"slice k={k}", volume.array[k], sy / sx),
        (f"row j={j}", volume.array[::-1, j], sz / sx),
        (f"column i={i}", volume.array[::-1, :, i], sz / sy),
    ]


def orthogonal(
    volume: Volume,
    index: tuple[int, int, int] | None = None,
    *,
    preset: str | None = None,
    center: float | None = None,
    width: float | None = None,
    ax: Any = None,
) -> Figure:
    """Three orthogonal planes through one voxel, each drawn at its true physical aspect ratio.

    Parameters
    ----------
    volume
        The volume.
    index
        (k, j, i) voxel the planes cross; default the centre.
    preset, center, width
        Window (see :func:`window`).
    ax
        Three matplotlib axes to draw in; default a new figure.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    win = window(volume, preset, center, width)
    if ax is None:
        fig, ax = plt.subplots(1, 3, figsize=(12, 4.5))
    else:
        fig = ax[0].figure
    for axis, (title, image, aspect) in zip(ax, _planes(volume, index), strict=True):
        axis.imshow(
            image, cmap="gray", vmin=win.limits[0], vmax=win.limits[1], aspect=aspect, interpolation="nearest"
        )
        axis.set_title(title)
        axis.axis("off")
    fig.suptitle(_title(volume, win))
    return fig


def montage(
    volume: Volume,
    n: int = 16,
    *,
    columns: int = 4,
    preset: str | None = None,
    center: float | None = None,
    width: float | None = None,
) -> Figure:
    """``n`` evenly spaced slices of the volume in a grid.

    Parameters
    ----------
    volume
        The volume.
    n
        How many slices (at most the number there is).
    columns
        Slices per row.
    preset, center, width
        Window (see :func:`window`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    if n < 1 or columns < 1:
        raise ValueError(f"n and columns must be positive, got n={n}, columns={columns}")
    win = window(volume, preset, center, width)
    depth = volume.array.shape[0]
    picks = np.unique(np.linspace(0, depth - 1, min(n, depth)).round().astype(int))
    rows = int(np.ceil(len(picks) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(3 * columns, 3 * rows), squeeze=False)
    sx, sy, _ = volume.spacing
    for axis in axes.flat:
        axis.axis("off")
    for axis, k in zip(axes.flat, picks, strict=False):
        axis.imshow(
            volume.array[k],
            cmap="gray",
            vmin=win.limits[0],
            vmax=win.limits[1],
            aspect=sy / sx,
            interpolation="nearest",
        )
        axis.set_title(f"k={k}", fontsize=9)
    fig.suptitle(_title(volume, win))
    fig.tight_layout()
    return fig


def show(
    volume: Volume,
    preset: str | None = None,
    *,
    center: float | None = None,
    width: float | None = None,
    mode: str = "planes",
    n: int = 16,
    index: tuple[int, int, int] | None = None,
) -> Figure:
    """Show a volume in a notebook.

    Parameters
    ----------
    volume
        The volume.
    preset
        ``"lung"``, ``"mediastinum"``, ``"bone"``, ``"brain"``, ``"abdomen"`` or ``"soft_tissue"``; or give
        ``center`` and ``width``; by default the window stored in the files, else the data range.
    center, width
        Explicit window (Hounsfield units for CT).
    mode
        ``"planes"`` (three orthogonal planes at true scale) or ``"montage"``.
    n
        Slices in a montage.
    index
        (k, j, i) voxel the planes cross.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        An unknown preset or mode.
    """
    if mode == "planes":
        return orthogonal(volume, index, preset=preset, center=center, width=width)
    if mode == "montage":
        return montage(volume, n, preset=preset, center=center, width=width)
    raise ValueError(f"unknown mode {mode!r}; use 'planes' or 'montage'")


def _title(volume: Volume, win: Window) -> str:
    meta = volume.metadata
    what = " ".join(str(v) for v in (meta.get("modality"), meta.get("series_description")) if v)
    return f"{what}  W {win.width:g} / L {win.center:g}".strip()
