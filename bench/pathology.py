"""Benchmark of whole-slide reading (workbench.imaging.slides) against its peers, in one run on one Orthanc.

Starts its own Orthanc (temporary folder, a fixed free port) and, for each ``--sizes`` side S, stores one
synthetic H&E slide (SxS at level 0, 256-pixel JPEG tiles of quality 90 with a scanner's noise, 4 levels;
level 0 is one instance), writes the same files to local disk, then times a 2048x2048 region of level 0
(6 % of an 8192 slide, 1.6 % of 16384, 0.4 % of 32768) placed off the tile grid (81 tiles).

The Orthanc archive reads frames through Orthanc's one-frame route (:mod:`workbench.imaging.slides.source`),
whose first frame of an instance costs Orthanc one read and parse of the whole file; later frames come from
its parsed-DICOM cache. So a cold region is timed in both server states:

- **(i) cold, server-cold**: on an Orthanc restarted on the same data folder just before (outside the timing;
  the OS page cache stays warm, for every peer alike), on a slide just opened (the opening, one series lookup,
  one instance-ID lookup and each instance's ``/tags``, is timed apart) with an empty frame cache: the first
  region of a slide on a server that has not served it since it started.
- **(ii) cold, server-warm**: empty frame cache and a newly opened slide, on an Orthanc that has already
  parsed the instance: every region after the first when one patches a slide.
- **floor**: Orthanc's time to answer one frame of an instance it has not parsed (restarted just before):
  its read and parse of the whole file, which every server-cold region pays. (a) / floor is the best ratio any
  client could reach for a server-cold region on this server.
- the **DicomWebArchive**'s cold region (WADO-RS frame list through Orthanc's DICOMweb plugin), both server
  states, for comparison.

What a user would otherwise do to get that region from the whole level-0 instance (the peers of the goal
"cold >= 5x faster than fetching the whole instance"), on the running (server-warm) Orthanc:

- **(a) bytes only**: the whole level-0 instance over WADO-RS with ``transfer-syntax=*`` (one ``requests``
  GET, the body read streamed in 1 MB chunks, which is faster than ``response.content``), no parsing, no
  decoding. No user gets pixels this fast from the whole instance: a floor, generous to the peer.
- **(a2) whole instance + region decoded**: the whole instance through dicomweb-client ``retrieve_instance``
  (as stored, parsed by pydicom), then only the region's
  81 frames are taken from it (``pydicom.encaps.get_frame``) and decoded with the *same* decoder and the same
  number of decoding threads as the workbench (:func:`workbench.imaging.slides.frames.decode_frame`), pasted
  into the region. The real alternative done well: it differs from cold only in what crosses the wire.
- **(a') dicomweb-client + pydicom**: ``retrieve_instance``, ``ds.pixel_array`` (decodes every frame), region
  cut: what one writes without frame access (only at the smallest size by default: minutes at 32768).

And (b) wsidicom reading the same region from the files on local disk (a fresh ``wsidicom.WsiDicom.open`` each
time; goal: cold <= 3x its time); warm ``read_region``: again on the same slide (decoded tiles kept in
memory; goal >= 10x faster than cold), and on a newly opened slide (frames from the on-disk cache, decoded
again: what a client that must decode the tiles cannot beat).

Times are medians of interleaved repetitions; each ratio is the median (and range) of the ratios within one
repetition. Run: ``.venv/bin/python bench/pathology.py`` (``--sizes 8192 16384 32768`` for the larger
slides: building a 32768 slide takes minutes and about 5 GB of memory). Each repetition restarts Orthanc three
times (about 4 s each).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.testing.timing import timed

if TYPE_CHECKING:
    from workbench.imaging.local_server import LocalOrthanc


def obvious_region(
    url: str, user: str, password: str, uids: tuple[str, str, str], location: tuple[int, int], size: int
) -> np.ndarray:
    """What one writes without frame access: dicomweb-client retrieve_instance (as stored), pydicom decodes
    every frame of level 0, then the region is cut from the tiles (TILED_FULL order)."""
    from dicomweb_client import DICOMwebClient
    from dicomweb_client.session_utils import create_session_from_user_pass

    client = DICOMwebClient(f"{url}/dicom-web", session=create_session_from_user_pass(user, password))
    ds = client.retrieve_instance(*uids, media_types=(("application/dicom", "*"),))
    frames = ds.pixel_array
    tile, columns = int(ds.Columns), -(-int(ds.TotalPixelMatrixColumns) // int(ds.Columns))
    x, y = location
    out = np.empty((size, size, 3), dtype=np.uint8)
    for row in range(y // tile, (y + size - 1) // tile + 1):
        for col in range(x // tile, (x + size - 1) // tile + 1):
            piece = frames[row * columns + col]
            tx, ty = col * tile, row * tile
            left, top, right, bottom = (
                max(tx, x),
                max(ty, y),
                min(tx + tile, x + size),
                min(ty + tile, y + size),
            )
            out[top - y : bottom - y, left - x : right - x] = piece[
                top - ty : bottom - ty, left - tx : right - tx
            ]
    return out


def region_from_whole(
    client: object, uids: tuple[str, str, str], tile: int, columns: int, location: tuple[int, int], size: int
) -> np.ndarray:
    """(a2): the whole level-0 instance through dicomweb-client (as stored), only the region's frames taken
    from it and decoded (the workbench's decoder and number of threads) and pasted."""
    from concurrent.futures import ThreadPoolExecutor

    from pydicom.encaps import get_frame

    from workbench.imaging.slides.frames import decode_frame
    from workbench.imaging.slides.slide import DECODERS

    ds = client.retrieve_instance(*uids, media_types=(("application/dicom", "*"),))  # type: ignore[attr-defined]
    count = int(ds.NumberOfFrames)
    x, y = location
    wanted = [
        (col, row)
        for row in range(y // tile, (y + size - 1) // tile + 1)
        for col in range(x // tile, (x + size - 1) // tile + 1)
    ]

    def decode(cell: tuple[int, int]) -> np.ndarray:
        col, row = cell
        data = get_frame(ds.PixelData, row * columns + col, number_of_frames=count)
        return decode_frame(data, rows=tile, columns=tile)

    out = np.empty((size, size, 3), dtype=np.uint8)
    with ThreadPoolExecutor(DECODERS) as pool:
        for (col, row), piece in zip(wanted, pool.map(decode, wanted), strict=True):
            tx, ty = col * tile, row * tile
            left, top = max(tx, x), max(ty, y)
            right, bottom = min(tx + tile, x + size), min(ty + tile, y + size)
            out[top - y : bottom - y, left - x : right - x] = piece[
                top - ty : bottom - ty, left - tx : right - tx
            ]
    return out


def bench_size(server: LocalOrthanc, tmp: Path, side: int, region: int, repeat: int, obvious: bool) -> list:
    """Rows ``(label, seconds, ratio text)`` for one slide of ``side`` pixels at level 0."""
    from pydicom.uid import generate_uid

    from workbench.imaging import connect
    from workbench.imaging.demo.tissue import render
    from workbench.imaging.slides.build import SlideInfo, slide_datasets
    from workbench.imaging.slides.connections import Connections
    from workbench.imaging.slides.frames import wait_for_writes
    from workbench.imaging.wire import MULTIPART_ACCEPT
    from workbench.optional import optional_import

    wsidicom = optional_import("wsidicom", what="bench/pathology.py")
    started = time.perf_counter()
    block = render(7, 2048, 2048, 2).image.astype(np.int16)
    block += np.random.default_rng(7).normal(0, 5, block.shape).astype(np.int16)  # a scanner's noise
    block = block.clip(0, 255).astype(np.uint8)
    image = np.tile(block, (side // 2048, side // 2048, 1))
    info = SlideInfo("BENCH-WSI", "Bench^Slide", generate_uid(), generate_uid(), f"BENCH-{side}")
    datasets = slide_datasets(image, info, levels=4)
    del image
    folder = tmp / f"files-{side}"
    folder.mkdir()
    for index, ds in enumerate(datasets):
        ds.save_as(folder / f"{index}.dcm", enforce_file_format=True)
    base_uid = str(datasets[0].SOPInstanceUID)
    mb = len(datasets[0].PixelData) / 1e6
    client = server.client()
    client.upload(datasets, progress=False)
    del datasets
    print(f"{side}x{side} slide built and stored in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    archive = connect(server.url, server.username, server.password)
    web_archive = connect(
        server.url + "/dicom-web",
        server.username,
        server.password,
        kind="dicomweb",
    )
    location = ((side - region) // 2 + 100, (side - region) // 2 + 60)
    shape = (region, region)
    instance_url = (
        f"{server.url}/dicom-web/studies/{info.study_uid}/series/{info.series_uid}/instances/{base_uid}"
    )
    columns = -(-side // 256)
    uids = (info.study_uid, info.series_uid, base_uid)
    from dicomweb_client import DICOMwebClient
    from dicomweb_client.session_utils import create_session_from_user_pass

    web = DICOMwebClient(
        f"{server.url}/dicom-web",
        session=create_session_from_user_pass(server.username, server.password),
    )

    def whole_instance() -> int:
        response = client.session.get(instance_url, headers={"Accept": MULTIPART_ACCEPT}, stream=True)
        response.raise_for_status()
        return sum(len(chunk) for chunk in response.iter_content(1 << 20))

    def wsidicom_region() -> None:
        with wsidicom.WsiDicom.open(folder) as wsi:
            wsi.read_region(location, 0, shape)

    instance_id = client.post_json(
        "/tools/find", {"Level": "Instance", "Query": {"SOPInstanceUID": base_uid}}
    )[0]
    first_frame = (location[1] // 256) * columns + location[0] // 256  # Orthanc counts frames from 0

    def restart() -> None:
        wait_for_writes()
        server.stop()
        server.start()

    cache_root: Path = archive.instance_cache.root  # type: ignore[attr-defined]

    def empty_frame_cache() -> None:
        wait_for_writes()
        for path in (cache_root / "frames").glob("*/*"):
            path.unlink()

    def floor() -> float:
        """One frame of an instance a freshly started Orthanc has not parsed."""
        restart()
        pool = Connections(server.url, client.session, (5.0, 120.0))
        with pool.connection() as connection:
            start = time.perf_counter()
            answer = connection.get(f"/instances/{instance_id}/frames/{first_frame}/raw")
            took = time.perf_counter() - start
        pool.close()
        if answer.status != 200 or answer.body[:2] != b"\xff\xd8":
            raise SystemExit(f"floor: Orthanc answered HTTP {answer.status}")
        return took

    def region_of(reader: Any) -> tuple[float, np.ndarray]:
        empty_frame_cache()
        slide = reader.open_slide(info.series_uid)
        start = time.perf_counter()
        pixels = slide.read_region(location, 0, shape)
        return time.perf_counter() - start, pixels

    names = [
        "floor",
        "open",
        "cold_server",
        "cold_warm",
        "web_server",
        "web_warm",
        "whole",
        "whole_decode",
        "wsidicom",
        "memory",
        "disk",
    ] + (["obvious"] if obvious else [])
    timings: dict[str, list[float]] = {k: [] for k in names}
    fetched = 0
    for _ in range(repeat):
        timings["floor"].append(floor())
        restart()
        took, web_pixels = region_of(web_archive)
        timings["web_server"].append(took)
        restart()
        empty_frame_cache()
        start = time.perf_counter()
        slide = archive.open_slide(info.series_uid)
        opened = time.perf_counter()
        cold = slide.read_region(location, 0, shape)
        timings["open"].append(opened - start)
        timings["cold_server"].append(time.perf_counter() - opened)
        fetched = slide.stats.frames_fetched
        took, again = region_of(archive)
        timings["cold_warm"].append(took)
        wait_for_writes()  # the background cache writes, outside the timing
        timings["memory"].append(timed(partial(slide.read_region, location, 0, shape), 3))
        reopened = archive.open_slide(info.series_uid)
        start = time.perf_counter()
        reopened.read_region(location, 0, shape)
        timings["disk"].append(time.perf_counter() - start)
        took, web_again = region_of(web_archive)
        timings["web_warm"].append(took)
        timings["whole"].append(timed(whole_instance))
        start = time.perf_counter()
        peer = region_from_whole(web, uids, 256, columns, location, region)
        timings["whole_decode"].append(time.perf_counter() - start)
        if not all(np.array_equal(peer, other) for other in (cold, again, web_pixels, web_again)):
            raise SystemExit("(a2), the Orthanc and the DICOMweb archives' read_region disagree")
        if obvious:
            timings["obvious"].append(
                timed(
                    partial(
                        obvious_region, server.url, server.username, server.password, uids, location, region
                    )
                )
            )
        timings["wsidicom"].append(timed(wsidicom_region))
    wait_for_writes()
    t = {k: statistics.median(v) for k, v in timings.items()}

    def ratio(a: str, b: str) -> str:
        values = sorted(x / y for x, y in zip(timings[a], timings[b], strict=True))
        return f"{statistics.median(values):.2f}x ({values[0]:.2f}-{values[-1]:.2f})"

    def both(peer: str, goal: str) -> str:
        return f"(i) {ratio(peer, 'cold_server')}, (ii) {ratio(peer, 'cold_warm')} faster{goal}"

    share = 100 * region**2 / side**2
    rows = [
        (f"== level 0 {side}x{side}, level-0 instance {mb:.0f} MB, {repeat} repetitions", None, ""),
        ("open_slide on a restarted Orthanc (series, metadata, instance IDs; once per slide)", t["open"], ""),
        (
            "floor: one frame of an instance Orthanc has not parsed (restarted: read + parse of the file)",
            t["floor"],
            f"(a) / floor = {ratio('whole', 'floor')}: the best any client can reach server-cold",
        ),
        (
            f"(i) cold read_region {region}x{region} ({share:.1f} % of level 0, {fetched} tiles), "
            "server-cold",
            t["cold_server"],
            "",
        ),
        ("(ii) cold read_region, server-warm (Orthanc has parsed the instance)", t["cold_warm"], ""),
        (
            "(a) whole level-0 instance over WADO-RS, bytes only (floor)",
            t["whole"],
            both("whole", " (goal >= 5x)"),
        ),
        (
            "(a2) whole instance (dicomweb-client) + only the region's frames decoded",
            t["whole_decode"],
            both("whole_decode", " (goal >= 5x)"),
        ),
    ]
    if obvious:
        rows.append(
            (
                "(a') dicomweb-client retrieve_instance + pixel_array, region cut",
                t["obvious"],
                both("obvious", ""),
            )
        )
    rows += [
        (
            "(b) wsidicom read_region, files on local disk",
            t["wsidicom"],
            f"(i) is {ratio('cold_server', 'wsidicom')}, (ii) {ratio('cold_warm', 'wsidicom')} wsidicom "
            "(goal <= 3x)",
        ),
        (
            "DicomWebArchive cold read_region (WADO-RS frame list), server-cold",
            t["web_server"],
            f"(i) is {ratio('web_server', 'cold_server')} faster",
        ),
        (
            "DicomWebArchive cold read_region (WADO-RS frame list), server-warm",
            t["web_warm"],
            f"(ii) is {ratio('web_warm', 'cold_warm')} faster",
        ),
        (
            "warm read_region (same slide: tiles decoded in memory)",
            t["memory"],
            f"{ratio('cold_warm', 'memory')} faster than (ii), {ratio('cold_server', 'memory')} than (i) "
            "(goal >= 10x)",
        ),
        (
            "warm read_region (new slide: frames from the disk cache, decoded)",
            t["disk"],
            f"{ratio('cold_warm', 'disk')} faster than (ii); (a) / this = {ratio('whole', 'disk')}",
        ),
    ]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8192], help="level-0 sides in pixels")
    parser.add_argument("--region", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--obvious-up-to",
        type=int,
        default=8192,
        help="largest side at which (a') runs (it decodes every frame)",
    )
    args = parser.parse_args(argv)

    rows = []
    with tempfile.TemporaryDirectory(prefix="wb-bench-") as tmp:
        os.environ["WORKBENCH_CACHE_DIR"] = str(Path(tmp) / "cache")
        from workbench.imaging.local_server import LocalOrthanc, free_port

        # a fixed port: the bench restarts Orthanc between repetitions, and the archives keep their URL
        with LocalOrthanc(Path(tmp) / "orthanc", http_port=free_port()) as server:
            print(f"Orthanc {server.client().system()['Version']} at {server.url}", file=sys.stderr)
            for side in args.sizes:
                rows += bench_size(
                    server, Path(tmp), side, args.region, args.repeat, side <= args.obvious_up_to
                )

    width = max(len(r[0]) for r in rows if r[1] is not None)
    print(f"{'measure'.ljust(width)}  {'seconds':>8}  ratio")
    print(f"{'-' * width}  {'-' * 8}  {'-' * 40}")
    for label, seconds, text in rows:
        if seconds is None:
            print(label)
        else:
            print(f"{label.ljust(width)}  {seconds:8.3f}  {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
