"""The seed's assistant screens inside JupyterLab: Report, History and Prompt, as ipywidgets.

The screens hold no logic: every button calls one of the plain functions below (:func:`submit_report`,
:func:`history_page`, :func:`prompt_diff`, :func:`create_prompt`, :func:`sentence_options`,
:func:`cited_entries`) or :mod:`workbench.summary.review`, which are unit-tested on their own.

The Report screen shows the summary sentence by sentence (uncited and invalid sentences marked); selecting a
sentence shows the entries it cites. Below it, the physician edits the draft section by section and accepts
it: the accepted text is stored beside the generation (:func:`~workbench.summary.review.open_review_store`).
``ipywidgets`` is imported only when :meth:`SummaryAssistant.widget` builds the screens.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from workbench.errors import WorkbenchError
from workbench.optional import optional_import
from workbench.summary.cache import ResponseCache, open_cache
from workbench.summary.cases import Case, Source, find_case
from workbench.summary.citations import Sentence, as_sentences
from workbench.summary.entries import EntryIndex
from workbench.summary.generate import Generation, summarize
from workbench.summary.history import History, open_history
from workbench.summary.history_view import generation_detail, history_table
from workbench.summary.prompt_screen import missing_placeholders, screen_diff
from workbench.summary.prompts import Prompt, PromptRegistry
from workbench.summary.report_view import history_controls, prompt_controls, report_controls
from workbench.summary.review import Review, open_review, open_review_store

logger = logging.getLogger(__name__)

HISTORY_COLUMNS = ("Id", "Timestamp", "User", "Model", "PromptVersion", "SrcData")
"""The History screen's columns: the seed's, and who generated each summary."""


@dataclass
class ReportResult:
    """What the Report screen shows after Submit.

    Attributes
    ----------
    generation : Generation
        As recorded in the history.
    notes : str
        The source notes the summary was made from (``$(karte)``), shown beside it.
    flags : list of str
        Warnings to show: missing or extra sections, truncation, cache hit.
    """

    generation: Generation
    notes: str
    flags: list[str] = field(default_factory=list)
    case: Case | None = None

    @property
    def summary(self) -> str:
        """The generated summary."""
        return self.generation.output

    @property
    def sentences(self) -> list[Sentence]:
        """The summary sentence by sentence, with citations."""
        return as_sentences(self.generation.sentences)


SENTENCE_MARKS = {"cited": "✓", "uncited": "？", "invalid": "✗"}
"""How the sentence list marks a sentence: cited, uncited (no valid citation), with an invalid citation."""


def sentence_mark(sentence: Sentence) -> str:
    """``invalid`` when a citation is invalid, else ``uncited`` or ``cited``."""
    if sentence.invalid_citations:
        return "invalid"
    return "uncited" if sentence.uncited else "cited"


def sentence_options(sentences: Sequence[Sentence], *, markers: bool = False) -> list[tuple[str, int]]:
    """The sentence list's options: ``(mark + section initial + text, index)``, markers hidden by default."""
    options = []
    for index, sentence in enumerate(sentences):
        text = sentence.text if markers else sentence.plain
        options.append((f"{SENTENCE_MARKS[sentence_mark(sentence)]} [{sentence.section[:4]}] {text}", index))
    return options


def sentence_table(generation: Generation) -> pd.DataFrame:
    """The summary sentence by sentence: mark (✓ ？ ✗), section, sentence (no markers), cites, invalid."""
    rows = [
        {
            "mark": SENTENCE_MARKS[sentence_mark(s)],
            "section": s.section,
            "sentence": s.plain,
            "cites": ", ".join(s.citations),
            "invalid": ", ".join(s.invalid_citations),
        }
        for s in as_sentences(generation.sentences)
    ]
    return pd.DataFrame(rows, columns=["mark", "section", "sentence", "cites", "invalid"])


def cited_entries(case: Case, sentence: Sentence) -> pd.DataFrame:
    """The entries a sentence cites: id, date, author (医師/看護), part, text, and a ``valid`` flag.

    Invalid citations are listed too (``valid`` False, nothing else known).
    """
    index = EntryIndex(case)
    rows = [{**index[i].to_dict(), "valid": True} for i in sentence.citations if i in index]
    rows += [
        {"id": i, "date": "", "author": "", "part": "", "heading": "", "text": "(no such entry)",
         "valid": False}
        for i in sentence.invalid_citations
    ]
    return pd.DataFrame(rows, columns=["id", "date", "author", "part", "heading", "text", "valid"])


