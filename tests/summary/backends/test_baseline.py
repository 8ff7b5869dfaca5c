from __future__ import annotations

from dataclasses import fields

import pytest

from workbench.errors import BackendError
from workbench.summary.backends import CaseInput, ModelRequest, get_backend
from workbench.summary.backends.baseline import LABEL, extractive_summary, ichigo_sections
from workbench.summary.cases import Source, load_cases
from workbench.summary.sections import SECTIONS, parse_sections

from ..conftest import corpus_case_dirs


def test_four_non_empty_sections_on_every_corpus_case_and_source() -> None:
    dirs = corpus_case_dirs()
    assert len(dirs) >= 1, "eval/cases holds no case yet"
    for case in load_cases(dirs):
        for source in ("doctor", "nursing", "both"):
            parsed = parse_sections(extractive_summary(case, source))
            assert parsed.missing == [] and parsed.extra == [], (case.case_id, source, parsed)
            assert list(parsed.sections) == list(SECTIONS)


def test_the_baseline_is_labelled_deterministic_and_extractive(tiny_case) -> None:
    text = extractive_summary(tiny_case, "doctor")
    assert text.startswith(LABEL) and "LLMによる生成ではありません" in text
    assert text == extractive_summary(tiny_case, "doctor")
    sections = parse_sections(text).sections
    assert sections["現病歴"].startswith("COPDで通院中。10月6日より息切れが増悪し")
    assert sections["併存症"] == "COPD、高血圧症"
    assert "SpO2 86%（室内気）" in sections["重大な身体所見およびその他の所見"]
    course = sections["入院中の治療経過"].splitlines()
    assert course[0] == "10月8日 COPD急性増悪"
    assert sum("PSL 30mg" in line for line in course) == 1  # the plan copied to 10月9日 is kept once
    assert course[-1] == "10月12日に退院となった。"


def test_relative_dates_become_absolute_in_the_course(tiny_case) -> None:
    # "昨日HOT開始" sits in a FREE entry; an assessment mentioning 昨日 is dated like this:
    from dataclasses import replace

    from workbench.summary.cases import Tag

    entries = [replace(e, tag=Tag.A) if "HOT" in e.text else e for e in tiny_case.doctor]
    text = extractive_summary(replace(tiny_case, doctor=entries), "doctor")
    assert "10月10日 10月9日HOT開始" in text


def test_ichigo_sections_reads_the_usual_heading_styles() -> None:
    parts = ichigo_sections("【主訴】\n発熱\n■既往歴\n糖尿病\n現病歴：3日前から発熱。\n続き")
    assert parts == {"主訴": "発熱", "既往歴": "糖尿病", "現病歴": "3日前から発熱。\n続き"}


def test_the_backend_needs_the_case(tiny_case) -> None:
    backend = get_backend("baseline:extractive")
    assert backend.reads_case and backend.caller_identity() is None  # on the Backend protocol, no getattr
    with pytest.raises(BackendError, match="summarises a case, not a prompt"):
        backend.generate(ModelRequest(None, "p", 10))
    response = backend.generate(ModelRequest(None, "prompt text", 10), CaseInput(tiny_case, Source.DOCTOR))
    assert response.output_tokens > 0 and response.input_tokens == 3 and not response.truncated
    assert response.text == extractive_summary(tiny_case, "doctor")


def test_requests_carry_only_what_is_sent() -> None:
    assert [f.name for f in fields(ModelRequest)] == [
        "system", "prompt", "max_tokens", "temperature", "top_p", "stop_sequences"
    ]


@pytest.mark.parametrize("pad", range(60, 96, 1))
def test_long_findings_are_never_cut_inside_a_value(tiny_case, pad: int) -> None:
    import re
    from dataclasses import replace

    from workbench.summary.cases import Entry, Tag

    values = "トロポニンT 0.028ng/mL、CRP 12.35mg/dL、Hb 9.8g/dLであった。"
    text = "心電図で" + "所見" * (pad // 2) + "あり、" + values
    entry = Entry(date=tiny_case.admission_date, tag=Tag.O, text=text, author=tiny_case.doctor[0].author)
    summary = extractive_summary(replace(tiny_case, doctor=[entry], nursing=[]), "doctor")
    findings = parse_sections(summary).sections["重大な身体所見およびその他の所見"]
    line = next(line for line in findings.splitlines() if "心電図で" in line)
    assert len(line) <= 100
    source_numbers = set(re.findall(r"\d+(?:\.\d+)?", text))
    for number in re.findall(r"\d+(?:\.\d+)?", line.split(" ", 1)[1]):
        assert number in source_numbers, (pad, line)
    assert not re.search(r"[\d.]…", line), line
