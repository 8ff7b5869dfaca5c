"""Person names: split DICOM PN values into their three groups and decode the ones a server garbled.

A DICOM person name has up to three component groups separated by ``=``: alphabetic (romaji, or half-width
katakana), ideographic (kanji) and phonetic (hiragana/katakana), e.g.
``Yamada^Tarou=山田^太郎=やまだ^たろう``.

Orthanc 1.10.1 decodes a name with the *first* value of SpecificCharacterSet only. For the Japanese
multi-valued sets ``ISO 2022 IR 13\\ISO 2022 IR 87`` and ``ISO 2022 IR 6\\ISO 2022 IR 87`` its JSON holds
the JIS X 0208 bytes as ASCII with the escape sequences dropped (``;3ED^B@O:`` for 山田^太郎). Such a name is
recognised by :func:`looks_garbled` and re-decoded with pydicom from the raw bytes of the stored file
(:func:`decode_raw_name`), which implements ISO 2022 code extensions correctly.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import TypeVar

logger = logging.getLogger(__name__)

Row = TypeVar("Row")

GROUPS = ("alphabetic", "ideographic", "phonetic")

# Remnants of ISO 2022 escape sequences once the ESC byte is dropped: ESC $ B / ESC $ @ (JIS X 0208),
# ESC $ ( D (JIS X 0212), ESC ( B / ( J / ( I (ASCII, JIS X 0201 roman / katakana), ESC $ ) C (KS X 1001),
# ESC $ A / $ ) A (GB 2312).
_ESCAPE_REMNANT = re.compile(r"\x1b|\ufffd|\$[@AB]|\$\(D|\$\)[AC]|\([BIJ]")


def split_person_name(value: str | None) -> tuple[str, str, str]:
    """Split a PN value into (alphabetic, ideographic, phonetic) groups; missing groups are ``""``.

    Parameters
    ----------
    value
        A decoded PN such as ``"Yamada^Tarou=山田^太郎=やまだ^たろう"``; ``None`` gives three empty strings.

    Returns
    -------
    tuple of str
    """
    if not value:
        return ("", "", "")
    parts = value.strip().split("=")[:3]
    parts += [""] * (3 - len(parts))
    return (parts[0].strip(), parts[1].strip(), parts[2].strip())


def repair_names(
    rows: Iterable[Row],
    key: Callable[[Row], tuple[str, str]],
    read: Callable[[Row], str | None],
) -> dict[tuple[str, str], str]:
    """The decoded name of every (owner, name as the server gave it), garbled ones re-read once each.

    Both archives repair names this way; only how a name is read from a stored file differs. Keyed by what
    each row carries rather than by patient: a server keeps the patient tags of every study, and studies of
    one patient ID may carry different names (corrections, typing errors) and character sets, so ``read``
    decodes a file of the row's own study, and the owner is the patient ID (Orthanc) or the study UID
    (DICOMweb).

    Parameters
    ----------
    rows
        Search answers (any kind of row).
    key
        A row's (owner, name as served).
    read
        Read a row's name from one of its stored files (``None``: keep the name as served).

    Returns
    -------
    dict
        (owner, served name) -> the name to show.
    """
    names: dict[tuple[str, str], str] = {}
    for row in rows:
        served = key(row)
        if served not in names:
            names[served] = (read(row) or served[1]) if looks_garbled(served[1]) else served[1]
    return names


def looks_garbled(value: str | None) -> bool:
    """Tell whether a name as a server returned it was probably decoded with the wrong character set.

    True when the value holds an escape byte, a replacement character or the remnant of an ISO 2022 escape
    sequence, or when its ideographic or phonetic group is plain ASCII (those groups exist to hold kanji and
    kana). A false positive only costs a look at the stored file, which then decides.

    Parameters
    ----------
    value
        The name as returned by the server.

    Returns
    -------
    bool
    """
    if not value:
        return False
    if value.isascii() and "=" not in value and "$" not in value and "(" not in value:
        return False  # the common case, decided without a regular expression
    if _ESCAPE_REMNANT.search(value):
        return True
    _, ideographic, phonetic = split_person_name(value)
    return any(
        group and group.replace("^", "").strip() and group.isascii() for group in (ideographic, phonetic)
    )


def orthanc_garbled_form(text: str) -> str | None:
    """A pattern matching what Orthanc 1.10 holds for ``text`` in names stored with ISO 2022 JIS X 0208.

    Orthanc decodes such names with the first value of SpecificCharacterSet only. Each JIS X 0208 character
    becomes its two ASCII bytes; the escape sequences around them are dropped with ``ISO 2022 IR 13`` first
    (``山田`` becomes ``;3ED``) and lose only their ESC byte with ``ISO 2022 IR 6`` first (``$B;3ED(B``). Its
    index matches queries against that form, so a kanji or kana search can only reach those names through
    it. The pattern returned puts a ``*`` on both sides of each run of JIS X 0208 characters, matching both
    forms and any partial run; it may match more than ``text`` would, so decode what it finds and check
    again with :func:`workbench.imaging.query.matches`.

    Parameters
    ----------
    text
        A name or name pattern (DICOM wildcards ``*`` and ``?`` pass through).

    Returns
    -------
    str or None
        The pattern, or ``None`` when ``text`` holds no JIS X 0208 character (ASCII and half-width katakana
        Orthanc decodes right) or a character outside JIS X 0201/0208 (no Japanese name can hold it).
    """
    out, in_run, seen = [], False, False
    for char in text:
        if char.isascii() or "\uff61" <= char <= "\uff9f":  # ASCII and half-width katakana: decoded right
            if in_run:
                out.append("*")
            out.append(char)
            in_run = False
            continue
        try:
            encoded = char.encode("iso2022_jp")
        except UnicodeEncodeError:
            return None
        if not in_run:
            out.append("*")
        out.append(encoded.replace(b"\x1b$B", b"").replace(b"\x1b(B", b"").decode("ascii"))
        in_run = seen = True
    if in_run:
        out.append("*")
    if not seen:
        return None
    return re.sub(r"\*+", "*", "".join(out))


def parse_charsets(raw: bytes | str | None) -> list[str]:
    """Parse the raw SpecificCharacterSet (0008,0005) into its terms (the first may be ``""``)."""
    if raw is None:
        return []
    text = raw.decode("ascii", errors="replace") if isinstance(raw, bytes) else raw
    text = text.strip(" \x00")
    return [term.strip() for term in text.split("\\")] if text else []


def decode_raw_name(raw: bytes, charsets: list[str]) -> str:
    """Decode the raw bytes of a PN element as pydicom does, honouring ISO 2022 code extensions.

    Parameters
    ----------
    raw
        The element's value bytes as stored in the file.
    charsets
        SpecificCharacterSet terms, e.g. ``["ISO 2022 IR 13", "ISO 2022 IR 87"]``.

    Returns
    -------
    str
        The decoded name, e.g. ``"ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう"``.
    """
    from pydicom.charset import convert_encodings
    from pydicom.valuerep import PersonName

    encodings = convert_encodings(charsets or ["ISO_IR 6"])
    name = PersonName(raw.rstrip(b" \x00"), encodings=encodings).decode()
    return str(name)
