"""Plans: the order of calls, stable keys, estimates that know the cache, pinned prompt versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import SpecError
from workbench.experiments.plan import PinnedRegistry, build_plan, call_key
from workbench.experiments.runner import run_experiment
from workbench.experiments.spec import load_spec
from workbench.summary.backends import estimate_cost, estimate_tokens
from workbench.summary.cache import open_cache
from workbench.summary.cases import Source
from workbench.summary.generate import prepare
from workbench.summary.prompts import PromptRegistry


def test_calls_are_ordered_repeat_case_model_prompt_source(backends, write_spec) -> None:
    spec = load_spec(write_spec(prompts=["v1", "v2"], sources=["doctor", "both"], repeats=2))
    calls = build_plan(spec).calls
    assert len(calls) == 2 * 2 * 2 * 2
    order = [(c.repeat, c.case_id, c.prompt_version, c.source.value) for c in calls]
    rank = {"v1": 0, "v2": 1, "doctor": 0, "both": 1}
    assert order == sorted(order, key=lambda o: (o[0], o[1], rank[o[2]], rank[o[3]]))
    assert len({c.key for c in calls}) == len(calls)


def test_keys_are_stable_and_depend_on_what_decides_the_answer(backends, write_spec) -> None:
    spec = load_spec(write_spec())
    first, again = build_plan(spec).calls[0], build_plan(spec).calls[0]
    assert first.key == again.key and len(first.key) == 16
    base = ("v1", first.prompt_hash, "count:m", Source.DOCTOR, first.case_id, 0, {})
    assert call_key(*base) == first.key
    for index, other in ((0, "v2"), (1, "0" * 64), (2, "count:n"), (3, Source.BOTH), (4, "x"), (5, 1),
                         (6, {"temperature": 0.5})):
        changed = list(base)
        changed[index] = other
        assert call_key(*changed) != first.key


def test_estimates_count_the_request_as_sent(backends, priced, write_spec) -> None:
    spec = load_spec(write_spec(models=["count:priced"], params={"max_tokens": 300}))
    plan = build_plan(spec)
    call = plan.calls[0]
    case = plan.cases[call.case_id]
    request = prepare(case, "v1", "count:priced", Source.DOCTOR, params={"max_tokens": 300}).request
    assert call.input_tokens == estimate_tokens((request.system or "") + request.prompt)
    assert call.input_tokens > estimate_tokens(case.karte(Source.DOCTOR))
    assert call.output_tokens == min(300, estimate_tokens(case.reference))
    expected = estimate_cost("count:priced", call.input_tokens, call.output_tokens)
    assert call.cost_usd == pytest.approx(expected) and call.cost_usd > 0
    estimate = plan.estimate()
    assert estimate.n_to_make == 2 and estimate.cost_usd == pytest.approx(sum(c.cost_usd for c in plan.calls))
    assert estimate.table[["calls", "cached"]].values.tolist() == [[2, 0]]


def test_estimates_leave_out_done_and_cached_calls(tmp_path: Path, backends, priced, write_spec) -> None:
    spec = load_spec(write_spec(models=["count:priced"], sources=["doctor", "nursing"]))
    plan = build_plan(spec)
    run_experiment(spec.replace(sources=["doctor"]), runs_dir=tmp_path / "runs", progress=False)
    cached = plan.cached_keys(open_cache())
    assert cached == {c.key for c in plan.calls if c.source is Source.DOCTOR}
    estimate = plan.estimate(done=[plan.calls[1].key], cached=cached)
    nursing = [c for c in plan.calls if c.source is Source.NURSING]
    assert (estimate.n_planned, estimate.n_done, estimate.n_to_make, estimate.n_cached) == (4, 1, 3, 2)
    expected = [c for c in nursing if c.key != plan.calls[1].key]
    assert estimate.cost_usd == pytest.approx(sum(c.cost_usd for c in expected))
    assert plan.cost(plan.calls[0], cached) == 0.0


def test_prompt_versions_are_pinned_for_the_run(tmp_path: Path, backends, write_spec, repo_root) -> None:
    root = tmp_path / "prompts"
    root.mkdir()
    original = (repo_root / "prompts" / "discharge_summary" / "v1.md").read_text(encoding="utf-8")
    (root / "v1.md").write_text(original, encoding="utf-8")
    plan = build_plan(load_spec(write_spec()), registry=PromptRegistry(root))
    assert isinstance(plan.registry, PinnedRegistry)
    (root / "v1.md").write_text(original.replace("退院サマリーを作成", "退院要約を作成"), encoding="utf-8")
    assert plan.registry.get("v1").sha256 == plan.calls[0].prompt_hash == plan.registry.get(1).sha256
    assert PromptRegistry(root).get("v1").sha256 != plan.calls[0].prompt_hash


def test_unknown_case_id_collision_is_named(tmp_path: Path, backends, write_spec, cases_dir: Path) -> None:
    copy = tmp_path / "copy-of-001"
    copy.mkdir()
    for file in (cases_dir / "case-001").iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    spec = load_spec(write_spec(cases=[str(cases_dir / "case-001"), str(copy)]))
    with pytest.raises(SpecError, match="case id 'case-001' appears twice"):
        build_plan(spec)
