"""An LLM judge of discharge summaries on the nine attributes of PDSQI-9.

PDSQI-9 (the Provider Documentation Summarization Quality Instrument, Croxford et al. 2025) rates LLM
summaries of clinical notes on a 1-5 scale per attribute, against the source notes. The judge scores all
nine of its attributes (:data:`CRITERIA`: cited, accurate, thorough, useful, organized, comprehensible,
succinct, synthesized, stigmatizing); every score is "higher is better" (stigmatizing 5 = no stigmatizing
language). The judge sees the notes the model saw and the summary, never the model or prompt.

Each summary is judged ``repeats`` times at temperature 0 (repeat numbers make them distinct calls, so
residual nondeterminism shows); the report gives the mean score and the agreement between repeats. Calls
go through the summary package's response cache, so judging the same run twice costs nothing. A reply that
is not the JSON asked for is recorded as a judge failure with its text, never raised.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from workbench.errors import NotFoundError
from workbench.evaluation.stats import pairwise_agreement
from workbench.summary.cases import Case

logger = logging.getLogger(__name__)

CRITERIA: dict[str, str] = {
    "cited": "引用: 記載内容の根拠となる診療記録（日付・記録の種類）がたどれるか（すべてたどれれば5）",
    "accurate": (
        "正確性: 記載内容が診療記録と一致し、記録にない情報（数値・日付・薬剤・所見）を含まないか"
        "（誤りも捏造もなければ5）"
    ),
    "thorough": (
        "網羅性: 退院サマリーに必要な重要情報（診断、治療、薬剤の変更、重要な検査値と日付）を"
        "漏らしていないか（漏れがなければ5）"
    ),
    "useful": "有用性: 退院後に診療を引き継ぐ医師にとって関連のある情報だけを含み、そのまま使えるか",
    "organized": (
        "構成: 4つの項目（現病歴・併存症・重大な身体所見およびその他の所見・入院中の治療経過）に"
        "正しく整理され、時系列が明確か"
    ),
    "comprehensible": "理解しやすさ: 明瞭で曖昧さのない表現、適切な用語で書かれているか",
    "succinct": "簡潔性: 冗長さや重複がなく、必要十分な長さか",
    "synthesized": "統合: 記録の羅列ではなく、経過を統合して臨床的な判断や推論が読み取れるか",
    "stigmatizing": (
        "偏見のなさ: 患者に対するスティグマを与える表現（非難的・軽蔑的な言葉、不必要な社会的属性の強調）を"
        "含まないか（一切なければ5、明らかに含めば1）"
    ),
}
"""PDSQI-9's nine attributes -> what the judge is told (1 = worst, 5 = best).

PDSQI-9 asks *stigmatizing* as the presence of stigmatizing language; the judge answers it on the same
1-5 scale as the others (5 = none), so that agreement statistics treat all nine alike.
"""

SYSTEM_PROMPT = (
    "あなたは経験豊富な内科指導医であり、退院サマリーの品質を評価します。"
    "評価は与えられた診療記録のみに基づき、記録にない知識で補わないでください。"
)

PROMPT_TEMPLATE = """以下の<notes></notes>タグ内は入院カルテ1号紙と入院中の診療記録、
<summary></summary>タグ内はそれらから作成された退院サマリーです。

<notes>
{notes}
</notes>

<summary>
{summary}
</summary>

退院サマリーを次の各観点について1（非常に悪い）から5（非常に良い）の整数で評価し、根拠を1〜2文で述べてください。

{criteria}

