from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from workbench.errors import CaseFormatError, NotFoundError
from workbench.summary.cases import (
    Author,
    Source,
    Tag,
    find_case,
    load_case,
    load_cases,
    load_csv,
    parse_notes,
    resolve_relative_dates,
)

from .conftest import DATA, corpus_case_dirs


def test_unclosed_entries_run_to_the_next_tag_and_lines_are_kept() -> None:
    text = "<day-2023-07-25>\n<A>肺炎 <P>TAZ/PIPC開始\n継続</P>\n</day-2023-07-25>\n"
    entries = parse_notes(text, "doctor", filename="doctor.txt")
    assert [(e.tag, e.text, e.line) for e in entries] == [
        (Tag.A, "肺炎", 2),
        (Tag.P, "TAZ/PIPC開始\n継続", 2),
    ]
    assert all(e.author is Author.DOCTOR and e.date == dt.date(2023, 7, 25) for e in entries)


def test_text_outside_soap_tags_is_free_and_a_day_left_open_is_closed_by_the_next() -> None:
    text = "<day-2022-10-10>\n昨日HOT開始\n<day-2022-10-11><O>SpO2 95%</O></day-2022-10-11>"
    entries = parse_notes(text, "nursing")
    assert [(e.date.day, e.tag, e.text) for e in entries] == [
        (10, Tag.FREE, "昨日HOT開始"),
        (11, Tag.O, "SpO2 95%"),
    ]
    assert entries[0].line == 2


def test_a_mismatched_soap_close_ends_the_open_entry_and_stray_closes_are_ignored() -> None:
    entries = parse_notes("<day-2023-01-01><S>痛い</O></P><A>評価</A></day-2023-01-01>", "doctor")
    assert [(e.tag, e.text) for e in entries] == [(Tag.S, "痛い"), (Tag.A, "評価")]


@pytest.mark.parametrize(
    "tag", ["<day-2023-13-01>", "<day-2023/07/25>", "<day-20230725>", "<day-2023-02-30>"]
)
def test_a_malformed_date_tag_is_rejected_with_file_and_line(tag: str) -> None:
    with pytest.raises(CaseFormatError, match=r"doctor\.txt:3: malformed date tag"):
        parse_notes(f"<day-2023-07-24>\n</day-2023-07-24>\n{tag}\n<S>x</S>", "doctor", filename="doctor.txt")


def test_closing_a_day_that_was_never_opened_is_rejected() -> None:
    with pytest.raises(
        CaseFormatError,
        match=r"n\.txt:2: </day-2023-07-26> closes a day that was never opened "
        r"\(the open day is 2023-07-25\)",
    ):
        parse_notes("<day-2023-07-25><S>a</S>\n</day-2023-07-26>", "nursing", filename="n.txt")
    with pytest.raises(CaseFormatError, match=r"no day is open"):
        parse_notes("<day-2023-07-25></day-2023-07-25></day-2023-07-25>", "nursing")


def test_text_outside_any_day_is_rejected() -> None:
    with pytest.raises(CaseFormatError, match=r"x\.txt:1: text outside any <day-YYYY-MM-DD> tag"):
        parse_notes("ヘッダー\n<day-2023-07-25><S>a</S></day-2023-07-25>", "doctor", filename="x.txt")


def test_relative_dates_are_kept_verbatim_and_can_be_resolved(tiny_case) -> None:
    hot = next(e for e in tiny_case.doctor if "HOT" in e.text)
    assert hot.text == "昨日HOT開始" and hot.date == dt.date(2022, 10, 10)
    assert resolve_relative_dates(hot.text, hot.date) == "昨日(2022-10-09)HOT開始"
    assert resolve_relative_dates("一昨日と本日", hot.date, replace=True) == "10月8日と10月10日"
    assert "昨日(2022-10-09)HOT開始" in tiny_case.karte("doctor", annotate_dates=True)


def test_load_case_reads_every_file(tiny_case) -> None:
    assert tiny_case.case_id == "tiny" and tiny_case.department == "respiratory"
    assert tiny_case.admission_date == dt.date(2022, 10, 8) and tiny_case.discharge_date == dt.date(
        2022, 10, 12
    )
    assert len(tiny_case.doctor) == 10 and len(tiny_case.nursing) == 3
    assert "・ 入院中の治療経過" in tiny_case.reference and tiny_case.facts["procedures"][0]["name"] == "HOT"
    assert tiny_case.path == (DATA / "tiny").resolve()


