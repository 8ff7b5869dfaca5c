"""``workbench slides`` and ``workbench fetch-region``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.imaging.slides.conftest import StoredSlide
from workbench.cli import main
from workbench.imaging.local_server import LocalOrthanc

pytestmark = pytest.mark.orthanc


def test_slides_formats(
    orthanc_env: LocalOrthanc, coded_slide: StoredSlide, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["slides", "--patient-id", "IMG-WSI-01", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["series_uid"], r["levels"], r["width"], r["height"]) for r in rows] == [
        (coded_slide.series_uid, 3, 1100, 900)
    ]
    assert main(["slides", "--patient-name", "*木村*", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("series_uid,study_uid,patient_id") and coded_slide.series_uid in lines[1]
    assert main(["slides", "--patient-id", "IMG-WSI-01"]) == 0
    assert "木村^空" in capsys.readouterr().out


def test_fetch_region_writes_the_region(
    orthanc_env: LocalOrthanc, coded_slide: StoredSlide, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "region.png"
    args = ["--level", "1", "--x", "400", "--y", "300", "--width", "320", "--height", "200", "-o", str(out)]
    assert main(["fetch-region", coded_slide.series_uid, *args]) == 0
    assert "320x200 pixels of level 1" in capsys.readouterr().out
    np.testing.assert_array_equal(np.asarray(Image.open(out)), coded_slide.levels[1][150:350, 200:520])
    assert out.stat().st_mode & 0o777 == 0o600
    npy = tmp_path / "region.npy"
    assert main(["fetch-region", coded_slide.series_uid, *args[:-1], str(npy)]) == 0
    np.testing.assert_array_equal(np.load(npy), coded_slide.levels[1][150:350, 200:520])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--x", "5000", "-o", "{tmp}/r.png"], "is outside level 0"),
        (["--x", "0", "-o", "{tmp}/r.tiff"], "must end in .png or .npy"),
        (["--x", "0", "-o", "{tmp}/missing/r.png"], "does not exist"),
    ],
)
def test_fetch_region_mistakes_are_one_line(
    orthanc_env: LocalOrthanc,
    coded_slide: StoredSlide,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    extra = [item.format(tmp=tmp_path) for item in extra]
    args = ["--y", "0", "--width", "10", "--height", "10", *extra]
    assert main(["fetch-region", coded_slide.series_uid, *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("workbench: error: ") and message in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.glob("r.*"))
