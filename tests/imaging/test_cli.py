"""``workbench studies``, ``workbench series``, ``workbench fetch`` and ``workbench cache``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.imaging.stored import StoredSeries
from workbench.cli import main
from workbench.imaging import Volume
from workbench.imaging.local_server import LocalOrthanc

pytestmark = pytest.mark.orthanc


def test_studies_formats(
    orthanc_env: LocalOrthanc, synthetic_ct: StoredSeries, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["studies", "--patient-name", "*山田^花子*", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["study_uid"] for r in rows] == [synthetic_ct.study_uid]
    assert rows[0]["patient_name_ideographic"] == "山田^花子"
    assert rows[0]["study_date"].startswith("2024-01-15")
    assert main(["studies", "--patient-id", "IMG-CT-01", "--modality", "CT,MR", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("study_uid,patient_id,patient_name")
    assert lines[1].startswith(f"{synthetic_ct.study_uid},IMG-CT-01,") and ",2024-01-15," in lines[1]
    assert main(["studies", "--patient-id", "IMG-CT-01"]) == 0
    table = capsys.readouterr().out
    assert "2024-01-15" in table and "山田^花子" in table
    assert main(["series", "--study-uid", synthetic_ct.study_uid, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["n_instances"] == 12


@pytest.mark.parametrize("name", ["ct.npz", "ct.nii.gz"])
def test_fetch(
    orthanc_env: LocalOrthanc,
    synthetic_ct: StoredSeries,
    tmp_path: Path,
    name: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = tmp_path / name
    assert main(["fetch", synthetic_ct.series_uid, "-o", str(target), "--no-progress"]) == 0
    assert "12 slices of 24x20" in capsys.readouterr().out
    volume = Volume.load(target)
    assert volume.array.shape == (12, 24, 20)
    np.testing.assert_allclose(volume.spacing, (0.7, 0.8, 2.5), atol=1e-5)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fetch", "1.2.3.999", "-o", "x.npz", "--no-progress"], "series 1.2.3.999 not found"),
        (["fetch", "1.2.3.999", "-o", "x.mha"], "must end in .npz, .nii or .nii.gz"),
        (["studies", "--study-date", "2024-02-30"], "not a real calendar date"),
        (["studies", "--modality", "C T"], "not a DICOM modality code"),
        (["fetch", "1.2.3\\1.2.4", "-o", "x.npz"], "series_uid '1.2.3\\\\1.2.4' holds several values"),
        (["fetch", "", "-o", "x.npz"], "series_uid '' is empty"),
    ],
)
def test_bad_input_is_one_line(
    orthanc_env: LocalOrthanc, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("workbench: error: ") and message in err and "Traceback" not in err


def test_wrong_password(
    orthanc_env: LocalOrthanc, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WORKBENCH_ORTHANC_PASSWORD", "wrong")
    assert main(["studies"]) == 2
    assert "refused user 'workbench' (HTTP 401)" in capsys.readouterr().err


def test_cache_info_prune_clear(
    isolated_folders: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from workbench.imaging.cache import InstanceCache, server_key

    key = server_key("http://srv:8042")
    cache = InstanceCache(key)
    for uid in ("1.1", "1.2", "1.3"):
        cache.put(uid, b"x" * 978)  # + a 22-byte trailer
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert "0.00 GB of" in out and "instance" in out and key in out
    monkeypatch.setenv("WORKBENCH_IMAGE_CACHE_MAX_GB", str(2500 / 1e9))
    assert main(["cache", "prune"]) == 0
    assert "deleted 1 entries" in capsys.readouterr().out
    (isolated_folders / "wb-cache" / "responses.sqlite").write_bytes(b"paid for")
    assert main(["cache", "clear"]) == 0
    assert "cleared the image caches" in capsys.readouterr().out
    assert not cache.folder.exists() and (isolated_folders / "wb-cache" / "responses.sqlite").exists()
    monkeypatch.setenv("WORKBENCH_IMAGE_CACHE_MAX_GB", "much")
    assert main(["cache"]) == 2
    assert "WORKBENCH_IMAGE_CACHE_MAX_GB" in capsys.readouterr().err
