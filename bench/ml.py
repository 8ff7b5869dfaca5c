"""Benchmark: volumes per second into MONAI from the archive (warm cache) vs MONAI's LoadImage on local files.

In one run, against a LocalOrthanc started in a temporary folder and holding ``--series`` chest CTs of the
demo screening cohort (64 slices of 256 x 256, 16-bit, uncompressed: 8 MB each):

- **workbench**: a MONAI ``DataLoader`` over ``Dataset(items, LoadSeriesd("image", archive))``, items holding
  series UIDs, after one cold pass has filled the workbench's on-disk cache;
- **LoadImage**: the same ``DataLoader`` over ``LoadImaged("image", reader="PydicomReader")``, items holding
  folders of the same series' files, downloaded beforehand to local disk (read once first, so the OS page
  cache is warm too).

Both yield the same MetaTensors (the parity is a test: ``tests/ml/test_transforms.py``). Printed: volumes per
second for each (best of ``--repeats`` passes) and their ratio; goal >= 0.9. The cold pass is shown for
reference. Run: ``.venv/bin/python bench/ml.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def throughput(loader_factory: Callable[[], Any], n_volumes: int, repeats: int) -> float:
    """Best volumes per second over ``repeats`` full passes of a fresh loader."""
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        seen = sum(batch["image"].shape[0] for batch in loader_factory())
        elapsed = time.perf_counter() - start
        assert seen == n_volumes, f"loader yielded {seen} volumes, expected {n_volumes}"
        best = max(best, n_volumes / elapsed)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=8, help="CT series (default 8)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per route; the best counts")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (default 0)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="wb-bench-ml-") as tmp:
        base = Path(tmp)
        os.environ["WORKBENCH_CACHE_DIR"] = str(base / "cache")
        import torch
        from monai.data import DataLoader, Dataset
        from monai.transforms import LoadImaged

        from workbench.imaging import connect
        from workbench.imaging.demo import hospital
        from workbench.imaging.local_server import LocalOrthanc
        from workbench.ml.transforms import LoadSeriesd

        torch.set_num_threads(2)
        warnings.filterwarnings("ignore", module="monai")
        with LocalOrthanc(base / "orthanc") as server:
            plans = hospital.screening_plans(args.series)
            size = f"{plans[0].n_instances} slices of {plans[0].matrix}^2"
            print(f"storing {len(plans)} CT series ({size}) ...", flush=True)
            server.client().upload([ds for plan in plans for ds in hospital.datasets(plan)], progress=False)
            archive = connect(server.url, server.username, server.password)
            uids = [plan.series_uid for plan in plans]
            folders = [archive.download_series(uid, base / "files" / uid)[0].parent for uid in uids]

            def workbench_loader() -> Any:
                items = [{"image": uid} for uid in uids]
                return DataLoader(Dataset(items, LoadSeriesd("image", archive)), batch_size=1,
                                  num_workers=args.workers)

            def monai_loader() -> Any:
                items = [{"image": str(folder)} for folder in folders]
                return DataLoader(Dataset(items, LoadImaged("image", reader="PydicomReader")), batch_size=1,
                                  num_workers=args.workers)

            n = len(uids)
            cold = throughput(workbench_loader, n, 1)  # fills the workbench cache
            warm = throughput(workbench_loader, n, args.repeats)
            throughput(monai_loader, n, 1)  # warms the OS page cache for the files
            local = throughput(monai_loader, n, args.repeats)

    ratio = warm / local
    print(f"\n{n} volumes, DataLoader(batch_size=1, num_workers={args.workers}), best of {args.repeats}")
    print(f"  workbench LoadSeriesd, cold (from Orthanc)    {cold:7.2f} volumes/s")
    print(f"  workbench LoadSeriesd, warm cache             {warm:7.2f} volumes/s")
    print(f"  MONAI LoadImage(PydicomReader), local files   {local:7.2f} volumes/s")
    print(f"  ratio warm workbench / LoadImage              {ratio:7.2f}x   (goal >= 0.9)")
    return 0 if ratio >= 0.9 else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
