"""Benchmark of workbench.imaging against its peers, measured in one run on one local Orthanc.

Starts its own Orthanc (temporary folder, free ports), stores 512x512 CTs of 100, 300 and 600 slices and
5,000 one-image studies, then times:

- cold ``load_series`` (empty caches) vs (a) dicomweb-client ``retrieve_series`` + pydicom stacking done the
  obvious way (300 slices) and (b) the floor: the series' stored bytes over WADO-RS with
  ``transfer-syntax=*`` **streamed** (``iter_content``; no transcoding, no parsing, no decoding). Reading
  ``response.content`` instead is 2-3 times slower than streaming the same answer, so it is not the floor;
  it is printed for reference;
- warm ``load_series`` (second load, from the on-disk cache) vs cold;
- peak Python/numpy memory of a cold load (tracemalloc, in a separate untimed load) per array size;
- ``studies()`` over 5,000 studies (first call on a fresh connection, then repeated) vs one raw
  ``POST /tools/find`` (Level Study, Expand), the peer the goal names; Orthanc's plain listing
  ``GET /studies?expand`` is printed too: ``studies()`` uses it when there is no filter.

Times are medians of several interleaved repetitions; each ratio is the median (and range) of the ratios
within one repetition, whose measures are taken a moment apart. Caches are emptied outside the timed part.
Run: ``.venv/bin/python bench/imaging.py`` (``--slices 300 --studies 0`` for a quick load-only run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from workbench.testing.timing import timed


def obvious_dicomweb_client(
    url: str, user: str, password: str, study_uid: str, series_uid: str
) -> np.ndarray:
    """What a researcher writes today: dicomweb-client retrieve_series, sort, stack, rescale."""
    from dicomweb_client import DICOMwebClient
    from dicomweb_client.session_utils import create_session_from_user_pass

    client = DICOMwebClient(f"{url}/dicom-web", session=create_session_from_user_pass(user, password))
    datasets = client.retrieve_series(study_uid, series_uid)
    datasets.sort(key=lambda ds: float(ds.ImagePositionPatient[2]))
    return np.stack([ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in datasets])


def raw_wado_bytes(session: object, url: str, study_uid: str, series_uid: str) -> int:
    """The floor: the series' stored bytes over WADO-RS streamed in 1 MB chunks; no transcoding, parsing."""
    from workbench.imaging.wire import MULTIPART_ACCEPT

    response = session.get(
        f"{url}/dicom-web/studies/{study_uid}/series/{series_uid}",  # type: ignore[attr-defined]
        headers={"Accept": MULTIPART_ACCEPT},
        stream=True,
    )
    response.raise_for_status()
    return sum(len(chunk) for chunk in response.iter_content(chunk_size=1 << 20))


def content_wado_bytes(session: object, url: str, study_uid: str, series_uid: str) -> int:
    """The same answer read with ``response.content`` (the old, slower 'floor'; for reference)."""
    from workbench.imaging.wire import MULTIPART_ACCEPT

    response = session.get(
        f"{url}/dicom-web/studies/{study_uid}/series/{series_uid}",  # type: ignore[attr-defined]
        headers={"Accept": MULTIPART_ACCEPT},
    )
    response.raise_for_status()
    return len(response.content)


