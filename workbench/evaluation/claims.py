"""What the grounding check finds in a summary: its claims (numbers, dates, drugs) and their support.

The result types of :mod:`workbench.evaluation.grounding`, kept apart so that reports and scores can hold them
without the checker.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field


class ClaimKind(enum.StrEnum):
    """What kind of checkable content a claim is."""

    NUMBER = "number"
    DATE = "date"
    DRUG = "drug"


@dataclass(frozen=True)
class Claim:
    """One distinct number, date or drug of a summary, and whether the notes support it.

    Attributes
    ----------
    kind : ClaimKind
    text : str
        The claim as checked: ``2024-01-17 ダパグリフロジン`` (a date and its event), ``crp 12.3mg/dl``
        (a number with its name), a drug spelling.
    supported : bool
    unverifiable : bool
        A drug-like word in no drug list that the notes do not hold: neither supported nor known to be wrong.
    """

    kind: ClaimKind
    text: str
    supported: bool
    unverifiable: bool = False


@dataclass
class Grounding:
    """The checkable content of a summary.

    Attributes
    ----------
    claims : list of Claim
        Distinct (kind, text) pairs in order of appearance.
    n_sentences : int
        Sentences of the summary (section headings are not sentences).
    n_uncheckable_sentences : int
        Sentences without any number, date or drug.
    """

    claims: list[Claim] = field(default_factory=list)
    n_sentences: int = 0
    n_uncheckable_sentences: int = 0

    @property
    def n_claims(self) -> int:
        """Number of distinct numbers, dates and drugs (0 for a purely narrative summary)."""
        return len(self.claims)

    @property
    def unsupported(self) -> list[Claim]:
        """The claims the notes contradict or do not hold."""
        return [c for c in self.claims if not c.supported and not c.unverifiable]

    @property
    def unverifiable(self) -> list[Claim]:
        """Drug-like words the check cannot verify (see the module's description)."""
        return [c for c in self.claims if c.unverifiable]

    @property
    def flagged(self) -> list[Claim]:
        """Unsupported and unverifiable claims: what a reader should check."""
        return [c for c in self.claims if not c.supported]

    @property
    def unsupported_rate(self) -> float:
        """Unsupported / all claims; NaN (undefined) for a summary without any: see :attr:`n_claims`."""
        return len(self.unsupported) / self.n_claims if self.claims else math.nan

    @property
    def unverifiable_rate(self) -> float:
        """Unverifiable / all claims; NaN for a summary without any."""
        return len(self.unverifiable) / self.n_claims if self.claims else math.nan

    @property
    def uncheckable_share(self) -> float:
        """Share of sentences with no checkable claim; NaN for an empty summary."""
        return self.n_uncheckable_sentences / self.n_sentences if self.n_sentences else math.nan
