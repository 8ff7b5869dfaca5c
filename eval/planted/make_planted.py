"""Write the planted-error set (eval/planted/planted.jsonl) from eval/cases; print what the check does.

    python eval/planted/make_planted.py [CASES_DIR] [OUT]

Deterministic: the same cases give the same file (tests/evaluation/test_planted.py checks it is up to date).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from workbench.evaluation.planted import generate, measure, write
from workbench.summary.cases import load_case

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="?", default=str(HERE.parent / "cases"))
    parser.add_argument("out", nargs="?", default=str(HERE / "planted.jsonl"))
    args = parser.parse_args()
    dirs = sorted(p for p in Path(args.cases).iterdir() if (p / "summary.txt").is_file())
    items = generate(dirs)
    write(items, args.out)
    result = measure(items, {c.case_id: c for c in (load_case(p) for p in dirs)})
    report = {k: v for k, v in asdict(result).items() if k not in ("missed", "false_flags")}
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
