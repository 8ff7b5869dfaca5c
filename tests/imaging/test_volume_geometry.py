"""Geometry paths of volume stacking that the main slice-order tests do not reach (issue #21).

Frames are built directly (:class:`Frame`) or as pydicom datasets; no server.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from tests.imaging.stored import to_bytes
from workbench.errors import DicomDataError
from workbench.imaging.volume import (
    Frame,
    GeometryWarning,
    irregular_spacing_record,
    stack_frames,
    volume_from_files,
    xyz,
)
from workbench.testing.synthetic import ct_series


def frame(
    uid: str,
    value: int,
    *,
    position: tuple[float, ...] | None = None,
    orientation: tuple[float, ...] | None = None,
    number: int | None = None,
    index: int | None = None,
    slice_spacing: float | None = None,
    pixel_spacing: tuple[float, float] | None = (0.5, 0.6),
) -> Frame:
    return Frame(
        sop_instance_uid=uid,
        frame=index,
        pixels=np.full((2, 3), value, dtype=np.int16),
        position=None if position is None else np.asarray(position, float),
        orientation=None if orientation is None else np.asarray(orientation, float),
        pixel_spacing=pixel_spacing,
        slice_spacing=slice_spacing,
        slope=1.0,
        intercept=0.0,
        instance_number=number,
    )


AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def test_without_positions_slices_are_ordered_by_instance_number_with_a_warning() -> None:
    frames = [frame("1.3", 30, number=3), frame("1.1", 10, number=1), frame("1.2", 20, number=2)]
    with pytest.warns(GeometryWarning, match="ordered by InstanceNumber"):
        volume = stack_frames(frames)
    assert volume.array[:, 0, 0].tolist() == [10, 20, 30]
    assert volume.metadata["sop_instance_uids"] == ["1.1", "1.2", "1.3"]
    assert volume.metadata["geometry"] == "unknown"
    assert volume.origin == (0.0, 0.0, 0.0)
    np.testing.assert_array_equal(volume.direction, np.eye(3))
    assert volume.spacing == (0.6, 0.5, 1.0)


def test_without_positions_frames_of_one_instance_are_ordered_by_frame_and_not_warned() -> None:
    # one multi-frame instance (no per-frame positions): frame order is the stack order, no warning
    frames = [frame("1.9", 2, index=2, number=None), frame("1.9", 0, index=0), frame("1.9", 1, index=1)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        volume = stack_frames(frames)
    assert volume.array[:, 0, 0].tolist() == [0, 1, 2]
    assert volume.metadata["frames"] == [0, 1, 2]


def test_without_positions_an_orientation_and_slice_spacing_are_kept() -> None:
    # orientation known, position not: the direction is built from it, the origin stays a placeholder
    orientation = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)  # sagittal
    frames = [
        frame("1.2", 2, orientation=orientation, number=2, slice_spacing=3.0),
        frame("1.1", 1, orientation=orientation, number=1, slice_spacing=3.0),
    ]
    with pytest.warns(GeometryWarning):
        volume = stack_frames(frames)
    np.testing.assert_array_equal(volume.direction, [[0, 0, -1], [1, 0, 0], [0, -1, 0]])
    assert volume.spacing[2] == 3.0
    assert volume.origin == (0.0, 0.0, 0.0)


def test_a_single_slice_volume_has_the_slice_geometry() -> None:
    volume = stack_frames([frame("1.1", 7, position=(1.0, 2.0, 3.0), orientation=AXIAL, slice_spacing=2.5)])
    assert volume.shape == (1, 2, 3)
    assert volume.array[0, 0, 0] == 7
    assert volume.origin == (1.0, 2.0, 3.0)
    np.testing.assert_array_equal(volume.direction, np.eye(3))
    assert volume.spacing == (0.6, 0.5, 2.5)
    no_thickness = stack_frames([frame("1.1", 7, position=(1.0, 2.0, 3.0), orientation=AXIAL)])
    assert no_thickness.spacing[2] == 1.0


def test_a_tilted_gantry_stack_is_flagged_sheared() -> None:
    # axial slices whose positions advance 1 mm in y for every 2 mm in z: 26.6 degrees off the normal
    frames = [frame(f"1.{k}", k, position=(0.0, 1.0 * k, 2.0 * k), orientation=AXIAL) for k in range(4)]
    with pytest.warns(GeometryWarning, match=r"sheared .* 26\.57 degrees"):
        volume = stack_frames(frames)
    assert volume.metadata["sheared"] is True
    np.testing.assert_allclose(volume.direction[:, 2], np.array([0, 1, 2]) / np.sqrt(5))
    assert volume.spacing[2] == pytest.approx(np.sqrt(5))


def test_a_straight_stack_is_not_flagged() -> None:
    frames = [frame(f"1.{k}", k, position=(0.0, 0.0, 2.0 * k), orientation=AXIAL) for k in range(4)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        volume = stack_frames(frames)
    assert "sheared" not in volume.metadata
    assert "irregular_spacing" not in volume.metadata


@pytest.mark.filterwarnings("ignore:Invalid value for VR DS")
@pytest.mark.parametrize(
    ("position", "orientation"),
    [
        (["1", "2"], ["1", "0", "0", "0", "1", "0"]),  # two numbers for a position
        (["1", "2", "3", "4"], ["1", "0", "0", "0", "1", "0"]),
        (["1", "2", "nan"], ["1", "0", "0", "0", "1", "0"]),
        (["1", "2", "inf"], ["1", "0", "0", "0", "1", "0"]),
        (["1", "2", "3"], ["1", "0", "0", "0", "1"]),  # five numbers for an orientation
    ],
)
def test_a_wrong_length_or_non_finite_vector_is_rejected_naming_the_instance(
    position: list[str], orientation: list[str]
) -> None:
    ds = ct_series(1, 4, 4, seed=2)[0]
    ds.ImagePositionPatient = position
    ds.ImageOrientationPatient = orientation
    keyword = "ImagePositionPatient" if len(orientation) == 6 else "ImageOrientationPatient"
    with pytest.raises(DicomDataError, match=f"instance {ds.SOPInstanceUID} has a malformed {keyword}"):
        volume_from_files([(str(ds.SOPInstanceUID), to_bytes(ds))])


def test_xyz_reads_three_numbers() -> None:
    assert xyz(["1.5", 2, 3.25]) == (1.5, 2.0, 3.25)


def _rt_dose(offsets: list[float]) -> bytes:
    """A legacy multi-frame RT Dose: one instance, frame k at GridFrameOffsetVector[k] mm along the normal."""
    ds = ct_series(1, 4, 5, origin=(10.0, 20.0, 30.0), seed=3)[0]
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.481.2"
    ds.Modality = "RTDOSE"
    n = len(offsets)
    pixels = np.stack([np.full((4, 5), 100 * (k + 1), dtype=np.uint16) for k in range(n)])
    ds.NumberOfFrames = n
    ds.PixelData = pixels.tobytes()
    ds.GridFrameOffsetVector = offsets
    ds.DoseGridScaling = 0.001
    del ds.RescaleSlope
    del ds.RescaleIntercept
    return to_bytes(ds)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_rt_dose_frames_lie_along_the_grid_frame_offsets(sign: float) -> None:
    offsets = [0.0, sign * 3.0, sign * 6.0]
    volume = volume_from_files([("dose", _rt_dose(offsets))])
    # frames sorted along +z: with negative offsets the last frame comes first
    expected = [0.1, 0.2, 0.3] if sign > 0 else [0.3, 0.2, 0.1]
    np.testing.assert_allclose(volume.array[:, 0, 0], expected)
    assert volume.origin == pytest.approx((10.0, 20.0, 30.0 + min(offsets)))
    assert volume.spacing[2] == pytest.approx(3.0)
    np.testing.assert_allclose(volume.direction, np.eye(3), atol=1e-12)
    assert volume.metadata["frames"] == ([0, 1, 2] if sign > 0 else [2, 1, 0])


def test_unnormalized_orientation_still_gives_unit_axes() -> None:
    orientation = (2.0, 0.0, 0.0, 0.0, 3.0, 0.0)  # direction cosines written unnormalized
    frames = [frame(f"1.{k}", k, position=(0.0, 0.0, 2.0 * k), orientation=orientation) for k in range(3)]
    volume = stack_frames(frames)
    np.testing.assert_allclose(volume.direction, np.eye(3))


def test_a_second_frame_with_another_orientation_or_size_is_rejected() -> None:
    frames = [frame(f"1.{k}", k, position=(0.0, 0.0, 2.0 * k), orientation=AXIAL) for k in range(2)]
    frames[1] = frame("1.1", 1, position=(0.0, 0.0, 2.0), orientation=(0.0, 1.0, 0.0, 1.0, 0.0, 0.0))
    with pytest.raises(DicomDataError, match="mixed orientations"):
        stack_frames(frames)
    frames[1] = frame("1.1", 1, position=(0.0, 0.0, 2.0), orientation=AXIAL)
    frames[1].pixels = np.zeros((3, 3), np.int16)
    with pytest.raises(DicomDataError) as caught:
        stack_frames(frames)
    assert str(caught.value) == "1.1 is (3, 3) pixels but 1.0 is (2, 3); a volume needs one image size"


def test_different_pixel_spacings_are_rejected_listing_them() -> None:
    frames = [frame(f"1.{k}", k, position=(0.0, 0.0, 2.0 * k), orientation=AXIAL) for k in range(3)]
    frames[1] = frame("1.1", 1, position=(0.0, 0.0, 2.0), orientation=AXIAL, pixel_spacing=None)
    with pytest.raises(DicomDataError) as caught:
        stack_frames(frames)
    assert str(caught.value) == "the slices have different pixel spacings [None, (0.5, 0.6)]"


def test_without_pixel_spacing_the_spacing_is_one_and_frames_metadata_is_none() -> None:
    frames = [
        frame(f"1.{k}", k, position=(0.0, 0.0, 2.0 * k), orientation=AXIAL, pixel_spacing=None)
        for k in (0, 1)
    ]
    volume = stack_frames(frames)
    assert volume.spacing == (1.0, 1.0, 2.0)
    assert volume.metadata["frames"] is None


def test_the_irregular_spacing_record_holds_what_nifti_cannot() -> None:
    heights = (0.0, 2.0, 5.0)
    frames = [frame(f"1.{k}", k, position=(0.0, 0.0, z), orientation=AXIAL) for k, z in enumerate(heights)]
    with pytest.warns(GeometryWarning, match="irregular slice spacing"):
        volume = stack_frames(frames)
    volume.metadata["series_uid"] = "1.2.3"
    assert irregular_spacing_record(volume) == {
        "irregular_spacing": True,
        "note": "slices are not evenly spaced: the NIfTI affine uses their mean distance; these are real",
        "affine_slice_spacing_mm": 2.5,
        "slice_distances_mm": [0.0, 2.0, 5.0],
        "slice_positions_lps_mm": [[0.0, 0.0, 0.0], [0.0, 0.0, 2.0], [0.0, 0.0, 5.0]],
        "sop_instance_uids": ["1.0", "1.1", "1.2"],
        "series_uid": "1.2.3",
    }
    regular = stack_frames(frames[:2])
    assert irregular_spacing_record(regular) is None
