from __future__ import annotations

import multiprocessing
import uuid
from pathlib import Path

import pytest

from workbench.errors import NotFoundError
from workbench.summary.history import Generation, History


def make_generation(
    patient_id: str = "AB12", timestamp: str = "2024-05-17T10:20:31+09:00", **changes
) -> Generation:
    values = dict(
        id=str(uuid.uuid4()),
        timestamp=timestamp,
        user="tester",
        model="bedrock:m",
        prompt_version="v2",
        prompt_hash="h" * 64,
        source="doctor",
        patient_id=patient_id,
        case_id="case-1",
        repeat=0,
        params={"max_tokens": 10, "temperature": 0.0},
        output="・ 現病歴\n発熱",
        sections={"現病歴": "発熱"},
        missing_sections=["併存症"],
        extra_sections=[],
        input_tokens=100,
        output_tokens=20,
        latency_ms=1234,
        cost_usd=0.0012,
        stop_reason="end_turn",
        truncated=False,
        cache_hit=False,
        redacted=True,
    )
    values.update(changes)
    return Generation(**values)


def test_record_get_and_search(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite")
    first = make_generation(timestamp="2024-02-27T14:44:23+09:00")
    second = make_generation(patient_id="CD34", timestamp="2024-05-17T10:20:31+09:00", model="openai:x")
    history.record(first)
    history.record(second)
    assert history.get(first.id) == first
    frame = history.search()
    assert frame["id"].tolist() == [second.id, first.id]  # newest first
    assert frame.loc[1, "params"] == {"max_tokens": 10, "temperature": 0.0}
    assert frame["redacted"].dtype == bool and frame.loc[1, "redacted"]
    assert history.search(patient_id="ab12")["id"].tolist() == [first.id]
    assert history.search(patient_id="C*")["id"].tolist() == [second.id]
    assert history.search(model="openai:x", prompt_version="v2")["id"].tolist() == [second.id]
    assert history.search(limit=1, offset=1)["id"].tolist() == [first.id]
    assert history.count() == 2 and history.count(patient_id="CD34") == 1
    assert history.search(case_id="nope").empty
    with pytest.raises(NotFoundError, match="no generation with id 'x'"):
        history.get("x")


def test_the_same_id_is_never_recorded_twice(tmp_path: Path) -> None:
    import sqlite3

    history = History(tmp_path / "h.sqlite")
    generation = make_generation()
    history.record(generation)
    with pytest.raises(sqlite3.IntegrityError):
        history.record(generation)
    assert history.count() == 1


def _writer(path: str, patient_id: str, n: int) -> None:
    history = History(path)
    for _ in range(n):
        history.record(make_generation(patient_id=patient_id))


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite")
    History(path)  # created up front, as a notebook would have done
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(path, pid, 150)) for pid in ("P1", "P2")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    history = History(path)
    assert history.count(patient_id="P1") == 150 and history.count(patient_id="P2") == 150


def test_threads_sharing_one_history(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    history = History(tmp_path / "h.sqlite")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _i: history.record(make_generation()), range(80)))
    assert history.count() == 80


def test_a_history_written_before_redaction_was_recorded_gains_the_column(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    old_columns = [name for name in make_generation().to_dict() if name != "redaction"]
    with sqlite3.connect(path) as connection:
        connection.execute(f"CREATE TABLE generations ({', '.join(old_columns)})")
        connection.execute(
            "INSERT INTO generations (id, timestamp, patient_id) VALUES ('old', '2024-01-01T00:00', 'AB12')"
        )
    history = History(path)
    counts = {"recogniser": "presidio-analyzer", "date_shift": True, "counts": {"NAME": 2}}
    history.record(make_generation(id="new", redaction=counts))
    assert history.get("new").redaction == counts
    assert history.get("old").redaction == {}