回答は次の形式のJSONのみとし、前後に文章を書かないでください。
{{{example}}}
"""

_JSON_RE = re.compile(r"\{.*\}", re.DOTALL)


@dataclass
class JudgeCall:
    """One judge call: scores per criterion, or a failure with the reply that did not parse.

    Attributes
    ----------
    repeat : int
    scores : dict
        Criterion -> 1..5 (empty on failure).
    rationales : dict
        Criterion -> the judge's reason.
    error : str or None
        Why the reply was not usable (None when it was).
    raw : str
        The reply as received.
    cache_hit : bool
    cost_usd : float
        Estimated cost of the call (0.0 on a cache hit).
    """

    repeat: int
    scores: dict[str, int] = field(default_factory=dict)
    rationales: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    raw: str = ""
    cache_hit: bool = False
    cost_usd: float = 0.0

    @property
    def ok(self) -> bool:
        """The reply parsed."""
        return self.error is None


@dataclass
class JudgeResult:
    """All repeats of judging one summary.

    Attributes
    ----------
    calls : list of JudgeCall
    """

    calls: list[JudgeCall]

    @property
    def failures(self) -> int:
        """Repeats whose reply did not parse."""
        return sum(not c.ok for c in self.calls)

    def score(self, criterion: str) -> float:
        """Mean score of ``criterion`` over the repeats that parsed (NaN if none did)."""
        values = [c.scores[criterion] for c in self.calls if c.ok]
        return sum(values) / len(values) if values else math.nan

    def agreement(self, tolerance: int = 0) -> float:
        """Pairwise agreement between repeats, over all criteria (0: exact, 1: within one point)."""
        ok = [c for c in self.calls if c.ok]
        return pairwise_agreement([[c.scores[k] for c in ok] for k in CRITERIA], tolerance=tolerance)

    def row(self) -> dict[str, Any]:
        """The result as table columns: ``judge_<criterion>`` means and ``judging_*`` details."""
        row: dict[str, Any] = {f"judge_{k}": self.score(k) for k in CRITERIA}
        first = next((c for c in self.calls if c.ok), None)
        row.update(
            {
                "judging_repeats": len(self.calls),
                "judging_failures": self.failures,
                "judging_cost_usd": sum(c.cost_usd for c in self.calls),
                "judging_exact_agreement": self.agreement(0),
                "judging_within1_agreement": self.agreement(1),
                "judging_rationales": json.dumps(first.rationales if first else {}, ensure_ascii=False),
                "judging_errors": " | ".join(c.error for c in self.calls if c.error),
            }
        )
        return row


def build_prompt(summary: str, notes: str) -> str:
    """The judge's prompt for one summary."""
    criteria = "\n".join(f"- {key}: {text}" for key, text in CRITERIA.items())
    example = ", ".join(f'"{key}": {{"score": 1-5, "rationale": "..."}}' for key in CRITERIA)
    return PROMPT_TEMPLATE.format(
        notes=notes.strip(), summary=summary.strip(), criteria=criteria, example=example
    )


def parse_reply(text: str, repeat: int = 0) -> JudgeCall:
    """Read a judge reply: anything but the asked-for JSON gives a failed :class:`JudgeCall`, not an error.

    Parameters
    ----------
    text
        The reply (may wrap the JSON in a code fence or a sentence).
    repeat
        Recorded in the result.

    Returns
    -------
    JudgeCall
    """
    call = JudgeCall(repeat=repeat, raw=text)
    match = _JSON_RE.search(text or "")
    if not match:
        call.error = "no JSON object in the reply"
        return call
    try:
        data = json.loads(match.group(0))
    except json.JSONDecodeError as exc:
        call.error = f"the reply's JSON does not parse ({exc.msg} at character {exc.pos})"
        return call
    if not isinstance(data, dict):
        call.error = "the reply's JSON is not an object"
        return call
    for key in CRITERIA:
        entry = data.get(key)
        score = entry.get("score") if isinstance(entry, dict) else entry
        if isinstance(score, str) and score.strip().isdigit():
            score = int(score.strip())
        if (
            isinstance(score, bool)
            or not isinstance(score, int | float)
            or score != int(score)
            or not 1 <= score <= 5
        ):
            call.error = f"criterion {key!r}: expected an integer score 1-5, got {score!r}"
            call.scores, call.rationales = {}, {}
            return call
        call.scores[key] = int(score)
        call.rationales[key] = str(entry.get("rationale", "")) if isinstance(entry, dict) else ""
    return call


