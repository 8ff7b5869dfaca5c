"""What a user gets for a series that is not a slide, broken frames, and a server without the WSI plugin."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.imaging.slides.conftest import StoredSlide, coded_level, info
from tests.imaging.stored import StoredSeries
from workbench.cli import main
from workbench.errors import ArchiveError, DicomDataError
from workbench.imaging import connect
from workbench.imaging.local_server import LocalOrthanc
from workbench.imaging.slides import NotASlideError
from workbench.imaging.slides.build import slide_datasets

pytestmark = pytest.mark.orthanc


def test_a_ct_series_is_not_a_slide(any_archive, synthetic_ct: StoredSeries) -> None:
    with pytest.raises(
        NotASlideError,
        match=rf"series {synthetic_ct.series_uid} is not a whole-slide image: "
        r"it holds CT \(CT Image Storage\)",
    ):
        any_archive.open_slide(synthetic_ct.series_uid)


def test_not_a_slide_is_one_line_on_the_command_line(
    orthanc_env: LocalOrthanc, synthetic_ct: StoredSeries, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--x", "0", "--y", "0", "--width", "8", "--height", "8", "-o", str(tmp_path / "r.png")]
    assert main(["fetch-region", synthetic_ct.series_uid, *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("workbench: error: series ") and "is not a whole-slide image" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "r.png").exists()


def test_a_corrupt_frame_is_named_with_its_instance(any_archive, broken_slide: StoredSlide) -> None:
    slide = any_archive.open_slide(broken_slide.series_uid)
    np.testing.assert_array_equal(slide.tile(0, 0, 0).shape, (256, 256, 3))  # frame 1 is fine
    base_uid = str(broken_slide.datasets[0].SOPInstanceUID)
    with pytest.raises(DicomDataError, match=rf"frame 2 of instance {base_uid} .*cannot be decoded"):
        slide.tile(0, 1, 0)
    assert slide.cache is None or slide.cache.get(base_uid, 2) is None  # a corrupt frame is not cached


def test_a_missing_frame_is_named_with_its_instance(any_archive, broken_slide: StoredSlide) -> None:
    slide = any_archive.open_slide(broken_slide.series_uid)
    top_uid = str(broken_slide.datasets[1].SOPInstanceUID)
    # WADO-RS sends one part short of the frame list; Orthanc's one-frame route refuses frame 2 (HTTP 400)
    with pytest.raises(ArchiveError, match=rf"frame(\(s\))? 2 of instance {top_uid}"):
        slide.tile(1, 1, 0)


@pytest.fixture(scope="module")
def plain_orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalOrthanc]:
    """An Orthanc without the WSI plugin (DICOMweb only), holding one coded slide."""
    with LocalOrthanc(tmp_path_factory.mktemp("no-wsi"), optional_plugins=()) as server:
        yield server


def test_without_the_wsi_plugin_search_and_reads_work_only_the_viewer_link_is_missing(
    plain_orthanc: LocalOrthanc,
) -> None:
    assert "wsi" not in plain_orthanc.client().get_json("/plugins")
    slide_info = info("plain", "IMG-WSI-04", "Plain^Server")
    level = coded_level(0, 600, 400)
    plain_orthanc.client().upload(slide_datasets([level], slide_info, compression="none"), progress=False)
    archive = connect(plain_orthanc.url, plain_orthanc.username, plain_orthanc.password)
    table = archive.slides()
    assert table.series_uid.tolist() == [slide_info.series_uid] and table.levels.tolist() == [1]
    slide = archive.open_slide(slide_info.series_uid)
    np.testing.assert_array_equal(slide.read_region((250, 100), 0, (300, 200)), level[100:300, 250:550])
    assert slide.viewer_url() is None
    assert "no whole-slide-image plugin" in slide.viewer_note() and "orthanc-wsi" in slide.viewer_note()


def test_with_the_wsi_plugin_the_viewer_link_opens(orthanc: LocalOrthanc, coded_slide: StoredSlide) -> None:
    archive = connect(orthanc.url, orthanc.username, orthanc.password)
    slide = archive.open_slide(coded_slide.series_uid)
    url = slide.viewer_url()
    assert (
        url is not None
        and url.startswith(f"{orthanc.url}/wsi/app/viewer.html?series=")
        and not slide.viewer_note()
    )
    orthanc_id = url.rsplit("=", 1)[1]
    pyramid = orthanc.client().get_json(f"/wsi/pyramids/{orthanc_id}")
    assert pyramid["Sizes"] == [[1100, 900], [550, 450], [275, 225]]
