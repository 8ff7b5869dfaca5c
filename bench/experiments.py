"""Benchmark of the experiment runner against a simulated model with a fixed latency, in one run.

The model ``sim:fixed`` sleeps ``--latency-ms`` (default 50 ms) per call, like a remote API whose time is
spent waiting, and counts its calls. Against it, with fresh caches for each measurement:

- throughput of the obvious loop (``for call: summarize(...)``), the runner at concurrency 1 and the runner
  at concurrency 8 (goal: 8 vs 1 >= 6x);
- backend calls made by a rerun of the same spec with a warm response cache (goal: 0);
- backend calls repeated after a run killed halfway and resumed (goal: 0): the kill is a KeyboardInterrupt
  raised inside the model after half of the calls, with the others in flight.

Everything runs offline in temporary folders. Run: ``.venv/bin/python bench/experiments.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from workbench.summary.backends import BaseBackend

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = (
    "・ 現病歴\n発熱と咳嗽で入院。\n・ 併存症\n2型糖尿病。\n"
    "・ 重大な身体所見およびその他の所見\nCRP 18.6mg/dL。\n・ 入院中の治療経過\n抗菌薬で軽快し退院。"
)


class SimulatedModel(BaseBackend):
    """``sim:<id>``: waits a fixed latency, answers a fixed summary, counts calls; can simulate a kill."""

    def __init__(self, model_id: str, latency_s: float) -> None:
        self.name = f"sim:{model_id}"
        self.latency_s = latency_s
        self.calls = 0
        self.kill_after: int | None = None
        self._lock = threading.Lock()

    def generate(self, request):
        from workbench.summary.backends import ModelResponse

        with self._lock:
            if self.kill_after is not None and self.calls >= self.kill_after:
                raise KeyboardInterrupt("simulated kill")
            self.calls += 1
        time.sleep(self.latency_s)
        return ModelResponse(SUMMARY, len(request.prompt), len(SUMMARY), int(self.latency_s * 1000),
                             "end_turn", False)


@contextmanager
def fresh_folders() -> Iterator[Path]:
    """Empty data and cache folders (history, response cache) for one measurement."""
    with tempfile.TemporaryDirectory(prefix="wb-bench-") as tmp:
        for name in ("DATA", "CACHE"):
            os.environ[f"WORKBENCH_{name}_DIR"] = str(Path(tmp) / name.lower())
        yield Path(tmp)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--cases", type=int, default=8, help="demo cases (x 3 sources x --repeats = calls)")
    parser.add_argument("--repeats", type=int, default=8)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="wb-bench-config-") as config:
        os.environ["WORKBENCH_CONFIG_DIR"] = config  # no user settings (prices, redaction) leak in
        from workbench.experiments.plan import build_plan
        from workbench.experiments.runner import run_experiment
        from workbench.experiments.spec import load_spec
        from workbench.records.results import read_results
        from workbench.summary.backends import register_backend
        from workbench.summary.generate import summarize

        model = SimulatedModel("fixed", args.latency_ms / 1000)
        register_backend("sim", lambda model_id: model)
        cases = sorted(p for p in (ROOT / "eval" / "cases").iterdir() if (p / "meta.json").is_file())
        base = load_spec(ROOT / "eval" / "experiments" / "demo_baseline.yaml", models=["sim:fixed"],
                         prompts=["v3"], cases=[str(p) for p in cases[: args.cases]], repeats=args.repeats)
        n_calls = len(build_plan(base).calls)
        print(f"simulated model: {args.latency_ms:.0f} ms per call; {n_calls} calls per run "
              f"({args.cases} cases x 3 sources x {args.repeats} repeats); CPUs: {os.cpu_count()}, "
              f"load average {os.getloadavg()[0]:.1f} (the runner's own work per call competes for them)")

        def throughput(label: str, run: Callable[[Path], object]) -> float:
            with fresh_folders() as tmp:
                model.calls = 0
                start = time.perf_counter()
                run(tmp)
                seconds = time.perf_counter() - start
            assert model.calls == n_calls, (label, model.calls)
            print(f"  {label:<34} {n_calls / seconds:7.1f} calls/s  ({seconds:.2f} s)")
            return n_calls / seconds

        def plain_loop(tmp: Path) -> None:
            plan = build_plan(base)
            for call in plan.calls:
                case = plan.cases[call.case_id]
                summarize(case, call.prompt_version, call.model, call.source, repeat=call.repeat)

        print("throughput (fresh caches):")
        loop = throughput("plain loop over summarize()", plain_loop)
        one = throughput("runner, concurrency 1", lambda tmp: run_experiment(
            base.replace(concurrency=1), runs_dir=tmp / "runs", progress=False))
        eight = throughput("runner, concurrency 8", lambda tmp: run_experiment(
            base.replace(concurrency=8), runs_dir=tmp / "runs", progress=False))
        print(f"  concurrency 8 vs 1: {eight / one:.1f}x (goal >= 6x); runner at 1 vs plain loop: "
              f"{one / loop:.2f}x")

        with fresh_folders() as tmp:
            spec = base.replace(concurrency=8)
            run_experiment(spec, runs_dir=tmp / "runs", progress=False)
            model.calls = 0
            rerun = run_experiment(spec, runs_dir=tmp / "runs", progress=False)
            print(f"rerun with a warm cache: {model.calls} backend calls (goal 0), {rerun.n_cache_hits} of "
                  f"{rerun.n_made} answers from the cache, ${rerun.cost_usd:.2f} billed")
            warm_calls = model.calls

        with fresh_folders() as tmp:
            spec = base.replace(concurrency=8)
            model.calls, model.kill_after = 0, n_calls // 2
            try:
                run_experiment(spec, runs_dir=tmp / "runs", progress=False)
                raise AssertionError("the simulated kill did not happen")
            except KeyboardInterrupt:
                pass
            (run_dir,) = list((tmp / "runs").iterdir())
            recorded, first_calls = len(read_results(run_dir)), model.calls
            model.calls, model.kill_after = 0, None
            resumed = run_experiment(spec, runs_dir=tmp / "runs", resume=True, progress=False)
            repeated = first_calls + model.calls - n_calls
            print(f"kill after {first_calls} calls ({recorded} recorded, the calls in flight included), then "
                  f"resume: {model.calls} calls made, {repeated} repeated (goal 0); "
                  f"complete: {resumed.complete}")

    ok = eight / one >= 6 and warm_calls == 0 and repeated == 0 and resumed.complete
    print("all goals met" if ok else "GOAL MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
