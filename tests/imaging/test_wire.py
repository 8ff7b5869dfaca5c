"""Multipart answers split while they arrive, with and without per-part lengths (no server)."""

from __future__ import annotations

import itertools
import random

import pytest

from workbench.errors import ArchiveError
from workbench.imaging.wire import PartReader, boundary_of

BOUNDARY = b"8ed01708-a95a"


def body(parts: list[bytes], *, lengths: bool = True, preamble: bytes = b"") -> bytes:
    out = [preamble]
    for part in parts:
        headers = b"Content-Type: application/dicom\r\n"
        if lengths:
            headers += b"Content-Length: %d\r\n" % len(part)
        out.append(b"--" + BOUNDARY + b"\r\n" + headers + b"\r\n" + part + b"\r\n")
    out.append(b"--" + BOUNDARY + b"--\r\n")
    return b"".join(out)


class Trickle:
    """A socket that hands out the answer in random small pieces, and counts what it has handed out."""

    def __init__(self, data: bytes, seed: int = 0) -> None:
        self.data, self.sent, self.random = data, 0, random.Random(seed)

    def read(self, size: int) -> bytes:
        size = min(size, self.random.randint(1, 5000))
        chunk = self.data[self.sent : self.sent + size]
        self.sent += len(chunk)
        return chunk

    def readinto(self, buffer: memoryview) -> int:
        """As a socket's ``recv_into``: some bytes straight into ``buffer``."""
        chunk = self.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def reader(source: Trickle, into: bool) -> PartReader:
    """Parts of ``source``, the bodies of sized ones received in place (``into``) or read and copied."""
    return PartReader(source.read, BOUNDARY, "test", readinto=source.readinto if into else None)


PARTS = [bytes([k]) * (1000 * k + 7) + b"--" + BOUNDARY[:5] + b"\r\n" for k in range(1, 9)]


@pytest.mark.parametrize("into", [True, False])
@pytest.mark.parametrize("lengths", [True, False])
def test_parts_come_back_whole_from_any_chunking(lengths: bool, into: bool) -> None:
    for seed in range(5):
        source = Trickle(body(PARTS, lengths=lengths, preamble=b"ignored preamble\r\n"), seed)
        assert [bytes(p) for p in reader(source, into)] == PARTS


def test_each_part_is_handed_over_before_the_answer_has_arrived() -> None:
    data = body(PARTS)
    source = Trickle(data)
    seen = [source.sent for _ in PartReader(source.read, BOUNDARY, "test")]
    assert seen[0] < len(data) // 4 and all(a < b for a, b in itertools.pairwise(seen))
    assert seen[-2] < len(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (body(PARTS)[:-40], "cut short"),
        (body(PARTS)[:3000], "cut short"),
        (b"no boundary at all", "holds no boundary"),
        (body(PARTS).replace(b"Content-Length: 1016", b"Content-Length: 1200"), "shorter than announced"),
    ],
)
@pytest.mark.parametrize("into", [True, False])
def test_a_cut_or_malformed_answer_is_an_error(data: bytes, message: str, into: bool) -> None:
    with pytest.raises(ArchiveError, match=message):
        list(reader(Trickle(data), into))


def test_boundary_of() -> None:
    assert boundary_of('multipart/related; type="application/dicom"; boundary=abc-1', "u") == b"abc-1"
    with pytest.raises(ArchiveError, match="expected a multipart answer"):
        boundary_of("application/json", "u")


@pytest.mark.parametrize("encoding", ["", "gzip"])
def test_iter_multipart_reads_plain_and_content_encoded_answers(encoding: str) -> None:
    """A plain answer is received part by part in place; a gzip-encoded one is decoded by urllib3."""
    import gzip
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import requests

    from workbench.imaging.wire import iter_multipart

    payload = body(PARTS)
    sent = gzip.compress(payload) if encoding else payload

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", f'multipart/related; boundary="{BOUNDARY.decode()}"')
            if encoding:
                self.send_header("Content-Encoding", encoding)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(sent)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        response = requests.get(f"http://127.0.0.1:{server.server_port}/", stream=True, timeout=10)
        assert [bytes(p) for p in iter_multipart(response)] == PARTS
    finally:
        server.shutdown()
        server.server_close()
