"""Run mutmut on the modules of ``mutation/scope.toml`` and print the mutation score of each.

The score is killed / (mutants - equivalents): mutants listed in ``mutation/equivalents.toml`` (each with the
reason it cannot change behaviour) are left out; timeouts count as killed, as in mutmut; a mutant no
selected test reaches counts as survived. Run from the repository root: ``python mutation/score.py``
(``make mutation``).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import subprocess
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KILLED = {1, 3, 36, 24, -24, 152, 255, 37}


def load(name: str) -> dict:
    with open(HERE / name, "rb") as fh:
        return tomllib.load(fh)


def patterns(scope: dict) -> list[str]:
    return [f"{spec['module']}.{f}" for spec in scope["modules"].values() for f in spec["functions"]]


def results(module: str) -> dict[str, int | None]:
    meta = ROOT / "mutants" / (module.replace(".", "/") + ".py.meta")
    data = json.loads(meta.read_text(encoding="utf-8"))
    return data["exit_code_by_key"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-run", action="store_true", help="only score the results of the last run")
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--survivors", action="store_true", help="list the surviving mutants")
    args = parser.parse_args()
    scope = load("scope.toml")
    equivalents = {e["mutant"]: e["reason"] for e in load("equivalents.toml").get("equivalent", [])}
    if not args.no_run:
        mutmut = Path(sys.executable).with_name("mutmut")
        cmd = [str(mutmut), "run", "--max-children", str(args.max_children), *patterns(scope)]
        done = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
        if done.returncode:
            print(f"mutation: error: {' '.join(cmd[:3])} failed (exit {done.returncode})", file=sys.stderr)
            return 1
    print(f"{'module':<48} {'killed':>7} {'scored':>7} {'equiv':>6} {'score':>7}")
    for label, spec in scope["modules"].items():
        codes = {
            key: code
            for key, code in results(spec["module"]).items()
            if any(fnmatch.fnmatchcase(key, f"{spec['module']}.{f}") for f in spec["functions"])
        }
        scored = {k: c for k, c in codes.items() if k not in equivalents}
        killed = sum(1 for c in scored.values() if c in KILLED)
        score = killed / len(scored) if scored else 1.0
        print(f"{label:<48} {killed:>7} {len(scored):>7} {len(codes) - len(scored):>6} {score:>7.1%}")
        if args.survivors:
            for key in sorted(k for k, c in scored.items() if c not in KILLED):
                print(f"    survived: {key} (exit {scored[key]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
