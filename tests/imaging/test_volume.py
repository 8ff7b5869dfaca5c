"""Stacking and geometry from pydicom datasets (no server)."""

from __future__ import annotations

import copy
import io
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import RLELossless

from tests.imaging.stored import to_bytes
from workbench.errors import DicomDataError
from workbench.imaging.volume import GeometryWarning, SkippedInstancesWarning, Volume
from workbench.imaging.volume_files import volume_from_files
from workbench.testing.synthetic import ct_series, enhanced_ct


def files(datasets: list) -> list[tuple[str, bytes]]:
    return [(str(ds.SOPInstanceUID), to_bytes(ds)) for ds in datasets]


def test_slices_ordered_by_position_not_instance_number() -> None:
    datasets = ct_series(9, 6, 5, spacing=(0.7, 0.8, 2.5), origin=(-10.0, 20.0, 30.0), seed=4)
    volume = volume_from_files(files(datasets))
    by_position = sorted(datasets, key=lambda ds: float(ds.ImagePositionPatient[2]))
    expected = np.stack([ds.pixel_array.astype(np.int32) - 1024 for ds in by_position])
    np.testing.assert_array_equal(volume.array, expected)
    assert volume.array.dtype == np.int16
    assert volume.spacing == pytest.approx((0.7, 0.8, 2.5))
    assert volume.origin == pytest.approx((-10.0, 20.0, 30.0))
    np.testing.assert_allclose(volume.direction, np.eye(3))
    assert volume.metadata["sop_instance_uids"] == [str(ds.SOPInstanceUID) for ds in by_position]
    assert volume.metadata["window_center"] == 40.0
    # voxel (i, j, k) = (2, 3, 4) sits at origin + 2 * 0.7 x + 3 * 0.8 y + 4 * 2.5 z (LPS)
    np.testing.assert_allclose(volume.affine @ [2, 3, 4, 1], [-10 + 1.4, 20 + 2.4, 30 + 10, 1])
    np.testing.assert_allclose(volume.affine_ras @ [0, 0, 0, 1], [10.0, -20.0, 30.0, 1])


def test_feet_first_stack_sorted_along_the_normal() -> None:
    # slices advancing towards -z still come out ordered along the normal, with k pointing that way
    datasets = ct_series(4, 4, 4, row_direction=(1, 0, 0), column_direction=(0, -1, 0), seed=5)
    volume = volume_from_files(files(datasets))
    normal = np.cross([1, 0, 0], [0, -1, 0])
    np.testing.assert_allclose(volume.direction[:, 2], normal)
    positions = [np.dot(ds.ImagePositionPatient, normal) for ds in datasets]
    assert np.dot(volume.origin, normal) == pytest.approx(min(positions))
    # and the voxels follow: slice k is the instance k-th along the normal
    along = sorted(datasets, key=lambda ds: float(np.dot(ds.ImagePositionPatient, normal)))
    expected = np.stack([ds.pixel_array.astype(np.int32) - 1024 for ds in along])
    np.testing.assert_array_equal(volume.array, expected)
    assert volume.metadata["sop_instance_uids"] == [str(ds.SOPInstanceUID) for ds in along]


def test_rescale_dtypes() -> None:
    ints = volume_from_files(files(ct_series(2, 4, 4, slope=2.0, intercept=-100.0)))
    assert ints.array.dtype == np.int16
    wide = volume_from_files(files(ct_series(2, 4, 4, slope=1000.0, intercept=0.0)))
    assert wide.array.dtype == np.int32
    fractional = ct_series(2, 4, 4, slope=0.5, intercept=-0.25, shuffle=False)
    floats = volume_from_files(files(fractional))
    assert floats.array.dtype == np.float32
    np.testing.assert_allclose(floats.array[1], fractional[1].pixel_array * 0.5 - 0.25)


def test_multiframe_with_per_frame_positions() -> None:
    slices = ct_series(5, 6, 6, spacing=(0.5, 0.5, 1.25), seed=6, shuffle=False)
    volume = volume_from_files(files([enhanced_ct(slices, frame_order=[3, 1, 4, 0, 2])]))
    np.testing.assert_array_equal(
        volume.array, np.stack([s.pixel_array.astype(np.int32) - 1024 for s in slices])
    )
    assert volume.spacing == pytest.approx((0.5, 0.5, 1.25))
    assert volume.metadata["frames"] == [3, 1, 4, 0, 2]


def test_duplicate_positions_are_an_error_naming_both() -> None:
    datasets = ct_series(3, 4, 4, shuffle=False)
    twin = copy.deepcopy(datasets[1])
    twin.SOPInstanceUID = "1.2.3.4.5"
    with pytest.raises(DicomDataError, match=r"duplicate slice position .* and .*1\.2\.3\.4\.5"):
        volume_from_files(files([*datasets, twin]))


def test_mixed_orientation_is_an_error() -> None:
    datasets = ct_series(3, 4, 4, shuffle=False)
    datasets[2].ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    with pytest.raises(DicomDataError, match="mixed orientations"):
        volume_from_files(files(datasets))


def test_irregular_spacing_warns_and_is_recorded() -> None:
    datasets = ct_series(4, 4, 4, shuffle=False)
    datasets[3].ImagePositionPatient = [-100.0, -120.0, 40.0 + 3 * 2.5 + 4.0]
    with pytest.warns(GeometryWarning, match="irregular slice spacing") as caught:
        volume = volume_from_files(files(datasets))
    assert volume.metadata["irregular_spacing"] is True
    assert "sidecar .json" in str(caught[0].message)


