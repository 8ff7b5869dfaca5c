"""Every user mistake is one line: the probe list of issue #12, run through the real command line.

Each probe is an input a careless or hostile user gives. The command must exit non-zero with exactly one line
on stderr, ``workbench: error: ...`` naming the problem, no traceback, quickly (no 30 s of retries), and
write nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "eval" / "cases" / "case-001"


def _spec(folder: Path, extra: str = "") -> Path:
    path = folder / "spec.yaml"
    path.write_text(
        f"name: probe\nprompts: [v1]\nmodels: ['baseline:extractive']\nsources: [doctor]\ncases: [{CASE}]\n"
        + extra,
        encoding="utf-8",
    )
    return path


def _prompts(folder: Path) -> Path:
    shutil.copytree(ROOT / "prompts" / "discharge_summary", folder / "prompts")
    return folder / "prompts"


def _run_folder(folder: Path) -> Path:
    from workbench.experiments.runner import run_experiment
    from workbench.experiments.spec import load_spec

    return run_experiment(load_spec(_spec(folder)), runs_dir=folder / "runs", progress=False).run_dir


def _empty_case(folder: Path) -> Path:
    case = folder / "empty-case"
    shutil.copytree(CASE, case)
    for name in ("doctor.txt", "nursing.txt"):
        (case / name).write_text("", encoding="utf-8")
    return case


def _file(folder: Path, name: str, data: bytes) -> Path:
    (folder / name).write_bytes(data)
    return folder / name


HEADER = b"patient_id,date,record_type,tag,text\n"
SUMMARIZE = ["summarize", "--prompt", "v1", "--model", "baseline:extractive", "--case"]


def _in_a_file(t: Path, name: str) -> str:
    """A path below a regular file: no folder can be made there (even for root)."""
    return str(_file(t, "file", b"x") / name)


def _bad_prompt(t: Path, old: bytes, new: bytes) -> list[str]:
    prompt = _prompts(t) / "v1.md"
    prompt.write_bytes(prompt.read_bytes().replace(old, new))
    return ["prompts", "--dir", str(t / "prompts"), "show", "v1"]


def _create_prompt(t: Path) -> list[str]:
    body = _file(t, "body.txt", "本文 $(karte)".encode())
    return ["prompts", "--dir", str(_prompts(t)), "create", "--from", str(body), "--max-tokens", "-1"]


PROBES: list[tuple[str, Callable[[Path], list[str]], str]] = [
    ("malformed IPv6 URL", lambda t: ["studies", "--url", "http://[::1"],
     "Orthanc URL 'http://[::1' is not valid: Invalid IPv6 URL"),
    ("a space in the URL", lambda t: ["studies", "--url", "http://local host:8042"],
     "is not valid: it contains a space"),
    ("a password in a malformed URL is not echoed", lambda t: ["series", "--url", "http://u:s3cret@[::1"],
     "Orthanc URL 'http://u:***@[::1' is not valid"),
    ("fetch -o in a folder that cannot be made",
     lambda t: ["fetch", "1.2.3", "-o", _in_a_file(t, "ct.npz"), "--url", "http://127.0.0.1:9"],
     "-o {t}/file/ct.npz: cannot write {t}/file: {t}/file is not a folder"),
    ("experiment run --runs-dir not writable",
     lambda t: ["experiment", "run", str(_spec(t)), "--runs-dir", _in_a_file(t, "runs")],
     "cannot write {t}/file/runs: {t}/file is not a folder"),
    ("experiment report --out not writable",
     lambda t: ["experiment", "report", str(_run_folder(t)), "--out", _in_a_file(t, "out")],
     "cannot write {t}/file/out: Not a directory"),
    ("orthanc start --data-dir not writable",
     lambda t: ["orthanc", "start", "--data-dir", _in_a_file(t, "orthanc")],
     "cannot write {t}/file/orthanc: Not a directory"),
    ("--http-port 70000", lambda t: ["orthanc", "start", "--http-port", "70000"],
     "--http-port 70000 is not a TCP port; choose one between 1 and 65535"),
    ("--modality ',' for the DICOM listener",
     lambda t: ["orthanc", "start", "--dicom-port", "4242", "--modality", ","],
     "modality ',' is not of the form NAME=AET@HOST:PORT"),
    ("invalid UTF-8 in a CSV export",
     lambda t: [*SUMMARIZE, str(_file(t, "bad.csv", HEADER + b"P1,2024-01-01,doctor,S,\xff\xfe\n"))],
     "bad.csv:2: not UTF-8 text (byte 0xff at column 24)"),
    ("a short CSV row",
     lambda t: [*SUMMARIZE, str(_file(t, "short.csv", HEADER + b"P1,2024-01-01,doctor\n"))],
     "short.csv:2: 3 field(s) where the header has 5"),
    ("invalid UTF-8 in a spec",
     lambda t: ["experiment", "run", "--dry-run",
                str(_file(t, "s.yaml", _spec(t).read_bytes() + b"description: \xe3\x81\n"))],
     "s.yaml:6: not UTF-8 text"),
    ("invalid UTF-8 in a prompt", lambda t: _bad_prompt(t, b"---\n", b"---\n\x80"),
     "v1.md:2: not UTF-8 text (byte 0x80 at column 1)"),
    ("max_tokens: abc in a spec",
     lambda t: ["experiment", "run", str(_spec(t, "params: {max_tokens: abc}\n")), "--dry-run"],
     "params: max_tokens must be a positive integer (at most 1000000), got 'abc'"),
    ("max_tokens: abc in a prompt file", lambda t: _bad_prompt(t, b"max_tokens: 4096", b"max_tokens: abc"),
     "parameters: max_tokens must be a positive integer"),
    ("malformed prompts import JSON",
     lambda t: ["prompts", "--dir", str(_prompts(t)), "import", str(_file(t, "p.json", b"{not json")),
                "--format", "bedrock"],
     "p.json:1: not JSON"),
    ("summarize --max-tokens -1", lambda t: [*SUMMARIZE, str(CASE), "--max-tokens", "-1"],
     "max_tokens must be a positive integer (at most 1000000), got -1"),
    ("prompts create --max-tokens -1", _create_prompt,
     "max_tokens must be a positive integer (at most 1000000), got -1"),
    ("repeats: 2000000", lambda t: ["experiment", "run", str(_spec(t, "repeats: 2000000\n")), "--dry-run"],
     "repeats 2000000 is more than 1000"),
    ("studies --modality ','", lambda t: ["studies", "--modality", ",", "--url", "http://127.0.0.1:9"],
     "--modality ',' names no modality"),
    ("empty notes summarised", lambda t: [*SUMMARIZE, str(_empty_case(t))],
     "has no doctor or nursing notes in {t}/empty-case: nothing to summarise"),
]


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in folder.rglob("*")}


@pytest.mark.parametrize(("probe", "make_argv", "message"), PROBES, ids=[p[0] for p in PROBES])
def test_a_user_mistake_is_one_line(
    probe: str, make_argv: Callable[[Path], list[str]], message: str, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    argv = make_argv(work)
    assert argv, probe
    before = _tree(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WORKBENCH_RUNS_DIR": str(work / "default-runs")}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "workbench.cli", *argv], capture_output=True, text=True, env=env, timeout=120,
        check=False,
    )
    seconds = time.monotonic() - started
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("workbench: error: "), result.stderr
    assert message.format(t=work) in lines[0], lines[0]
    assert "Traceback" not in result.stderr and "s3cret" not in result.stderr
    assert seconds < 20, f"{probe}: {seconds:.1f} s (retrying?)"
    assert _tree(tmp_path) == before, "a refused command wrote something"


def test_summarising_one_empty_author_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from workbench.summary.cases import load_case
    from workbench.summary.generate import summarize
    from workbench.summary.history import open_history

    case = tmp_path / "case"
    shutil.copytree(CASE, case)
    (case / "nursing.txt").write_text("", encoding="utf-8")
    with caplog.at_level("WARNING"):
        generation = summarize(load_case(case), "v1", "baseline:extractive", "both",
                               history=open_history(tmp_path / "h.sqlite"))
    assert generation.output and "has no nursing notes" in caplog.text
