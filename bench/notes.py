"""Benchmark of the notes parser: MB/s on long daily-note files, in one run.

Real exports of long stays reach megabytes. The notes of the demo cases are repeated (each copy moved to new
dates, so every day tag stays valid) to 1, 2, 5 and 10 MB, and ``parse_notes`` reads each size three times;
the best time is reported. A linear parser keeps its MB/s as the file grows (goal: 10 MB in seconds; the
quadratic line counting before took 45 s for 1.1 MB and did not finish 10.8 MB in 39 minutes).

Run: ``.venv/bin/python bench/notes.py [--sizes 1 2 5 10]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_DAY = re.compile(r"(</?day-)(\d{4}-\d{2}-\d{2})(>)")


def long_notes(megabytes: float) -> str:
    """The demo cases' doctor notes, repeated on later and later dates up to ``megabytes`` of UTF-8."""
    sources = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "eval" / "cases").glob("*/doctor.txt"))]
    target = int(megabytes * 1_000_000)
    parts: list[str] = []
    size, start = 0, dt.date(1900, 1, 1)
    while size < target:
        for text in sources:
            dates = sorted({dt.date.fromisoformat(m.group(2)) for m in _DAY.finditer(text)})
            shift = start - dates[0]

            def moved(match: re.Match[str], shift: dt.timedelta = shift) -> str:
                day = dt.date.fromisoformat(match.group(2)) + shift
                return f"{match.group(1)}{day.isoformat()}{match.group(3)}"

            copy = _DAY.sub(moved, text)
            parts.append(copy if copy.endswith("\n") else copy + "\n")
            size += len(parts[-1].encode("utf-8"))
            start = dates[-1] + shift + dt.timedelta(days=1)
    return "".join(parts)


def main() -> int:
    sys.path.insert(0, str(ROOT))
    from workbench.summary.cases import parse_notes

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[1, 2, 5, 10], help="sizes in MB")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'MB':>6} {'entries':>9} {'best s':>8} {'MB/s':>8}")
    rates = []
    for megabytes in args.sizes:
        text = long_notes(megabytes)
        mb = len(text.encode("utf-8")) / 1e6
        best = float("inf")
        for _ in range(args.repeat):
            started = time.perf_counter()
            entries = parse_notes(text, "doctor", filename="doctor.txt")
            best = min(best, time.perf_counter() - started)
        rates.append(mb / best)
        print(f"{mb:6.1f} {len(entries):9d} {best:8.2f} {mb / best:8.1f}")
    print(f"MB/s at the largest size / at the smallest: {rates[-1] / rates[0]:.2f} (linear: about 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
