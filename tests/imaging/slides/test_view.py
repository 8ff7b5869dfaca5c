"""``show(slide)``: thumbnail, zoom/pan viewport read on demand, viewer link."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.imaging.slides.conftest import StoredSlide
from workbench.imaging import connect, show

pytestmark = pytest.mark.orthanc


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_show_reads_the_viewport_on_demand(orthanc, coded_slide: StoredSlide) -> None:
    archive = connect(orthanc.url, orthanc.username, orthanc.password)
    slide = archive.open_slide(coded_slide.series_uid)
    box = show(slide, viewport=200)
    controls, view = box.children
    title, thumb, level, x, y, status, link = controls.children
    assert "木村^空" in title.value and "1100x900" in title.value
    assert level.value == 2  # the coarsest level larger than the viewport (275 > 200)
    np.testing.assert_array_equal(_pixels(view.value), coded_slide.levels[2][:200, :200])
    fetched = slide.stats.frames_fetched
    level.value, x.value, y.value = 0, 512, 256
    np.testing.assert_array_equal(_pixels(view.value), coded_slide.levels[0][256:456, 512:712])
    assert (
        slide.stats.frames_fetched == fetched + 3
    )  # one level-0 tile per slider move: (0, 0), (2, 0), (2, 1)
    assert "level 0: 1100x900 px" in status.value
    assert "/wsi/app/viewer.html?series=" in link.value
    assert _pixels(thumb.value).shape[1] == 384


def test_show_on_a_plain_dicomweb_server_says_there_is_no_viewer(orthanc, coded_slide: StoredSlide) -> None:
    archive = connect(orthanc.url + "/dicom-web", orthanc.username, orthanc.password, kind="dicomweb")
    box = show(archive.open_slide(coded_slide.series_uid))
    assert "no slide viewer is known" in box.children[0].children[-1].value
