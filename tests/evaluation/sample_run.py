"""A small run folder written by hand per the experiments contract, for evaluation tests and notebook 04.

Outputs are the physician's summaries of real corpus cases, perturbed in known ways, so tests can assert
directions: ``v2`` is the reference lightly reworded (best), ``v1`` drops most of the treatment course and
shifts a date (worse), and ``bedrock:model-b`` adds a drug and a dose the notes never mention (hallucinates).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from workbench.summary.cases import load_case

ROOT = Path(__file__).resolve().parents[2]
CASES_DIR = ROOT / "eval" / "cases"
N_CASES = 4
HALLUCINATION = "バンコマイシン 1500mgを追加投与した。"


def corpus_cases(n: int = N_CASES) -> list[Path]:
    """The first ``n`` complete case folders of the corpus."""
    folders = [
        p
        for p in sorted(CASES_DIR.iterdir())
        if (p / "summary.txt").is_file() and (p / "facts.json").is_file()
    ]
    assert len(folders) >= n, f"need {n} cases in {CASES_DIR}"
    return folders[:n]


def _shift_first_date(text: str) -> str:
    return re.sub(r"(\d{1,2})月(\d{1,2})日", lambda m: f"{m[1]}月{int(m[2]) % 27 + 1}日", text, count=1)


def output_for(reference: str, prompt: str, model: str) -> str:
    """The fake output of one configuration."""
    if prompt == "v2":
        text = reference.replace("した。", "しました。")
    else:
        head, sep, course = reference.partition("入院中の治療経過")
        text = _shift_first_date(head + sep + "\n" + course.strip().split("。")[0] + "。")
    if model.endswith("model-b"):
        text = text.rstrip() + HALLUCINATION
    return text


def write_sample_run(run_dir: Path, *, cases: list[Path] | None = None) -> Path:
    """Write manifest.json and results.jsonl for 2 prompts x 2 models x 2 sources x the cases.

    Extras that readers must handle: a second repeat of (v2, model-a, doctor), a failed call followed by its
    successful retry (same key), and a truncated last line.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    folders = cases or corpus_cases()
    loaded = {p.name: load_case(p) for p in folders}
    manifest = {
        "run_id": run_dir.name,
        "created": "2026-11-29T21:00:00+00:00",
        "spec": {
            "name": "sample",
            "prompts": ["v1", "v2"],
            "models": ["bedrock:model-a", "bedrock:model-b"],
            "sources": ["doctor", "both"],
            "repeats": 1,
            "judge": {"model": "judgefake:x", "repeats": 2},
        },
        "cases": {case_id: str(path.resolve()) for case_id, path in zip(loaded, folders, strict=True)},
        "git_commit": "0" * 40,
        "packages": {},
        "prompt_hashes": {"v1": "a" * 64, "v2": "b" * 64},
        "tokenizer": {},
    }
    (run_dir / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    lines = []
    n = 0
    for prompt in ("v1", "v2"):
        for model in ("bedrock:model-a", "bedrock:model-b"):
            for source in ("doctor", "both"):
                for case_id, case in loaded.items():
                    repeats = 2 if (prompt, model, source) == ("v2", "bedrock:model-a", "doctor") else 1
                    for repeat in range(repeats):
                        n += 1
                        key = f"{prompt}|{model}|{source}|{case_id}|{repeat}"
                        row = {
                            "key": key,
                            "run_id": run_dir.name,
                            "prompt_version": prompt,
                            "prompt_hash": manifest["prompt_hashes"][prompt],
                            "model": model,
                            "source": source,
                            "case_id": case_id,
                            "patient_id": case.patient_id,
                            "repeat": repeat,
                            "generation_id": f"gen-{n}",
                            "output": output_for(case.reference, prompt, model),
                            "sections": {},
                            "missing_sections": [],
                            "input_tokens": 3000 + n,
                            "output_tokens": 500 + n,
                            "latency_ms": 1000 + 10 * n,
                            "cost_usd": 0.0 if repeat else 0.01 * (2 if model.endswith("b") else 1),
                            "stop_reason": "end_turn",
                            "truncated": False,
                            "cache_hit": bool(repeat),
                            "error": None,
                            "timestamp": "2026-11-29T21:00:00+00:00",
                        }
                        if n == 3:  # failed first, made again on resume: the later row counts
                            lines.append(json.dumps({**row, "output": None, "error": "ThrottlingException"}))
                        lines.append(json.dumps(row, ensure_ascii=False))
    text = "\n".join(lines) + "\n" + '{"key": "truncated-by-a-kill", "outp'
    (run_dir / "results.jsonl").write_text(text, encoding="utf-8")
    return run_dir
