"""The fenced ``bash`` and ``python`` blocks of README.md, as the README tests run them.

A block runs in ``make test`` unless the line right before its fence is a marker comment::

    <!-- README-snippet: cloud -->                          needs AWS or another remote service
    <!-- README-snippet: destructive -->                    changes something outside the test's folders
    <!-- README-snippet: skip (runs the suite itself) -->   any other reason, always given in parentheses

Blocks fenced as anything else (```text, a bare ```) are not code and are not run. A ```text block that
directly follows a code block (only blank lines between) is what that block prints: every non-blank line of it
must be in the block's output (spaces collapsed), so the output a README shows is the output a reader gets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
LANGUAGES = ("bash", "python")
MARKER = re.compile(
    r"^<!--\s*README-snippet:\s*(?P<kind>cloud|destructive|skip)\s*(?:\((?P<reason>[^)]+)\))?\s*-->$"
)
"""A marker comment: its kind, and for ``skip`` its reason in parentheses (required)."""
_ANY_MARKER = re.compile(r"^<!--.*README-snippet")
_PLACE = "a snippet marker must be the line right before a fence"


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, the README line of its opening fence, its code and its marker."""

    language: str
    line: int
    code: str
    marker: str | None = None
    reason: str | None = None
    expected: tuple[str, ...] = ()
    """The non-blank lines of the ```text block right after it (spaces collapsed): what it prints."""

    @property
    def id(self) -> str:
        """The test id, named by the README line of the fence."""
        return f"README.md:{self.line}-{self.language}"


def blocks(path: Path = README) -> list[Block]:
    """Every fenced ``bash``/``python`` block of ``path``, in order, with the marker before it.

    Raises
    ------
    ValueError
        A marker that is malformed, a ``skip`` without its reason, a marker not followed by a block, or an
        unclosed fence (each names its line).
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    pending: tuple[int, str, str | None] | None = None
    index = last_end = 0
    while index < len(lines):
        text = lines[index].strip()
        number = index + 1
        if _ANY_MARKER.search(text):
            match = MARKER.match(text)
            if not match or (match["kind"] == "skip" and not match["reason"]):
                raise ValueError(f"{path.name}:{number}: malformed snippet marker {text!r}")
            pending = (number, match["kind"], match["reason"])
        elif text.startswith("```"):
            language = text[3:].strip()
            end = index + 1
            while end < len(lines) and not lines[end].strip().startswith("```"):
                end += 1
            if end == len(lines):
                raise ValueError(f"{path.name}:{number}: fence never closed")
            if pending and pending[0] != number - 1:
                raise ValueError(f"{path.name}:{pending[0]}: {_PLACE}")
            follows = found and found[-1].language in LANGUAGES and _only_blank(lines, last_end, index)
            if language == "text" and follows:
                shown = tuple(" ".join(line.split()) for line in lines[index + 1 : end] if line.strip())
                found[-1] = replace(found[-1], expected=shown)
            if language in LANGUAGES:
                code = "\n".join(lines[index + 1 : end]) + "\n"
                kind, reason = (pending[1], pending[2]) if pending else (None, None)
                found.append(Block(language, number, code, kind, reason))
            elif pending:
                kind = language or "plain"
                raise ValueError(f"{path.name}:{pending[0]}: a snippet marker before a {kind} fence")
            pending = None
            index = last_end = end
        elif text and pending:
            raise ValueError(f"{path.name}:{pending[0]}: {_PLACE}")
        index += 1
    return found


def _only_blank(lines: list[str], after: int, before: int) -> bool:
    """Whether the lines strictly between ``after`` and ``before`` (0-based) are all blank."""
    return after > 0 and all(not line.strip() for line in lines[after + 1 : before])


def missing_output(block: Block, output: str) -> list[str]:
    """The lines of ``block.expected`` that ``output`` does not contain (spaces collapsed)."""
    printed = {" ".join(line.split()) for line in output.splitlines()}
    flat = " ".join(output.split())
    return [line for line in block.expected if line not in printed and line not in flat]
