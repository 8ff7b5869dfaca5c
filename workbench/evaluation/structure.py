"""Structure of a summary: are the template's four sections there, and is it as long as the physician's?"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from workbench.evaluation.tokenize import get_tokenizer
from workbench.summary.sections import SECTIONS, ParsedSummary, parse_sections

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Structure:
    """Section completeness of one summary.

    Attributes
    ----------
    completeness : float
        Fraction of the template's sections present and non-empty (0 to 1).
    complete : bool
        All of them are.
    missing, extra : tuple of str
        Template sections absent or empty; headings that are not template sections.
    """

    completeness: float
    complete: bool
    missing: tuple[str, ...]
    extra: tuple[str, ...]


def structure(summary: str | ParsedSummary) -> Structure:
    """Section completeness of ``summary`` (text, or already parsed by ``parse_sections``).

    Parameters
    ----------
    summary
        The generated or physician-written summary.

    Returns
    -------
    Structure
    """
    parsed = summary if isinstance(summary, ParsedSummary) else parse_sections(summary)
    present = len(SECTIONS) - len(parsed.missing)
    return Structure(
        completeness=present / len(SECTIONS),
        complete=not parsed.missing,
        missing=tuple(parsed.missing),
        extra=tuple(parsed.extra),
    )


def length_ratio(candidate: str, reference: str) -> float:
    """Length of ``candidate`` over that of ``reference``, in characters without whitespace and punctuation.

    Returns
    -------
    float
        1.0 is as long as the physician's summary; NaN when the reference is empty.
    """
    tokenizer = get_tokenizer("char")
    ref = len(tokenizer.tokenize(reference))
    return len(tokenizer.tokenize(candidate)) / ref if ref else math.nan