def peak_memory(fn: Callable[[], np.ndarray]) -> tuple[int, int]:
    """(peak bytes allocated by Python and numpy during ``fn``, bytes of the array it returns)."""
    import gc
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    try:
        array = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, int(array.nbytes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", default="100,300,600", help="comma-separated series sizes")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--studies", type=int, default=5000, help="0: skip the search part")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.slices.split(",") if n.strip()]

    with tempfile.TemporaryDirectory(prefix="wb-bench-") as tmp:
        os.environ["WORKBENCH_CACHE_DIR"] = str(Path(tmp) / "cache")
        from workbench.imaging import connect
        from workbench.imaging.local_server import LocalOrthanc
        from workbench.testing.synthetic import ct_series, tiny_study

        with LocalOrthanc(Path(tmp) / "orthanc") as server:
            client = server.client()
            print(f"Orthanc {client.system()['Version']} at {server.url}", file=sys.stderr)
            cts = {}
            for n in sizes:
                ct = ct_series(n, args.size, args.size, patient_id=f"BENCH-CT-{n}", patient_name="Bench^CT")
                for ds in ct:  # 12-bit values, as CTs store them (the synthetic ramp passes int16 at 600)
                    ds.PixelData = (np.frombuffer(ds.PixelData, dtype=np.uint16) % 4096).tobytes()
                cts[n] = (str(ct[0].StudyInstanceUID), str(ct[0].SeriesInstanceUID))
                client.upload(ct, workers=4, desc=f"store CT {n}")
                del ct
            if args.studies:
                client.upload((tiny_study(i) for i in range(args.studies)), workers=8, desc="store studies")

            archive = connect(server.url, server.username, server.password)

            def empty_caches() -> None:
                archive.instance_cache.clear()
                archive.volume_cache.clear()

            load_rows: list[tuple[str, float, str]] = []
            timings: dict[str, list[float]] = {}

            def ratio(a: str, b: str) -> str:
                """Median and range of the ratios within each repetition (pairs measured a moment apart)."""
                values = sorted(x / y for x, y in zip(timings[a], timings[b], strict=True))
                return f"{statistics.median(values):.2f}x ({values[0]:.2f}-{values[-1]:.2f})"

            for n in sizes:
                study_uid, series_uid = cts[n]

                def raw(study_uid: str = study_uid, series_uid: str = series_uid) -> int:
                    return raw_wado_bytes(client.session, server.url, study_uid, series_uid)

                def content(study_uid: str = study_uid, series_uid: str = series_uid) -> int:
                    return content_wado_bytes(client.session, server.url, study_uid, series_uid)

                def obvious(study_uid: str = study_uid, series_uid: str = series_uid) -> np.ndarray:
                    return obvious_dicomweb_client(
                        server.url, server.username, server.password, study_uid, series_uid
                    )
                mb = raw_wado_bytes(client.session, server.url, study_uid, series_uid) / 1e6

                def load(series_uid: str = series_uid) -> np.ndarray:
                    return archive.load_series(series_uid, progress=False).array

                keys = ("raw", "content", "cold", "warm") + (("obvious",) if n == 300 else ())
                timings.update({f"{k}{n}": [] for k in keys})
                for _ in range(args.repeat):  # interleaved, so that load on the machine hits all alike
                    if n == 300:
                        timings["obvious300"].append(timed(obvious, 1))
                    timings[f"raw{n}"].append(timed(raw, 1))
                    timings[f"content{n}"].append(timed(content, 1))
                    empty_caches()
                    timings[f"cold{n}"].append(timed(load, 1))
                    timings[f"warm{n}"].append(timed(load, 3))
                empty_caches()
                peak, nbytes = peak_memory(load)
                t = {k: statistics.median(v) for k, v in timings.items()}
                load_rows += [
                    (f"cold load_series ({n}x{args.size}x{args.size}, {mb:.0f} MB)", t[f"cold{n}"],
                     f"cold is {ratio(f'cold{n}', f'raw{n}')} the streamed floor (goal <= 2x)"),
                    ("  floor: WADO-RS bytes streamed (iter_content), transfer-syntax=*", t[f"raw{n}"], ""),
                    ("  same answer read with response.content (old floor)", t[f"content{n}"],
                     f"{ratio(f'content{n}', f'raw{n}')} the streamed floor"),
                    ("  warm load_series (on-disk cache)", t[f"warm{n}"],
                     f"warm is {ratio(f'cold{n}', f'warm{n}')} faster than cold"),
                    ("  peak memory of a cold load (tracemalloc)", float("nan"),
                     f"{peak / 1e6:.0f} MB = {peak / nbytes:.2f}x the {nbytes / 1e6:.0f} MB array "
                     "(goal <= 1.3x)"),
                ]
                if n == 300:
                    load_rows.append(
                        ("  (a) dicomweb-client retrieve_series + pydicom stack", t["obvious300"],
                         f"cold is {ratio('obvious300', 'cold300')} faster (goal >= 3x)")
                    )

            search_rows: list[tuple[str, float, str]] = []
            if args.studies:
                body = {"Level": "Study", "Query": {}, "Expand": True}
                listing = {"expand": "true"}
                timings.update({k: [] for k in ("find", "listing", "first", "repeated")})
                for _ in range(args.repeat):
                    fresh = connect(server.url, server.username, server.password)  # nothing remembered
                    timings["find"].append(timed(lambda: client.post_json("/tools/find", body), 1))
                    timings["first"].append(timed(fresh.studies, 1))
                    timings["listing"].append(timed(lambda: client.get_json("/studies", params=listing), 1))
                    timings["repeated"].append(timed(fresh.studies, 1))
                t = {k: statistics.median(v) for k, v in timings.items()}
                n_found = len(archive.studies())
                search_rows = [
                    (f"raw POST /tools/find, {n_found} studies (the goal's peer)", t["find"], ""),
                    ("raw GET /studies?expand (plain listing)", t["listing"], ""),
                    (
                        "studies(), first call (modalities looked up)",
                        t["first"],
                        f"{ratio('first', 'find')} raw find (goal <= 1.25x); "
                        f"{ratio('first', 'listing')} listing",
                    ),
                    (
                        "studies(), repeated",
                        t["repeated"],
                        f"{ratio('repeated', 'find')} raw find (goal <= 1.25x); "
                        f"{ratio('repeated', 'listing')} listing",
                    ),
                ]

    rows = load_rows + search_rows
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  {'seconds':>8}  ratio")
    print(f"{'-' * width}  {'-' * 8}  {'-' * 40}")
    for label, seconds, text in rows:
        shown = "" if seconds != seconds else f"{seconds:8.3f}"  # NaN: no time for this row
        print(f"{label.ljust(width)}  {shown:>8}  {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
