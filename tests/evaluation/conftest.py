"""Fixtures of the evaluation tests: a sample run folder over real corpus cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.evaluation.sample_run import write_sample_run


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder (manifest.json + results.jsonl) written per the experiments contract."""
    return write_sample_run(tmp_path_factory.mktemp("runs") / "20261129T210000-sample")
