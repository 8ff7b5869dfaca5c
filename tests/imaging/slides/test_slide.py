"""Reading slides region by region, on both archive kinds, against the pixels that were stored."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tests.imaging.slides.conftest import CODED_SIZES, TILE, StoredSlide, tile_code
from workbench.imaging.cache import prune, scan
from workbench.imaging.slides import RegionError, Slide
from workbench.imaging.slides.frames import wait_for_writes
from workbench.imaging.slides.slide import OUTSIDE

pytestmark = pytest.mark.orthanc


def expected_region(level: np.ndarray, x: int, y: int, width: int, height: int) -> np.ndarray:
    """What a region must read as: the level's pixels, white (255) outside it."""
    out = np.full((height, width, 3), OUTSIDE, dtype=np.uint8)
    rows, cols = level.shape[:2]
    left, top, right, bottom = max(x, 0), max(y, 0), min(x + width, cols), min(y + height, rows)
    if right > left and bottom > top:
        out[top - y : bottom - y, left - x : right - x] = level[top:bottom, left:right]
    return out


def test_levels_of_the_coded_slide(any_archive, coded_slide: StoredSlide) -> None:
    slide = any_archive.open_slide(coded_slide.series_uid)
    assert [level.size for level in slide.levels] == list(CODED_SIZES)
    assert [level.downsample for level in slide.levels] == [1.0, 2.0, 4.0]
    assert slide.levels[0].pixel_spacing_um == pytest.approx((0.5, 0.5))
    assert slide.levels[1].pixel_spacing_um == pytest.approx((1.0, 1.0))
    assert slide.levels[0].grid == (5, 4) and len(slide.levels[0].tiles) == 20


def test_random_regions_are_exact(any_archive, coded_slide: StoredSlide) -> None:
    slide = any_archive.open_slide(coded_slide.series_uid)
    rng = np.random.default_rng(17)
    for _ in range(40):
        level = int(rng.integers(0, 3))
        source = coded_slide.levels[level]
        rows, cols = source.shape[:2]
        width, height = (int(v) for v in rng.integers(1, 600, 2))
        x = int(rng.integers(-width + 1, cols))  # in pixels of the level; may start left of / above the slide
        y = int(rng.integers(-height + 1, rows))
        scale = 2**level
        region = slide.read_region((x * scale, y * scale), level, (width, height))
        np.testing.assert_array_equal(region, expected_region(source, x, y, width, height))


def test_every_tile_reads_as_itself(any_archive, coded_slide: StoredSlide) -> None:
    slide = any_archive.open_slide(coded_slide.series_uid)
    for level in slide.levels:
        columns, rows = level.grid
        for row in range(rows):
            for col in range(columns):
                tile = slide.tile(level.index, col, row)
                x, y = col * TILE, row * TILE
                source = coded_slide.levels[level.index][y : y + TILE, x : x + TILE]
                np.testing.assert_array_equal(tile, source)
                assert set(np.unique(tile[..., 0])) == {tile_code(level.index, col, row)}


def test_a_region_fetches_only_its_tiles_then_reads_them_from_the_cache(
    any_archive, coded_slide: StoredSlide
) -> None:
    slide = any_archive.open_slide(coded_slide.series_uid)
    slide.read_region((300, 300), 0, (100, 100))  # inside tile (1, 1)
    assert (slide.stats.requests, slide.stats.frames_fetched) == (1, 1)
    slide.read_region((200, 200), 0, (100, 100))  # tiles (0..1, 0..1): three new, one decoded already
    assert (slide.stats.requests, slide.stats.frames_fetched, slide.stats.tiles_in_memory) == (2, 4, 1)
    again = any_archive.open_slide(coded_slide.series_uid)
    again.read_region((200, 200), 0, (100, 100))
    assert (again.stats.requests, again.stats.frames_cached) == (0, 4)


def test_frames_are_cached_under_the_image_cache_limit(any_archive, coded_slide: StoredSlide) -> None:
    slide = any_archive.open_slide(coded_slide.series_uid)
    slide.read_region((0, 0), 2, CODED_SIZES[2])
    wait_for_writes()  # new frames are written after the read has returned
    root = any_archive.instance_cache.root
    frames = [entry for entry in scan(root) if entry.kind == "frame"]
    assert len(frames) == 2 and all(entry.size == TILE * TILE * 3 for entry in frames)
    assert all(path.stat().st_mode & 0o777 == 0o600 for entry in frames for path in entry.paths)
    assert (root / "frames").stat().st_mode & 0o777 == 0o700
    removed, _ = prune(1, root, to=0.0)
    assert removed == 2 and not [entry for entry in scan(root) if entry.kind == "frame"]
    again = any_archive.open_slide(coded_slide.series_uid)
    again.read_region((0, 0), 2, (10, 10))
    assert again.stats.frames_fetched == 1  # evicted, so fetched again


def test_uncached_archive_fetches_every_time(orthanc, coded_slide: StoredSlide) -> None:
    from workbench.imaging import connect

    archive = connect(orthanc.url, orthanc.username, orthanc.password, cache=False)
    for _ in range(2):
        slide = archive.open_slide(coded_slide.series_uid)
        slide.read_region((0, 0), 0, (10, 10))
        assert slide.stats.frames_fetched == 1 and slide.stats.frames_cached == 0


