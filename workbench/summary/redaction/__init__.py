"""Redaction: identifiers replaced before text leaves the machine, put back in the answer.

The recogniser is Microsoft Presidio's analyzer over GiNZA, a Japanese spaCy pipeline whose model ships in
its PyPI package (``pip install 'workbench[redact]'``), with the project's rules as Presidio recognisers
(:mod:`.rules`), names the case or the archive gives in every script (:mod:`.names`), names found from
GiNZA's tokens (:mod:`.ner`) and per-patient date shifting (:mod:`.dates`). Presidio's anonymizer writes
the placeholders (``[氏名1]``, ``[電話1]`` ...; the same value always the same placeholder);
:meth:`Redactor.restore` puts the values back and moves the dates back. It lowers risk; it does not
guarantee anonymity: the benchmark in ``eval/redaction`` measures what it finds (see the README).

Each category and the HIPAA Safe Harbor item it covers: :mod:`.kinds`.
"""

from workbench.summary.redaction.dates import patient_offset
from workbench.summary.redaction.engine import RedactionUnavailableError, recogniser_version
from workbench.summary.redaction.kinds import SAFE_HARBOR, IdentifierKind
from workbench.summary.redaction.redactor import Redactor

__all__ = [
    "SAFE_HARBOR",
    "IdentifierKind",
    "RedactionUnavailableError",
    "Redactor",
    "patient_offset",
    "recogniser_version",
]
