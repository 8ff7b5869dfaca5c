"""``archive.slides(...)``: one row per slide with levels, size, spacing, specimen and stain."""

from __future__ import annotations

import pytest

from tests.imaging.slides.conftest import StoredSlide
from tests.imaging.stored import StoredSeries
from workbench.imaging.query import QueryError
from workbench.imaging.slides.slide import SLIDE_COLUMNS

pytestmark = pytest.mark.orthanc


def test_slides_table(
    any_archive, coded_slide: StoredSlide, jpeg_slide: StoredSlide, synthetic_ct: StoredSeries
) -> None:
    table = any_archive.slides(patient_id="IMG-WSI-0*")
    assert list(table.columns) == list(SLIDE_COLUMNS)
    rows = table.set_index("series_uid")
    assert {coded_slide.series_uid, jpeg_slide.series_uid} <= set(rows.index)
    assert synthetic_ct.series_uid not in rows.index
    coded = rows.loc[coded_slide.series_uid]
    assert (coded.levels, coded.width, coded.height) == (3, 1100, 900)
    assert (coded.mpp_x, coded.mpp_y) == pytest.approx((0.5, 0.5))
    assert coded.specimen == "SP-coded" and coded.stain == "hematoxylin stain, water soluble eosin stain"
    assert coded.patient_name == "Kimura^Sora=木村^空=きむら^そら"
    assert rows.loc[jpeg_slide.series_uid].levels == 4


def test_slides_by_kanji_name(any_archive, jpeg_slide: StoredSlide) -> None:
    table = any_archive.slides(patient_name="*石井*")
    assert table.series_uid.tolist() == [jpeg_slide.series_uid]


def test_slides_refuses_a_modality_filter(any_archive) -> None:
    with pytest.raises(QueryError, match="modality"):
        any_archive.slides(modality="CT")
