"""Garbled-name detection and Orthanc's garbled form at their edges (issue #21); no server."""

from __future__ import annotations

import pytest

from workbench.imaging.names import looks_garbled, orthanc_garbled_form


@pytest.mark.parametrize(
    ("value", "garbled"),
    [
        ("Yamada^Tarou=;3ED^B@O:=", True),  # all ASCII: the ideographic group is the JIS bytes of 山田^太郎
        ("Yamada^Tarou==d$^$?$m", True),  # an ASCII phonetic group (no escape remnant in it)
        ("Yamada^Tarou=", False),  # empty groups are not garbled
        ("Yamada^Tarou=^=^", False),
        ("Yamada^Tarou= = ", False),
        ("Yamada^Tarou=山田^太郎=やまだ^たろう", False),
        ("Yamada\x1b$B;3ED", True),  # an escape byte left in
        (None, False),
    ],
)
def test_ascii_ideographic_or_phonetic_groups_are_garbled(value: str | None, garbled: bool) -> None:
    assert looks_garbled(value) is garbled


@pytest.mark.parametrize(
    ("text", "garbled"),
    [
        ("ﾊﾟｸ=山田*", "ﾊﾟｸ=*;3ED*"),  # ﾟ (U+FF9F), the last half-width katakana, passes through
        ("｡山田", "｡*;3ED*"),  # ｡ (U+FF61), the first
        ("山田ﾀﾛｳ", "*;3ED*ﾀﾛｳ"),
        ("山**田", "*;3*ED*"),  # the wildcards between two runs collapse to one
        ("ﾊﾟｸ", None),
    ],
)
def test_half_width_katakana_passes_through_the_garbled_form(text: str, garbled: str | None) -> None:
    assert orthanc_garbled_form(text) == garbled
