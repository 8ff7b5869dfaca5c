"""The pydicom sample files: what goes into Orthanc and what is skipped, and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.imaging.demo import pydicom_files


def test_charset_and_compressed_files_are_found_locally() -> None:
    names = {p.name for p in pydicom_files.candidates()}
    assert {"chrH31.dcm", "chrX1.dcm", "chrSQEncoding.dcm"} <= names
    assert set(pydicom_files.COMPRESSED_FILES) <= names


def test_a_file_that_is_not_shipped_is_left_out_without_download(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pydicom_files, "COMPRESSED_FILES", ("not-in-pydicom.dcm",))
    assert "not-in-pydicom.dcm" not in {p.name for p in pydicom_files.candidates()}


def test_files_orthanc_cannot_keep_are_skipped_with_a_reason(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="workbench.imaging.demo.pydicom_files")
    selected = {f.path.name: f for f in pydicom_files.select()}
    assert "lacks StudyInstanceUID" in selected["chrSQEncoding.dcm"].skip_reason
    assert "same SOPInstanceUID as chrJapMulti.dcm" in selected["chrJapMultiExplicitIR6.dcm"].skip_reason
    assert selected["chrJapMulti.dcm"].skip_reason is None
    assert selected["chrH31.dcm"].patient_name == "Yamada^Tarou=山田^太郎=やまだ^たろう"
    assert "chrSQEncoding1.dcm" in caplog.text


def test_an_unreadable_file_is_skipped(tmp_path: Path) -> None:
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom at all")
    (selected,) = pydicom_files.select([junk])
    assert selected.skip_reason.startswith("pydicom cannot read it")
