"""Controls the assistant's screens add around the seed's: case picker with labels, data-source switch,
History sort/rows/open, Prompt viewer and parameters. Built here so the assistant module stays small."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workbench.summary.cases import Case


def case_label(case: Case) -> str:
    """A case as the Report screen's picker shows it: id, department, admission dates, diagnosis, patient."""
    parts = [
        case.case_id,
        case.department,
        f"{case.admission_date}→{case.discharge_date}",
        case.diagnosis,
        f"{case.patient_id[:8]}…",
    ]
    return " · ".join(str(p) for p in parts if p)


def report_controls(w: Any, cases: Sequence[Case], x: dict[str, Any]) -> dict[str, Any]:
    """The Report screen's case picker (labels from :func:`case_label`) and "Display data source" switch.

    Choosing a case fills the patient box ``x["patient"]``; the switch shows or hides ``x["notes"]``.
    """
    picker = w.Dropdown(
        options=[(case_label(c), c.patient_id) for c in cases],
        value=x["patient"].value if x["patient"].value in {c.patient_id for c in cases} else None,
        description="Case",
        layout=w.Layout(width="95%"),
    )
    show_source = w.Checkbox(value=True, description="Display data source", indent=False)

    def chosen(change: dict[str, Any]) -> None:
        if change["new"]:
            x["patient"].value = change["new"]

    def toggle(change: dict[str, Any]) -> None:
        x["notes"].layout.display = "" if change["new"] else "none"

    picker.observe(chosen, names="value")
    show_source.observe(toggle, names="value")
    x["case"], x["show_source"] = picker, show_source
    return {"case": picker, "show_source": show_source}


def history_controls(w: Any, x: dict[str, Any]) -> dict[str, Any]:
    """The History screen's sort and rows-per-page menus and the "open a generation" row."""
    from workbench.summary.history_view import PAGE_SIZES, SORTS

    x["sort"] = w.Dropdown(options=list(SORTS), value=SORTS[0], description="Sort")
    x["rows"] = w.Dropdown(options=list(PAGE_SIZES), value=PAGE_SIZES[0], description="Rows/page")
    x["open_id"] = w.Text(placeholder="generation id (or its first characters)", layout=w.Layout(width="50%"))
    x["show"] = w.Button(description="Open", icon="file-text")  # its full text and prompt in ``x["detail"]``
    x["detail"] = w.HTML()
    return {"open_row": w.HBox([x["open_id"], x["show"]])}


def prompt_controls(w: Any, versions: list[str], x: dict[str, Any]) -> dict[str, Any]:
    """The Prompt screen's version viewer and the new version's max tokens and temperature."""
    x["view_version"] = w.Dropdown(
        options=versions, value=versions[-1] if versions else None, description="View"
    )
    x["view"] = w.HTML(layout=w.Layout(max_height="300px", overflow="auto"))
    x["max_tokens"] = w.BoundedIntText(value=4096, min=1, max=64000, description="Max tokens")
    x["temperature"] = w.BoundedFloatText(value=0.0, min=0.0, max=1.0, step=0.1, description="Temperature")
    return {"parameters": w.HBox([x["max_tokens"], x["temperature"]])}
