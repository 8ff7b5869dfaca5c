"""Slides written by :mod:`workbench.imaging.slides.build` open in the field's readers (wsidicom, highdicom)
and read the same through the archive as through wsidicom on local disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.imaging.slides.conftest import StoredSlide, write_files
from workbench.imaging.slides.build import SlideInfo, downsample, slide_datasets


@pytest.mark.orthanc
@pytest.mark.pathology
def test_wsidicom_and_highdicom_open_a_built_slide(jpeg_slide: StoredSlide, tmp_path: Path) -> None:
    import highdicom as hd
    from wsidicom import WsiDicom

    folder = write_files(jpeg_slide.datasets, tmp_path / "slide")
    with WsiDicom.open(folder) as wsi:
        assert len(wsi.levels) == 4 and (wsi.size.width, wsi.size.height) == (1536, 1024)
        assert wsi.mpp.width == pytest.approx(0.5)
        assert wsi.tile_size.width == 256
    image = hd.imread(folder / "0.dcm")
    total = image.get_total_pixel_matrix()
    assert total.shape == (1024, 1536, 3)
    assert np.abs(total.astype(int) - jpeg_slide.levels[0]).mean() < 3


@pytest.mark.orthanc
@pytest.mark.pathology
def test_archive_reads_what_wsidicom_reads(any_archive, jpeg_slide: StoredSlide, tmp_path: Path) -> None:
    from wsidicom import WsiDicom

    folder = write_files(jpeg_slide.datasets, tmp_path / "slide")
    slide = any_archive.open_slide(jpeg_slide.series_uid)
    with WsiDicom.open(folder) as wsi:
        for level, (x, y), size in [
            (0, (100, 200), (700, 500)),
            (1, (800, 600), (300, 180)),
            (2, (0, 0), (384, 256)),
        ]:
            scale = 2**level
            reference = np.asarray(wsi.read_region((x // scale, y // scale), level, size).convert("RGB"))
            ours = slide.read_region((x, y), level, size)
            assert np.abs(ours.astype(int) - reference).max() <= 2  # same JPEG tiles, possibly other decoders


def test_levels_halve_and_tiles_are_256(tmp_path: Path) -> None:
    image = np.random.default_rng(0).integers(0, 256, (600, 1000, 3), dtype=np.uint8)
    datasets = slide_datasets(image, SlideInfo("P", "A^B", "1.2.3", "1.2.3.4", "S"), levels=3)
    assert [(ds.TotalPixelMatrixColumns, ds.TotalPixelMatrixRows) for ds in datasets] == [
        (1000, 600),
        (500, 300),
        (250, 150),
    ]
    assert [ds.NumberOfFrames for ds in datasets] == [12, 4, 1]
    assert {(ds.Rows, ds.Columns) for ds in datasets} == {(256, 256)}
    assert list(datasets[0].ImageType) == ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    assert list(datasets[1].ImageType)[2] == "VOLUME"
    assert datasets[0].SOPClassUID == "1.2.840.10008.5.1.4.1.1.77.1.6"
    assert datasets[0].file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"


def test_downsample_averages_blocks() -> None:
    image = np.arange(5 * 3 * 3, dtype=np.uint8).reshape(5, 3, 3)
    half = downsample(image)
    assert half.shape == (3, 2, 3)
    assert half[0, 0, 0] == round(image[:2, :2, 0].mean())


def test_bad_images_are_refused() -> None:
    info = SlideInfo("P", "A^B", "1.2.3", "1.2.3.4", "S")
    with pytest.raises(ValueError, match=r"\(rows, columns, 3\) uint8"):
        slide_datasets(np.zeros((10, 10), dtype=np.uint8), info)
    with pytest.raises(ValueError, match="positive"):
        slide_datasets(np.zeros((10, 10, 3), dtype=np.uint8), info, levels=0)
