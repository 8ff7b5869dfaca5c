"""``workbench experiment run|report|sweep|list|collect``.

Imports are deferred to the handlers: ``workbench --help`` need not load pandas, MeCab or model backends.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import SpecError, WorkbenchError
from workbench.optional import optional_import

if TYPE_CHECKING:
    import pandas as pd

    from workbench.experiments.plan import Plan

logger = logging.getLogger(__name__)

FORMATS = ("table", "csv", "json")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``experiment`` and its actions to the ``workbench`` command."""
    experiment = subparsers.add_parser("experiment", help="prompt-version experiments: run, report, sweep")
    actions = experiment.add_subparsers(dest="action", metavar="ACTION", required=True)

    run = actions.add_parser("run", help="run an experiment spec (or estimate it with --dry-run)")
    run.add_argument("spec", type=Path,
                     help="the experiment spec (YAML), e.g. eval/experiments/demo_baseline.yaml")
    run.add_argument("--dry-run", action="store_true", help="print the calls, tokens and cost; call nothing")
    run.add_argument("--resume", nargs="?", const=True, default=False, metavar="RUN_DIR",
                     help="continue a stopped run: the newest run of this spec, or RUN_DIR; "
                          "only calls missing from its results.jsonl are made")
    run.add_argument("--runs-dir", type=Path,
                     help="parent of run folders (default $WORKBENCH_RUNS_DIR or ./runs)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--batch", action=argparse.BooleanOptionalAction, default=None,
                     help="send the missing Anthropic Claude bedrock: calls as Bedrock batch jobs (about "
                          "half the price; [bedrock_batch] settings); --no-batch: on demand; default: the "
                          "spec's 'batch' key")
    run.set_defaults(func=_run)

    report = actions.add_parser("report", help="write the evaluation report of a run (HTML and CSV)")
    report.add_argument("run_dir", type=Path, help="a run folder, runs/<run_id>")
    report.add_argument("--out", type=Path, help="output folder (default: RUN_DIR/report)")
    report.add_argument("--judge", nargs="?", const=True, default=None, metavar="MODEL",
                        help="also score with an LLM judge: the one the run's spec names, or MODEL "
                             "(e.g. bedrock:<model id>); default: no judge")
    report.add_argument("--no-progress", action="store_true", help="no progress bars")
    report.set_defaults(func=_report)

    sweep = actions.add_parser("sweep", help="execute a notebook once per parameter set with papermill")
    sweep.add_argument("notebook", type=Path, help="e.g. notebooks/03_prompt_experiments.ipynb")
    sweep.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                       help="a parameter value (YAML); repeat a NAME for several values: "
                            "the sets are their grid")
    sweep.add_argument("--params", type=Path, metavar="FILE",
                       help="YAML: a list of parameter mappings, or {grid: {name: [values]}}")
    sweep.add_argument("-o", "--out", type=Path,
                       help="folder for the executed notebooks "
                            "(default: <runs dir>/sweeps/<time>-<notebook>)")
    sweep.add_argument("-j", "--jobs", type=int, default=2, help="executions in parallel (default 2)")
    sweep.add_argument("--kernel", default="workbench", help="Jupyter kernel (default: workbench)")
    sweep.add_argument("--cwd", type=Path,
                       help="working folder of the cells (default: the notebook's folder)")
    sweep.add_argument("--timeout", type=float, help="seconds per cell (default: no limit)")
    sweep.set_defaults(func=_sweep)

    listing = actions.add_parser("list", help="list the runs in the runs folder")
    listing.add_argument("--runs-dir", type=Path)
    listing.add_argument("--format", choices=FORMATS, default="table")
    listing.set_defaults(func=_list)

    collect = actions.add_parser("collect", help="gather the values recorded by executed notebooks")
    collect.add_argument("paths", nargs="+", help="notebooks, folders of notebooks or glob patterns")
    collect.add_argument("--format", choices=FORMATS, default="table")
    collect.set_defaults(func=_collect)


def _run(args: argparse.Namespace) -> int:
    from workbench.experiments.plan import build_plan
    from workbench.experiments.runner import run_experiment
    from workbench.experiments.spec import load_spec
    from workbench.records.layout import default_runs_dir

    spec = load_spec(args.spec)
    plan = build_plan(spec)
    runs_dir = args.runs_dir or default_runs_dir()
    if args.dry_run:
        _dry_run(plan, runs_dir, args.resume, args.batch)
        return 0
    result = run_experiment(plan, runs_dir=runs_dir, resume=args.resume, progress=not args.no_progress,
                            batch=args.batch)
    print(f"{result.n_made} call(s) made: {result.n_cache_hits} from the cache, {result.n_errors} failed; "
          f"${result.cost_usd:.4f} spent now, ${result.total_cost_usd:.4f} in all "
          f"({result.n_done_before} recorded before)")
    if result.n_not_started:
        print(f"stopped before the budget of ${spec.budget_usd:.2f} would be passed: {result.n_not_started} "
              "call(s) not made; raise budget_usd and rerun with --resume", file=sys.stderr)
    if result.n_errors:
        print(f"{result.n_errors} call(s) failed (see the 'error' column); rerun with --resume to retry them",
              file=sys.stderr)
    print(result.run_dir)
    return 0 if result.complete else 1