def test_a_large_region_is_fetched_in_parallel_lists(
    any_archive, jpeg_slide: StoredSlide, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workbench.imaging.slides import source as source_module

    monkeypatch.setattr(source_module, "FRAMES_PER_REQUEST", 5)  # WADO-RS: 24 frames in 5 requests
    monkeypatch.setattr(source_module, "FRAMES_PER_STREAM", 5)  # Orthanc: 24 frames on 4 connections
    slide = any_archive.open_slide(jpeg_slide.series_uid)
    region = slide.read_region((0, 0), 0, (1536, 1024))
    lists = 5 if isinstance(slide.source, source_module.DicomWebSource) else 4
    assert slide.stats.frames_fetched == 24 and slide.stats.requests == lists
    assert np.abs(region.astype(int) - jpeg_slide.levels[0]).mean() < 3  # JPEG quality 90


def test_thumbnail_fits_and_comes_from_a_small_level(any_archive, jpeg_slide: StoredSlide) -> None:
    slide = any_archive.open_slide(jpeg_slide.series_uid)
    thumb = slide.thumbnail(300)
    assert thumb.shape == (200, 300, 3)
    assert slide.stats.frames_fetched == 2  # level 2 (384x256): two tiles
    assert slide.best_level(3.0) == 1 and slide.best_level(100) == 3


def test_dicomizer_output_opens_and_is_exact(any_archive, dicomized_slide: StoredSlide) -> None:
    assert all("ImageType" not in ds for ds in dicomized_slide.datasets)
    sizes = [
        (int(ds.TotalPixelMatrixColumns), int(ds.TotalPixelMatrixRows)) for ds in dicomized_slide.datasets
    ]
    assert sizes.count((1000, 700)) > 1  # level 0 spread over several instances
    slide = any_archive.open_slide(dicomized_slide.series_uid)
    assert [level.size for level in slide.levels] == [(1000, 700), (500, 350), (250, 175)]
    source = dicomized_slide.levels[0]
    rng = np.random.default_rng(3)
    for _ in range(15):
        width, height = (int(v) for v in rng.integers(1, 500, 2))
        x, y = int(rng.integers(-50, 1000)), int(rng.integers(-50, 700))
        region = slide.read_region((x, y), 0, (width, height))
        np.testing.assert_array_equal(region, expected_region(source, x, y, width, height))
    assert slide.tile(0, 3, 2).shape == (700 - 512, 1000 - 768, 3)  # the corner tile, cut to the slide


@pytest.mark.parametrize(
    ("location", "level", "size", "message"),
    [
        ((1100, 0), 0, (10, 10), "outside level 0"),
        ((-20, -20), 0, (20, 20), "outside level 0"),
        ((0, 0), 0, (0, 5), "must be positive"),
        ((0, 0), 3, (5, 5), "levels 0..2, not 3"),
    ],
)
def test_bad_regions_are_refused(
    any_archive, coded_slide: StoredSlide, location, level, size, message
) -> None:
    slide = any_archive.open_slide(coded_slide.series_uid)
    with pytest.raises(RegionError, match=message):
        slide.read_region(location, level, size)
    with pytest.raises(RegionError, match=r"not \(5, 0\)"):
        slide.tile(0, 5, 0)


def test_slide_repr_and_geometry(any_archive, coded_slide: StoredSlide) -> None:
    slide = any_archive.open_slide(coded_slide.series_uid)
    assert isinstance(slide, Slide)
    assert slide.dimensions == (1100, 900) and slide.mpp == pytest.approx((0.5, 0.5))
    assert "1100x900, 3 levels" in repr(slide)


def test_frames_waiting_to_be_written_are_read_from_memory(
    any_archive, coded_slide: StoredSlide, monkeypatch
) -> None:
    from workbench.imaging.cache import WRITER

    held = threading.Event()
    monkeypatch.setattr(WRITER, "submit", lambda key, job: held.set())  # the writer never runs the job
    slide = any_archive.open_slide(coded_slide.series_uid)
    first = slide.read_region((0, 0), 1, (300, 200))
    assert held.is_set() and slide.stats.frames_fetched == 2  # tiles (0, 0) and (1, 0)
    assert not [entry for entry in scan(any_archive.instance_cache.root) if entry.kind == "frame"]
    again = any_archive.open_slide(coded_slide.series_uid)
    np.testing.assert_array_equal(again.read_region((0, 0), 1, (300, 200)), first)
    assert (again.stats.requests, again.stats.frames_cached) == (0, 2)


def test_frame_lists_are_planned_for_each_kind_of_source(
    any_archive, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workbench.imaging.slides import slide as slide_module
    from workbench.imaging.slides import source as source_module

    source = source_module.source_of(any_archive)
    assert slide_module._batches(source, {"1.2": [9, 3, 5, 1, 7]}) == [("1.2", [1, 3, 5, 7, 9])]
    if isinstance(source, source_module.DicomWebSource):  # as few WADO-RS requests as allowed, even size
        monkeypatch.setattr(source_module, "FRAMES_PER_REQUEST", 4)
        assert slide_module._batches(source, {"1.2": list(range(1, 10)), "1.3": [2]}) == [
            ("1.2", [1, 2, 3]),
            ("1.2", [4, 5, 6]),
            ("1.2", [7, 8, 9]),
            ("1.3", [2]),
        ]
    else:  # Orthanc: up to STREAMS connections of at least FRAMES_PER_STREAM frames
        monkeypatch.setattr(source_module, "FRAMES_PER_STREAM", 3)
        assert source.plan(list(range(1, 6))) == [[1, 2, 3, 4, 5]]
        assert source.plan(list(range(1, 7))) == [[1, 2, 3], [4, 5, 6]]
        assert source.plan(list(range(1, 15))) == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14]]
        assert source.plan([]) == []
