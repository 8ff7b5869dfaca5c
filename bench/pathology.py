"""Benchmark of whole-slide reading (workbench.imaging.slides) against its peers, in one run on one Orthanc.

Starts its own Orthanc (temporary folder, free ports), stores one synthetic H&E slide (8192x8192 at level 0,
256-pixel JPEG tiles of quality 90 with a scanner's noise, 4 levels), writes the same files to local disk,
then times a 2048x2048 region of level 0 (6 % of the slide):

- cold ``read_region`` (empty frame cache, on a slide just opened: only the frames the region needs; the
  opening itself, one series lookup and one metadata request, is timed apart) vs (a) retrieving the whole
  level-0 instance over WADO-RS with ``transfer-syntax=*`` (bytes only, no decoding: generous to the peer),
  (a') the same instance through dicomweb-client, decoded whole by pydicom and the region cut from it (what
  one writes without frame access), and (b) wsidicom reading the same region from the files on local disk
  (a fresh ``wsidicom.WsiDicom.open`` each time);
- warm ``read_region``: again on the same slide (decoded tiles kept in memory), and on a newly opened slide
  (frames from the on-disk cache, decoded again).

Times are medians of interleaved repetitions; each ratio is the median (and range) of the ratios within one
repetition. Run: ``.venv/bin/python bench/pathology.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    """Median wall time of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8192, help="level-0 side in pixels")
    parser.add_argument("--region", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="wb-bench-") as tmp:
        os.environ["WORKBENCH_CACHE_DIR"] = str(Path(tmp) / "cache")
        from pydicom.uid import generate_uid

        from workbench.imaging import connect
        from workbench.imaging.demo.tissue import render
        from workbench.imaging.local_server import LocalOrthanc
        from workbench.imaging.slides.build import SlideInfo, slide_datasets
        from workbench.imaging.wire import MULTIPART_ACCEPT
        from workbench.optional import optional_import

        wsidicom = optional_import("wsidicom", what="bench/pathology.py")

        block = render(7, 2048, 2048, 2).image.astype(np.int16)
        block += np.random.default_rng(7).normal(0, 5, block.shape).astype(np.int16)  # a scanner's noise
        block = block.clip(0, 255).astype(np.uint8)
        image = np.tile(block, (args.size // 2048, args.size // 2048, 1))
        info = SlideInfo("BENCH-WSI", "Bench^Slide", generate_uid(), generate_uid(), "BENCH-1")
        datasets = slide_datasets(image, info, levels=4)
        del image
        folder = Path(tmp) / "files"
        folder.mkdir()
        for index, ds in enumerate(datasets):
            ds.save_as(folder / f"{index}.dcm", enforce_file_format=True)
        base_uid = str(datasets[0].SOPInstanceUID)
        mb = len(datasets[0].PixelData) / 1e6

        with LocalOrthanc(Path(tmp) / "orthanc") as server:
            client = server.client()
            print(f"Orthanc {client.system()['Version']} at {server.url}", file=sys.stderr)
            client.upload(datasets, progress=False)
            del datasets
            archive = connect(server.url, server.username, server.password)
            location = ((args.size - args.region) // 2 + 100, (args.size - args.region) // 2 + 60)
            shape = (args.region, args.region)

            def whole_instance() -> int:
                response = client.session.get(
                    f"{server.url}/dicom-web/studies/{info.study_uid}/series/{info.series_uid}"
                    f"/instances/{base_uid}",
                    headers={"Accept": MULTIPART_ACCEPT},
                )
                response.raise_for_status()
                return len(response.content)

            def wsidicom_region() -> None:
                with wsidicom.WsiDicom.open(folder) as wsi:
                    wsi.read_region(location, 0, shape)

            timings: dict[str, list[float]] = {
                k: [] for k in ("open", "cold", "whole", "obvious", "wsidicom", "memory", "disk")
            }
            for _ in range(args.repeat):
                archive.instance_cache.clear()
                for path in (archive.instance_cache.root / "frames").glob("*/*"):
                    path.unlink()
                start = time.perf_counter()
                slide = archive.open_slide(info.series_uid)
                opened = time.perf_counter()
                slide.read_region(location, 0, shape)
                timings["open"].append(opened - start)
                timings["cold"].append(time.perf_counter() - opened)
                fetched = slide.stats.frames_fetched
                timings["memory"].append(timed(lambda slide=slide: slide.read_region(location, 0, shape), 3))
                again = archive.open_slide(info.series_uid)
                start = time.perf_counter()
                again.read_region(location, 0, shape)
                timings["disk"].append(time.perf_counter() - start)
                timings["whole"].append(timed(whole_instance))
                uids = (info.study_uid, info.series_uid, base_uid)
                timings["obvious"].append(
                    timed(
                        lambda uids=uids: obvious_region(
                            server.url, server.username, server.password, uids, location, args.region
                        )
                    )
                )
                timings["wsidicom"].append(timed(wsidicom_region))
            t = {k: statistics.median(v) for k, v in timings.items()}

    def ratio(a: str, b: str) -> str:
        values = sorted(x / y for x, y in zip(timings[a], timings[b], strict=True))
        return f"{statistics.median(values):.2f}x ({values[0]:.2f}-{values[-1]:.2f})"

    share = 100 * args.region**2 / args.size**2
    rows = [
        ("open_slide (series lookup + metadata, once per slide)", t["open"], ""),
        (
            f"cold read_region {args.region}x{args.region} ({share:.0f} % of level 0, {fetched} tiles)",
            t["cold"],
            "",
        ),
        (
            f"(a) whole level-0 instance over WADO-RS ({mb:.0f} MB, bytes only)",
            t["whole"],
            f"cold is {ratio('whole', 'cold')} faster (goal >= 5x)",
        ),
        (
            "(a') dicomweb-client retrieve_instance + pydicom pixel_array, region cut",
            t["obvious"],
            f"cold is {ratio('obvious', 'cold')} faster",
        ),
        (
            "(b) wsidicom read_region, files on local disk",
            t["wsidicom"],
            f"cold is {ratio('cold', 'wsidicom')} wsidicom (goal <= 3x)",
        ),
        (
            "warm read_region (same slide: tiles decoded in memory)",
            t["memory"],
            f"warm is {ratio('cold', 'memory')} faster than cold (goal >= 10x)",
        ),
        (
            "warm read_region (new slide: frames from the disk cache)",
            t["disk"],
            f"{ratio('cold', 'disk')} faster than cold (decoding again)",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  {'seconds':>8}  ratio")
    print(f"{'-' * width}  {'-' * 8}  {'-' * 40}")
    for label, seconds, text in rows:
        print(f"{label.ljust(width)}  {seconds:8.3f}  {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