def submit_report(
    cases: Sequence[Case],
    key: str,
    source: Source | str,
    prompt_version: str,
    model: str,
    *,
    history: History | None = None,
    cache: ResponseCache | None = None,
    registry: PromptRegistry | None = None,
    archive: Any = None,
    redact: bool | None = None,
) -> ReportResult:
    """The Report screen's Submit: generate (or fetch) the summary of the case named by ``key``.

    Parameters
    ----------
    cases : sequence of Case
    key : str
        Patient ID or case ID typed in the search box.
    source, prompt_version, model
        As chosen on the screen.
    history, cache, registry, archive, redact
        Passed to :func:`workbench.summary.generate.summarize`.

    Returns
    -------
    ReportResult

    Raises
    ------
    WorkbenchError
        For an unknown patient, prompt or model, or a failed call (nothing recorded then).
    """
    case = find_case(cases, key)
    generation = summarize(
        case,
        prompt_version,
        model,
        source,
        history=history,
        cache=cache,
        registry=registry,
        archive=archive,
        redact=redact,
    )
    flags = []
    if generation.missing_sections:
        flags.append(f"missing sections: {', '.join(generation.missing_sections)}")
    if generation.extra_sections:
        flags.append(f"extra sections: {', '.join(generation.extra_sections)}")
    if generation.truncated:
        flags.append("truncated at max_tokens")
    if generation.cache_hit:
        flags.append("from the cache (no cost)")
    cited = [s for s in generation.sentences if s["citations"]]
    if generation.sentences and any(s["citations"] or s["invalid_citations"] for s in generation.sentences):
        uncited = len(generation.sentences) - len(cited)
        invalid = sum(bool(s["invalid_citations"]) for s in generation.sentences)
        if uncited or invalid:
            flags.append(f"{uncited} uncited sentence(s), {invalid} with invalid citations")
    return ReportResult(generation=generation, notes=case.karte(source), flags=flags, case=case)


@dataclass
class HistoryPage:
    """One page of the History screen.

    Attributes
    ----------
    rows : pandas.DataFrame
        Columns :data:`HISTORY_COLUMNS`.
    page, n_pages, total : int
        1-based page number, number of pages (at least 1), number of matching generations.
    """

    rows: pd.DataFrame
    page: int
    n_pages: int
    total: int


def history_page(history: History, patient_id: str = "", page: int = 1, page_size: int = 10) -> HistoryPage:
    """The History screen: generations of ``patient_id`` (all when empty), newest first, one page.

    A page number past the end shows the last page.

    Raises
    ------
    ValueError
        If ``page_size`` is not positive.
    """
    if page_size <= 0:
        raise ValueError(f"page_size must be positive, got {page_size}")
    patient = patient_id.strip() or None
    total = history.count(patient_id=patient)
    n_pages = max(1, math.ceil(total / page_size))
    page = min(max(1, page), n_pages)
    frame = history.search(patient_id=patient, limit=page_size, offset=(page - 1) * page_size)
    rows = pd.DataFrame(
        {
            "Id": frame["id"],
            "Timestamp": [
                dt.datetime.fromisoformat(t).strftime("%Y/%m/%d %H:%M:%S") for t in frame["timestamp"]
            ],
            "User": frame["user"],
            "Model": frame["model"],
            "PromptVersion": frame["prompt_version"],
            "SrcData": [Source(s).label for s in frame["source"]],
        },
        columns=list(HISTORY_COLUMNS),
    )
    return HistoryPage(rows=rows, page=page, n_pages=n_pages, total=total)


def prompt_diff(registry: PromptRegistry, a: str, b: str) -> str:
    """The Prompt screen's diff of two versions (unified diff; empty if identical)."""
    return registry.diff(a, b)


def create_prompt(
    registry: PromptRegistry,
    body: str,
    *,
    description: str = "",
    author: str | None = None,
    version: str | None = None,
    max_tokens: int = 4096,
    temperature: float | None = 0.0,
) -> Prompt:
    """The Prompt screen's "Create new prompt": a new version (never overwriting one)."""
    parameters: dict[str, Any] = {"max_tokens": int(max_tokens)}
    if temperature is not None:
        parameters["temperature"] = float(temperature)
    return registry.create(
        body, version=version or None, description=description, author=author or None, parameters=parameters
    )