def test_karte_renders_the_seed_format_and_merges_sources_by_date(tiny_case) -> None:
    doctor = tiny_case.karte(Source.DOCTOR)
    assert doctor.startswith("<day-2022-10-08>\n<S>息が苦しい</S>\n<O>SpO2 86%")
    assert "[医師]" not in doctor and "看護" not in doctor
    both = tiny_case.karte("both").splitlines()
    day11 = both[both.index("<day-2022-10-11>") + 1 : both.index("</day-2022-10-11>")]
    assert day11 == ["<O>[医師] SpO2 95%(RA)</O>", "<S>[看護] 「だいぶ楽になりました」</S>"]
    nursing = tiny_case.karte("nursing")
    assert nursing.count("<day-") == 2 and "[看護]" not in nursing
    # plans copied from day to day are kept as written
    assert both.count("<P>[医師] PSL 30mg 5日間、β刺激薬吸入</P>") == 2


def test_source_text_holds_the_admission_record_and_the_notes(tiny_case) -> None:
    text = tiny_case.source_text("nursing")
    assert text.startswith("【主訴】") and "<day-2022-10-08>" in text and "090-1234-5678" in text
    assert "PSL" not in text  # a doctor's plan


def test_source_parse_accepts_values_and_labels_and_rejects_others() -> None:
    assert Source.parse("医師+看護記録") is Source.BOTH and Source.parse("nursing") is Source.NURSING
    with pytest.raises(CaseFormatError, match="unknown source 'nurse'"):
        Source.parse("nurse")


def _copy_case(tmp_path: Path, **changes: str) -> Path:
    folder = tmp_path / "case"
    folder.mkdir()
    for file in (DATA / "tiny").iterdir():
        (folder / file.name).write_text(
            changes.get(file.name, file.read_text(encoding="utf-8")), encoding="utf-8"
        )
    return folder


def test_malformed_case_files_name_the_file(tmp_path: Path) -> None:
    folder = _copy_case(
        tmp_path,
        **{
            "meta.json": '{"patient_id": "x", "admission_date": "2022-10-08",\n'
            '"discharge_date": "2022-10-01", "department": "a"}'
        },
    )
    with pytest.raises(CaseFormatError, match=r"meta\.json: discharge_date 2022-10-01 is before"):
        load_case(folder)
    (folder / "meta.json").write_text('{"patient_id": "x",\n "admission_date": }', encoding="utf-8")
    with pytest.raises(CaseFormatError, match=r"meta\.json:2: invalid JSON"):
        load_case(folder)
    (folder / "meta.json").write_text('{"patient_id": "x"}', encoding="utf-8")
    with pytest.raises(CaseFormatError, match="missing admission_date, discharge_date, department"):
        load_case(folder)


def test_missing_folders_and_files_are_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        load_case(tmp_path / "nope")
    with pytest.raises(NotFoundError, match=r"meta\.json is missing"):
        load_case(tmp_path)
    with pytest.raises(NotFoundError, match="holds no case folders"):
        load_cases(tmp_path)
    folder = _copy_case(tmp_path)
    (folder / "doctor.txt").unlink()
    (folder / "nursing.txt").unlink()
    with pytest.raises(NotFoundError, match=r"neither doctor\.txt nor nursing\.txt"):
        load_case(folder)


def test_load_cases_takes_a_folder_of_cases_a_case_or_a_list(tmp_path: Path) -> None:
    assert [c.case_id for c in load_cases(DATA)] == ["tiny"]
    assert [c.case_id for c in load_cases(DATA / "tiny")] == ["tiny"]
    assert [c.case_id for c in load_cases([DATA / "tiny", DATA / "tiny"])] == ["tiny", "tiny"]


