"""workbench.storage: URIs, the two stores, clear errors; the history and response cache on a store."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from botocore.stub import Stubber

from workbench import config
from workbench.cli import main
from workbench.errors import NotFoundError
from workbench.records.results import FileResultsWriter, StoredResultsWriter, open_results
from workbench.storage import (
    LocalStore,
    S3Store,
    Scheme,
    StorageError,
    StorageURI,
    configured_store,
    open_store,
)
from workbench.summary.backends import ModelResponse
from workbench.summary.cache import SqliteResponseCache, StoredResponseCache, open_cache
from workbench.summary.history import SqliteHistory, StoredHistory, open_history

P1 = "e9738fa2" + "0" * 56
P2 = "c4d1" + "1" * 60


def make_generation(patient_id: str, timestamp: str, **changes: object):
    from tests.summary.test_history import make_generation as make

    return make(patient_id=patient_id, timestamp=timestamp, **changes)


@pytest.mark.parametrize(
    ("text", "scheme", "bucket", "prefix"),
    [
        ("s3://team-bucket/workbench/prod/", Scheme.S3, "team-bucket", "workbench/prod"),
        ("s3://team.bucket", Scheme.S3, "team.bucket", ""),
        ("file:///mnt/team/workbench", Scheme.FILE, "", "/mnt/team/workbench"),
    ],
)
def test_uris_parse(text: str, scheme: Scheme, bucket: str, prefix: str) -> None:
    uri = StorageURI.parse(text)
    assert (uri.scheme, uri.bucket, uri.prefix) == (scheme, bucket, prefix)
    assert StorageURI.parse(str(uri)) == uri


@pytest.mark.parametrize(
    "text", ["team-bucket/prefix", "s3://", "s3://Team_Bucket/x", "s3://b/x", "https://bucket/x",
             "s3://bucket/a//b", "file://relative/folder", "s3://bucket/x?versionId=1"],
)
def test_a_malformed_uri_is_one_clear_error(text: str) -> None:
    with pytest.raises(StorageError, match=rf"malformed storage URI '{re.escape(text)}'.*expected s3://BUCKET/"):
        StorageURI.parse(text)


def test_the_configuration_chooses_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert configured_store() is None  # the default: local disk, SQLite, results.jsonl
    assert type(open_history()) is SqliteHistory and type(open_cache()) is SqliteResponseCache
    with open_results(tmp_path) as writer:
        assert type(writer) is FileResultsWriter
    config.update_config("storage", {"uri": (tmp_path / "team").as_uri()})
    store = configured_store()
    assert isinstance(store, LocalStore) and store.root == tmp_path / "team"
    assert isinstance(open_history(), StoredHistory) and isinstance(open_cache(), StoredResponseCache)
    with open_results(tmp_path) as writer:
        assert type(writer) is StoredResultsWriter
    assert type(open_history(tmp_path / "h.sqlite")) is SqliteHistory  # an explicit file stays a file
    assert type(open_cache(tmp_path / "c.sqlite")) is SqliteResponseCache
    monkeypatch.setenv("WORKBENCH_STORAGE_URI", "s3:/oops")  # the environment wins over the file
    with pytest.raises(StorageError, match="malformed storage URI 's3:/oops'"):
        configured_store()


@pytest.fixture(params=["s3", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    """Each implementation of the Store interface."""
    if request.param == "s3":
        return open_store(request.getfixturevalue("bucket").uri)
    return open_store((tmp_path / "shared").as_uri())


def test_the_store_contract(store) -> None:
    assert store.get("a/b.json") is None and not store.exists("a/b.json")
    assert store.put("a/b.json", b"1") and store.get("a/b.json") == b"1"
    assert store.put("a/b.json", b"2") and store.get("a/b.json") == b"2"  # a plain write replaces
    assert not store.put("a/b.json", b"3", if_absent=True) and store.get("a/b.json") == b"2"
    assert store.put("a/c/d.json", b"4", if_absent=True) and store.exists("a/c/d.json")
    store.put("ab/e.json", b"5")
    assert store.keys("a/") == ["a/b.json", "a/c/d.json"]
    assert store.keys("a") == ["a/b.json", "a/c/d.json", "ab/e.json"]  # any text is a prefix
    assert store.folders("") == ["a", "ab"] and store.folders("a/") == ["c"]
    assert store.keys("nothing/") == [] and store.folders("nothing/") == []


def test_s3_failures_are_one_clear_line(aws_env, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(StorageError, match=r"the S3 bucket 'no-such-bucket' does not exist .*create it"):
        open_store("s3://no-such-bucket/team")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(StorageError, match=r"no AWS credentials to reach s3://any-bucket/team: set AWS_"):
        open_store("s3://any-bucket/team")


def test_the_cli_says_what_is_wrong_with_the_storage_in_one_line(
    aws_env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WORKBENCH_STORAGE_URI", "s3://no-such-bucket/team")
    assert main(["history"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("workbench: error: the S3 bucket 'no-such-bucket' does not exist")
    assert len(err.strip().splitlines()) == 1


def test_access_denied_is_one_clear_line(aws_env) -> None:
    import boto3

    client = boto3.client("s3")
    with Stubber(client) as stub:  # the service's answer to an identity without s3:ListBucket
        stub.add_client_error("head_bucket", "403", "Forbidden", http_status_code=403)
        with pytest.raises(StorageError, match=r"access denied to s3://locked/team .*s3:GetObject"):
            S3Store(StorageURI.parse("s3://locked/team"), client=client)


def test_history_on_s3_is_partitioned_by_patient_and_answers_like_sqlite(
    bucket, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history, sqlite = open_history(), open_history(tmp_path / "h.sqlite")
    assert isinstance(history, StoredHistory)
    generations = [
        make_generation(P1, "2024-02-27T14:44:23+09:00"),
        make_generation(P1, "2024-02-28T08:00:00+09:00", model="openai:x"),
        make_generation(P2, "2024-05-17T10:20:31+09:00", case_id="case-2"),
        make_generation(P1, "2024-06-01T23:59:59+09:00", prompt_version="v3"),
    ]
    for generation in generations:
        history.record(generation)
        sqlite.record(generation)
    keys = bucket.keys("history/")
    assert len(keys) == 4
    partition = f"team/history/patient={P1.upper()}"
    assert f"{partition}/date=2024-02-27/20240227T054423-{generations[0].id}.json" in keys  # UTC
    assert f"{partition}/date=2024-06-01/20240601T145959-{generations[3].id}.json" in keys
    queries = [{}, {"patient_id": P1}, {"patient_id": P1.lower()}, {"patient_id": "E97*"},
               {"patient_id": "C*"}, {"model": "openai:x"}, {"patient_id": P1, "prompt_version": "v3"},
               {"case_id": "case-2"}, {"limit": 2, "offset": 1}, {"patient_id": P1, "limit": 1, "offset": 2},
               {"case_id": "case-1", "limit": 1, "offset": 1}, {"case_id": "nope"}]
    for query in queries:
        stored, expected = history.search(**query), sqlite.search(**query)
        assert list(stored.columns) == list(expected.columns)
        assert stored.to_dict("records") == expected.to_dict("records"), query
        counting = {k: v for k, v in query.items() if k not in ("limit", "offset")}
        assert history.count(**counting) == sqlite.count(**counting)
    assert history.search(patient_id=P1)["id"].tolist() == [generations[i].id for i in (3, 1, 0)]
    assert history.get(generations[2].id) == generations[2]
    assert main(["history", "--patient-id", "e97*", "--format", "json"]) == 0  # `workbench history` on S3
    shown = json.loads(capsys.readouterr().out)
    assert [row["id"] for row in shown] == [generations[i].id for i in (3, 1, 0)]
    with pytest.raises(NotFoundError, match=r"no generation with id 'x' in s3://.*/team/history"):
        history.get("x")


def test_the_cache_on_s3_keeps_the_first_answer(bucket) -> None:
    cache = open_cache()
    assert isinstance(cache, StoredResponseCache)
    key = uuid.uuid4().hex * 2
    response = ModelResponse("本文", 10, 20, 300, "end_turn", False)
    assert cache.get(key) is None and key not in cache and len(cache) == 0
    cache.put(key, "bedrock:m", response)
    cache.put(key, "bedrock:m", ModelResponse("second", 1, 1, 1, "end_turn", False))
    assert bucket.keys("cache/") == [f"team/cache/{key[:2]}/{key}.json"]
    assert open_cache().get(key) == response and key in cache and len(cache) == 1


def test_stored_generations_older_than_a_field_read_it_as_empty_like_sqlite(tmp_path: Path) -> None:
    history = open_history(store=open_store((tmp_path / "shared").as_uri()))
    generation = make_generation(P1, "2024-02-27T14:44:23+09:00", imaging="studies")
    history.record(generation)
    old = make_generation(P2, "2024-01-01T00:00:00+09:00")
    history.record(old)
    key = next(k for k in history.store.keys("history/") if old.id in k)
    written = json.loads(history.store.get(key))
    for name in ("imaging", "user_source", "aws_identity"):  # written before these fields existed
        del written[name]
    history.store.put(key, json.dumps(written).encode("utf-8"))
    rows = history.search()
    assert rows[["imaging", "user_source", "aws_identity"]].to_dict("records") == [
        {"imaging": "studies", "user_source": "", "aws_identity": ""},
        {"imaging": "", "user_source": "", "aws_identity": ""},
    ]