def _dry_run(plan: Plan, runs_dir: Path, resume: bool | str, batch: bool | None = None) -> None:
    from workbench.experiments.batch_planning import batch_estimate
    from workbench.records.manifest import latest_run_dir
    from workbench.records.results import done_keys, read_results
    from workbench.summary.cache import open_cache

    spec = plan.spec
    done: set[str] = set()
    if resume:
        run_dir = (latest_run_dir(runs_dir, spec.design_hash(), name=spec.name) if resume is True
                   else Path(resume))
        done = done_keys(read_results(run_dir))
        print(f"resuming {run_dir}")
    cached = plan.cached_keys(open_cache())
    estimate = plan.estimate(done, cached)
    print(f"spec {spec.name} (design {spec.design_hash()}): {len(spec.prompts)} prompt(s) x "
          f"{len(spec.models)} model(s) x {len(spec.sources)} source(s) x {len(plan.cases)} case(s) x "
          f"{spec.repeats} repeat(s) = {estimate.n_planned} calls")
    if estimate.n_done:
        print(f"already recorded: {estimate.n_done} calls")
    budget = "no budget" if spec.budget_usd is None else f"budget ${spec.budget_usd:.2f}"
    print(f"to make: {estimate.n_to_make} calls, {estimate.n_cached} answered by the response cache (free)")
    print(f"to pay for: ~{estimate.input_tokens:,} input tokens, ~{estimate.output_tokens:,} output tokens, "
          f"~${estimate.cost_usd:.4f} ({budget})")
    if not estimate.table.empty:
        print(estimate.table.to_string(index=False))
    n_batch, on_demand, at_batch = batch_estimate(
        plan, [call for call in plan.calls if call.key not in done], cached
    )
    if n_batch:
        chosen = (spec.batch is not None) if batch is None else batch
        print(f"{'batch' if chosen else 'with --batch'}: {n_batch} Anthropic Claude bedrock call(s) at the "
              f"Bedrock batch price ~${at_batch:.4f} instead of ~${on_demand:.4f} on demand "
              f"(total ~${estimate.cost_usd - on_demand + at_batch:.4f})")


def _report(args: argparse.Namespace) -> int:
    from workbench.evaluation.report import write_report  # without the eval extra: one line naming it
    from workbench.records.manifest import read_manifest

    read_manifest(args.run_dir)  # a clear error for a folder that is not a run
    path = write_report(args.run_dir, args.out, judge=args.judge, progress=not args.no_progress)
    print(path)
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from workbench.experiments.sweep import expand_grid, load_parameter_sets, sweep
    from workbench.records.layout import default_runs_dir

    if args.params and args.param:
        raise SpecError("give parameter sets with --params FILE or with -p NAME=VALUE, not both")
    if args.params:
        sets = load_parameter_sets(args.params)
    elif args.param:
        sets = expand_grid(_grid(args.param))
    else:
        raise SpecError("no parameter sets: give -p NAME=VALUE (repeatable) or --params FILE")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    out = args.out or default_runs_dir() / "sweeps" / f"{stamp}-{args.notebook.stem}"
    frame = sweep(args.notebook, sets, out_dir=out, jobs=args.jobs, kernel=args.kernel, cwd=args.cwd,
                  timeout=args.timeout)
    print(frame[["index", "ok", "seconds", "output", "error"]].to_string(index=False))
    failed = int((~frame["ok"]).sum())
    if failed:
        print(f"{failed} of {len(frame)} execution(s) failed; their logs are beside the notebooks",
              file=sys.stderr)
    print(Path(out).resolve())
    return 1 if failed else 0


def _grid(pairs: list[str]) -> dict[str, list[Any]]:
    yaml = optional_import("yaml", what="reading sweep parameters")
    grid: dict[str, list[Any]] = defaultdict(list)
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise SpecError(f"-p expects NAME=VALUE, got {pair!r}")
        try:
            grid[name.strip()].append(yaml.safe_load(value))
        except yaml.YAMLError as exc:
            raise SpecError(f"-p {pair!r}: the value is not valid YAML ({exc})") from None
    return dict(grid)


def _list(args: argparse.Namespace) -> int:
    from workbench.records.results import list_runs

    _print_frame(list_runs(args.runs_dir), args.format)
    return 0


def _collect(args: argparse.Namespace) -> int:
    import pandas as pd

    from workbench.experiments.record import collect

    try:
        frame = collect(args.paths)
    except FileNotFoundError as exc:
        raise WorkbenchError(str(exc)) from None

    def flat(value: Any) -> Any:  # recorded tables: a summary on screen, their rows in CSV and JSON
        if not isinstance(value, pd.DataFrame):
            return value
        if args.format == "table":
            return f"<table: {len(value)} rows>"
        return json.loads(value.to_json(orient="records", force_ascii=False))

    _print_frame(frame.map(flat), args.format)
    return 0


def _print_frame(frame: pd.DataFrame, fmt: str) -> None:
    import pandas as pd

    if fmt == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        print(json.dumps(json.loads(frame.to_json(orient="records", force_ascii=False)), ensure_ascii=False,
                         indent=2))
    elif frame.empty:
        print("(none)")
    else:
        with pd.option_context("display.max_colwidth", 60, "display.width", 200):
            print(frame.to_string(index=False))