def test_load_csv_groups_rows_into_cases() -> None:
    p1, p2 = load_csv(DATA / "export.csv", department="general")
    assert (p1.case_id, p1.admission_date, p1.discharge_date, p1.department) == (
        "P001",
        dt.date(2023, 1, 5),
        dt.date(2023, 1, 7),
        "general",
    )
    assert p1.ichigo == "【現病歴】\n発熱で受診。"
    assert [(e.tag, e.text, e.line) for e in p1.doctor] == [
        (Tag.S, "寒気がする", 4),
        (Tag.A, "肺炎", 6),
        (Tag.P, "退院", 7),
    ]
    assert [(e.tag, e.author) for e in p1.nursing] == [(Tag.O, Author.NURSING)]
    assert p2.doctor[0].tag is Tag.FREE and p2.doctor[0].line == 8


def test_load_csv_rejects_bad_rows_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(
        "patient_id,date,record_type,tag,text\nP1,2023-01-01,doctor,S,a\nP1,2023-01-02,lab,S,b\n",
        encoding="utf-8",
    )
    with pytest.raises(CaseFormatError, match=r"x\.csv:3: unknown record_type 'lab'"):
        load_csv(path)
    path.write_text("patient_id,date,record_type,tag,text\nP1,2023-01-01,doctor,X,a\n", encoding="utf-8")
    with pytest.raises(CaseFormatError, match=r"x\.csv:2: unknown tag 'X'"):
        load_csv(path)
    path.write_text("patient_id,date,record_type,tag,text\nP1,2023-31-01,doctor,S,a\n", encoding="utf-8")
    with pytest.raises(CaseFormatError, match=r"x\.csv:2: date: '2023-31-01' is not a date"):
        load_csv(path)
    path.write_text("patient_id,day,text\n", encoding="utf-8")
    with pytest.raises(CaseFormatError, match=r"x\.csv:1: missing column\(s\) date, record_type, tag"):
        load_csv(path)


def test_find_case_by_patient_or_case_id(tiny_case) -> None:
    assert find_case([tiny_case], tiny_case.patient_id.lower()) is tiny_case
    assert find_case([tiny_case], "tiny") is tiny_case
    with pytest.raises(NotFoundError, match="no case with case or patient ID 'zzz'"):
        find_case([tiny_case], "zzz")


def test_every_corpus_case_loads() -> None:
    dirs = corpus_case_dirs()
    assert dirs, "eval/cases holds no case yet"
    for case in load_cases(dirs):
        assert case.doctor and case.nursing and case.reference and case.facts, case.case_id


def test_warehouse_csv_export_equals_the_case_folders() -> None:
    """eval/cases_csv/example_export.csv holds cases 020 and 021 as a data warehouse gives them."""
    root = Path(__file__).resolve().parents[2] / "eval"
    exported = {case.patient_id: case for case in load_csv(root / "cases_csv" / "example_export.csv")}
    for case_id in ("case-020", "case-021"):
        folder = load_case(root / "cases" / case_id)
        case = exported[folder.patient_id]
        assert case.ichigo.strip() == folder.ichigo.strip()
        assert case.karte(Source.BOTH) == folder.karte(Source.BOTH)
        assert (case.admission_date, case.discharge_date) == (folder.admission_date, folder.discharge_date)