def test_irregular_spacing_is_recorded_in_nifti_exports(tmp_path: Path) -> None:
    import json

    import nibabel as nib

    datasets = ct_series(4, 4, 4, shuffle=False)
    datasets[3].ImagePositionPatient = [-100.0, -120.0, 40.0 + 3 * 2.5 + 4.0]
    with pytest.warns(GeometryWarning):
        volume = volume_from_files(files(datasets))
    for name, sidecar in (("ct.nii.gz", "ct.json"), ("mr.nii", "mr.json")):
        volume.save(tmp_path / name)
        header = nib.load(tmp_path / name).header
        assert header["descrip"].tobytes().rstrip(b"\0").decode() == (
            f"irregular slice spacing; positions in {sidecar}"
        )
        record = json.loads((tmp_path / sidecar).read_text(encoding="utf-8"))
        assert record["irregular_spacing"] is True
        assert record["slice_distances_mm"] == [40.0, 42.5, 45.0, 51.5]
        assert record["slice_positions_lps_mm"] == [[-100.0, -120.0, z] for z in (40.0, 42.5, 45.0, 51.5)]
        assert record["sop_instance_uids"] == volume.metadata["sop_instance_uids"]
        assert record["affine_slice_spacing_mm"] == pytest.approx(11.5 / 3)
    regular = volume_from_files(files(ct_series(3, 4, 4, shuffle=False)))
    regular.save(tmp_path / "regular.nii.gz")
    assert not (tmp_path / "regular.json").exists()
    assert nib.load(tmp_path / "regular.nii.gz").header["descrip"].tobytes().rstrip(b"\0") == b""


def test_no_pixel_data_and_truncated_instances() -> None:
    datasets = ct_series(4, 8, 8, shuffle=False)
    no_pixels = datasets[1]
    del no_pixels.PixelData
    truncated = datasets[2]
    truncated.PixelData = truncated.PixelData[:50]
    with pytest.raises(DicomDataError, match=f"instance {no_pixels.SOPInstanceUID} has no pixel data"):
        volume_from_files(files(datasets))
    with pytest.raises(DicomDataError, match=f"instance {truncated.SOPInstanceUID} is truncated"):
        volume_from_files(files([datasets[0], truncated]))
    with pytest.warns(SkippedInstancesWarning, match="skipped 2 bad instance"):
        volume = volume_from_files(files(datasets), skip_bad=True)
    assert volume.array.shape == (2, 8, 8)
    assert {s["sop_instance_uid"] for s in volume.metadata["skipped"]} == {
        str(no_pixels.SOPInstanceUID),
        str(truncated.SOPInstanceUID),
    }


def test_not_dicom_is_an_error_naming_it() -> None:
    with pytest.raises(DicomDataError, match="instance bogus is not a readable DICOM file"):
        volume_from_files([("bogus", b"this is not dicom" * 20)])


def test_compressed_pixels_decoded() -> None:
    datasets = ct_series(3, 8, 8, shuffle=False)
    plain = volume_from_files(files(datasets))
    for ds in datasets:
        ds.compress(RLELossless)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        packed = volume_from_files(files(datasets), workers=2)
    np.testing.assert_array_equal(packed.array, plain.array)


@pytest.mark.parametrize("name", ["volume.npz", "volume.nii.gz", "volume.nii"])
def test_save_and_load_round_trip(tmp_path: Path, name: str) -> None:
    volume = volume_from_files(
        files(ct_series(5, 6, 7, row_direction=(0, 1, 0), column_direction=(0, 0, -1)))
    )
    path = volume.save(tmp_path / "out" / name)
    again = Volume.load(path)
    np.testing.assert_array_equal(again.array, volume.array)
    np.testing.assert_allclose(again.affine, volume.affine, atol=1e-5)
    if name.endswith(".npz"):
        assert again.metadata["sop_instance_uids"] == volume.metadata["sop_instance_uids"]
    else:
        import nibabel as nib

        image = nib.load(path)
        assert image.shape == (7, 6, 5)  # (i, j, k)
        np.testing.assert_allclose(image.affine, volume.affine_ras, atol=1e-5)


def test_save_rejects_unknown_suffix(tmp_path: Path) -> None:
    volume = Volume(np.zeros((1, 2, 2), np.int16), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    with pytest.raises(ValueError, match=re.escape("use a .npz, .nii or .nii.gz")):
        volume.save(tmp_path / "x.mha")


def test_bytes_io_not_needed_for_memoryview() -> None:
    datasets = ct_series(2, 4, 4)
    views = [(uid, memoryview(io.BytesIO(data).getvalue())) for uid, data in files(datasets)]
    assert volume_from_files(views).array.shape == (2, 4, 4)


@pytest.mark.parametrize("name", ["ct.npz", "ct.nii.gz", "ct.nii"])
def test_a_full_disk_never_destroys_the_previous_output(tmp_path: Path, name: str, full_disk) -> None:
    from workbench.errors import DiskFullError

    old = volume_from_files(files(ct_series(3, 6, 7)))
    path = old.save(tmp_path / name)
    before = path.read_bytes()
    new = Volume(np.ones((40, 64, 64), np.int16), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), np.eye(3))
    full_disk(len(before) // 2)
    with pytest.raises(DiskFullError, match=rf"cannot write .*{re.escape(name)}: the disk is full"):
        new.save(path)
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]
    np.testing.assert_array_equal(Volume.load(path).array, old.array)
