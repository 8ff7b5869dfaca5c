"""Frames of an Orthanc archive through Orthanc's one-frame route: the instance IDs looked up once, the first
frame of an instance asked alone, kept-alive connections (closed ones replaced, none shared with a forked
child), the session as fallback, and the errors of a frame that cannot be read."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest
import requests

from tests.imaging.slides.conftest import CODED_SIZES, StoredSlide, coded_level, info
from workbench.errors import ArchiveError, AuthenticationError, NotFoundError
from workbench.imaging import connect
from workbench.imaging.local_server import LocalOrthanc, free_port
from workbench.imaging.orthanc import OrthancArchive
from workbench.imaging.slides import source as source_module
from workbench.imaging.slides.build import slide_datasets
from workbench.imaging.slides.connections import Connection, Connections, direct_connections
from workbench.imaging.slides.source import OrthancSource

pytestmark = pytest.mark.orthanc


@pytest.fixture
def archive(orthanc: LocalOrthanc) -> OrthancArchive:
    result = connect(orthanc.url, orthanc.username, orthanc.password, cache=False)
    assert isinstance(result, OrthancArchive)
    return result


def test_open_slide_learns_the_instance_ids_once(
    archive: OrthancArchive, orthanc: LocalOrthanc, coded_slide: StoredSlide, monkeypatch: pytest.MonkeyPatch
) -> None:
    slide = archive.open_slide(coded_slide.series_uid)
    source = slide.source
    assert isinstance(source, OrthancSource) and archive.slide_source() is source
    client = orthanc.client()
    expected = {
        str(ds.SOPInstanceUID): client.post_json(
            "/tools/find", {"Level": "Instance", "Query": {"SOPInstanceUID": str(ds.SOPInstanceUID)}}
        )[0]
        for ds in coded_slide.datasets
    }
    assert {uid: source._ids[uid] for uid in expected} == expected
    finds: list[str] = []
    original = source.client.post_json
    monkeypatch.setattr(
        source.client, "post_json", lambda path, *a, **k: finds.append(path) or original(path, *a, **k)
    )
    region = slide.read_region((0, 0), 0, (600, 600))
    np.testing.assert_array_equal(region, coded_slide.levels[0][:600, :600])
    assert finds == []  # no lookup per region


def test_the_first_frame_of_an_instance_is_asked_alone(
    archive: OrthancArchive, jpeg_slide: StoredSlide, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(source_module, "FRAMES_PER_STREAM", 5)  # 24 frames of level 0 on 4 connections
    slide = archive.open_slide(jpeg_slide.series_uid)  # its metadata's requests are not counted
    calls: list[tuple[float, float, str, int]] = []
    parsing = threading.Event()
    original = Connection.get

    def timed(self: Connection, path: str):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        if not calls and not parsing.is_set():  # as Orthanc reading and parsing a large file
            parsing.set()
            time.sleep(0.05)
        answer = original(self, path)
        calls.append((start, time.perf_counter(), path, threading.get_ident()))
        return answer

    monkeypatch.setattr(Connection, "get", timed)
    slide.read_region((0, 0), 0, (1536, 1024))
    calls.sort()
    assert len(calls) == 24 and len({thread for *_, thread in calls}) == 4
    assert all(path.endswith("/raw") and "/frames/" in path for _, _, path, _ in calls)
    first_end = calls[0][1]
    assert all(start >= first_end for start, *_ in calls[1:])  # nothing asked before the first frame came


def test_connections_closed_by_orthanc_are_replaced(
    archive: OrthancArchive, coded_slide: StoredSlide, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[int] = []
    original = Connections._open

    def counted(self: Connections):  # type: ignore[no-untyped-def]
        opened.append(1)
        return original(self)

    slide = archive.open_slide(coded_slide.series_uid)
    slide.source._connections.close()  # type: ignore[attr-defined]  # those of the metadata's requests
    monkeypatch.setattr(Connections, "_open", counted)
    level = coded_slide.levels[0]
    np.testing.assert_array_equal(slide.read_region((0, 0), 0, (200, 200)), level[:200, :200])
    assert len(opened) == 1
    time.sleep(1.5)  # Orthanc closes a connection idle for a second (Keep-Alive: timeout=1)
    np.testing.assert_array_equal(slide.read_region((300, 0), 0, (200, 200)), level[:200, 300:500])
    assert len(opened) == 2  # a new one for the closed one
    time.sleep(1.5)
    # not seen as closed: the request on it fails, and is sent once more on a new connection
    monkeypatch.setattr("workbench.imaging.slides.connections._closed_by_server", lambda conn: False)
    np.testing.assert_array_equal(slide.read_region((600, 0), 0, (200, 200)), level[:200, 600:800])
    assert len(opened) == 3


def test_a_forked_child_makes_its_own_connections(archive: OrthancArchive, coded_slide: StoredSlide) -> None:
    slide = archive.open_slide(coded_slide.series_uid)
    slide.source._connections.close()  # type: ignore[attr-defined]  # those of the metadata's requests
    level = coded_slide.levels[0]
    np.testing.assert_array_equal(slide.read_region((0, 0), 0, (200, 200)), level[:200, :200])
    pool = slide.source._connections  # type: ignore[attr-defined]
    assert pool is not None and len(pool._idle) == 1
    pid = os.fork()
    if pid == 0:  # the child (a DataLoader worker): none of the parent's connections, and reads work
        ok = not pool._idle and np.array_equal(
            slide.read_region((300, 300), 0, (400, 300)), level[300:600, 300:700]
        )
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert len(pool._idle) == 1  # the parent's connection is still its own, and still answers
    np.testing.assert_array_equal(slide.read_region((600, 500), 0, (300, 300)), level[500:800, 600:900])


def test_through_a_proxy_frames_come_through_the_session(
    archive: OrthancArchive, coded_slide: StoredSlide, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = archive.url
    session = requests.Session()
    session.auth = ("user", "secret")
    for name in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert direct_connections(url, session, (5, 5)) is not None
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:3128")
    assert direct_connections(url, session, (5, 5)) is None  # requests would send through the proxy
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert direct_connections(url, session, (5, 5)) is not None
    session.proxies = {"http": "http://proxy.invalid:3128"}
    assert direct_connections(url, session, (5, 5)) is None
    slide = archive.open_slide(coded_slide.series_uid)
    slide.source._connections = None  # type: ignore[attr-defined]  # as with a proxy
    np.testing.assert_array_equal(
        slide.read_region((200, 200), 1, (300, 200)), coded_slide.levels[1][100:300, 100:400]
    )
    assert slide.stats.frames_fetched == 4


def test_a_frame_that_cannot_be_read_is_named(
    archive: OrthancArchive, orthanc: LocalOrthanc, monkeypatch: pytest.MonkeyPatch
) -> None:
    slide_info = info("deleted", "IMG-WSI-05", "Deleted^Slide")
    datasets = slide_datasets([coded_level(0, *CODED_SIZES[2])], slide_info, compression="none")
    orthanc.client().upload(datasets, progress=False)
    slide = archive.open_slide(slide_info.series_uid)
    uid = str(datasets[0].SOPInstanceUID)
    source = slide.source
    assert isinstance(source, OrthancSource) and source._connections is not None
    orthanc.client().request("DELETE", f"/instances/{source._ids[uid]}")
    with pytest.raises(NotFoundError, match=rf"frame 1 of instance {uid} not found on Orthanc at "):
        slide.tile(0, 0, 0)
    source._connections.headers["Authorization"] = "Basic d3Jvbmc6d3Jvbmc="  # wrong:wrong
    with pytest.raises(AuthenticationError, match=r"refused user 'workbench' \(HTTP 401\)"):
        slide.tile(0, 1, 0)
    monkeypatch.setattr(
        source, "_connections", Connections(f"http://127.0.0.1:{free_port()}", requests.Session(), (2, 2))
    )
    with pytest.raises(ArchiveError, match=r"cannot reach Orthanc at .*\(connection refused\)"):
        slide.tile(0, 0, 0)
