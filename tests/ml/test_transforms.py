"""LoadSeries / LoadSeriesd against MONAI's own DICOM reader, on a real Orthanc."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from monai.data import DataLoader, Dataset, MetaTensor
from monai.transforms import (
    Compose,
    EnsureChannelFirstd,
    LoadImage,
    LoadImaged,
    Orientationd,
    RandFlipd,
    Resized,
    ScaleIntensityRanged,
    Spacingd,
)

from workbench.ml.transforms import (
    LoadSeries,
    LoadSeriesd,
    SeriesLoadError,
    classification_transforms,
    volume_to_metatensor,
)

pytestmark = pytest.mark.orthanc

TOLERANCE = 1e-4


def test_parity_with_monai_pydicom_reader(archive, ml_series, tmp_path):
    archive.download_series(ml_series.ct, tmp_path / "ct")
    reference = LoadImage(reader="PydicomReader", image_only=True)(str(tmp_path / "ct"))
    ours = LoadSeriesd("image", archive)({"image": ml_series.ct})["image"]

    assert isinstance(ours, MetaTensor)
    assert ours.shape == reference.shape == (24, 20, 12)
    assert ours.dtype == reference.dtype == torch.float32
    np.testing.assert_allclose(ours.numpy(), reference.numpy(), atol=TOLERANCE)
    np.testing.assert_allclose(ours.affine.numpy(), reference.affine.numpy(), atol=TOLERANCE)
    for key in ("original_affine", "spacing"):
        expected = np.asarray(reference.meta[key])
        np.testing.assert_allclose(np.asarray(ours.meta[key]), expected, atol=TOLERANCE)
    for key in ("spatial_shape", "space"):
        assert tuple(np.atleast_1d(ours.meta[key])) == tuple(np.atleast_1d(reference.meta[key])), key
    assert np.isnan(ours.meta["original_channel_dim"]) and np.isnan(reference.meta["original_channel_dim"])
    assert ours.meta["filename_or_obj"] == ml_series.ct
    assert ours.meta["series_uid"] == ml_series.ct and ours.meta["patient_id"] == "ML-TEST-0001"


def _standard_pipeline(loader) -> Compose:
    keys = ["image"]
    return Compose([
        loader,
        EnsureChannelFirstd(keys),
        Orientationd(keys, axcodes="RAS"),
        Spacingd(keys, pixdim=(1.0, 1.0, 2.0), mode="bilinear"),
        ScaleIntensityRanged(keys, a_min=-1000, a_max=1000, b_min=0.0, b_max=1.0, clip=True),
        Resized(keys, spatial_size=(16, 16, 8)),
        RandFlipd(keys, prob=1.0, spatial_axis=0),
    ])


def test_standard_monai_transforms_give_what_they_give_on_files(archive, ml_series, tmp_path):
    archive.download_series(ml_series.ct, tmp_path / "ct")
    from_files = _standard_pipeline(LoadImaged("image", reader="PydicomReader"))
    on_files = from_files({"image": str(tmp_path / "ct")})
    on_archive = _standard_pipeline(LoadSeriesd("image", archive))({"image": ml_series.ct, "label": 1})

    assert on_archive["label"] == 1
    image = on_archive["image"]
    assert image.shape == on_files["image"].shape == (1, 16, 16, 8)
    np.testing.assert_allclose(image.numpy(), on_files["image"].numpy(), atol=TOLERANCE)
    np.testing.assert_allclose(image.affine.numpy(), on_files["image"].affine.numpy(), atol=TOLERANCE)
    operations = [op["class"] for op in image.applied_operations]
    assert operations == ["Orientation", "SpatialResample", "Resize", "RandFlipd"]


def test_batches_collate_through_a_dataloader(archive, ml_series):
    items = [{"image": ml_series.ct, "label": 0}, {"image": ml_series.ct, "label": 1}]
    transform = classification_transforms(archive, image_size=8, augment=True)
    batch = next(iter(DataLoader(Dataset(items, transform), batch_size=2)))
    assert batch["image"].shape == (2, 1, 8, 8, 8)
    assert batch["label"].tolist() == [0, 1]
    assert float(batch["image"].min()) >= 0.0 and float(batch["image"].max()) <= 1.0
    assert list(batch["image"].meta["series_uid"]) == [ml_series.ct, ml_series.ct]


def test_image_only_false_adds_the_meta_dict_like_loadimaged(archive, ml_series):
    out = LoadSeriesd("image", archive, image_only=False)({"image": ml_series.ct})
    assert out["image_meta_dict"]["spatial_shape"] == (24, 20, 12)
    image, meta = LoadSeries(archive, image_only=False, ensure_channel_first=True)(ml_series.ct)
    assert image.shape == (1, 24, 20, 12) and meta["series_uid"] == ml_series.ct


def test_secondary_capture_is_refused_by_a_3d_pipeline(archive, ml_series):
    with pytest.raises(SeriesLoadError, match="no patient geometry") as caught:
        LoadSeries(archive)(ml_series.secondary_capture)
    assert ml_series.secondary_capture in str(caught.value)
    assert caught.value.series_uid == ml_series.secondary_capture


def test_radiograph_is_refused_in_3d_and_loads_on_the_2d_path(archive, ml_series):
    with pytest.raises(SeriesLoadError, match=r"single CR image .* spatial_dims=2") as caught:
        LoadSeriesd("image", archive)({"image": ml_series.radiograph})
    assert ml_series.radiograph in str(caught.value)

    image = LoadSeries(archive, spatial_dims=2)(ml_series.radiograph)
    assert image.shape == (40, 30)  # (x, y): columns first, as MONAI's readers
    np.testing.assert_allclose(image.meta["spacing"], [0.2, 0.2])
    assert float(image[5, 2]) == 2 * 40 + 5  # pixel (row 2, column 5) of np.arange(30 * 40).reshape(30, 40)
    with pytest.raises(SeriesLoadError, match="3 images: the 2D path takes a single image"):
        LoadSeries(archive, spatial_dims=2)(ml_series.secondary_capture)


def test_unknown_series_names_itself(archive):
    with pytest.raises(SeriesLoadError, match=r"series 1\.2\.3\.999: .*not found"):
        LoadSeries(archive)("1.2.3.999")
    with pytest.raises(SeriesLoadError, match="expected a SeriesInstanceUID string"):
        LoadSeries(archive)(None)  # type: ignore[arg-type]


def test_transform_connects_from_the_settings_and_pickles(orthanc_env, ml_series):
    load = LoadSeries()
    first = load(ml_series.ct)
    clone = pickle.loads(pickle.dumps(load))  # as DataLoader worker processes receive it
    assert clone._archive is None
    np.testing.assert_array_equal(clone(ml_series.ct).numpy(), first.numpy())
    error = pickle.loads(pickle.dumps(SeriesLoadError("1.2.3", "broken")))
    assert str(error) == "series 1.2.3: broken" and error.series_uid == "1.2.3"


def test_bad_arguments_are_rejected_eagerly():
    with pytest.raises(ValueError, match="spatial_dims must be 2 or 3"):
        LoadSeries(spatial_dims=4)
    with pytest.raises(ValueError, match="image_size"):
        classification_transforms(image_size=(8, 8))
    with pytest.raises(ValueError, match="window"):
        classification_transforms(window=(100.0, -100.0))


def test_colour_volumes_are_refused():
    from workbench.imaging import Volume

    volume = Volume(np.zeros((2, 4, 4, 3), np.uint8), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3),
                    {"series_uid": "1.2.3", "modality": "OT"})
    with pytest.raises(SeriesLoadError, match=r"series 1\.2\.3: OT images of shape \(2, 4, 4, 3\) are not"):
        volume_to_metatensor(volume)


def test_a_network_input_turns_back_into_a_volume_for_the_view():
    from workbench.imaging import Volume
    from workbench.ml.transforms import metatensor_to_volume

    rng = np.random.default_rng(0)
    direction = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # rows and columns swapped
    volume = Volume(rng.normal(size=(5, 6, 7)).astype(np.float32), (0.7, 0.8, 2.5), (-10.0, 20.0, 30.0),
                    direction, {"series_uid": "1.2.3", "modality": "CT"})
    image = volume_to_metatensor(volume)[None]  # with a channel, as EnsureChannelFirst gives it
    back = metatensor_to_volume(image)
    np.testing.assert_array_equal(back.array, volume.array)
    np.testing.assert_allclose(back.affine, volume.affine, atol=1e-9)
    assert back.spacing == pytest.approx(volume.spacing) and back.metadata["series_uid"] == "1.2.3"
