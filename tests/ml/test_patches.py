"""Slide patches for MONAI: grid and random patches on tissue, labels from masks, MONAI datasets and loaders,
and scored patches written back as DICOM annotations that highdicom opens."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pydicom
import pytest
from pydicom.uid import generate_uid

from workbench.imaging import connect
from workbench.imaging.demo.tissue import MASK_CELL, Tissue, render
from workbench.imaging.local_server import LocalOrthanc
from workbench.imaging.slides.build import SlideInfo, slide_datasets
from workbench.ml.patches import (
    ReadPatchd,
    heatmap,
    make_patch_classifier,
    patch_items,
    patch_table,
    patch_transforms,
    tissue_mask,
)
from workbench.ml.slide_writeback import patch_annotations, read_patch_annotations, write_patch_annotations

pytestmark = pytest.mark.orthanc


@dataclass(frozen=True)
class PatchSlide:
    series_uid: str
    study_uid: str
    tissue: Tissue


@pytest.fixture(scope="module")
def patch_slide(orthanc: LocalOrthanc) -> PatchSlide:
    """A 1024x768 H&E-like slide (lossless tiles) with one tumour region."""
    tissue = render(21, 1024, 768, 1)
    info = SlideInfo("ML-WSI-01", "Mori^Aoi=森^葵=もり^あおい", generate_uid(), generate_uid(), "SP-ML-1")
    orthanc.client().upload(slide_datasets(tissue.image, info, levels=3, compression="none"), progress=False)
    return PatchSlide(info.series_uid, info.study_uid, tissue)


@pytest.fixture
def archive(orthanc: LocalOrthanc):
    return connect(orthanc.url, orthanc.username, orthanc.password)


def test_tissue_mask_finds_the_tissue(archive, patch_slide: PatchSlide) -> None:
    slide = archive.open_slide(patch_slide.series_uid)
    mask, downsample = tissue_mask(slide)
    assert downsample == 4.0 and mask.shape == (192, 256)
    truth = np.kron(patch_slide.tissue.tissue, np.ones((MASK_CELL // 4, MASK_CELL // 4), dtype=bool))
    assert (mask == truth).mean() > 0.95


def test_grid_patches_on_tissue_with_labels_from_the_mask(archive, patch_slide: PatchSlide) -> None:
    slide = archive.open_slide(patch_slide.series_uid)
    items = patch_items([slide], level=1, size=64, masks={slide.series_uid: patch_slide.tissue.tumour})
    assert items and all(item["tissue"] >= 0.5 for item in items)
    table = patch_table(items)
    assert set(table.label) == {0, 1} and set(table["class"]) == {"normal", "tumour"}
    assert (table.x % 128 == 0).all() and (table.y % 128 == 0).all()  # 64 pixels of level 1 = 128 of level 0
    tumour = patch_slide.tissue.tumour
    for item in items[:40]:
        x, y = item["location"]
        share = tumour[
            y // MASK_CELL : (y + 128) // MASK_CELL, x // MASK_CELL : (x + 128) // MASK_CELL
        ].mean()
        assert item["mask_fraction"] == pytest.approx(share, abs=1e-3)
        assert item["label"] == int(share >= 0.5)
    background = patch_items([slide], level=1, size=64, min_tissue=0.0)
    assert len(background) == (512 // 64) * (384 // 64) > len(items) and "label" not in background[0]


def test_random_patches_are_seeded_and_on_tissue(archive, patch_slide: PatchSlide) -> None:
    slide = archive.open_slide(patch_slide.series_uid)
    first = patch_items([slide], level=0, size=96, mode="random", n_random=10, seed=4)
    again = patch_items([slide], level=0, size=96, mode="random", n_random=10, seed=4)
    assert len(first) == 10 and [i["location"] for i in first] == [i["location"] for i in again]
    assert all(i["tissue"] >= 0.5 for i in first)
    with pytest.raises(ValueError, match="mode"):
        patch_items([slide], mode="spiral")


def test_read_patch_gives_the_stored_pixels(archive, patch_slide: PatchSlide) -> None:
    slide = archive.open_slide(patch_slide.series_uid)
    item = patch_items([slide], level=0, size=100, min_tissue=0.0)[7]
    pixels = ReadPatchd(archive)(item)["image"]
    x, y = item["location"]
    expected = patch_slide.tissue.image[y : y + 100, x : x + 100].transpose(2, 0, 1) / 255.0
    assert pixels.shape == (3, 100, 100) and pixels.dtype == np.float32
    np.testing.assert_allclose(pixels, expected, atol=1e-6)


def test_monai_datasets_and_loader_train_a_classifier(archive, patch_slide: PatchSlide) -> None:
    import torch
    from monai.data import CacheDataset, DataLoader, Dataset

    from workbench.ml.training import evaluate, set_seed, train_classifier

    set_seed(0, threads=1)
    slide = archive.open_slide(patch_slide.series_uid)
    items = patch_items([slide], level=1, size=64, masks={slide.series_uid: patch_slide.tissue.tumour})
    plain = Dataset(items, patch_transforms(archive, train=False, output_size=32))
    assert plain[0]["image"].shape == (3, 32, 32) and isinstance(plain[0]["image"], torch.Tensor)
    cached = CacheDataset(items, patch_transforms(archive, train=True, output_size=32), progress=False)
    model = make_patch_classifier(32)
    history = train_classifier(
        model, DataLoader(cached, batch_size=16, shuffle=True), epochs=3, learning_rate=1e-3, progress=False
    )
    assert len(history) == 3 and history.loss.iloc[-1] < history.loss.iloc[0]
    result = evaluate(model, DataLoader(plain, batch_size=32), classes=["normal", "tumour"])
    assert result.roc_auc > 0.8  # same slide: this checks the plumbing, the notebook checks held-out slides
    grid = heatmap(items, result.predictions.p_tumour.tolist(), slide)
    assert grid.shape == (768 // 128, 1024 // 128) and np.isfinite(grid).sum() == len(items)


def test_annotations_reference_the_slide_and_read_back(archive, patch_slide: PatchSlide) -> None:
    import highdicom as hd

    slide = archive.open_slide(patch_slide.series_uid)
    items = patch_items([slide], level=1, size=64)
    scores = np.linspace(0, 1, len(items))
    ann = patch_annotations(slide, items, scores)
    reopened = hd.ann.MicroscopyBulkSimpleAnnotations.from_dataset(pydicom.Dataset(ann))
    assert reopened.StudyInstanceUID == patch_slide.study_uid and reopened.PatientID == "ML-WSI-01"
    (referenced,) = reopened.ReferencedSeriesSequence
    assert referenced.SeriesInstanceUID == patch_slide.series_uid
    assert (
        referenced.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID
        == slide.base_dataset().SOPInstanceUID
    )
    series_uid = write_patch_annotations(archive, slide, items, scores)
    assert archive.series(study_uid=patch_slide.study_uid, modality="ANN").series_uid.tolist() == [series_uid]
    back = read_patch_annotations(archive, patch_slide.series_uid)
    assert len(back) == len(items) and set(back.annotation_series_uid) == {series_uid}
    np.testing.assert_allclose(back.probability, scores, atol=1e-6)
    assert back[["x", "y"]].apply(tuple, axis=1).tolist() == [tuple(map(float, i["location"])) for i in items]
    assert set(back.width) == {128.0}


def test_annotations_refuse_mismatched_input(archive, patch_slide: PatchSlide) -> None:
    slide = archive.open_slide(patch_slide.series_uid)
    items = patch_items([slide], level=1, size=64)
    with pytest.raises(ValueError, match="one probability per patch"):
        patch_annotations(slide, items, [0.5])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        patch_annotations(slide, items, [2.0] * len(items))
