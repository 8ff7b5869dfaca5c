"""The evaluation report of a run: one HTML file (tables, embedded PNG plots, per-case drill-down), CSVs.

``workbench experiment report RUN_DIR`` calls :func:`write_report`. The drill-down shows every output beside
the physician's summary with the differences marked (``difflib`` over MeCab tokens: ``<ins>`` what the output
has that the physician did not write, ``<del>`` what it left out).
"""

from __future__ import annotations

import base64
import difflib
import html
import io
import json
import logging
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from markupsafe import Markup

from workbench.evaluation.citations import citation_context
from workbench.evaluation.evaluate import RunEvaluation, evaluate_run
from workbench.evaluation.judge import Judge
from workbench.evaluation.plots import config_label, plot_cost_quality, plot_metrics, plot_sections
from workbench.evaluation.score import REFERENCE_SYSTEM
from workbench.evaluation.stats import CORRECTION, INTERVAL_METHOD
from workbench.evaluation.tables import wide_table
from workbench.evaluation.tokenize import MecabTokenizer, get_tokenizer
from workbench.files import atomic_write, make_folder

if TYPE_CHECKING:
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

REPORT_FILE = "report.html"
TEMPLATE = "report.html.j2"
"""The page's Jinja2 template, beside this module (package data)."""
CSV_FILES = {
    "scores": "scores.csv",
    "sections": "sections.csv",
    "metrics": "metrics.csv",
    "paired": "paired.csv",
    "costs": "costs.csv",
    "judge": "judge.csv",
    "citations": "citations.csv",
    "edits": "edits.csv",
    "agreement": "agreement.csv",
}
"""The CSVs written beside the report."""


DIFF_STYLE = "ins { background: #d4f7d4; text-decoration: none; } del { background: #fbd4d4; }"
"""How the report marks inserted and left-out text."""


def difference_html(candidate: str, reference: str) -> Markup:
    """``candidate`` beside ``reference`` with differences marked, styled as in the report (for notebooks)."""
    marked = mark_differences(candidate, reference)
    return Markup(f"<style>{DIFF_STYLE}</style><div style='white-space:pre-wrap'>{marked}</div>")


