"""Fixtures of the summary tests: the tiny hand-made case, the corpus, isolated prompt folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from workbench.summary.backends import reset_backends
from workbench.summary.cases import Case, load_case
from workbench.summary.prompts import PromptRegistry

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "eval" / "cases"
PROMPTS = ROOT / "prompts" / "discharge_summary"


@pytest.fixture(autouse=True)
def fresh_backends() -> None:
    """Backends made by earlier tests (with other settings or credentials) are not reused."""
    reset_backends()


@pytest.fixture
def tiny_case() -> Case:
    """A five-day case with the mess of real exports.

    Unclosed tags, a day left open, 昨日, copied plans.
    """
    return load_case(DATA / "tiny")


@pytest.fixture
def registry(tmp_path: Path) -> PromptRegistry:
    """A copy of the project's prompts in a temporary folder (tests may create versions in it)."""
    root = tmp_path / "prompts"
    shutil.copytree(PROMPTS, root)
    return PromptRegistry(root)


def corpus_case_dirs() -> list[Path]:
    """The corpus's case folders present now (written by the corpus helpers)."""
    if not CORPUS.is_dir():
        return []
    return sorted(p for p in CORPUS.iterdir() if (p / "meta.json").is_file())
