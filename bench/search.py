"""Benchmark of filtered study searches at 20,000 studies: ``studies(...)`` vs one raw ``/tools/find``.

Starts its own Orthanc (temporary folder, free ports, or ``--data-dir`` to keep and reuse one), stores 20,000
one-image studies (15,000 CT, 5,000 MR; 5 per patient; dates over ten years), then times, for each filter,
one raw ``POST /tools/find`` (Level Study, Expand, the same filter, unpaged: the peer the goal names) against
``studies(...)``:

- **first ever**: on a fresh connection with ``cache=False`` (nothing remembered: the studies' modalities
  are looked up in their series, and the server's ``LimitFindResults`` cap is probed once per connection
  with one unexpanded find unless the answer holds every study of the archive);
- **new session**: on a fresh connection whose cache folder remembers the studies' modalities from an
  earlier session (:mod:`workbench.imaging.search_memo`; the cap is probed again: a server may have been
  restarted with another setting);
- **repeated**: the same search again on that connection.

Times are medians of interleaved repetitions; each ratio is the median (and range) of the ratios within one
repetition. Every search must return every match: the row counts are checked against the raw answer.

Run: ``.venv/bin/python bench/search.py [--studies 20000] [--repeat 5] [--data-dir DIR]``.
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
from typing import Any

FILTERS: list[tuple[str, dict[str, Any], dict[str, str]]] = [
    ("modality CT", {"modality": "CT"}, {"ModalitiesInStudy": "CT"}),
    ("name 'bench' (typed)", {"patient_name": "bench"}, {"PatientName": "*bench*"}),
    ("date 2015-2022", {"study_date": "20150101-20221231"}, {"StudyDate": "20150101-20221231"}),
    ("patient id BENCH-01*", {"patient_id": "BENCH-01*"}, {"PatientID": "BENCH-01*"}),
]
"""Label, ``studies()`` filters, the same filter as DICOM query attributes for the raw call."""


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--data-dir", help="keep the Orthanc data here (reused by the next run)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="wb-bench-search-") as tmp:
        os.environ["WORKBENCH_CACHE_DIR"] = str(Path(tmp) / "cache")
        from workbench.imaging import connect
        from workbench.imaging.cache import WRITER
        from workbench.imaging.local_server import LocalOrthanc
        from workbench.testing.synthetic import tiny_study

        folder = Path(args.data_dir) if args.data_dir else Path(tmp) / "orthanc"
        with LocalOrthanc(folder) as server:
            client = server.client()
            have = int(client.get_json("/statistics")["CountStudies"])
            if have < args.studies:
                start = time.perf_counter()
                client.upload(
                    (tiny_study(i, modality="MR" if i % 4 == 3 else "CT") for i in range(args.studies)),
                    workers=8,
                    desc="store studies",
                )
                seconds = time.perf_counter() - start
                print(f"stored {args.studies} studies in {seconds:.0f} s", file=sys.stderr)
            timings: dict[str, dict[str, list[float]]] = {
                label: {"raw": [], "first": [], "session": [], "repeated": []} for label, _, _ in FILTERS
            }
            counts: dict[str, tuple[int, int]] = {}
            for _, filters, _ in FILTERS:  # an earlier session: the modalities are remembered on disk
                connect(server.url, server.username, server.password).studies(**filters)
            WRITER.wait_all()
            for _ in range(args.repeat):  # interleaved, so that load on the machine hits all alike
                for label, filters, tags in FILTERS:
                    body = {"Level": "Study", "Query": tags, "Expand": True}
                    seconds, raw = timed(lambda body=body: client.post_json("/tools/find", body))
                    timings[label]["raw"].append(seconds)
                    blank = connect(server.url, server.username, server.password, cache=False)
                    seconds, first = timed(lambda blank=blank, filters=filters: blank.studies(**filters))
                    timings[label]["first"].append(seconds)
                    fresh = connect(server.url, server.username, server.password)
                    seconds, table = timed(lambda fresh=fresh, filters=filters: fresh.studies(**filters))
                    timings[label]["session"].append(seconds)
                    seconds, again = timed(lambda fresh=fresh, filters=filters: fresh.studies(**filters))
                    timings[label]["repeated"].append(seconds)
                    WRITER.wait_all()
                    counts[label] = (len(raw), len(table))
                    if not len(first) == len(table) == len(again) == len(raw):
                        print(f"MISMATCH {label}: raw {len(raw)}, studies() {len(table)}", file=sys.stderr)
                        return 1

    def ratio(values: dict[str, list[float]], which: str) -> str:
        pairs = sorted(x / y for x, y in zip(values[which], values["raw"], strict=True))
        return f"{statistics.median(pairs):.2f}x ({pairs[0]:.2f}-{pairs[-1]:.2f})"

    print(f"filtered study searches over {args.studies} studies (goal: <= 1.25x one raw /tools/find)")
    header = f"{'filter':24} {'rows':>6} {'raw s':>7} {'first ever':>10} {'new session':>11} {'repeated':>9}"
    print(f"{header}  first ever / raw   new session / raw  repeated / raw")
    for label, values in timings.items():
        t = {k: statistics.median(v) for k, v in values.items()}
        print(
            f"{label:24} {counts[label][1]:6d} {t['raw']:7.3f} {t['first']:10.3f} {t['session']:11.3f} "
            f"{t['repeated']:9.3f}  {ratio(values, 'first'):18} {ratio(values, 'session'):18} "
            f"{ratio(values, 'repeated')}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
