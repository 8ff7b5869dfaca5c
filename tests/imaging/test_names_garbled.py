"""Garbled-name detection and Orthanc's garbled form at their edges (issue #21); no server."""

from __future__ import annotations

import warnings

import pytest

from workbench.imaging.names import decode_raw_name, looks_garbled, orthanc_garbled_form, parse_charsets


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


def test_an_iso_2022_remnant_without_groups_is_garbled() -> None:
    assert looks_garbled("Yamada(B") is True  # no '=' or '$': still read for the remnant of an escape


@pytest.mark.parametrize(
    ("raw", "terms"),
    [
        (None, []),
        (b"", []),
        (b" \x00", []),
        (b"ISO_IR 100\x00", ["ISO_IR 100"]),
        (b"\\ISO 2022 IR 87 ", ["", "ISO 2022 IR 87"]),
        ("ISO_IR 192", ["ISO_IR 192"]),
        (b"ISO_IR 1\xc3\xa9", ["ISO_IR 1\ufffd\ufffd"]),  # not ASCII: each byte replaced, not read as UTF-8
    ],
)
def test_parse_charsets(raw: bytes | str | None, terms: list[str]) -> None:
    assert parse_charsets(raw) == terms


def test_decode_raw_name_drops_only_trailing_padding() -> None:
    assert decode_raw_name(b"Rex^MAX \x00", []) == "Rex^MAX"
    assert decode_raw_name(b"Rex^Max\x00", ["ISO_IR 6"]) == "Rex^Max"


def test_decode_raw_name_without_charsets_is_plain_ascii() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert decode_raw_name(b"Yamada^Tarou", []) == "Yamada^Tarou"
