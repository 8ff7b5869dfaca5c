"""Benchmark of workbench.imaging against its peers, measured in one run on one local Orthanc.

Starts its own Orthanc (temporary folder, free ports), stores a 300-slice 512x512 CT and 5,000 one-image
studies, then times:

- cold ``load_series`` (empty caches) vs (a) dicomweb-client ``retrieve_series`` + pydicom stacking done the
  obvious way and (b) the raw bytes of the series over WADO-RS with ``transfer-syntax=*`` (the floor: no
  transcoding, no decoding);
- warm ``load_series`` (second load, from the on-disk cache) vs cold;
- ``studies()`` over 5,000 studies (first call on a fresh connection, then repeated) vs one raw
  ``POST /tools/find`` (Level Study, Expand), the peer the goal names; Orthanc's plain listing
  ``GET /studies?expand`` is printed too: ``studies()`` uses it when there is no filter.

Times are medians of several interleaved repetitions; each ratio is the median (and range) of the ratios
within one repetition, whose measures are taken a moment apart. Caches are emptied outside the timed part.
Run: ``.venv/bin/python bench/imaging.py``.
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


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
    """The floor: the series' stored bytes over WADO-RS, no transcoding, no parsing."""
    from workbench.imaging.wire import MULTIPART_ACCEPT

    response = session.get(
        f"{url}/dicom-web/studies/{study_uid}/series/{series_uid}",  # type: ignore[attr-defined]
        headers={"Accept": MULTIPART_ACCEPT},
    )
    response.raise_for_status()
    return len(response.content)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--studies", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="wb-bench-") as tmp:
        os.environ["WORKBENCH_CACHE_DIR"] = str(Path(tmp) / "cache")
        from workbench.imaging import connect
        from workbench.imaging.local_server import LocalOrthanc
        from workbench.testing.synthetic import ct_series, tiny_study

        with LocalOrthanc(Path(tmp) / "orthanc") as server:
            client = server.client()
            print(f"Orthanc {client.system()['Version']} at {server.url}", file=sys.stderr)
            ct = ct_series(args.slices, args.size, args.size, patient_id="BENCH-CT", patient_name="Bench^CT")
            study_uid, series_uid = str(ct[0].StudyInstanceUID), str(ct[0].SeriesInstanceUID)
            client.upload(ct, workers=4, desc="store CT")
            del ct
            client.upload((tiny_study(i) for i in range(args.studies)), workers=8, desc="store studies")

            archive = connect(server.url, server.username, server.password)
            mb = raw_wado_bytes(client.session, server.url, study_uid, series_uid) / 1e6

            def empty_caches() -> None:
                archive.instance_cache.clear()
                archive.volume_cache.clear()

            def load() -> None:
                archive.load_series(series_uid, progress=False)

            body = {"Level": "Study", "Query": {}, "Expand": True}
            listing = {"expand": "true"}
            timings: dict[str, list[float]] = {
                k: [] for k in ("obvious", "raw", "cold", "warm", "find", "listing", "first", "repeated")
            }
            for _ in range(args.repeat):  # interleaved, so that load on the machine hits all alike
                timings["obvious"].append(
                    timed(
                        lambda: obvious_dicomweb_client(
                            server.url, server.username, server.password, study_uid, series_uid
                        ),
                        1,
                    )
                )
                timings["raw"].append(
                    timed(lambda: raw_wado_bytes(client.session, server.url, study_uid, series_uid), 1)
                )
                empty_caches()
                timings["cold"].append(timed(load, 1))
                timings["warm"].append(timed(load, 3))
                fresh = connect(server.url, server.username, server.password)  # nothing remembered
                timings["find"].append(timed(lambda: client.post_json("/tools/find", body), 1))
                timings["first"].append(timed(fresh.studies, 1))
                timings["listing"].append(timed(lambda: client.get_json("/studies", params=listing), 1))
                timings["repeated"].append(timed(fresh.studies, 1))
            t = {k: statistics.median(v) for k, v in timings.items()}
            n_found = len(archive.studies())

    def ratio(a: str, b: str) -> str:
        """Median and range of the ratios within each repetition (pairs measured a moment apart)."""
        values = sorted(x / y for x, y in zip(timings[a], timings[b], strict=True))
        return f"{statistics.median(values):.2f}x ({values[0]:.2f}-{values[-1]:.2f})"

    rows = [
        (f"cold load_series ({args.slices}x{args.size}x{args.size}, {mb:.0f} MB)", t["cold"], ""),
        (
            "(a) dicomweb-client retrieve_series + pydicom stack",
            t["obvious"],
            f"cold is {ratio('obvious', 'cold')} faster (goal >= 3x)",
        ),
        (
            "(b) raw WADO-RS bytes, transfer-syntax=*",
            t["raw"],
            f"cold is {ratio('cold', 'raw')} the floor (goal <= 4x)",
        ),
        (
            "warm load_series (on-disk cache)",
            t["warm"],
            f"warm is {ratio('cold', 'warm')} faster than cold (goal >= 10x)",
        ),
        (f"raw POST /tools/find, {n_found} studies (the goal's peer)", t["find"], ""),
        ("raw GET /studies?expand (plain listing)", t["listing"], ""),
        (
            "studies(), first call (modalities looked up)",
            t["first"],
            f"{ratio('first', 'find')} raw find (goal <= 1.25x); {ratio('first', 'listing')} listing",
        ),
        (
            "studies(), repeated",
            t["repeated"],
            f"{ratio('repeated', 'find')} raw find (goal <= 1.25x); {ratio('repeated', 'listing')} listing",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  {'seconds':>8}  ratio")
    print(f"{'-' * width}  {'-' * 8}  {'-' * 40}")
    for label, seconds, ratio in rows:
        print(f"{label.ljust(width)}  {seconds:8.3f}  {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
