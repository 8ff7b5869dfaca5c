"""Spec files: shape and values are checked eagerly, with messages naming the culprit."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import SpecError
from workbench.experiments.spec import load_spec, spec_from_dict
from workbench.summary.cases import Source


def test_demo_specs_load(repo_root: Path, cases_dir: Path) -> None:
    demo = load_spec(repo_root / "eval" / "experiments" / "demo_baseline.yaml")
    assert demo.models == ("baseline:extractive",)
    assert demo.sources == (Source.DOCTOR, Source.NURSING, Source.BOTH)
    assert demo.budget_usd == 0.0
    assert [p.name for p in demo.cases] == ["case-001", "case-002", "case-004", "case-006", "case-007",
                                           "case-009"]
    assert all(p.parent == cases_dir for p in demo.cases)
    bedrock = load_spec(repo_root / "eval" / "experiments" / "bedrock_v1_v2_v3.yaml")
    assert bedrock.prompts == ("v1", "v2", "v3") and len(bedrock.models) == 2
    assert bedrock.budget_usd and bedrock.judge and bedrock.rate_limit


def test_relative_case_paths_resolve_against_the_spec_folder(tmp_path: Path, cases_dir: Path) -> None:
    (tmp_path / "cases").symlink_to(cases_dir)
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "folder.yaml").write_text(
        "prompts: v1\nmodels: baseline:extractive\nsources: both\ncases: ../cases\n", encoding="utf-8"
    )
    spec = load_spec(folder / "folder.yaml")
    assert spec.name == "folder" and spec.prompts == ("v1",) and spec.sources == (Source.BOTH,)
    assert spec.cases[0] == (tmp_path / "cases" / "case-001").resolve() and len(spec.cases) > 2
    (folder / "list.yaml").write_text(
        "prompts: v1\nmodels: baseline:extractive\nsources: both\n"
        "cases: [../cases/case-002, ../cases/case-001]\n",
        encoding="utf-8",
    )
    assert [p.name for p in load_spec(folder / "list.yaml").cases] == ["case-002", "case-001"]
    (folder / "notcase.yaml").write_text(
        "prompts: v1\nmodels: baseline:extractive\nsources: both\ncases: [../cases, ../cases/case-001]\n",
        encoding="utf-8",
    )
    with pytest.raises(SpecError, match=r"'\.\./cases' is not a case folder"):
        load_spec(folder / "notcase.yaml")


def test_overrides_replace_file_values(write_spec) -> None:
    spec = load_spec(write_spec(), prompts=["v2", "v3"], repeats=3, cases=None)
    assert spec.prompts == ("v2", "v3") and spec.repeats == 3 and len(spec.cases) == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "red"}, r"unknown key\(s\) \['colour'\]"),
        ({"prompts": []}, r"missing or empty key\(s\) \['prompts'\]"),
        ({"sources": ["doctor", "radiology"]}, "unknown source 'radiology'"),
        ({"cases": ["/no/such/case"]}, "case folder '/no/such/case' does not exist"),
        ({"repeats": 0}, "repeats must be an integer >= 1"),
        ({"concurrency": 2.5}, "concurrency must be an integer"),
        ({"budget_usd": -1}, "budget_usd must be a number >= 0"),
        ({"rate_limit": 0}, "rate_limit must be > 0"),
        ({"params": {"temprature": 0.1}}, r"unknown inference parameter\(s\) \['temprature'\]"),
        ({"params": {"temperature": 0.1, "top_p": 0.9}}, "both temperature and top_p"),
        ({"models": ["a:b", "a:b"]}, r"models lists \['a:b'\] more than once"),
        ({"judge": "yes"}, "judge must be a mapping"),
    ],
)
def test_bad_values_are_named(write_spec, change: dict, message: str) -> None:
    path = write_spec(**change)
    with pytest.raises(SpecError, match=message) as info:
        load_spec(path)
    assert str(path) in str(info.value)


def test_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("prompts: [v1\n", encoding="utf-8")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- v1\n", encoding="utf-8")
    with pytest.raises(SpecError, match="must hold a mapping"):
        load_spec(tmp_path / "list.yaml")


def test_design_hash_ignores_execution_settings(write_spec) -> None:
    spec = load_spec(write_spec())
    same = spec.replace(budget_usd=9.0, concurrency=8, rate_limit=10, name="other")
    assert same.design_hash() == spec.design_hash()
    assert spec.replace(repeats=2).design_hash() != spec.design_hash()
    assert spec.replace(params={"temperature": 0.5}).design_hash() != spec.design_hash()


def test_spec_from_dict_round_trips(cases_dir: Path) -> None:
    spec = spec_from_dict({"prompts": "v1", "models": ["baseline:extractive"], "sources": "doctor",
                           "cases": str(cases_dir)}, base_dir=Path("/"))
    again = spec_from_dict({k: v for k, v in spec.to_dict().items() if k != "path"}, base_dir=Path("/"))
    assert again == spec
