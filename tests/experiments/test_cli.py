"""``workbench experiment run|report|list|sweep|collect`` end to end (in process, counting backends)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pandas as pd
import pytest

from workbench.cli import main
from workbench.experiments.record import record
from workbench.records.results import read_results


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_dry_run_prints_calls_tokens_and_cost_and_calls_nothing(
    tmp_path: Path, backends, priced, write_spec, capsys
) -> None:
    spec = write_spec(models=["count:priced"], prompts=["v1", "v2"], budget_usd=50)
    code, out, _ = _run(capsys, "experiment", "run", str(spec), "--dry-run", "--runs-dir",
                        str(tmp_path / "r"))
    assert code == 0 and backends.n_calls == 0 and not (tmp_path / "r").exists()
    assert "2 prompt(s) x 1 model(s) x 1 source(s) x 2 case(s) x 1 repeat(s) = 4 calls" in out
    assert "to make: 4 calls, 0 answered by the response cache" in out
    assert "to pay for: ~" in out and "input tokens" in out and "budget $50.00" in out
    assert "count:priced" in out  # the per-model table


def test_run_prints_the_run_folder_last_and_resume_dry_run_knows_what_is_done(
    tmp_path: Path, backends, write_spec, capsys
) -> None:
    spec, runs = write_spec(), tmp_path / "runs"
    code, out, _ = _run(capsys, "experiment", "run", str(spec), "--runs-dir", str(runs), "--no-progress")
    (run_dir,) = list(runs.iterdir())
    assert code == 0 and out.strip().splitlines()[-1] == str(run_dir)
    assert "2 call(s) made: 0 from the cache, 0 failed" in out and len(read_results(run_dir)) == 2
    code, out, _ = _run(capsys, "experiment", "run", str(spec), "--runs-dir", str(runs), "--dry-run",
                        "--resume")
    assert code == 0 and f"resuming {run_dir}" in out and "already recorded: 2 calls" in out
    assert "to make: 0 calls" in out and "~$0.0000" in out
    code, out, _ = _run(capsys, "experiment", "list", "--runs-dir", str(runs), "--format", "csv")
    assert code == 0 and run_dir.name in out and "test" in out


def test_failures_exit_non_zero_and_point_at_resume(tmp_path: Path, backends, write_spec, capsys) -> None:
    backends.install(fail_when=lambda request: True)
    code, out, err = _run(capsys, "experiment", "run", str(write_spec()), "--runs-dir",
                          str(tmp_path / "runs"), "--no-progress")
    assert code == 1 and "2 call(s) failed" in err and "--resume" in err
    assert out.strip().splitlines()[-1].startswith(str(tmp_path / "runs"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"prompts": ["v99"]}, "unknown prompt version 'v99'"),
        ({"models": ["gpt:x"]}, "unknown model backend 'gpt'"),
        ({"cases": ["/no/case"]}, "case folder '/no/case' does not exist"),
        ({"models": ["count:priced"], "budget_usd": 0.0001}, "too small for even one call"),
    ],
)
def test_bad_input_is_one_line_on_stderr(
    tmp_path: Path, backends, priced, write_spec, capsys, change, message
) -> None:
    code, out, err = _run(capsys, "experiment", "run", str(write_spec(**change)), "--runs-dir",
                          str(tmp_path / "runs"))
    assert code == 2 and out == "" and backends.n_calls == 0
    assert err.startswith("workbench: error: ") and message in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err and not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_report_writes_html_and_csv(tmp_path: Path, write_spec, capsys) -> None:
    spec = write_spec(models=["baseline:extractive"], sources=["doctor", "both"])
    _run(capsys, "experiment", "run", str(spec), "--runs-dir", str(tmp_path / "runs"), "--no-progress")
    (run_dir,) = list((tmp_path / "runs").iterdir())
    code, out, _ = _run(capsys, "experiment", "report", str(run_dir), "--no-progress")
    html = Path(out.strip().splitlines()[-1])
    assert code == 0 and html.is_file() and html.parent == run_dir / "report"
    assert run_dir.name in html.read_text(encoding="utf-8") and list(html.parent.glob("*.csv"))
    code, _, err = _run(capsys, "experiment", "report", str(tmp_path))
    assert code == 2 and "is not a run folder" in err


@pytest.mark.slow
def test_sweep_then_collect(tmp_path: Path, capsys) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "workbench", "display_name": "Python (workbench)",
                                       "language": "python"}
    parameters = nbformat.v4.new_code_cell("x = 1")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters, nbformat.v4.new_code_cell(
        "from workbench.experiments.record import record\n"
        "assert x != 3, 'three is not allowed'\n"
        "record('square', x * x)"
    )]
    nbformat.write(notebook, tmp_path / "square.ipynb")
    out_dir = tmp_path / "sweep"
    code, out, err = _run(capsys, "experiment", "sweep", str(tmp_path / "square.ipynb"), "-p", "x=2",
                          "-p", "x=3", "-o", str(out_dir), "-j", "2")
    assert code == 1 and "1 of 2 execution(s) failed" in err and "three is not allowed" in out
    assert out.strip().splitlines()[-1] == str(out_dir) and (out_dir / "sweep.json").is_file()
    code, out, _ = _run(capsys, "experiment", "collect", str(out_dir), "--format", "json")
    assert code == 0 and '"param_x":2' in out.replace(" ", "") and '"square":4' in out.replace(" ", "")
    code, _, err = _run(capsys, "experiment", "sweep", str(tmp_path / "square.ipynb"), "-p", "x")
    assert code == 2 and "-p expects NAME=VALUE" in err


def test_collect_shows_recorded_tables_briefly_and_exports_their_rows(tmp_path: Path, capsys) -> None:
    sidecar = tmp_path / "records.json"
    record("results", pd.DataFrame({"model": ["a", "b"], "calls": [3, 4]}), sidecar=sidecar)
    record("n_calls", 7, sidecar=sidecar)
    code, out, _ = _run(capsys, "experiment", "collect", str(sidecar))
    assert code == 0 and "<table: 2 rows>" in out and "7" in out
    code, out, _ = _run(capsys, "experiment", "collect", str(sidecar), "--format", "json")
    compact = out.replace(" ", "").replace("\n", "")
    assert code == 0 and '"results":[{"model":"a","calls":3},{"model":"b","calls":4}]' in compact
    code, _, err = _run(capsys, "experiment", "collect", str(tmp_path / "none*.ipynb"))
    assert code == 2 and "no notebook or record file matches" in err
