"""Where shared records live: local disk (the default) or an object store a team writes to at once.

``[storage] uri`` in ``config.toml`` (or ``$WORKBENCH_STORAGE_URI``) moves experiment runs, the generation
history and the model-response cache off the machine::

    [storage]
    uri = "s3://team-bucket/workbench"     # Amazon S3 (or any S3-compatible service)
    # uri = "file:///mnt/team/workbench"    # the same object layout in a shared folder

Unset, everything stays as it was: ``runs/<run_id>/results.jsonl`` and SQLite files in the data and cache
folders. Set, every record is written as its own object and never rewritten by anyone else, so several
people (or processes) can write at once without a lock or a database server:

``runs/<run_id>/manifest.json``
    The run's manifest (claimed with a create-only write, so two runs never share an id).
``runs/<run_id>/results/<call key>-<UTC time>-<random>.json``
    One object per result row; a retried call adds an object and the newest one of a key counts.
``history/patient=<patient id>/date=<YYYY-MM-DD>/<UTC time>-<generation id>.json``
    One object per generation, partitioned by patient so that a patient's history is one listing.
``cache/<key[:2]>/<key>.json``
    One object per response-cache key, written create-only: the first answer stays.

This module holds the one :class:`Store` interface and its two implementations, :class:`S3Store` (boto3,
standard retries) and :class:`LocalStore` (files, atomic renames), like dicomweb-client's web and file
clients. :func:`configured_store` returns the store the configuration names, or ``None`` for the local
default. The S3 endpoint, region and credentials come from the usual AWS settings (``AWS_PROFILE``,
``AWS_REGION``, ``AWS_ENDPOINT_URL_S3`` ...).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from workbench import config
from workbench.errors import WorkbenchError
from workbench.files import atomic_write
from workbench.optional import optional_import

logger = logging.getLogger(__name__)

STORAGE_ENV = config.EnvVar.STORAGE_URI.value
READ_WORKERS = 16
"""Objects fetched in parallel when many are read at once (a run's results, a history search)."""


class StorageError(WorkbenchError):
    """The shared storage is misconfigured or refused a request (bucket missing, no credentials, denied)."""


class Scheme(StrEnum):
    """The kinds of storage URI."""

    S3 = "s3"
    FILE = "file"


@dataclass(frozen=True)
class StorageURI:
    """A parsed storage URI.

    Attributes
    ----------
    scheme : Scheme
    bucket : str
        The S3 bucket (empty for ``file:``).
    prefix : str
        Key prefix inside the bucket without leading or trailing ``/`` (``s3:``), or the absolute folder
        (``file:``).
    """

    scheme: Scheme
    bucket: str
    prefix: str

    @classmethod
    def parse(cls, text: str) -> StorageURI:
        """Parse ``s3://bucket[/prefix]`` or ``file:///absolute/folder``.

        Raises
        ------
        StorageError
            If the text is not such a URI (the message names what was expected).
        """
        parts = urlsplit(text.strip())
        expected = "expected s3://BUCKET/PREFIX or file:///ABSOLUTE/FOLDER"
        if parts.scheme == Scheme.S3.value:
            bucket, prefix = parts.netloc, parts.path.strip("/")
            if not _valid_bucket(bucket) or parts.query or parts.fragment or "//" in prefix:
                raise StorageError(f"malformed storage URI {text!r}: {expected} (bucket: 3-63 of a-z0-9.-)")
            return cls(Scheme.S3, bucket, prefix)
        if parts.scheme == Scheme.FILE.value:
            if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
                raise StorageError(f"malformed storage URI {text!r}: {expected}")
            return cls(Scheme.FILE, "", unquote(parts.path).rstrip("/") or "/")
        raise StorageError(f"malformed storage URI {text!r}: {expected}")

    def __str__(self) -> str:
        if self.scheme is Scheme.S3:
            return f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        return f"file://{self.prefix}"


def _valid_bucket(name: str) -> bool:
    return 3 <= len(name) <= 63 and all(c.islower() or c.isdigit() or c in ".-" for c in name) and (
        name[0].isalnum() and name[-1].isalnum()
    )


@runtime_checkable
class Store(Protocol):
    """Objects under keys (``a/b/c.json``), each written whole; the interface of every storage.

    Keys are relative to the store's root (the URI's prefix) and use ``/`` between parts.
    """

    uri: StorageURI

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        """Write an object; with ``if_absent`` only if no object has that key. Returns whether it wrote."""
        ...

    def get(self, key: str) -> bytes | None:
        """Read an object, or ``None`` if there is none."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object has that key."""
        ...

    def keys(self, prefix: str) -> list[str]:
        """Every key starting with ``prefix`` (a folder ``a/`` or any text), sorted."""
        ...

    def folders(self, prefix: str) -> list[str]:
        """The names of the "folders" directly under ``prefix`` (which ends in ``/``), sorted."""
        ...

    def location(self, key: str) -> str:
        """A URI of the object, for messages."""
        ...


def read_objects(store: Store, keys: Iterable[str]) -> list[bytes | None]:
    """Read many objects in parallel, in the order of ``keys`` (``None`` for one deleted meanwhile)."""
    keys = list(keys)
    if len(keys) <= 1:
        return [store.get(key) for key in keys]
    with ThreadPoolExecutor(max_workers=min(READ_WORKERS, len(keys)), thread_name_prefix="storage") as pool:
        return list(pool.map(store.get, keys))


def unique_suffix() -> str:
    """``<UTC time to the microsecond>-<8 random hex>``: sorts by time, never shared by two writers."""
    return f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"


class LocalStore:
    """A :class:`Store` in a folder (a shared network folder, or tests).

    Each write goes to a temporary file renamed into place, so readers never see half an object; a
    create-only write uses ``os.link``, which fails when the name is taken.

    Parameters
    ----------
    uri : StorageURI
        A ``file:`` URI; the folder is created if missing.
    """

    def __init__(self, uri: StorageURI) -> None:
        self.uri = uri
        self.root = Path(uri.prefix)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(
                f"cannot create the storage folder {self.root} ({exc}); fix [storage] uri"
            ) from None

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write(path, data, exclusive=if_absent)

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def keys(self, prefix: str) -> list[str]:
        folder = prefix.rpartition("/")[0]
        base = self._path(folder) if folder else self.root
        if not base.is_dir():
            return []
        found = []
        for path in base.rglob("*"):
            relative = path.relative_to(self.root).as_posix()
            if path.is_file() and not path.name.startswith(".") and relative.startswith(prefix):
                found.append(relative)
        return sorted(found)

    def folders(self, prefix: str) -> list[str]:
        base = self._path(prefix.rstrip("/")) if prefix.strip("/") else self.root
        return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []

    def location(self, key: str) -> str:
        return str(self._path(key))


_CLIENT_LOCK = threading.Lock()


class S3Store:
    """A :class:`Store` in an S3 bucket under a prefix.

    Parameters
    ----------
    uri : StorageURI
        An ``s3:`` URI.
    client : botocore client, optional
        Default: a new ``s3`` client with standard retries, endpoint and credentials from the AWS settings.

    Raises
    ------
    StorageError
        If the bucket does not exist, there are no credentials, or access is denied (checked at once).
    """

    def __init__(self, uri: StorageURI, client: Any = None) -> None:
        self.uri = uri
        if client is None:
            boto3 = optional_import("boto3", what="shared storage on S3")
            from botocore.config import Config

            with _CLIENT_LOCK:  # creating clients from one session is not thread-safe
                client = boto3.session.Session().client(
                    "s3", config=Config(retries={"mode": "standard", "max_attempts": 5})
                )
        self.client = client
        with self._errors("reach"):
            self.client.head_bucket(Bucket=uri.bucket)

    def _key(self, key: str) -> str:
        return f"{self.uri.prefix}/{key}" if self.uri.prefix else key

    @contextmanager
    def _errors(self, action: str, key: str = "") -> Iterator[None]:
        """Translate boto3's failures into one clear :class:`StorageError` line."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            NoCredentialsError,
            PartialCredentialsError,
        )

        where = f"s3://{self.uri.bucket}/{self._key(key)}" if key else str(self.uri)
        try:
            yield
        except (NoCredentialsError, PartialCredentialsError):
            raise StorageError(
                f"no AWS credentials to {action} {where}: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY), or run 'aws sso login'"
            ) from None
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code == "NoSuchBucket" or (code == "404" and not key):
                raise StorageError(
                    f"the S3 bucket {self.uri.bucket!r} does not exist (storage {self.uri}); create it or "
                    f"fix [storage] uri / ${STORAGE_ENV}"
                ) from None
            if status == 403 or code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise StorageError(
                    f"access denied to {where} ({code}): the AWS identity in use needs s3:GetObject, "
                    "s3:PutObject and s3:ListBucket on it"
                ) from None
            raise StorageError(f"cannot {action} {where}: {code} {error.get('Message', exc)}") from None
        except BotoCoreError as exc:
            raise StorageError(f"cannot {action} {where}: {exc}") from None

    def put(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        from botocore.exceptions import ClientError

        extra = {"IfNoneMatch": "*"} if if_absent else {}
        with self._errors("write", key):
            try:
                self.client.put_object(
                    Bucket=self.uri.bucket, Key=self._key(key), Body=data, ContentType="application/json",
                    **extra,
                )
            except ClientError as exc:
                # PreconditionFailed: the key exists; ConditionalRequestConflict: a concurrent create won
                if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed",
                                                                  "ConditionalRequestConflict"):
                    return False
                raise
        return True

    def get(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        with self._errors("read", key):
            try:
                body = self.client.get_object(Bucket=self.uri.bucket, Key=self._key(key))["Body"]
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "NoSuchKey":
                    return None
                raise
            return body.read()

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        with self._errors("read", key):
            try:
                self.client.head_object(Bucket=self.uri.bucket, Key=self._key(key))
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                    return False
                raise
            return True

    def _pages(self, prefix: str, **options: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        with self._errors("list", prefix):
            yield from paginator.paginate(Bucket=self.uri.bucket, Prefix=self._key(prefix), **options)

    def keys(self, prefix: str) -> list[str]:
        strip = len(self._key(""))
        pages = self._pages(prefix)
        return sorted(item["Key"][strip:] for page in pages for item in page.get("Contents", []))

    def folders(self, prefix: str) -> list[str]:
        start = len(self._key(prefix))
        return sorted(
            item["Prefix"][start:].rstrip("/")
            for page in self._pages(prefix, Delimiter="/")
            for item in page.get("CommonPrefixes", [])
        )

    def location(self, key: str) -> str:
        return f"s3://{self.uri.bucket}/{self._key(key)}"


_STORES: dict[tuple[str, ...], Store] = {}


def open_store(uri: str | StorageURI) -> Store:
    """Open the store a URI names (one per URI and AWS endpoint per process, shared by threads).

    Parameters
    ----------
    uri : str or StorageURI
        ``s3://bucket/prefix`` or ``file:///folder``.

    Returns
    -------
    Store

    Raises
    ------
    StorageError
        For a malformed URI, a missing bucket, missing credentials or denied access.
    """
    parsed = uri if isinstance(uri, StorageURI) else StorageURI.parse(uri)
    identity = (str(parsed), *(os.environ.get(name, "") for name in (
        "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_ACCESS_KEY_ID")))
    with _CLIENT_LOCK:
        store = _STORES.get(identity)
    if store is None:
        store = S3Store(parsed) if parsed.scheme is Scheme.S3 else LocalStore(parsed)
        with _CLIENT_LOCK:
            store = _STORES.setdefault(identity, store)
        logger.info("shared storage: %s", parsed)
    return store


def configured_uri() -> str | None:
    """``$WORKBENCH_STORAGE_URI``, else ``[storage] uri`` of the config file; ``None`` when neither is set."""
    return config.storage_settings().uri


def configured_store() -> Store | None:
    """The store the configuration names, or ``None`` for local disk (the default).

    Raises
    ------
    StorageError
        As :func:`open_store`.
    """
    uri = configured_uri()
    return open_store(uri) if uri else None
