"""`workbench summarize --redact` against a real local OpenAI-compatible server.

What leaves the machine, and what comes back."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from workbench.cli import main
from workbench.summary.history import open_history
from workbench.summary.redaction import IdentifierKind, patient_offset
from workbench.summary.redaction import engine as redaction_engine
from workbench.summary.redaction.benchmark import Document, load_corpus
from workbench.summary.redaction.dates import DateShifter

from .backends.test_openai import ChatServer, completion


class EchoAnswers:
    """The server's answers: the user message it was sent, as a model that copies its input would write."""

    def __init__(self, chat: ChatServer) -> None:
        self.chat = chat

    def pop(self, _index: int) -> tuple[int, Any, dict[str, str]]:
        messages = self.chat.requests[-1]["body"]["messages"]
        return 200, completion(messages[-1]["content"]), {}


@pytest.fixture
def echo_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ChatServer]:
    chat = ChatServer()
    chat.answers = EchoAnswers(chat)  # type: ignore[assignment]
    thread = threading.Thread(target=chat.httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("WORKBENCH_OPENAI_BASE_URL", chat.url)
    yield chat
    chat.httpd.shutdown()
    chat.httpd.server_close()
    thread.join()


@pytest.fixture
def corpus_case(tmp_path: Path) -> tuple[Path, Document, Document]:
    """A case folder made of the corpus's admission record and SOAP notes of one patient."""
    documents = {d.id: d for d in load_corpus()}
    admission, soap = documents["admission-01"], documents["soap-01"]
    folder = tmp_path / "case"
    folder.mkdir()
    (folder / "meta.json").write_text(
        json.dumps(
            {
                "case_id": "redaction",
                "patient_id": admission.patient_id,
                "admission_date": "2024-01-10",
                "discharge_date": "2024-01-15",
                "department": "respiratory",
                "patient_name": admission.patient_name,
            }
        ),
        encoding="utf-8",
    )
    (folder / "ichigo.txt").write_text(admission.text, encoding="utf-8")
    (folder / "doctor.txt").write_text(soap.text, encoding="utf-8")
    return folder, admission, soap


def _values(document: Document, *kinds: IdentifierKind) -> list[str]:
    return [document.text[s:e] for s, e, k in document.identifiers if k in kinds]


def test_summarize_redact_sends_no_identifier_and_restores_the_answer(
    capsys, echo_server, corpus_case
) -> None:
    folder, admission, soap = corpus_case
    status = main(
        [
            "summarize",
            "--case",
            str(folder),
            "--prompt",
            "v2",
            "--model",
            "openai:local",
            "--source",
            "doctor",
            "--redact",
        ]
    )
    out, err = capsys.readouterr()
    assert status == 0, err
    (request,) = echo_server.requests
    sent = json.dumps(request["body"], ensure_ascii=False)
    identifiers = [k for k in IdentifierKind if k is not IdentifierKind.DATE]
    for document in (admission, soap):
        for value in _values(document, *identifiers):
            assert value not in sent, value
    shifter = DateShifter(patient_offset(admission.patient_id), dt.date(2024, 1, 10))
    for value in _values(admission, IdentifierKind.DATE) + _values(soap, IdentifierKind.DATE):
        assert shifter.shift(value) in sent and value in out, value
    for document in (admission, soap):
        for value in _values(document, *(k for k in identifiers if k is not IdentifierKind.BIRTH_DATE)):
            assert value in out, value
    assert "77歳 男性" in out and "redacted" in err
    (generation,) = open_history().search().itertuples()
    assert generation.redacted and generation.redaction["date_shift"] is True
    assert generation.redaction["counts"]["NAME"] >= 10 and generation.redaction["counts"]["PHONE"] == 4
    assert "ja_ginza" in generation.redaction["recogniser"]
    assert "山田" not in json.dumps(generation.redaction, ensure_ascii=False)


def test_a_missing_model_fails_closed_with_one_line(capsys, echo_server, corpus_case, monkeypatch) -> None:
    monkeypatch.setitem(redaction_engine._REQUIRED, "ja_ginza_not_installed", "ja-ginza")
    folder, _, _ = corpus_case
    status = main(
        ["summarize", "--case", str(folder), "--prompt", "v2", "--model", "openai:local", "--redact"]
    )
    out, err = capsys.readouterr()
    assert status == 2 and out == "" and echo_server.requests == []
    assert err.count("\n") == 1 and err.startswith("workbench: error: redaction needs ja-ginza")
    assert "pip install 'workbench[redact]'" in err


def test_date_shifting_can_be_turned_off(capsys, echo_server, corpus_case, monkeypatch) -> None:
    monkeypatch.setenv("WORKBENCH_SHIFT_DATES", "false")
    folder, _, _ = corpus_case
    argv = ["summarize", "--case", str(folder), "--prompt", "v2", "--model", "openai:local", "--redact"]
    status = main(argv)
    capsys.readouterr()
    sent = echo_server.requests[0]["body"]["messages"][-1]["content"]
    assert status == 0 and "1月8日より" in sent and "山田" not in sent
    assert open_history().search().iloc[0]["redaction"]["date_shift"] is False


def test_a_citing_prompt_sends_entry_ids_with_shifted_days_and_records_the_real_ones(
    capsys, echo_server
) -> None:
    from workbench.summary.cases import load_case
    from workbench.summary.entries import EntryIndex

    from .conftest import CORPUS

    case = load_case(CORPUS / "case-001")
    index = EntryIndex(case)
    shifted = index.shifted_ids(patient_offset(case.patient_id))
    argv = ["summarize", "--case", str(case.path), "--prompt", "v5", "--model", "openai:local", "--redact"]
    status = main(argv)
    _, err = capsys.readouterr()
    assert status == 0, err
    sent = echo_server.requests[0]["body"]["messages"][-1]["content"]
    for original, moved in shifted.items():  # the days of the IDs would give the date offset away
        assert f"[{original}]" not in sent and f"[{moved}]" in sent, original
    (generation,) = open_history().search().itertuples()
    assert generation.redaction["date_shift"] is True
    for original, moved in shifted.items():  # the echoed answer reads with the case's own IDs
        assert f"[{original}]" in generation.output and f"[{moved}]" not in generation.output, original
    cited = {c for sentence in generation.sentences for c in sentence["citations"]}
    assert cited and cited <= set(index.ids())