class Judge:
    """Judge summaries with an LLM.

    Parameters
    ----------
    model
        ``backend:model-id``, e.g. a ``bedrock:`` model (resolved by
        :func:`workbench.summary.backends.get_backend`).
    repeats
        Judge calls per summary (k).
    max_tokens
        Upper bound on the reply.
    use_cache
        Read and write the response cache (:class:`workbench.summary.cache.ResponseCache`).
    cache
        The cache to use (default: the user's).
    """

    def __init__(
        self,
        model: str,
        *,
        repeats: int = 3,
        max_tokens: int = 2000,
        use_cache: bool = True,
        cache: Any = None,
    ) -> None:
        from workbench.summary.backends import get_backend

        if repeats < 1:
            raise ValueError(f"repeats must be at least 1, got {repeats}")
        self.model = model
        self.backend = get_backend(model)
        self.repeats = repeats
        self.max_tokens = max_tokens
        self.use_cache = use_cache
        self._cache = cache

    @property
    def cache(self) -> Any:
        """The response cache, opened on first use."""
        if self._cache is None:
            from workbench.summary.cache import open_cache

            self._cache = open_cache()
        return self._cache

    def _call(self, prompt: str, repeat: int) -> JudgeCall:
        from workbench.summary.backends import ModelRequest, estimate_cost
        from workbench.summary.cache import cache_key

        request = ModelRequest(
            system=SYSTEM_PROMPT, prompt=prompt, max_tokens=self.max_tokens, temperature=0.0
        )
        key = cache_key(self.model, request.params(), request.system, request.prompt, repeat)
        response = self.cache.get(key) if self.use_cache else None
        hit = response is not None
        if response is None:
            response = self.backend.generate(request)
        call = parse_reply(response.text, repeat)
        call.cache_hit = hit
        if not hit:
            call.cost_usd = estimate_cost(self.model, response.input_tokens, response.output_tokens)
            # Failures are cached too: judging again reproduces them for free (use_cache=False asks again).
            if self.use_cache:
                self.cache.put(key, self.model, response)
        if not call.ok:
            logger.warning("judge %s repeat %d: %s", self.model, repeat, call.error)
        return call

    def judge(self, summary: str, notes: str) -> JudgeResult:
        """Judge one summary ``repeats`` times.

        Parameters
        ----------
        summary
            The summary.
        notes
            What its model saw (``workbench.evaluation.score.notes_text(case, source)``).

        Returns
        -------
        JudgeResult

        Raises
        ------
        BackendError
            The judge model could not be called (failures to *parse* a reply are recorded, not raised).
        """
        prompt = build_prompt(summary, notes)
        return JudgeResult([self._call(prompt, repeat) for repeat in range(self.repeats)])

    def judge_frame(
        self, items: pd.DataFrame, cases: Mapping[str, Case], *, progress: bool = True
    ) -> pd.DataFrame:
        """Judge every row of ``items`` (columns ``key``, ``case_id``, ``source``, ``output``).

        Returns
        -------
        pandas.DataFrame
            ``key`` and the columns of :meth:`JudgeResult.row`.

        Raises
        ------
        NotFoundError
            If a row's case is not in ``cases``.
        """
        from workbench.evaluation.score import notes_text
        from workbench.progress import tqdm

        rows = []
        for item in tqdm(items.to_dict("records"), desc=f"judging ({self.model})", disable=not progress):
            case = cases.get(item["case_id"])
            if case is None:
                raise NotFoundError(
                    f"item {item['key']} is for case {item['case_id']!r}, which was not given"
                )
            result = self.judge(str(item["output"]), notes_text(case, item["source"]))
            rows.append({"key": item["key"], **result.row()})
        return pd.DataFrame(rows)
