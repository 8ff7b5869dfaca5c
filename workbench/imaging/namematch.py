"""Patient-name filters as people type them: the one rule every search (API, CLI, browser) follows.

A DICOM person name holds up to three component groups, ``Yamada^Tarou=山田^太郎=やまだ^たろう``
(alphabetic, ideographic, phonetic). A DICOM server matches a name filter against the whole value, so
``山田`` or ``yamada`` alone finds nothing and only ``*山田*`` works. The rule here:

- **No wildcard** (``山田``, ``山田^太郎``, ``山田 太郎``, ``やまだ``, ``yamada``, ``YAMADA``): the text is
  cut into words at spaces, ``^`` and commas; a name matches when one of its three groups contains every word
  (romaji regardless of case). So ``山田`` finds ``山田^太郎``, ``太郎 山田`` finds it too, ``yamada`` finds
  ``YAMADA^TARO``. A text holding ``=`` is looked for as it is, anywhere in the whole name.
- **Explicit wildcards** (``*`` any run, ``?`` one character) keep their DICOM meaning, applied to the whole
  name or to any one group: ``山田*`` finds ``Yamada^Tarou=山田^太郎``, ``*たろう`` ends a group.

The server is sent a wider pattern (``*<longest word>*``, or the wildcard pattern with ``*`` on both sides)
and the answers are checked here with :meth:`NamePattern.matches`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from workbench.imaging.names import split_person_name

_WORD_BREAKS = re.compile(r"[\s^,、，\u3000]+")


@dataclass(frozen=True)
class NamePattern:
    """A patient-name filter as typed, the pattern sent to the server, and the check of its answers.

    Attributes
    ----------
    typed
        The text as given (stripped).
    server
        A DICOM pattern that every matching name also matches (the server's answers are a superset).
    exact_on_server
        The server's answers need no further check (one word without wildcards).
    """

    typed: str
    server: str
    exact_on_server: bool

    def matches(self, name: str | None) -> bool:
        """Whether a decoded person name matches the filter (see the module's rule)."""
        return name_matches(self.typed, name)


def has_wildcard(text: str) -> bool:
    """Whether a name filter uses DICOM wildcards."""
    return "*" in text or "?" in text


def words(text: str) -> list[str]:
    """The words of a typed name: cut at spaces, ``^`` and commas (Japanese ones included)."""
    return [word for word in _WORD_BREAKS.split(text) if word]


def name_pattern(typed: str) -> NamePattern:
    """Turn a typed name filter into a :class:`NamePattern`.

    Parameters
    ----------
    typed
        ``山田``, ``yamada^taro``, ``やまだ``, ``*山田*``, ``山田*`` ...

    Returns
    -------
    NamePattern
    """
    text = typed.strip()
    if has_wildcard(text):
        core = text.strip("*")
        # "*core*" with no other wildcard matches a group exactly when it matches the whole name
        exact = text == f"*{core}*" and not has_wildcard(core)
        return NamePattern(text, f"*{core}*" if core else "*", exact_on_server=exact)
    if "=" in text:
        return NamePattern(text, f"*{text}*", exact_on_server=True)
    parts = words(text)
    if not parts:
        return NamePattern(text, "*", exact_on_server=False)
    longest = max(parts, key=len)
    return NamePattern(text, f"*{longest}*", exact_on_server=len(parts) == 1)


def name_matches(typed: str, name: str | None) -> bool:
    """Whether ``name`` (a decoded PN, ``A=I=P``) matches the typed filter ``typed`` (see the module's rule).

    Examples
    --------
    >>> name_matches("山田", "Yamada^Tarou=山田^太郎=やまだ^たろう")
    True
    >>> name_matches("YAMADA taro", "Yamada^Tarou=山田^太郎=やまだ^たろう")
    True
    >>> name_matches("山田*", "Yamada^Tarou=山田^太郎=やまだ^たろう")
    True
    >>> name_matches("山田", "Yamamoto^Hanako=山本^花子")
    False
    """
    if not name:
        return False
    text = typed.strip()
    value = name.casefold()
    groups = [group for group in split_person_name(name) if group]
    if has_wildcard(text):
        regex = re.compile(
            "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in text.casefold()),
            flags=re.DOTALL,
        )
        return any(regex.fullmatch(candidate) for candidate in (value, *(g.casefold() for g in groups)))
    if "=" in text:
        return text.casefold() in value
    parts = [word.casefold() for word in words(text)]
    if not parts:
        return True
    return any(all(word in group.casefold() for word in parts) for group in groups)
