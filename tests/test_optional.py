"""Optional dependencies: a missing one is one line naming the extra to install."""

from __future__ import annotations

import importlib
import importlib.util
import re
import subprocess
import sys

import pytest

from workbench.cli import main
from workbench.errors import MissingDependencyError, WorkbenchError
from workbench.optional import EXTRAS, missing_message, optional_import, require


def test_a_missing_package_names_its_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(EXTRAS, "no_such_package_xyz", "eval")
    with pytest.raises(MissingDependencyError) as info:
        optional_import("no_such_package_xyz.sub", what="the report")
    assert str(info.value) == (
        "the report needs the optional package 'no_such_package_xyz'; "
        "install it with: pip install 'workbench[eval]'"
    )
    assert isinstance(info.value, WorkbenchError) and isinstance(info.value, ImportError)
    with pytest.raises(MissingDependencyError, match=r"workbench\[eval\]"):
        require("json", "no_such_package_xyz", what="x")
    assert optional_import("json").dumps([]) == "[]"


def test_the_distribution_name_is_the_one_to_install() -> None:
    assert "'pyyaml'" in missing_message("yaml") and "workbench[summary]" in missing_message("yaml")
    assert "'scikit-learn'" in missing_message("sklearn.metrics")
    assert "workbench[ml]" in missing_message("sklearn")


def test_every_wing_module_is_mapped_to_an_extra_of_pyproject() -> None:
    import tomllib
    from pathlib import Path

    extras = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert set(EXTRAS.values()) <= set(extras) and "all" in extras


def test_without_the_eval_extra_the_report_command_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "fugashi" else find_spec(name, *a)
    )
    for name in [m for m in sys.modules if m.startswith("workbench.evaluation")]:
        monkeypatch.delitem(sys.modules, name)  # imported afresh, as in a process without the extra
    assert main(["experiment", "report", "runs/none"]) == 2
    assert capsys.readouterr().err.strip() == (
        "workbench: error: workbench.evaluation needs the optional package 'fugashi'; "
        "install it with: pip install 'workbench[eval]'"
    )


def test_without_the_eval_extra_the_command_line_still_starts_and_review_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "rapidfuzz" else find_spec(name, *a)
    )
    for name in [m for m in sys.modules if m.startswith("workbench.evaluation")]:
        monkeypatch.delitem(sys.modules, name)  # imported afresh, as in a process without the extra
    with pytest.raises(SystemExit) as done:
        main(["--version"])  # building the parser imports every command's module
    assert done.value.code == 0
    capsys.readouterr()
    assert main(["review", "export", "some-id", "-o", str(tmp_path / "sheet")]) == 2
    # rapidfuzz here; in the core-only venv every package of the extra is missing and the first one is named
    assert re.fullmatch(
        r"workbench: error: workbench\.evaluation needs the optional package '(rapidfuzz|fugashi)'; "
        r"install it with: pip install 'workbench\[eval\]'",
        capsys.readouterr().err.strip(),
    )
    assert not (tmp_path / "sheet").exists()


def test_the_imaging_wing_imports_no_other_wing() -> None:
    code = (
        "import sys, workbench.imaging, workbench.imaging.demo, workbench.testing.synthetic; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('boto3', 'fugashi', 'rouge_score', 'sacrebleu', 'openpyxl', 'torch', 'monai', 'yaml', 'jinja2')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
