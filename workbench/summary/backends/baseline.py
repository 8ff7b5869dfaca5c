"""``baseline:extractive``: a deterministic, offline, extractive discharge summary. Not an LLM.

A research baseline every prompt and model must beat. It fills the four template sections from the case
itself (it does not read the prompt):

- 現病歴: the admission record's 現病歴 (first sentences), else its 主訴;
- 併存症: the admission record's 既往歴 / 併存症;
- 重大な身体所見およびその他の所見: the admission record's findings and tests, plus dated objective entries
  that carry a number and a key test or sign (CRP, SpO2, CT ...);
- 入院中の治療経過: dated assessments and plans, with plans copied from day to day kept once, relative dates
  (昨日) made absolute, and the discharge date.

Given a citing prompt (one whose notes carry entry IDs), every sentence ends with the IDs of the entries it
was copied from.

The output starts with a line saying it is an extractive baseline, not an LLM.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time

from workbench.errors import BackendError
from workbench.summary.backends.base import BaseBackend, CaseInput, ModelRequest, ModelResponse
from workbench.summary.backends.prices import estimate_tokens
from workbench.summary.cases import Case, Entry, Source, Tag, resolve_relative_dates
from workbench.summary.citations import format_citation, split_sentences
from workbench.summary.entries import EntryIndex, ichigo_sections
from workbench.summary.sections import format_sections

logger = logging.getLogger(__name__)

LABEL = "（抽出型ベースライン: 記録からの機械的抽出であり、LLMによる生成ではありません）"
"""First line of every baseline output."""

_KEY_FINDING_RE = re.compile(
    r"CRP|WBC|白血球|SpO2|SPO2|SpO₂|Hb|Cr|eGFR|BNP|HbA1c|血糖|BS|PCT|Alb|AST|ALT|T-Bil|Plt|Na|K|pH|PaO2|"
    r"CT|X線|XP|Xp|MRI|エコー|心電図|ECG|培養|体温|KT|BT|血圧|BP|NIHSS|GCS|JCS|すりガラス|浸潤影|骨折"
)
_SENTENCE_RE = re.compile(r"[^。]+。?")
_MAX_COURSE_LINES = 12


def _sentences(text: str, limit: int) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    return "".join(_SENTENCE_RE.findall(flat)[:limit]).strip()


_VALUE_CHAR_RE = re.compile(r"[0-9０-９A-Za-zＡ-Ｚａ-ｚ.．,，%％/／μ^+\-]")
_CLAUSE_BREAKS = "、，, 　・"


def _short(text: str, limit: int = 90) -> str:
    """The first sentence of ``text``, cut to ``limit`` characters at a clause break, never inside a value.

    A cut lands after the last clause break (``、``, a space, ``・``) in the allowed length; without one, it
    backs out of any run of digits, Latin letters and number punctuation, so ``トロポニンT 0.028`` never
    becomes ``トロポニンT 0.0…``.
    """
    first = _sentences(text, 1)
    if len(first) <= limit:
        return first
    cut = limit - 1
    while cut > 0 and _VALUE_CHAR_RE.match(first[cut - 1]) and _VALUE_CHAR_RE.match(first[cut]):
        cut -= 1
    head = first[:cut]
    breaks = [head.rfind(c) for c in _CLAUSE_BREAKS]
    boundary = max(breaks)
    if boundary >= limit // 3:
        head = head[:boundary]
    return head.rstrip(_CLAUSE_BREAKS) + "…"


def _md(date: dt.date) -> str:
    return f"{date.month}月{date.day}日"


def _pick(parts: dict[str, str], *keywords: str) -> str:
    return "\n".join(
        text for name, text in parts.items() if any(k in name for k in keywords) and text.strip()
    )


def _pick_ids(index: EntryIndex, parts: dict[str, str], *keywords: str) -> tuple[str, ...]:
    """The IDs of the admission record's parts :func:`_pick` reads."""
    return tuple(
        index.headings[name]
        for name, text in parts.items()
        if any(k in name for k in keywords) and text.strip()
    )


_Line = tuple[str, tuple[str, ...]]
"""A line of the summary and the IDs of the entries it was taken from."""


def _history(case: Case, index: EntryIndex, parts: dict[str, str], entries: list[Entry]) -> list[_Line]:
    present = _sentences(_pick(parts, "現病歴"), 4)
    if present:
        return [(present, _pick_ids(index, parts, "現病歴"))]
    complaint = _sentences(_pick(parts, "主訴"), 1).rstrip("。")
    if complaint:
        line = f"{complaint}のため、{_md(case.admission_date)}に入院した。"
        return [(line, _pick_ids(index, parts, "主訴"))]
    first = tuple(index.id_of(e) for e in entries[:1])
    return [(f"{_md(case.admission_date)}に{case.diagnosis or case.department}のため入院した。", first)]


def _comorbidities(index: EntryIndex, parts: dict[str, str]) -> list[_Line]:
    past = _pick(parts, "既往", "併存")
    items = [item.strip(" ・-") for item in re.split(r"[\n、,，]", past) if item.strip(" ・-")]
    if not items:
        return [("記載なし", ())]
    return [("、".join(dict.fromkeys(items)), _pick_ids(index, parts, "既往", "併存"))]


