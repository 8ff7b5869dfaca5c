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


IMAGE_SIZE = 420
"""Longest side of the slice image on screen (CSS pixels): image and controls fit side by side at 1366x768."""

STUDY_COLUMNS = ["study_date", "patient_id", "patient_name", "modalities", "study_description", "n_series"]


def plural(n: int, one: str, many: str) -> str:
    """``1 study``, ``2 studies``, ``0 studies``."""
    return f"{n} {one if n == 1 else many}"


class StudyBrowser:
    """Search an archive, pick a study and a series, page through its slices with window/level controls.

    Enter in the name or ID box searches; the form always shows the filters that produced the table (also
    after :meth:`search` is called with filters). The slice image (at most :data:`IMAGE_SIZE` pixels) sits
    beside its controls and is labelled with patient, study date, series and slice. The link opens the
    series in Orthanc's web viewer through JupyterLab (:mod:`workbench.jupyter.proxy`), behind JupyterLab's
    login.

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
        self.file_window: Window | None = None
        self._filling = False
        self._series_label = ""

        self.patient_name = w.Text(
            description="Name", placeholder="山田, やまだ or yamada", continuous_update=False
        )
        self.patient_id = w.Text(description="Patient ID", continuous_update=False)
        self.date_from = w.DatePicker(description="From")
        self.date_to = w.DatePicker(description="To")
        self.modality = w.Dropdown(description="Modality", options=["", "CT", "MR", "CR", "DX", "PT", "US"])
        self.search_button = w.Button(description="Search", button_style="primary", icon="search")
        self.message = w.HTML()
        self.table = w.HTML(layout=w.Layout(max_height="160px", overflow="auto"))
        self.study_picker = w.Select(description="Study", rows=5, layout=w.Layout(width="98%"))
        self.explorer = w.HTML()
        self.series_picker = w.Dropdown(description="Series", layout=w.Layout(width="98%"))
        self.load_button = w.Button(description="Load series", icon="download")
        self.slice = w.IntSlider(description="Slice", min=0, max=0, continuous_update=False)
        self.preset = w.Dropdown(description="Window", options=["(file)", *[p.value for p in Preset]])
        self.center = w.FloatSlider(
            description="Center", min=-1500, max=3000, step=1, readout_format=".0f", continuous_update=False
        )
        self.width = w.FloatSlider(
            description="Width",
            min=1,
            max=4000,
            step=1,
            value=400,
            readout_format=".0f",
            continuous_update=False,
        )
        self.caption = w.HTML()
        self.image = w.Image(
            format="png",
            layout=w.Layout(
                display="none",
                max_width=f"{IMAGE_SIZE}px",
                max_height=f"{IMAGE_SIZE}px",
                object_fit="contain",
            ),
        )
        self.thumbnails = w.HBox(layout=w.Layout(flex_flow="row wrap"))

        self.search_button.on_click(lambda _: self._guard(self.search))
        for box in (self.patient_name, self.patient_id):  # Enter (or leaving the box) searches
            box.observe(lambda _: None if self._filling else self._guard(self.search), names="value")
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
        controls = w.VBox(
            [
                self.study_picker,
                self.series_picker,
                w.HBox([self.load_button, self.explorer]),
                self.slice,
                self.preset,
                self.center,
                self.width,
            ],
            layout=w.Layout(flex="1 1 0%", min_width="380px"),
        )
        picture = w.VBox([self.caption, self.image], layout=w.Layout(width=f"{IMAGE_SIZE + 10}px"))
        self.widget = w.VBox([form, self.message, self.table, w.HBox([picture, controls]), self.thumbnails])

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
        """Search with the form's values (or ``filters``, which the form then shows), fill table and picker.

        A new search clears the previous series, image and link.
        """
        if filters:
            self._show_filters(filters)
        else:
            filters = self._form_filters()
        self._clear_viewer()
        self.studies = self.archive.studies(**filters, limit=self.limit)
        shown = self.studies[STUDY_COLUMNS].copy()
        shown["study_date"] = shown["study_date"].dt.strftime("%Y-%m-%d").fillna("")
        self.table.value = shown.to_html(index=False, max_rows=20, escape=True)
        used = ", ".join(f"{k.replace('_', ' ')} {_shown(v)}" for k, v in filters.items() if v)
        self.message.value = html.escape(
            plural(len(self.studies), "study", "studies") + (f" for {used}" if used else " (no filters)")
        )
        with self.study_picker.hold_trait_notifications():
            self.study_picker.options = [
                (
                    f"{r.study_date:%Y-%m-%d} {r.patient_name} {r.modalities} {r.study_description}"
                    if pd.notna(r.study_date)
                    else f"{r.patient_name} {r.modalities}",
                    r.study_uid,
                )
                for r in self.studies.itertuples()
            ]
            self.study_picker.value = None
        return self.studies

    def _form_filters(self) -> dict[str, Any]:
        return {
            "patient_name": self.patient_name.value.strip() or None,
            "patient_id": self.patient_id.value.strip() or None,
            "modality": self.modality.value or None,
            "study_date": (self.date_from.value, self.date_to.value)
            if self.date_from.value or self.date_to.value
            else None,
        }

    def _show_filters(self, filters: dict[str, Any]) -> None:
        """Put a programmatic search's filters into the form (without searching again)."""
        self._filling = True
        try:
            self.patient_name.value = str(filters.get("patient_name") or "")
            self.patient_id.value = str(filters.get("patient_id") or "")
            modality = filters.get("modality") or ""
            if modality not in self.modality.options:
                self.modality.options = [*self.modality.options, modality]
            self.modality.value = modality
            dates = filters.get("study_date")
            low, high = dates if isinstance(dates, tuple) else (None, None)
            self.date_from.value = pd.Timestamp(low).date() if low else None
            self.date_to.value = pd.Timestamp(high).date() if high else None
        finally:
            self._filling = False

    def _clear_viewer(self) -> None:
        self.series = pd.DataFrame()
        self.volume = None
        self.file_window = None
        self.series_picker.options = []
        self.explorer.value = ""
        self.caption.value = ""
        self.image.value = b""
        self.image.layout.display = "none"
        self.thumbnails.children = []
        with self.slice.hold_trait_notifications():
            self.slice.max = 0
            self.slice.value = 0

    def choose_study(self, study_uid: str | None) -> pd.DataFrame:
        """List the series of a study (the largest preselected) and link it in the viewer."""
        if not study_uid:
            return self.series
        self._clear_viewer()
        self.series = self.archive.series(study_uid=study_uid)
        self.series_picker.options = [
            (f"#{r.series_number} {r.modality} {r.series_description} ({r.n_instances} images)", r.series_uid)
            for r in self.series.itertuples()
        ]
        if not self.series.empty:  # preselect the largest series
            self.series_picker.value = self.series.series_uid[self.series.n_instances.idxmax()]
        self.explorer.value = self._link(study_uid, self.series_picker.value)
        return self.series

    def _link(self, study_uid: str, series_uid: str | None) -> str:
        """The viewer link: Orthanc's web viewer through JupyterLab, else the archive's own page."""
        viewer_path = getattr(self.archive, "viewer_path", None)
        if viewer_path is not None and series_uid:
            from workbench.jupyter.base_url import proxied_path

            url, text = proxied_path(viewer_path(series_uid)), "Open the series in the viewer ↗"
        else:
            url, text = self.archive.explorer_url(study_uid), "Open the study in the archive ↗"
        return f"<a href='{html.escape(url)}' target='_blank' class='workbench-viewer-link'>{text}</a>"

    def load(self, series_uid: str | None) -> Volume | None:
        """Load a series (showing it is busy), reset slider and window, draw slice and thumbnails."""
        if not series_uid:
            return None
        self.load_button.disabled, self.load_button.icon = True, "spinner"
        self.load_button.description = "Loading…"
        self.message.value = "Loading the series…"
        try:
            self.volume = self.archive.load_series(series_uid, progress=False)
        finally:
            self.load_button.disabled, self.load_button.icon = False, "download"
            self.load_button.description = "Load series"
        row = self.series[self.series.series_uid == series_uid] if not self.series.empty else self.series
        self._series_label = (
            f"#{row.series_number.iloc[0]} {row.modality.iloc[0]} {row.series_description.iloc[0]}"
            if len(row)
            else str(self.volume.metadata.get("series_description") or series_uid)
        )
        depth = self.volume.array.shape[0]
        self.file_window = window(self.volume)
        with self.slice.hold_trait_notifications(), self.preset.hold_trait_notifications():
            self.slice.max = depth - 1
            self.slice.value = depth // 2
            self.preset.value = "(file)"
        self._set_window(self.file_window)
        self.render()
        self._thumbnails(self.file_window)
        self.explorer.value = self._link(str(self.volume.metadata.get("study_uid", "")), series_uid)
        self.message.value = html.escape(repr(self.volume))
        return self.volume

    def render(self) -> bytes:
        """Draw the current slice with the current window and label it; returns the PNG."""
        if self.volume is None:
            return b""
        sx, sy, _ = self.volume.spacing
        png = to_png(
            self.volume.array[self.slice.value], Window(self.center.value, self.width.value), aspect=sy / sx
        )
        self.image.value = png
        self.image.layout.display = ""
        meta = self.volume.metadata
        study = (
            self.studies[self.studies.study_uid == meta.get("study_uid")]
            if not self.studies.empty
            else self.studies
        )
        name = study.patient_name.iloc[0] if len(study) else meta.get("patient_id")
        date = study.study_date.iloc[0] if len(study) else None
        parts = [
            str(name or ""),
            f"{date:%Y-%m-%d}" if date is not None and pd.notna(date) else "",
            self._series_label,
            f"slice {self.slice.value + 1}/{self.volume.array.shape[0]}",
        ]
        self.caption.value = "<b>" + html.escape(" · ".join(p for p in parts if p)) + "</b>"
        return png

    def _set_window(self, win: Window) -> None:
        with self.center.hold_trait_notifications(), self.width.hold_trait_notifications():
            self.center.value, self.width.value = win.center, win.width

    def _apply_preset(self, name: str) -> None:
        if name in (p.value for p in Preset):
            self._set_window(PRESETS[Preset(name)])
        elif name == "(file)" and self.file_window is not None:
            self._set_window(self.file_window)

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


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return " to ".join(str(v) if v else "…" for v in value)
    return str(value)


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
