from __future__ import annotations

import json
import multiprocessing
import uuid
from pathlib import Path

import pytest

from workbench.errors import NotFoundError
from workbench.summary.history import Generation, open_history


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
    history = open_history(tmp_path / "h.sqlite")
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

    history = open_history(tmp_path / "h.sqlite")
    generation = make_generation()
    history.record(generation)
    with pytest.raises(sqlite3.IntegrityError):
        history.record(generation)
    assert history.count() == 1


def _writer(path: str, patient_id: str, n: int) -> None:
    history = open_history(path)
    for _ in range(n):
        history.record(make_generation(patient_id=patient_id))


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite")
    open_history(path)  # created up front, as a notebook would have done
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(path, pid, 150)) for pid in ("P1", "P2")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    history = open_history(path)
    assert history.count(patient_id="P1") == 150 and history.count(patient_id="P2") == 150


def test_threads_sharing_one_history(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    history = open_history(tmp_path / "h.sqlite")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _i: history.record(make_generation()), range(80)))
    assert history.count() == 80


def test_a_generation_saves_as_private_json(tmp_path: Path) -> None:
    import json
    import stat

    generation = make_generation("E9738FA2")
    path = generation.save(tmp_path / "generation.json")
    assert json.loads(path.read_text(encoding="utf-8")) == generation.to_dict()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_history_and_response_cache_are_private(tmp_path: Path) -> None:
    import os
    import stat

    from workbench.summary.cache import open_cache

    old = os.umask(0o022)
    try:
        open_history(tmp_path / "data" / "history.sqlite")
        open_cache(tmp_path / "cache" / "responses.sqlite")
    finally:
        os.umask(old)
    for folder, name in (("data", "history.sqlite"), ("cache", "responses.sqlite")):
        assert stat.S_IMODE((tmp_path / folder).stat().st_mode) == 0o700
        files = list((tmp_path / folder).iterdir())
        assert tmp_path / folder / name in files and len(files) >= 2  # with its -wal/-shm
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
@pytest.mark.parametrize("wildcard", ["_", "%"])
def test_underscore_and_percent_in_a_patient_id_prefix_are_literal(tmp_path: Path, wildcard: str) -> None:
    history = open_history(tmp_path / "h.sqlite")
    other = make_generation(patient_id="A660EFEB01")
    mine = make_generation(patient_id=f"{wildcard}660EFEB02")
    backslash = make_generation(patient_id="B\\660")
    for generation in (other, mine, backslash):
        history.record(generation)
    assert history.search(patient_id=f"{wildcard}660EFEB*")["id"].tolist() == [mine.id]
    assert history.count(patient_id=f"{wildcard}660*") == 1
    assert history.search(patient_id="B\\6*")["id"].tolist() == [backslash.id]
    assert history.search(patient_id="A660*")["id"].tolist() == [other.id]


def test_a_history_written_before_a_field_existed_gains_its_column(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    old = make_generation(timestamp="2024-01-01T00:00:00+09:00").to_dict()
    del old["imaging"]
    with sqlite3.connect(path) as connection:
        connection.execute(f"CREATE TABLE generations ({', '.join(repr(n) for n in old)})")
        connection.execute(
            f"INSERT INTO generations VALUES ({', '.join('?' * len(old))})",
            [v if isinstance(v, str | int | float) else json.dumps(v) for v in old.values()],
        )
    history = open_history(path)
    history.record(make_generation(imaging="no_archive"))
    assert history.search()["imaging"].tolist() == ["no_archive", ""]
