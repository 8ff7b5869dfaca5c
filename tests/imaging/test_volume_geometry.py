"""Geometry paths of volume stacking that the main slice-order tests do not reach (issue #21).

Frames are built directly (:class:`Frame`) or as pydicom datasets; no server.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from tests.imaging.stored import to_bytes
from workbench.errors import DicomDataError
from workbench.imaging.volume import (
    Frame,
    GeometryWarning,
    irregular_spacing_record,
    stack_frames,
    xyz,
)
from workbench.imaging.volume_files import volume_from_files
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


# -- what users read, and where the tolerances lie (issue #21) -----------------------------------------------
def test_the_duplicate_position_error_names_the_position_and_both_slices() -> None:
    frames = [frame("1.0", 0, position=(0.0, 0.0, 0.0), orientation=AXIAL)]
    frames += [frame(f"1.{k}", k, position=(0.0, 0.0, 2.5), orientation=AXIAL) for k in (1, 2)]
    with pytest.raises(DicomDataError) as caught:
        stack_frames(frames)
    assert str(caught.value) == (
        "duplicate slice position 2.500 mm along the normal: 1.1 and 1.2; "
        "the series mixes acquisitions (load them separately) or holds a copy"
    )


def test_slices_exactly_the_position_tolerance_apart_are_not_duplicates() -> None:
    # POSITION_TOLERANCE_MM is 1e-3: a gap of exactly that is two slices; a hair less is a duplicate
    volume = stack_frames(
        [frame(f"1.{k}", k, position=(0.0, 0.0, 1e-3 * k), orientation=AXIAL) for k in (0, 1)]
    )
    assert volume.shape == (2, 2, 3)
    assert volume.spacing[2] == pytest.approx(1e-3)
    close = [frame(f"1.{k}", k, position=(0.0, 0.0, 0.9e-3 * k), orientation=AXIAL) for k in (0, 1)]
    with pytest.raises(
        DicomDataError, match=r"duplicate slice position 0\.000 mm along the normal: 1\.0 and 1\.1"
    ):
        stack_frames(close)


def test_the_mixed_orientation_error_shows_both_orientations() -> None:
    tilted = (1.0, 0.0, 0.0, 0.0, 0.8, 0.6)
    frames = [
        frame("1.0", 0, position=(0.0, 0.0, 0.0), orientation=AXIAL),
        frame("1.1", 1, position=(0.0, 0.0, 2.0), orientation=tilted),
    ]
    with pytest.raises(DicomDataError) as caught:
        stack_frames(frames)
    assert str(caught.value) == (
        "mixed orientations: 1.0 has ImageOrientationPatient [1.0, 0.0, 0.0, 0.0, 1.0, 0.0] "
        "but 1.1 has [1.0, 0.0, 0.0, 0.0, 0.8, 0.6]; load one orientation at a time"
    )


def test_orientations_exactly_the_tolerance_apart_are_parallel() -> None:
    # ORIENTATION_TOLERANCE is 1e-4: a cosine off by exactly that is the same orientation, 1.5e-4 is not
    for k_off, accepted in ((1e-4, True), (1.5e-4, False)):
        frames = [
            frame("1.0", 0, position=(0.0, 0.0, 0.0), orientation=AXIAL),
            frame("1.1", 1, position=(0.0, 0.0, 2.0), orientation=(1.0, k_off, 0.0, 0.0, 1.0, 0.0)),
        ]
        if accepted:
            assert stack_frames(frames).shape == (2, 2, 3)
        else:
            with pytest.raises(DicomDataError, match="mixed orientations"):
                stack_frames(frames)


def test_the_irregular_spacing_warning_gives_the_range_median_and_mean() -> None:
    heights = (0.0, 2.0, 4.0, 7.0)
    frames = [frame(f"1.{k}", k, position=(0.0, 0.0, z), orientation=AXIAL) for k, z in enumerate(heights)]
    with pytest.warns(GeometryWarning) as caught:
        stack_frames(frames)
    assert [str(w.message) for w in caught] == [
        "irregular slice spacing: distances between slices range from 2.000 to 3.000 mm (median 2.000); "
        "the affine uses the mean 2.333 mm. The real positions are in metadata['slice_positions'], and "
        "Volume.save writes them beside a NIfTI file (its description says so) in a sidecar .json"
    ]


def test_spacing_off_by_exactly_the_tolerance_is_regular() -> None:
    # SPACING_TOLERANCE is 1 % of the median gap (100 mm here): a gap of 101 mm is regular, 101.5 mm is not
    regular = [
        frame(f"1.{k}", k, position=(0.0, 0.0, z), orientation=AXIAL)
        for k, z in enumerate((0, 100, 200, 301))
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        volume = stack_frames(regular)
    assert "irregular_spacing" not in volume.metadata
    irregular = [
        frame(f"1.{k}", k, position=(0.0, 0.0, z), orientation=AXIAL)
        for k, z in enumerate((0, 100, 200, 301.5))
    ]
    with pytest.warns(GeometryWarning, match=r"range from 100\.000 to 101\.500 mm \(median 100\.000\)"):
        volume = stack_frames(irregular)
    assert volume.metadata["irregular_spacing"] is True
    assert volume.metadata["slice_distances"] == [0.0, 100.0, 200.0, 301.5]


def test_the_shear_warning_gives_the_tilt_in_degrees() -> None:
    frames = [frame(f"1.{k}", k, position=(0.0, 1.0 * k, 1.0 * k), orientation=AXIAL) for k in range(3)]
    with pytest.warns(GeometryWarning) as caught:
        volume = stack_frames(frames)
    assert [str(w.message) for w in caught] == [
        "slices are sheared (gantry tilt?): the stack advances 45.00 degrees off the normal; "
        "the direction matrix is not orthogonal"
    ]
    assert volume.metadata["sheared"] is True


def test_a_tilt_just_past_the_tolerance_is_sheared_and_one_within_it_is_not() -> None:
    # the stack counts as sheared when cos(tilt) < 1 - 1e-4, i.e. a tilt above about 0.81 degrees
    def stack(degrees: float) -> Frame:
        step = np.array([0.0, np.sin(np.radians(degrees)), np.cos(np.radians(degrees))])
        return stack_frames(
            [frame(f"1.{k}", k, position=tuple(step * k), orientation=AXIAL) for k in range(3)]
        )

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "sheared" not in stack(0.8).metadata
    with pytest.warns(GeometryWarning, match=r"advances 0\.82 degrees off the normal"):
        assert stack(0.82).metadata["sheared"] is True


def test_a_stack_running_against_the_normal_is_ordered_not_sheared() -> None:
    # slices given from head to feet: ordering along the normal puts them feet first; no shear
    frames = [frame(f"1.{k}", k, position=(0.0, 0.0, -2.0 * k), orientation=AXIAL) for k in range(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        volume = stack_frames(frames)
    assert volume.array[:, 0, 0].tolist() == [2, 1, 0]
    assert volume.origin == (0.0, 0.0, -4.0)


def test_the_missing_geometry_warning_says_what_was_done() -> None:
    frames = [frame("1.2", 2, number=2), frame("1.1", 1, number=1)]
    with pytest.warns(GeometryWarning) as caught:
        stack_frames(frames)
    assert [str(w.message) for w in caught] == [
        "the instances have no ImagePositionPatient/ImageOrientationPatient: ordered by InstanceNumber; "
        "origin and direction are placeholders"
    ]


# -- the arena branch: pixels already in one array, reordered in place ------------------------------------
def _arena_frames(order: tuple[int, ...]) -> tuple[list[Frame], np.ndarray]:
    """Frames that arrived in ``order`` (slice heights), their pixels copied into an arena by arrival."""
    frames = [frame(f"1.{z}", z, position=(0.0, 0.0, 2.0 * z), orientation=AXIAL) for z in order]
    arena = np.empty((len(frames), 2, 3), dtype=np.int16)
    for slot, f in enumerate(frames):
        arena[slot] = f.pixels
        f.slot = slot
    return frames, arena


def test_with_an_arena_the_slices_are_ordered_in_place() -> None:
    frames, arena = _arena_frames((2, 0, 3, 1))
    volume = stack_frames(frames, arena=arena)
    assert volume.array[:, 0, 0].tolist() == [0, 1, 2, 3]
    assert np.shares_memory(volume.array, arena)  # no second copy of the volume
    assert arena[:, 0, 0].tolist() == [0, 1, 2, 3]
    assert volume.metadata["sop_instance_uids"] == ["1.0", "1.1", "1.2", "1.3"]


def test_an_arena_that_does_not_hold_every_frame_is_not_used() -> None:
    frames, arena = _arena_frames((2, 0, 1))
    frames[1].slot = None  # one frame's pixels were not placed
    volume = stack_frames(frames, arena=arena)
    assert volume.array[:, 0, 0].tolist() == [0, 1, 2]
    assert not np.shares_memory(volume.array, arena)
    assert arena[:, 0, 0].tolist() == [2, 0, 1]  # left as it was
    frames, arena = _arena_frames((2, 0, 1))
    bigger = np.concatenate([arena, np.full((1, 2, 3), 9, np.int16)])
    volume = stack_frames(frames, arena=bigger)
    assert volume.array[:, 0, 0].tolist() == [0, 1, 2]
    assert not np.shares_memory(volume.array, bigger)
    assert bigger[:, 0, 0].tolist() == [2, 0, 1, 9]


@pytest.mark.skipif(
    "MUTANT_UNDER_TEST" in os.environ,
    reason="mutmut's trampolines add call frames, so no stacklevel points at the test there",
)
def test_geometry_warnings_point_at_the_code_that_stacked_the_slices() -> None:
    # stacklevel: the warning names the caller of stack_frames, not volume.py, so users see their own line
    sheared = [frame(f"1.{k}", k, position=(0.0, 1.0 * k, 1.0 * k), orientation=AXIAL) for k in range(3)]
    irregular = [
        frame(f"1.{k}", k, position=(0.0, 0.0, z), orientation=AXIAL) for k, z in enumerate((0, 1, 3))
    ]
    unplaced = [frame("1.2", 2, number=2), frame("1.1", 1, number=1)]
    for frames in (sheared, irregular, unplaced):
        with pytest.warns(GeometryWarning) as caught:
            stack_frames(frames)
        assert [Path(w.filename) for w in caught] == [Path(__file__)]


def test_a_position_that_is_not_numbers_is_rejected_naming_instance_and_value() -> None:
    ds = ct_series(1, 4, 4, seed=2)[0]
    del ds.ImagePositionPatient
    ds.add_new(0x00200032, "LO", "1\\x\\3")  # as a file with a garbled DS value arrives
    with pytest.raises(DicomDataError) as caught:
        volume_from_files([(str(ds.SOPInstanceUID), to_bytes(ds))])
    assert str(caught.value) == (
        f"instance {ds.SOPInstanceUID} has a malformed ImagePositionPatient ['1', 'x', '3']"
    )


def test_geometry_warnings_are_logged_word_for_word(caplog: pytest.LogCaptureFixture) -> None:
    stacks = [
        [frame(f"1.{k}", k, position=(0.0, 1.0 * k, 1.0 * k), orientation=AXIAL) for k in range(3)],
        [frame(f"1.{k}", k, position=(0.0, 0.0, z), orientation=AXIAL) for k, z in enumerate((0, 1, 3))],
        [frame("1.2", 2, number=2), frame("1.1", 1, number=1)],
    ]
    for frames in stacks:
        caplog.clear()
        with (
            caplog.at_level("WARNING", logger="workbench.imaging.volume"),
            pytest.warns(GeometryWarning) as caught,
        ):
            stack_frames(frames)
        assert [r.getMessage() for r in caplog.records] == [str(w.message) for w in caught]


def test_irregular_positions_are_recorded_to_four_decimals() -> None:
    heights = (0.0, 1.123456, 3.0)
    frames = [
        frame(f"1.{k}", k, position=(0.5, 0.123456, z), orientation=AXIAL) for k, z in enumerate(heights)
    ]
    with pytest.warns(GeometryWarning, match="irregular slice spacing"):
        volume = stack_frames(frames)
    assert volume.metadata["slice_distances"] == [0.0, 1.1235, 3.0]
    assert volume.metadata["slice_positions"] == [
        [0.5, 0.1235, 0.0],
        [0.5, 0.1235, 1.1235],
        [0.5, 0.1235, 3.0],
    ]


def test_rows_and_columns_are_normalised_each_on_their_own() -> None:
    # rows run along y, columns along x (a transposed axial); each cosine triple is scaled by its own norm
    orientation = (0.0, 2.0, 0.0, 0.5, 0.0, 0.0)
    frames = [frame(f"1.{k}", k, position=(0.0, 0.0, -2.0 * k), orientation=orientation) for k in range(3)]
    volume = stack_frames(frames)
    np.testing.assert_allclose(volume.direction, [[0, 1, 0], [1, 0, 0], [0, 0, -1]])
    assert volume.array[:, 0, 0].tolist() == [0, 1, 2]  # the normal is -z: the first frame lies highest


def test_without_positions_a_missing_or_zero_instance_number_comes_first() -> None:
    frames = [frame("1.1", 1, number=1), frame("1.0", 0, number=0)]
    with pytest.warns(GeometryWarning):
        assert stack_frames(frames).array[:, 0, 0].tolist() == [0, 1]
    frames = [frame("1.1", 1, number=1), frame("1.0", 0, number=None)]
    with pytest.warns(GeometryWarning):
        assert stack_frames(frames).array[:, 0, 0].tolist() == [0, 1]
    # frames of one multi-frame instance: frame 0 before frame 1
    assert stack_frames([frame("1.9", 1, index=1), frame("1.9", 0, index=0)]).array[:, 0, 0].tolist() == [
        0,
        1,
    ]


def test_without_orientation_the_first_slice_gives_position_and_slice_spacing() -> None:
    # a position but no orientation: no geometry to order by, but the first slice's position is the origin
    frames = [
        frame("1.2", 2, position=(9.0, 9.0, 9.0), number=2, slice_spacing=4.0),
        frame("1.1", 1, position=(1.0, 2.0, 3.0), number=1, slice_spacing=3.0),
    ]
    with pytest.warns(GeometryWarning):
        volume = stack_frames(frames)
    assert volume.origin == (1.0, 2.0, 3.0)
    assert volume.spacing[2] == 3.0
