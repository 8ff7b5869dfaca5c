from __future__ import annotations

import re

from workbench.summary.cases import load_case
from workbench.summary.entries import ID_RE, EntryIndex

from .conftest import CORPUS


def test_ids_say_day_author_and_part_and_are_stable(tiny_case) -> None:
    first, second = EntryIndex(tiny_case), EntryIndex(load_case(tiny_case.path))
    assert first.ids() == second.ids()
    assert first.karte("both") == second.karte("both")
    assert len(set(first.ids())) == len(first.ids()) == len(
        [*tiny_case.doctor, *tiny_case.nursing]
    ) + len(first.headings)
    for entry in [*tiny_case.doctor, *tiny_case.nursing]:
        entry_id = first.id_of(entry)
        assert ID_RE.fullmatch(entry_id)
        day, author, part = entry_id.split("-")
        assert day == entry.date.strftime("%m%d")
        assert author == ("医" if entry.author.value == "doctor" else "看")
        assert part[0] == {"FREE": "F"}.get(entry.tag.value, entry.tag.value)
        assert first[entry_id].text == entry.text


def test_ids_do_not_depend_on_the_source() -> None:
    case = load_case(CORPUS / "case-001")
    index = EntryIndex(case)
    doctor_ids = re.findall(r"\[(\d{4}-医-[A-Z]\d+)\]", index.karte("doctor"))
    both_ids = re.findall(r"\[(\d{4}-医-[A-Z]\d+)\]", index.karte("both"))
    assert doctor_ids == both_ids and len(doctor_ids) == len(case.doctor)
    # two <O> entries of the nurses on 7/25 are numbered in file order
    assert index["0725-看-O1"].text.startswith("【バイタルサイン】")
    assert index["0725-看-O2"].text.startswith("14:20")


def test_admission_record_parts_have_ids() -> None:
    case = load_case(CORPUS / "case-001")
    index = EntryIndex(case)
    rendered = index.ichigo()
    assert rendered.startswith("[0725-医-H1]【主訴】")
    assert index[index.headings["現病歴"]].text.startswith("75歳男性")
    assert index[index.headings["現病歴"]].to_dict()["part"] == "入院時記録 現病歴"


def test_a_stay_over_a_year_uses_the_year(tiny_case) -> None:
    import dataclasses
    import datetime as dt

    entry = tiny_case.doctor[0]
    later = dataclasses.replace(entry, date=entry.date.replace(year=entry.date.year + 1))
    case = dataclasses.replace(tiny_case, doctor=[entry, later], discharge_date=later.date + dt.timedelta(1))
    index = EntryIndex(case)
    assert index.id_of(entry) != index.id_of(later)
    assert index.id_of(later).startswith(later.date.strftime("%Y%m%d"))


def test_shifted_ids_move_the_day_and_read_back_one_to_one(tiny_case) -> None:
    import dataclasses
    import datetime as dt

    index = EntryIndex(tiny_case)
    shifted = index.shifted_ids(14)
    assert list(shifted) == index.ids() and len(set(shifted.values())) == len(shifted)
    for original, moved in shifted.items():
        assert ID_RE.fullmatch(moved)
        day, rest = moved.split("-", 1)
        assert rest == original.split("-", 1)[1]
        assert day == (index[original].date + dt.timedelta(days=14)).strftime("%m%d")
    # 2024-02-20 and 2025-02-19 differ as MMDD, but 14 days later both are 03-05: the moved IDs carry the year
    entry = dataclasses.replace(tiny_case.doctor[0], date=dt.date(2024, 2, 20))
    later = dataclasses.replace(entry, date=dt.date(2025, 2, 19))
    case = dataclasses.replace(
        tiny_case, admission_date=entry.date, doctor=[entry, later], nursing=[], discharge_date=later.date
    )
    case_index = EntryIndex(case)
    assert case_index.id_of(entry).startswith("0220-") and case_index.id_of(later).startswith("0219-")
    moved = case_index.shifted_ids(14)
    assert moved[case_index.id_of(entry)].startswith("20240305-")
    assert moved[case_index.id_of(later)].startswith("20250305-")
    assert len(set(moved.values())) == len(moved)
