"""``baseline:extractive``: a deterministic, offline, extractive discharge summary. Not an LLM.

A research baseline every prompt and model must beat. It fills the four template sections from the case
itself (it does not read the prompt):

- 現病歴: the admission record's 現病歴 (first sentences), else its 主訴;
- 併存症: the admission record's 既往歴 / 併存症;
- 重大な身体所見およびその他の所見: the admission record's findings and tests, plus dated objective entries
  that carry a number and a key test or sign (CRP, SpO2, CT ...);
- 入院中の治療経過: dated assessments and plans, with plans copied from day to day kept once, relative dates
  (昨日) made absolute, and the discharge date.

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
from workbench.summary.sections import format_sections

logger = logging.getLogger(__name__)

LABEL = "（抽出型ベースライン: 記録からの機械的抽出であり、LLMによる生成ではありません）"
"""First line of every baseline output."""

_ICHIGO_HEADING_RES = (
    re.compile(r"^\s*[【\[]([^】\]]{1,12})[】\]]\s*[:：]?\s*(.*)$"),  # 【現病歴】 text
    re.compile(r"^\s*[■◆●#]+\s*([^\s:：]{1,12})\s*[:：]?\s*(.*)$"),  # ■現病歴 / ## 現病歴: text
    re.compile(r"^\s*([^\s:：、。]{1,12})\s*[:：]\s*(.*)$"),  # 現病歴：text (known headings only)
)
_ICHIGO_HEADINGS = (
    "主訴",
    "現病歴",
    "既往歴",
    "併存症",
    "内服薬",
    "アレルギー",
    "生活歴",
    "家族歴",
    "所見",
    "身体所見",
    "入院時現症",
    "検査",
    "入院時検査",
)
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


def ichigo_sections(text: str) -> dict[str, str]:
    """Split an admission record into its headed parts (``【現病歴】``, ``■既往歴``, ``主訴：...``)."""
    parts: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        match = next((m for m in (r.match(line) for r in _ICHIGO_HEADING_RES) if m), None)
        if match and match.re is _ICHIGO_HEADING_RES[2] and match.group(1) not in _ICHIGO_HEADINGS:
            match = None  # "胸部CT：..." inside 【検査】 is content, not a heading
        if match:
            current = match.group(1)
            parts.setdefault(current, [])
            if match.group(2).strip():
                parts[current].append(match.group(2).strip())
        elif current is not None and line.strip():
            parts[current].append(line.strip())
    return {name: "\n".join(lines) for name, lines in parts.items()}


def _pick(parts: dict[str, str], *keywords: str) -> str:
    return "\n".join(
        text for name, text in parts.items() if any(k in name for k in keywords) and text.strip()
    )


def _history(case: Case, parts: dict[str, str]) -> str:
    present = _sentences(_pick(parts, "現病歴"), 4)
    if present:
        return present
    complaint = _sentences(_pick(parts, "主訴"), 1).rstrip("。")
    if complaint:
        return f"{complaint}のため、{_md(case.admission_date)}に入院した。"
    return f"{_md(case.admission_date)}に{case.diagnosis or case.department}のため入院した。"


def _comorbidities(parts: dict[str, str]) -> str:
    past = _pick(parts, "既往", "併存")
    items = [item.strip(" ・-") for item in re.split(r"[\n、,，]", past) if item.strip(" ・-")]
    return "、".join(dict.fromkeys(items)) or "記載なし"


def _findings(parts: dict[str, str], entries: list[Entry]) -> str:
    lines = [
        _sentences(text, 2) for text in (_pick(parts, "所見", "現症"), _pick(parts, "検査")) if text.strip()
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
            lines.append(f"{_md(entry.date)} {sentence}")
        if len(seen) >= 4:
            break
    if not lines:
        first = next((e for e in entries if e.tag is Tag.O), None)
        lines = [f"{_md(first.date)} {_short(first.text)}"] if first else ["記載なし"]
    return "\n".join(lines)


def _course(case: Case, entries: list[Entry]) -> str:
    lines: list[str] = []
    seen: set[str] = set()
    for entry in entries:
        if entry.tag not in (Tag.A, Tag.P):
            continue
        key = re.sub(r"\s+", "", entry.text)
        if key in seen:  # a plan copied from the day before
            continue
        seen.add(key)
        lines.append(
            f"{_md(entry.date)} {_short(resolve_relative_dates(entry.text, entry.date, replace=True))}"
        )
    if len(lines) > _MAX_COURSE_LINES:
        lines = lines[: _MAX_COURSE_LINES - 4] + lines[-4:]
    lines.append(f"{_md(case.discharge_date)}に退院となった。")
    return "\n".join(lines)


def extractive_summary(case: Case, source: Source | str = Source.BOTH) -> str:
    """The baseline summary of ``case`` from ``source``'s notes.

    In the template's layout, after the line :data:`LABEL`.
    """
    entries = case.entries(source)
    parts = ichigo_sections(case.ichigo)
    sections = {
        "現病歴": _history(case, parts),
        "併存症": _comorbidities(parts),
        "重大な身体所見およびその他の所見": _findings(parts, entries),
        "入院中の治療経過": _course(case, entries),
    }
    return f"{LABEL}\n\n{format_sections(sections)}"


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
        text = extractive_summary(case.case, case.source)
        return ModelResponse(
            text=text,
            input_tokens=estimate_tokens(request.prompt),
            output_tokens=estimate_tokens(text),
            latency_ms=int((time.monotonic() - started) * 1000),
            stop_reason="end_turn",
            truncated=False,
        )