def _findings(index: EntryIndex, parts: dict[str, str], entries: list[Entry]) -> list[_Line]:
    lines: list[_Line] = [
        (_sentences(_pick(parts, *keys), 2), _pick_ids(index, parts, *keys))
        for keys in (("所見", "現症"), ("検査",))
        if _pick(parts, *keys).strip()
    ]
    seen: set[str] = set()
    for entry in entries:
        if (
            entry.tag is not Tag.O
            or not re.search(r"\d", entry.text)
            or not _KEY_FINDING_RE.search(entry.text)
        ):
            continue
        sentence = _short(resolve_relative_dates(entry.text, entry.date, replace=True))
        if sentence not in seen:
            seen.add(sentence)
            lines.append((f"{_md(entry.date)} {sentence}", (index.id_of(entry),)))
        if len(seen) >= 4:
            break
    if not lines:
        first = next((e for e in entries if e.tag is Tag.O), None)
        lines = [(f"{_md(first.date)} {_short(first.text)}", (index.id_of(first),))] if first else []
    return lines or [("記載なし", ())]


def _course(case: Case, index: EntryIndex, entries: list[Entry]) -> list[_Line]:
    lines: list[_Line] = []
    seen: set[str] = set()
    for entry in entries:
        if entry.tag not in (Tag.A, Tag.P):
            continue
        key = re.sub(r"\s+", "", entry.text)
        if key in seen:  # a plan copied from the day before
            continue
        seen.add(key)
        text = _short(resolve_relative_dates(entry.text, entry.date, replace=True))
        lines.append((f"{_md(entry.date)} {text}", (index.id_of(entry),)))
    if len(lines) > _MAX_COURSE_LINES:
        lines = lines[: _MAX_COURSE_LINES - 4] + lines[-4:]
    # The discharge date is the case's; the entries of that day (else the last entry) say it happened.
    last_day = [e for e in entries if e.date == case.discharge_date] or entries[-1:]
    lines.append((f"{_md(case.discharge_date)}に退院となった。", tuple(index.id_of(e) for e in last_day[:1])))
    return lines


def _join(lines: list[_Line], cite: bool) -> str:
    """The section's text; with ``cite``, every sentence ends with the IDs of its line."""
    if not cite:
        return "\n".join(text for text, _ in lines)
    return "\n".join(
        "".join(
            sentence + (format_citation(ids) if ids else "")
            for sentence in split_sentences(text)
        )
        for text, ids in lines
    )


def extractive_summary(case: Case, source: Source | str = Source.BOTH, *, cite: bool = False) -> str:
    """The baseline summary of ``case`` from ``source``'s notes.

    In the template's layout, after the line :data:`LABEL`. With ``cite``, every sentence ends with the IDs
    (:mod:`workbench.summary.entries`) of the entries it was taken from, in the syntax of
    :mod:`workbench.summary.citations`.
    """
    entries = case.entries(source)
    index = EntryIndex(case)
    parts = ichigo_sections(case.ichigo)
    sections = {
        "現病歴": _history(case, index, parts, entries),
        "併存症": _comorbidities(index, parts),
        "重大な身体所見およびその他の所見": _findings(index, parts, entries),
        "入院中の治療経過": _course(case, index, entries),
    }
    return f"{LABEL}\n\n{format_sections({n: _join(lines, cite) for n, lines in sections.items()})}"


class BaselineBackend(BaseBackend):
    """``baseline:extractive``: :func:`extractive_summary` behind the backend interface (offline, free).

    Raises
    ------
    BackendError
        For a model id other than ``extractive``.
    """

    MODELS = ("extractive",)
    reads_case = True
    """It summarises the case locally; nothing leaves the machine, so redaction does not apply."""

    def __init__(self, model_id: str) -> None:
        if model_id not in self.MODELS:
            raise BackendError(f"unknown baseline {model_id!r}; known: {', '.join(self.MODELS)}")
        self.name = f"baseline:{model_id}"

    def generate(self, request: ModelRequest, case: CaseInput | None = None) -> ModelResponse:
        """Summarise ``case`` (the prompt itself is not read).

        For a citing prompt (``case.cite``, prompts v5/v6) every sentence cites the entries it was taken from.

        Raises
        ------
        BackendError
            If no case is given (call it through :func:`workbench.summary.generate.summarize`).
        """
        if case is None:
            raise BackendError(
                f"{self.name} summarises a case, not a prompt: call it through "
                "workbench.summary.generate.summarize(case, ...)"
            )
        started = time.monotonic()
        text = extractive_summary(case.case, case.source, cite=case.cite)
        return ModelResponse(
            text=text,
            input_tokens=estimate_tokens(request.prompt),
            output_tokens=estimate_tokens(text),
            latency_ms=int((time.monotonic() - started) * 1000),
            stop_reason="end_turn",
            truncated=False,
        )