def mark_differences(candidate: str, reference: str) -> Markup:
    """``candidate`` as HTML with its differences from ``reference`` marked.

    Tokens are MeCab morphemes (lossless segments, so the text reads as written): ``<ins>`` wraps what
    ``candidate`` has and ``reference`` does not, ``<del>`` what ``reference`` has and ``candidate`` lacks.

    Returns
    -------
    markupsafe.Markup
        Escaped HTML.
    """
    tokenizer = get_tokenizer("mecab")
    assert isinstance(tokenizer, MecabTokenizer)  # the morpheme tokenizer segments text
    ours, theirs = tokenizer.segments(candidate), tokenizer.segments(reference)
    parts: list[str] = []
    matcher = difflib.SequenceMatcher(a=theirs, b=ours, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op in ("delete", "replace"):
            parts.append(f"<del>{html.escape(''.join(theirs[a0:a1]))}</del>")
        if op in ("insert", "replace"):
            parts.append(f"<ins>{html.escape(''.join(ours[b0:b1]))}</ins>")
        if op == "equal":
            parts.append(html.escape("".join(ours[b0:b1])))
    return Markup("".join(parts))


def _png(fig: Figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _table_html(frame: pd.DataFrame, *, index: bool = False) -> Markup:
    if frame.empty:
        return Markup("<p>Nothing to show.</p>")
    text = frame.to_html(index=index, float_format=lambda v: f"{v:.3f}", na_rep="", border=0, escape=True)
    return Markup(text)


def _paired_html(paired: pd.DataFrame) -> Markup:
    """The paired comparisons; rows where the candidate is reliably better get the class ``better``."""
    if paired.empty:
        return Markup("<p>Only one prompt version per model and source: nothing to compare.</p>")
    frame = paired.drop(columns=["metric"])
    classes = pd.DataFrame(
        [["better" if flag else ""] * frame.shape[1] for flag in frame["better"]],
        index=frame.index,
        columns=frame.columns,
    )
    styler = frame.style.set_td_classes(classes).format(precision=3, na_rep="").hide(axis="index")
    return Markup(styler.to_html())


def _fmt(value: Any) -> str:
    return "–" if value is None or pd.isna(value) else f"{float(value):.2f}"


def _drilldown(evaluation: RunEvaluation) -> list[dict[str, Any]]:
    rows = evaluation.scores.rows
    outputs = evaluation.results.set_index("key")["output"]
    first = rows[(rows["prompt_version"] != REFERENCE_SYSTEM) & (rows["repeat"] == 0)]
    cases = []
    for case_id in sorted(first["case_id"].unique()):
        case = evaluation.cases[case_id]
        reference = case.reference or ""
        items = [
            {
                "config": config_label(row),
                "rougeL": _fmt(row["rougeL"]),
                "fact_recall": _fmt(row["fact_recall"]),
                "unsupported_rate": _fmt(row["unsupported_rate"]),
                "n_claims": int(row["n_claims"]),
                "unsupported": row["unsupported"],
                "unverifiable": row.get("unverifiable") or "",
                "missed_facts": row["missed_facts"],
                "diff": mark_differences(str(outputs[row["key"]]), reference),
            }
            for _, row in first[first["case_id"] == case_id].iterrows()
        ]
        cases.append(
            {
                "case_id": case_id,
                "department": case.department,
                "diagnosis": case.diagnosis,
                "reference": reference,
                "outputs": items,
            }
        )
    return cases


def _judge_context(evaluation: RunEvaluation) -> dict[str, Any]:
    judged = evaluation.judged
    if judged is None or judged.empty:
        return {"judge_html": None}
    judge_metrics = evaluation.metrics[evaluation.metrics["metric"].str.startswith("judge_")]
    return {
        "judge_html": _table_html(wide_table(judge_metrics), index=True),
        "judge_repeats": int(judged["judging_repeats"].max()),
        "judge_exact": _fmt(judged["judging_exact_agreement"].mean()),
        "judge_within1": _fmt(judged["judging_within1_agreement"].mean()),
        "judge_failures": int(judged["judging_failures"].sum()),
        "judge_cost": f"{judged['judging_cost_usd'].sum():.4f}",
        "agreement_html": _table_html(evaluation.agreement) if evaluation.agreement is not None else None,
    }


def write_csvs(evaluation: RunEvaluation, out_dir: Path) -> dict[str, Path]:
    """Write the tables of ``evaluation`` as CSV files (:data:`CSV_FILES`) into ``out_dir``."""
    frames = {
        "scores": evaluation.scores.rows,
        "sections": evaluation.scores.sections,
        "metrics": evaluation.metrics,
        "paired": evaluation.paired,
        "costs": evaluation.costs,
        "judge": evaluation.judged,
        "citations": evaluation.citations,
        "edits": evaluation.edits,
        "agreement": evaluation.agreement,
    }
    written = {}
    for name, frame in frames.items():
        if frame is None:
            continue
        path = out_dir / CSV_FILES[name]
        atomic_write(path, frame.to_csv(index=False).encode("utf-8"))
        written[name] = path
    return written


def write_report(
    run_dir: str | Path,
    out_dir: str | Path | None = None,
    *,
    judge: Judge | str | bool | None = None,
    evaluation: RunEvaluation | None = None,
    progress: bool = False,
) -> Path:
    """Evaluate a run and write ``report.html`` with its CSVs.

    Parameters
    ----------
    run_dir
        The run folder.
    out_dir
        Where to write (default: ``<run_dir>/report``).
    judge
        ``None``/``False``: no LLM judge; ``True``: the judge the run's spec names; a model name; or a
        :class:`~workbench.evaluation.judge.Judge`.
    evaluation
        An :func:`~workbench.evaluation.evaluate.evaluate_run` result to render instead of evaluating again
        (``judge`` is then ignored).
    progress
        Progress bars while scoring and judging.

    Returns
    -------
    pathlib.Path
        The HTML file.

    Raises
    ------
    NotFoundError
        If the run folder or one of its case folders does not exist.
    """
    import jinja2

    out = Path(out_dir) if out_dir is not None else Path(run_dir) / "report"
    make_folder(out)  # an unwritable folder fails before the evaluation, not after it
    evaluation = evaluation or evaluate_run(run_dir, judge=judge, progress=progress)
    write_csvs(evaluation, out)
    manifest = evaluation.manifest
    results = evaluation.results
    plots = {
        "metrics": _png(plot_metrics(evaluation.metrics)) if not evaluation.metrics.empty else "",
        "sections": _png(plot_sections(evaluation.scores.sections))
        if not evaluation.scores.sections.empty
        else "",
        "cost": _png(plot_cost_quality(evaluation.costs, evaluation.metrics))
        if not evaluation.metrics.empty and "rougeL" in set(evaluation.metrics["metric"])
        else "",
    }
    # the tokenizer this evaluation used; runs made before the report recorded it kept it in their manifest
    tokenizer = evaluation.tokenizer or manifest.get("tokenizer") or {}
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = resources.files("workbench.evaluation").joinpath(TEMPLATE).read_text(encoding="utf-8")
    page = env.from_string(template).render(
        run_id=manifest.get("run_id", Path(run_dir).name),
        spec_name=(manifest.get("spec") or {}).get("name", ""),
        created=manifest.get("created", ""),
        git_commit=str(manifest.get("git_commit") or "")[:12],
        n_calls=len(results),
        n_ok=int(results["ok"].sum()),
        n_errors=int(results["error"].notna().sum()),
        n_cases=len(evaluation.cases),
        tokenizer=json.dumps(tokenizer, ensure_ascii=False) if tokenizer else "mecab (unidic-lite)",
        judge_model=evaluation.judge_model,
        diff_style=Markup(DIFF_STYLE),
        metrics_html=_table_html(wide_table(evaluation.metrics), index=True),
        paired_html=_paired_html(evaluation.paired),
        interval_method=INTERVAL_METHOD,
        correction=evaluation.paired.attrs.get("correction", CORRECTION),
        n_comparisons=int(evaluation.paired.attrs.get("comparisons", len(evaluation.paired))),
        costs_html=_table_html(evaluation.costs),
        plots=plots,
        cases=_drilldown(evaluation),
        **citation_context(evaluation.citations, evaluation.edits),
        **_judge_context(evaluation),
    )
    path = out / REPORT_FILE
    atomic_write(path, page.encode("utf-8"))
    logger.info("wrote %s", path)
    return path
