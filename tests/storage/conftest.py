"""Fixtures for the shared-storage tests: moto's S3 as a real server on loopback, a bucket per test.

moto runs in server mode (``ThreadedMotoServer``) so that subprocesses reach the same S3 through
``AWS_ENDPOINT_URL_S3``, exactly as boto3 would reach any S3-compatible endpoint. The experiment fixtures
(counting backends, spec files) are those of ``tests/experiments``.
"""

from __future__ import annotations

import logging
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from tests.experiments.conftest import Backends, backends, priced, write_spec  # noqa: F401 - shared fixtures
from workbench.imaging.local_server import free_port


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """The URL of a moto S3 server on 127.0.0.1 for the whole session."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "install moto[server]": flask is all S3 needs
        from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@dataclass
class Bucket:
    """A fresh bucket in moto's S3, and the storage URI the test's environment points at."""

    name: str
    uri: str
    client: Any
    env: dict[str, str]

    def keys(self, prefix: str = "") -> list[str]:
        """Every key under ``team/<prefix>``."""
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.name, Prefix=f"team/{prefix}")
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Fake credentials and moto's endpoint in the environment (inherited by subprocesses)."""
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": moto_endpoint}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def bucket(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Bucket:
    """A new bucket; ``WORKBENCH_STORAGE_URI`` = ``s3://<bucket>/team``."""
    name = f"wb-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3")
    client.create_bucket(Bucket=name)
    uri = f"s3://{name}/team"
    monkeypatch.setenv("WORKBENCH_STORAGE_URI", uri)
    return Bucket(name, uri, client, {**aws_env, "WORKBENCH_STORAGE_URI": uri})
