"""The Orthanc REST client: which connection a request goes on (:mod:`workbench.imaging.rest`)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from workbench.imaging import rest
from workbench.imaging.local_server import LocalOrthanc

pytestmark = pytest.mark.orthanc


def _sessions_used(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record which ``requests.Session`` sends each request (by identity)."""
    used: list[int] = []
    send = requests.Session.request

    def recording(self: requests.Session, *args: Any, **kwargs: Any) -> requests.Response:
        used.append(id(self))
        return send(self, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", recording)
    return used


def test_what_follows_a_large_answer_goes_on_another_authenticated_connection(
    orthanc: LocalOrthanc, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Orthanc frees a large answer on the thread of its connection: the next request goes elsewhere."""
    monkeypatch.setattr(rest, "LARGE_ANSWER", 64)  # /system's answer counts as large here
    used = _sessions_used(monkeypatch)
    client = orthanc.client()
    answers = [client.get_json("/system") for _ in range(3)]
    assert all(answer["Version"] for answer in answers)  # the second connection has the credentials too
    assert used[0] == used[2] != used[1]
    client.close()


def test_small_answers_keep_one_connection(orthanc: LocalOrthanc, monkeypatch: pytest.MonkeyPatch) -> None:
    used = _sessions_used(monkeypatch)
    client = orthanc.client()
    for _ in range(3):
        client.get_json("/system")
    assert len(set(used)) == 1
    client.close()
