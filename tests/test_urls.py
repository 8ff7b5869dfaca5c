"""URLs: checked before any request; a password inside one is used, never shown."""

from __future__ import annotations

import pytest

from workbench.errors import ArchiveError, ConfigError, ServerError
from workbench.urls import hide_password, split_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:s3cret@host:8042/x", "http://user:***@host:8042/x"),
        ("http://user@host", "http://user@host"),
        ("http://host:8042", "http://host:8042"),
        ("http://u:s3cret@[::1", "http://u:***@[::1"),  # malformed: still hidden
        ("postgresql://orthanc:s3cret@db:5432/orthanc", "postgresql://orthanc:***@db:5432/orthanc"),
    ],
)
def test_hide_password(url: str, shown: str) -> None:
    assert hide_password(url) == shown


def test_split_url_takes_the_credentials_out() -> None:
    assert split_url("https://me:p%40ss@pacs.example:443/dicom-web/") == (
        "https://pacs.example:443/dicom-web", "me", "p@ss"
    )
    assert split_url("http://127.0.0.1:8042") == ("http://127.0.0.1:8042", None, None)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://[::1", "Invalid IPv6 URL"),
        ("http://local host", "contains a space"),
        ("ftp://host", "does not start with http:// or https://"),
        ("http://", "names no host"),
        ("http://host:99999", "out of range"),
        ("http://u:s3cret@host:x", "Port could not be cast"),
    ],
)
def test_bad_urls_are_named_without_their_password(url: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as caught:
        split_url(url, what="Orthanc URL")
    assert "s3cret" not in str(caught.value)


def test_clients_and_archives_never_show_a_password_in_the_url() -> None:
    from workbench.imaging.dicomweb import DicomWebArchive
    from workbench.imaging.rest import OrthancClient

    client = OrthancClient("http://workbench:s3cret@127.0.0.1:9", retries=0)
    assert client.url == "http://127.0.0.1:9" and client.username == "workbench"
    assert client.session.auth == ("workbench", "s3cret")  # used ...
    assert "s3cret" not in repr(client)  # ... never shown
    with pytest.raises(ArchiveError) as caught:
        client.system()
    assert "s3cret" not in str(caught.value) and "http://127.0.0.1:9" in str(caught.value)
    archive = DicomWebArchive("http://workbench:s3cret@127.0.0.1:9/dicom-web", retries=0, cache=False)
    assert "s3cret" not in repr(archive) and archive.url == "http://127.0.0.1:9/dicom-web"
    with pytest.raises(ArchiveError) as caught:
        OrthancClient("http://workbench:s3cret@[::1")
    assert "s3cret" not in str(caught.value)


def test_a_postgres_dsn_password_is_not_echoed() -> None:
    from workbench.imaging.local_server import postgres_settings

    with pytest.raises(ServerError) as caught:
        postgres_settings("postgresql://orthanc:s3cret@db:5432")  # no database
    assert "s3cret" not in str(caught.value) and "orthanc:***@db" in str(caught.value)
    with pytest.raises(ServerError) as caught:
        postgres_settings("postgresql://orthanc:s3cret@db:port/x")  # a bad port
    assert "s3cret" not in str(caught.value)
    assert postgres_settings("postgresql://orthanc:s3cret@db:5433/idx")["Password"] == "s3cret"
