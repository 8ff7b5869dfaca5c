"""Every ``bash`` and ``python`` block of README.md runs, against the test Orthanc with the demo hospital.

Each block is one test named by the README line of its fence (``README.md:155-python``); a failing block says
its line. Bash blocks run each in its own ``bash -euo pipefail``, with the virtualenv's ``workbench`` first on
``PATH``. Python blocks share one namespace and run in README order, like a reader's notebook session: a
python block selected alone (``-k``) first runs the python blocks before it. Both run in one working folder
for the whole README (``eval/`` of the repository linked into it, ``notebooks/`` and ``prompts/`` copied, so
relative paths work and nothing is written into the repository), with their own config, data and cache folders
and ``WORKBENCH_ORTHANC_*`` pointing at the test server. Blocks marked ``cloud``, ``destructive`` or ``skip``
(see :mod:`tests.readme_blocks`) are reported as skipped with their marker.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.readme_blocks import Block, blocks, missing_output

pytestmark = pytest.mark.orthanc

BLOCKS = blocks()
BLOCK_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def readme_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reader's working folder, shared by every block of the README."""
    folder = tmp_path_factory.mktemp("readme")
    (folder / "eval").symlink_to(ROOT / "eval")
    for name in ("notebooks", "prompts"):  # copied: a notebook's ../runs must be this folder's
        shutil.copytree(ROOT / name, folder / name)
    for name in ("config", "data", "cache"):
        (folder / f".{name}").mkdir(mode=0o700)
    return folder


@pytest.fixture
def readme_env(
    readme_folder: Path, orthanc: Any, demo_hospital: Any, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Point this process's environment at the README folder and the test Orthanc; returns the folder."""
    values = {
        "WORKBENCH_CONFIG_DIR": readme_folder / ".config",
        "WORKBENCH_DATA_DIR": readme_folder / ".data",
        "WORKBENCH_CACHE_DIR": readme_folder / ".cache",
        "WORKBENCH_PROMPTS_DIR": readme_folder / "prompts" / "discharge_summary",
        "WORKBENCH_ORTHANC_URL": orthanc.url,
        "WORKBENCH_ORTHANC_USER": orthanc.username,
        "WORKBENCH_ORTHANC_PASSWORD": orthanc.password,
        "MPLBACKEND": "Agg",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("WORKBENCH_RUNS_DIR", raising=False)
    monkeypatch.chdir(readme_folder)
    return readme_folder


class Session:
    """The python blocks' shared namespace and which blocks already ran in it."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"__name__": "__readme__"}
        self.ran: set[int] = set()

    def run(self, block: Block) -> None:
        """Run ``block`` (after any earlier python block not yet run); errors carry README line numbers."""
        for earlier in BLOCKS:
            if earlier.line >= block.line:
                break
            if earlier.language == "python" and earlier.marker is None and earlier.line not in self.ran:
                self._exec(earlier)
        self._exec(block)

    def _exec(self, block: Block) -> None:
        self.ran.add(block.line)
        code = compile("\n" * block.line + block.code, str(ROOT / "README.md"), "exec")
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                exec(code, self.namespace)
        except Exception as error:
            raise AssertionError(f"README.md line {block.line}: the python block failed: {error!r}") from None
        _check_output(block, printed.getvalue())


def _check_output(block: Block, output: str) -> None:
    """Fail naming the README line when the block did not print the output the README shows after it."""
    missing = missing_output(block, output)
    assert not missing, (
        f"README.md line {block.line}: the block did not print what the README shows after it: {missing}\n"
        f"--- it printed ---\n{output[-4000:]}"
    )


@pytest.fixture(scope="module")
def session() -> Iterator[Session]:
    """One python session for the whole README."""
    yield Session()
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_readme_block(block: Block, readme_env: Path, session: Session) -> None:
    if block.marker is not None:
        reason = f" ({block.reason})" if block.reason else ""
        pytest.skip(f"README.md line {block.line}: marked {block.marker}{reason}")
    if block.language == "python":
        session.run(block)
        return
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.code],
        cwd=readme_env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S, check=False,
    )
    assert done.returncode == 0, (
        f"README.md line {block.line}: the bash block failed with status {done.returncode}\n"
        f"--- block ---\n{block.code}--- stdout ---\n{done.stdout[-4000:]}"
        f"--- stderr ---\n{done.stderr[-4000:]}"
    )
    _check_output(block, done.stdout)


def test_the_readme_has_runnable_blocks_and_few_skips() -> None:
    runnable = [block for block in BLOCKS if block.marker is None]
    skipped = [block for block in BLOCKS if block.marker == "skip"]
    assert len(runnable) >= 8
    assert len(skipped) <= 3, [f"line {block.line}: {block.reason}" for block in skipped]


def test_all_twelve_inpatients_have_cases_as_the_readme_says() -> None:
    import json

    from workbench.imaging.demo.roster import ROSTER

    metas = (ROOT / "eval" / "cases").glob("*/meta.json")
    case_ids = {json.loads(path.read_text(encoding="utf-8"))["patient_id"] for path in metas}
    with_cases = [patient for patient in ROSTER if patient.patient_id in case_ids]
    assert len(ROSTER) == len(with_cases) == 12
    assert len(case_ids) == 30
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "All 12 have discharge-summary cases" in " ".join(readme.split())
    assert "the other 18 of the 30 cases" in " ".join(readme.split())


def test_history_shows_what_the_readme_says() -> None:
    import argparse

    from workbench.summary import cli

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["history"])
    assert args.limit == 50  # "newest first, 50 rows (--limit N, 0 for all)"
    shown = set(cli.HISTORY_COLUMNS)
    assert {"model", "prompt_version", "input_tokens", "output_tokens", "cost_usd"} <= shown
    assert "prompt_hash" not in shown  # the README sends readers to --format json for it
    from workbench.summary.history import Generation

    assert "prompt_hash" in Generation.__dataclass_fields__
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "newest first, 50 rows (--limit N, 0 for all): model, prompt version, tokens, cost" in readme


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- README-snippet: skip -->\n```bash\nls\n```\n", "malformed snippet marker"),
        ("<!-- README-snippet: clowd -->\n```bash\nls\n```\n", "malformed snippet marker"),
        ("<!-- README-snippet: cloud -->\n\n```bash\nls\n```\n", "must be the line right before a fence"),
        ("<!-- README-snippet: cloud -->\n```text\nls\n```\n", "before a text fence"),
        ("```bash\nls\n", "fence never closed"),
    ],
)
def test_a_misplaced_or_malformed_marker_names_its_line(tmp_path: Path, text: str, message: str) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# t\n\n" + text, encoding="utf-8")
    with pytest.raises(ValueError, match=rf"README.md:3: .*{message}"):
        blocks(readme)


def test_blocks_carry_their_fence_line_marker_and_shown_output(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "# t\n```bash\necho  a   b\n```\n\n```text\na b\n```\n"
        "<!-- README-snippet: skip (runs itself) -->\n```python\nx = 1\n```\n```\nplain\n```\n",
        encoding="utf-8",
    )
    first, second = blocks(readme)
    assert (first.language, first.line, first.code, first.marker) == ("bash", 2, "echo  a   b\n", None)
    assert first.expected == ("a b",)
    assert (second.line, second.marker, second.reason, second.expected) == (10, "skip", "runs itself", ())
    assert missing_output(first, "a b\n") == [] and missing_output(first, "c\n") == ["a b"]