def test_a_5_mb_case_parses_in_seconds(tmp_path: Path) -> None:
    """The parser is linear: the old one counted newlines from the start for every tag (1.1 MB took 45 s)."""
    import shutil
    import time

    source = sorted((Path(__file__).resolve().parents[2] / "eval" / "cases").iterdir())[0]
    case_dir = tmp_path / "long-stay"
    shutil.copytree(source, case_dir)
    day, blocks, size = dt.date(1950, 1, 1), [], 0
    while size < 5_000_000:
        block = (
            f"<day-{day.isoformat()}>\n<S>咳嗽あり、夜間も続く。\n<O>BT 37.{day.day % 10}℃ SpO2 95%(RA) "
            f"WBC 9800 CRP 3.{day.day % 10}</O>\n<A>肺炎、改善傾向。\n<P>抗菌薬継続、明日採血。</P>\n"
            f"</day-{day.isoformat()}>\n"
        )
        blocks.append(block)
        size += len(block.encode("utf-8"))
        day += dt.timedelta(days=1)
    (case_dir / "doctor.txt").write_text("".join(blocks), encoding="utf-8")
    started = time.perf_counter()
    case = load_case(case_dir)
    entries = case.entries(Source.DOCTOR)
    seconds = time.perf_counter() - started
    assert len(entries) == 4 * len(blocks)
    assert entries[-1].line == 6 * len(blocks) - 1  # line numbers stay exact: the last <P> of the last day
    assert seconds < 30, f"parsing a 5 MB case took {seconds:.1f} s"
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("翌日より食事再開", "翌日(2023-10-10)より食事再開"),
        ("翌朝に採血", "翌朝(2023-10-10)に採血"),
        ("前日夜から発熱", "前日(2023-10-08)夜から発熱"),
        ("同日CT施行", "同日(2023-10-09)CT施行"),
        ("当日は安静", "当日(2023-10-09)は安静"),
        # After a noun the word counts from that event, not from the entry's day.
        ("術翌日より離床", "術翌日より離床"),
        ("入院当日", "入院当日"),
    ],
)
def test_next_day_and_same_day_words_are_resolved(text: str, expected: str) -> None:
    assert resolve_relative_dates(text, dt.date(2023, 10, 9)) == expected
    if expected != text:
        assert "月" in resolve_relative_dates(text, dt.date(2023, 10, 9), replace=True)


@pytest.mark.parametrize(
    ("word", "offset"),
    [
        ("一昨日", -2),
        ("おととい", -2),
        ("昨日", -1),
        ("昨夜", -1),
        ("前日", -1),
        ("本日", 0),
        ("今朝", 0),
        ("同日", 0),
        ("当日", 0),
        ("明日", 1),
        ("翌日", 1),
        ("翌朝", 1),
    ],
)
def test_every_relative_day_word_counts_the_right_number_of_days(word: str, offset: int) -> None:
    # across a month end (and a leap day) so that an off-by-one day shows in the month as well
    entry_day = dt.date(2024, 3, 1)
    day = entry_day + dt.timedelta(days=offset)
    assert resolve_relative_dates(f"{word}から", entry_day) == f"{word}({day.isoformat()})から"
    assert resolve_relative_dates(f"・{word}", entry_day, replace=True) == f"・{day.month}月{day.day}日"



def _message(text: str, **kwargs: str) -> str:
    with pytest.raises(CaseFormatError) as caught:
        parse_notes(text, "doctor", **kwargs)
    return str(caught.value)


def test_notes_errors_are_exact_one_liners() -> None:
    assert _message("ヘッダー\n<day-2023-07-25>") == (
        "<notes>:1: text outside any <day-YYYY-MM-DD> tag: 'ヘッダー'"
    )
    long = "あ" * 50
    assert _message(f"\n\n {long}", filename="d.txt") == (
        f"d.txt:3: text outside any <day-YYYY-MM-DD> tag: {'あ' * 40!r}"
    )
    assert _message("<day-2023-02-30>", filename="d.txt") == (
        "d.txt:1: malformed date tag '<day-2023-02-30>'; expected <day-YYYY-MM-DD> with a real date"
    )
    assert _message("<S>x</S>\n</day-2023-07-25>", filename="d.txt").startswith("d.txt:1: text outside")
    assert _message("</day-2023-07-25>") == (
        "<notes>:1: </day-2023-07-25> closes a day that was never opened (no day is open)"
    )


def test_an_entry_is_dated_at_its_tag_line_even_when_its_text_starts_below() -> None:
    entries = parse_notes("<day-2023-07-25>\n<S>\n\n痛い</S>\n本文\n</day-2023-07-25>", "doctor")
    assert [(e.tag, e.text, e.line) for e in entries] == [(Tag.S, "痛い", 2), (Tag.FREE, "本文", 5)]


def test_the_notes_parser_logs_what_it_repairs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="workbench.summary.cases")
    text = "<day-2023-07-25>\n<S>a</s><O>b</O>\n<A>c</P>\n<day-2023-07-26><P>d</P></day-2023-07-26>"
    parse_notes(text, "doctor", filename="d.txt")
    assert [r.getMessage() for r in caplog.records] == [
        "d.txt:3: </P> closes an open <A>",
        "d.txt:4: day 2023-07-25 left open; closed by the next day tag",
    ]