def _pre(text: str) -> str:
    return f"<pre style='white-space: pre-wrap; font-size: 90%'>{html.escape(text)}</pre>"


class SummaryAssistant:
    """The three screens over a set of cases.

    Parameters
    ----------
    cases : sequence of Case
    models : sequence of str
        Offered in the model menu (first is the default).
    registry, history, cache : optional
        Defaults: the project's prompts, ``open_history()``, ``open_cache()``.
    archive : optional
        For prompts using ``$(imaging)``.
    page_size : int
        Rows per History page (the seed shows 10).
    """

    def __init__(
        self,
        cases: Sequence[Case],
        models: Sequence[str] = ("baseline:extractive",),
        *,
        registry: PromptRegistry | None = None,
        history: History | None = None,
        cache: ResponseCache | None = None,
        archive: Any = None,
        page_size: int = 10,
    ) -> None:
        if not cases:
            raise WorkbenchError("the assistant needs at least one case")
        self.cases = list(cases)
        self.models = list(models)
        self.registry = registry or PromptRegistry()
        self.history = history or open_history()
        self.cache = cache or open_cache()
        self.archive = archive
        self.page_size = page_size
        self.last_result: ReportResult | None = None
        self.reviews = open_review_store(self.history)
        self.review: Review | None = None
        self.last_review: Review | None = None
        self._widgets: dict[str, Any] = {}

    def widget(self) -> Any:
        """Build the screens: an ``ipywidgets.Tab`` with Report, History and Prompt."""
        w = optional_import("ipywidgets", what="the summary assistant")

        versions = self.registry.versions()
        tab = w.Tab(
            children=[
                self._report_screen(w, versions),
                self._history_screen(w),
                self._prompt_screen(w, versions),
            ]
        )
        for index, title in enumerate(("Report", "History", "Prompt")):
            tab.set_title(index, title)
        self._widgets["tab"] = tab
        self.refresh_history()
        return tab

    # -- Report ------------------------------------------------------------------------------------------
    def _report_screen(self, w: Any, versions: list[str]) -> Any:
        x = self._widgets
        x["patient"] = w.Combobox(
            value=self.cases[0].patient_id,
            options=[c.patient_id for c in self.cases],
            placeholder="patient id",
            layout=w.Layout(width="60%"),
        )
        x["source"] = w.ToggleButtons(options=[(s.label, s.value) for s in Source], value=Source.DOCTOR.value)
        x["version"] = w.Dropdown(
            options=versions, value=self._default_version(versions), description="Prompt"
        )
        x["model"] = w.Combobox(
            value=self.models[0], options=self.models, description="Model", layout=w.Layout(width="60%")
        )
        x["submit"] = w.Button(description="Submit", button_style="primary")
        x["status"] = w.HTML()
        x["summary"] = w.HTML(layout=w.Layout(width="34%"))
        x["reference"] = w.HTML(layout=w.Layout(width="33%", max_height="600px", overflow="auto"))
        x["notes"] = w.HTML(layout=w.Layout(width="33%", max_height="600px", overflow="auto"))
        x["markers"] = w.Checkbox(value=False, description="show citation markers")
        x["sentences"] = w.Select(options=[], rows=10, layout=w.Layout(width="100%"))
        x["cited"] = w.HTML()
        extra = report_controls(w, self.cases, x)  # case picker, data-source switch
        x["submit"].on_click(lambda _button: self.on_submit())
        x["markers"].observe(lambda _change: self._show_sentences(), names="value")
        x["sentences"].observe(lambda _change: self.on_select_sentence(), names="value")
        return w.VBox(
            [
                extra["case"],
                w.HBox([x["patient"], x["submit"]]),
                x["source"],
                w.HBox([x["version"], x["model"], extra["show_source"]]),
                x["status"],
                w.HBox([x["summary"], x["reference"], x["notes"]]),
                w.HTML(
                    "<h4>Sentences</h4><small>✓ cited · ？ uncited · ✗ invalid citation. "
                    "Select a sentence to see the entries it cites.</small>"
                ),
                x["markers"],
                x["sentences"],
                x["cited"],
                self._review_panel(w),
            ]
        )

    def _review_panel(self, w: Any) -> Any:
        from workbench.summary.sections import SECTIONS

        x = self._widgets
        x["reviewer"] = w.Text(description="Reviewer", placeholder="default: the current user")
        x["edits"] = {
            name: w.Textarea(description=name[:6], layout=w.Layout(width="100%", height="110px"))
            for name in SECTIONS
        }
        x["accept"] = w.Button(description="Accept", button_style="success", disabled=True)
        x["review_status"] = w.HTML()
        x["accept"].on_click(lambda _button: self.on_accept())
        return w.VBox(
            [
                w.HTML("<h4>Review</h4><small>Edit the draft section by section, then Accept. "
                       "The draft itself is kept unchanged.</small>"),
                x["reviewer"],
                *x["edits"].values(),
                x["accept"],
                x["review_status"],
            ]
        )

    def _default_version(self, versions: list[str]) -> str | None:
        """The newest version the assistant can fill (one using ``$(imaging)`` only with an archive)."""
        usable = [
            v
            for v in versions
            if self.archive is not None or "imaging" not in self.registry.get(v).placeholders
        ]
        choices = usable or versions
        return choices[-1] if choices else None

    def on_submit(self) -> None:
        """Submit clicked: generate, then show the summary beside the notes (or the error)."""
        x = self._widgets
        x["status"].value = "generating…"
        try:
            result = submit_report(
                self.cases,
                x["patient"].value,
                x["source"].value,
                x["version"].value,
                x["model"].value,
                history=self.history,
                cache=self.cache,
                registry=self.registry,
                archive=self.archive,
            )
        except WorkbenchError as exc:
            x["status"].value = f"<b style='color:#b00'>{html.escape(str(exc))}</b>"
            self.last_result = None  # the old summary would read as this submission's answer
            x["summary"].value = x["reference"].value = x["notes"].value = ""
            self._show_sentences()
            self.review = None  # nor is the old draft this submission's to review
            x["accept"].disabled = True
            x["review_status"].value = ""
            return
        self.last_result = result
        g = result.generation
        x["status"].value = html.escape(
            f"{g.model} · prompt {g.prompt_version} · {g.input_tokens}+{g.output_tokens} tokens · "
            f"${g.cost_usd:.4f} · {g.latency_ms} ms · id {g.id}"
            + (" · " + "; ".join(result.flags) if result.flags else "")
        )
        x["summary"].value = "<h4>Summary</h4>" + _pre(result.summary)
        x["notes"].value = f"<h4>{Source(g.source).label}</h4>" + _pre(result.notes)
        case = find_case(self.cases, g.patient_id)
        x["reference"].value = "<h4>Physician's summary</h4>" + _pre(case.reference or "(none in this case)")
        self._show_sentences()
        self.start_review(g.id)
        self.refresh_history()

    def _show_sentences(self) -> None:
        x = self._widgets
        result = self.last_result
        x["sentences"].options = (
            sentence_options(result.sentences, markers=x["markers"].value) if result is not None else []
        )
        x["sentences"].value = None
        x["cited"].value = ""

    def on_select_sentence(self) -> None:
        """A sentence selected: show the entries it cites (or say it cites none or what does not exist)."""
        x = self._widgets
        result, index = self.last_result, x["sentences"].value
        if result is None or result.case is None or index is None:
            x["cited"].value = ""
            return
        sentence = result.sentences[index]
        table = cited_entries(result.case, sentence)
        note = {
            "cited": "",
            "uncited": "<b style='color:#a60'>uncited: no valid citation</b>",
            "invalid": "<b style='color:#b00'>cites entries that do not exist or malformed markup</b>",
        }[sentence_mark(sentence)]
        shown = table.drop(columns=["heading"]) if not table.empty else table
        x["cited"].value = note + (shown.to_html(index=False, escape=True) if not table.empty else "")

    def on_open(self) -> None:
        """Open for review clicked: show a recorded generation on the Report screen, ready to review."""
        x = self._widgets
        try:
            generation = self.history.get(x["open_id"].value.strip())
            case = find_case(self.cases, generation.case_id)
        except WorkbenchError as exc:
            x["status"].value = f"<b style='color:#b00'>{html.escape(str(exc))}</b>"
            x["tab"].selected_index = 0
            return
        self.last_result = ReportResult(generation, case.karte(generation.source), case=case)
        x["status"].value = html.escape(f"{generation.model} · prompt {generation.prompt_version} · "
                                        f"id {generation.id} (from the history)")
        x["summary"].value = "<h4>Summary</h4>" + _pre(generation.output)
        x["notes"].value = f"<h4>{Source(generation.source).label}</h4>" + _pre(self.last_result.notes)
        x["reference"].value = "<h4>Physician's summary</h4>" + _pre(case.reference or "(none in this case)")
        self._show_sentences()
        self.start_review(generation.id)
        x["tab"].selected_index = 0

    # -- Review ------------------------------------------------------------------------------------------
    def start_review(self, generation_id: str) -> Review:
        """Open a generation's draft for review: the section boxes hold its text, the clock starts."""
        x = self._widgets
        self.review = open_review(self.history, generation_id, reviewer=x["reviewer"].value.strip() or None)
        for name, box in x["edits"].items():
            box.value = self.review.draft.get(name, "")
        x["accept"].disabled = False
        x["review_status"].value = html.escape(f"reviewing {generation_id} (opened {self.review.opened_at})")
        return self.review

    def on_accept(self) -> None:
        """Accept clicked: store the edited sections beside the draft, with reviewer and times."""
        x = self._widgets
        if self.review is None:
            x["review_status"].value = "<b style='color:#b00'>nothing to review: Submit first</b>"
            return
        review = self.review
        if x["reviewer"].value.strip():
            review.reviewer = x["reviewer"].value.strip()
        review.accepted = {name: box.value for name, box in x["edits"].items()}
        try:
            accepted = review.accept()
            self.reviews.record(accepted)
        except WorkbenchError as exc:
            x["review_status"].value = f"<b style='color:#b00'>{html.escape(str(exc))}</b>"
            return
        self.last_review, self.review = accepted, None
        x["accept"].disabled = True
        x["review_status"].value = html.escape(
            f"accepted by {accepted.reviewer} at {accepted.accepted_at} "
            f"({accepted.seconds_to_accept:.0f} s after opening); the draft {accepted.generation_id} is kept"
        )

    # -- History -----------------------------------------------------------------------------------------
    def _history_screen(self, w: Any) -> Any:
        x = self._widgets
        x["search"] = w.Text(
            placeholder="Search the histories with patient id or generation id (a prefix is enough)",
            layout=w.Layout(width="60%"),
            continuous_update=False,
        )
        x["search_button"] = w.Button(description="Search")
        extra = history_controls(w, x)  # sort, rows per page, open one (workbench.summary.history_view)
        x["open"] = w.Button(description="Open for review")
        x["search"].observe(lambda _c: self.refresh_history(page=1), names="value")
        x["sort"].observe(lambda _c: self.refresh_history(page=1), names="value")
        x["rows"].observe(lambda _c: self.refresh_history(page=1), names="value")
        x["show"].on_click(lambda _b: self.open_generation())
        x["open"].on_click(lambda _b: self.on_open())
        x["table"] = w.HTML()
        x["previous"] = w.Button(description="‹", layout=w.Layout(width="40px"))
        x["next"] = w.Button(description="›", layout=w.Layout(width="40px"))
        x["page_label"] = w.Label()
        x["page"] = 1
        x["search_button"].on_click(lambda _b: self.refresh_history(page=1))
        x["previous"].on_click(lambda _b: self.refresh_history(page=x["page"] - 1))
        x["next"].on_click(lambda _b: self.refresh_history(page=x["page"] + 1))
        return w.VBox(
            [
                w.HBox([x["search"], x["search_button"]]),
                w.HBox([x["sort"], x["rows"]]),
                x["table"],
                w.HBox([x["previous"], x["page_label"], x["next"]]),
                w.HBox([*extra["open_row"].children, x["open"]]),
                x["detail"],
            ]
        )

    def refresh_history(self, page: int | None = None) -> HistoryPage:
        """Show one page of the history for the patient ID in the search box."""
        x = self._widgets
        rows, shown, n_pages, total = history_table(
            self.history,
            x["search"].value,
            page=page or x["page"],
            page_size=x["rows"].value,
            sort=x["sort"].value,
        )
        x["page"] = shown
        x["table"].value = rows.to_html(index=False, escape=True)
        x["page_label"].value = f"Page {shown} of {n_pages} ({total} generations)"
        return HistoryPage(rows=rows, page=shown, n_pages=n_pages, total=total)

    def open_generation(self) -> None:
        """Open clicked: the generation's full text and its prompt."""
        x = self._widgets
        try:
            x["detail"].value = generation_detail(self.history, self.registry, x["open_id"].value)
        except WorkbenchError as exc:
            x["detail"].value = f"<b style='color:#b00'>{html.escape(str(exc))}</b>"

    # -- Prompt ------------------------------------------------------------------------------------------
    def _prompt_screen(self, w: Any, versions: list[str]) -> Any:
        x = self._widgets
        x["versions"] = w.HTML()
        x["diff_a"] = w.Dropdown(
            options=versions, value=versions[-2] if len(versions) > 1 else None, description="From"
        )
        x["diff_b"] = w.Dropdown(options=versions, value=versions[-1] if versions else None, description="To")
        x["diff_button"] = w.Button(description="Diff")
        x["diff"] = w.HTML()
        x["body"] = w.Textarea(
            placeholder="prompt body with $(ichigo), $(karte) ...",
            layout=w.Layout(width="100%", height="240px"),
        )
        if versions:
            x["body"].value = self.registry.get(versions[-1]).body
        x["description"] = w.Text(description="Description", layout=w.Layout(width="60%"))
        x["create"] = w.Button(description="Create new prompt", button_style="success")
        x["prompt_status"] = w.HTML()
        extra = prompt_controls(w, versions, x)  # view a version, max tokens, temperature (prompt_screen)
        x["view_version"].observe(lambda _c: self.on_view(), names="value")
        x["diff_button"].on_click(lambda _b: self.on_diff())
        x["create"].on_click(lambda _b: self.on_create())
        self._show_versions()
        self.on_view()
        return w.VBox(
            [
                x["versions"],
                x["view_version"],
                x["view"],
                w.HBox([x["diff_a"], x["diff_b"], x["diff_button"]]),
                x["diff"],
                w.HTML("<h4>Create new prompt</h4>"),
                x["body"],
                x["description"],
                extra["parameters"],
                x["create"],
                x["prompt_status"],
            ]
        )

    def _show_versions(self) -> None:
        table = self.registry.list()[["version", "created", "author", "description", "parameters"]]
        self._widgets["versions"].value = table.to_html(index=False, escape=True)

    def on_diff(self) -> None:
        """Diff clicked."""
        x = self._widgets
        try:
            x["diff"].value = _pre(
                screen_diff(self.registry, x["diff_a"].value, x["diff_b"].value) or "(identical)"
            )
        except WorkbenchError as exc:
            x["diff"].value = f"<b style='color:#b00'>{html.escape(str(exc))}</b>"

    def on_create(self) -> None:
        """Create clicked: a new version, added to the menus."""
        x = self._widgets
        body = x["body"].value
        missing = missing_placeholders(body)
        if missing and x.get("confirmed_body") != body:  # a second click on the same text confirms
            x["confirmed_body"] = body
            x["prompt_status"].value = (
                "<b style='color:#a60'>This prompt has no "
                + ", ".join(f"$({name})" for name in missing)
                + ": the model would not see those notes. Click Create again to create it anyway.</b>"
            )
            return
        try:
            prompt = create_prompt(
                self.registry,
                body,
                description=x["description"].value,
                max_tokens=x["max_tokens"].value,
                temperature=x["temperature"].value,
            )
        except WorkbenchError as exc:
            x["prompt_status"].value = f"<b style='color:#b00'>{html.escape(str(exc))}</b>"
            return
        x.pop("confirmed_body", None)
        versions = self.registry.versions()
        chosen = x["version"].value  # the Report screen keeps its choice: a new version is opt-in
        for name in ("version", "diff_a", "diff_b", "view_version"):
            x[name].options = versions
        x["version"].value = chosen
        x["view_version"].value = prompt.version
        x["description"].value = ""
        self._show_versions()
        x["prompt_status"].value = html.escape(f"created {prompt.version} ({prompt.path})")

    def on_view(self) -> None:
        """Show the full text of the version chosen to view."""
        x = self._widgets
        version = x["view_version"].value
        x["view"].value = _pre(self.registry.get(version).text) if version else ""
