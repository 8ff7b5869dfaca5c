"""Volumes: a DICOM series as one numpy array with the geometry MONAI, ITK and papers need.

Conventions (those of SimpleITK/ITK, stated once here and relied on everywhere):

- ``array`` is indexed ``[k, j, i]``, i.e. (z, y, x): slice, row, column; values in modality units
  (RescaleSlope/RescaleIntercept applied: Hounsfield units for CT).
- ``spacing`` is (x, y, z) in mm: column spacing, row spacing, distance between slice centres.
- ``origin`` is the patient position, in **LPS** mm (DICOM's patient coordinate system), of voxel (0, 0, 0).
- ``direction`` is 3x3; its columns are the LPS unit vectors along i (a row: ImageOrientationPatient[:3]),
  j (a column: ImageOrientationPatient[3:]) and k (from the first slice to the last).
- ``affine`` maps (i, j, k, 1) to LPS mm; ``affine_ras`` maps it to RAS mm (x and y negated), as NIfTI,
  nibabel and MONAI use.

Slices are ordered by ImagePositionPatient projected on the slice normal (never by InstanceNumber). Mixed
orientations, duplicate positions and differing image sizes are errors; irregular spacing and sheared
stacks (gantry tilt) are warnings, recorded in ``metadata``.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from workbench.errors import DicomDataError
from workbench.files import atomic_write, make_folder
from workbench.imaging.arena import FrameArena
from workbench.imaging.uids import uid_problem

logger = logging.getLogger(__name__)

LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
POSITION_TOLERANCE_MM = 1e-3
"""Slices closer than this along the normal are duplicates."""
ORIENTATION_TOLERANCE = 1e-4
"""Largest difference between direction cosines of slices considered parallel."""
SPACING_TOLERANCE = 0.01
"""Relative deviation from the median slice distance above which spacing counts as irregular."""


class GeometryWarning(UserWarning):
    """The slices can be stacked, but their geometry is not a regular grid (irregular spacing, shear)."""


class SkippedInstancesWarning(UserWarning):
    """``skip_bad=True`` left instances out of a volume."""


class BadTagWarning(UserWarning):
    """A descriptive attribute (a window) is malformed and was ignored; the pixels are unaffected."""


@dataclass
class Volume:
    """A series as a 3-D array with its position in the patient (see the module docstring for conventions).

    Attributes
    ----------
    array : numpy.ndarray
        (z, y, x) voxels in modality units; ``int16``/``int32`` when the rescale is exactly integral,
        else ``float32``. Colour images have a trailing samples axis (z, y, x, 3).
    spacing : tuple of float
        (x, y, z) voxel size in mm.
    origin : tuple of float
        LPS position (mm) of voxel (0, 0, 0).
    direction : numpy.ndarray
        3x3; columns are the LPS unit vectors of the i, j, k axes.
    metadata : dict
        patient_id, study_uid, series_uid, modality, sop_instance_uids (in slice order), window_center,
        window_width (when the files have them), skipped (instances left out), irregular_spacing ...
    """

    array: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]
    direction: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        sp = ", ".join(f"{s:.3g}" for s in self.spacing)
        return (
            f"Volume(shape={self.array.shape}, dtype={self.array.dtype}, spacing=({sp}) mm, "
            f"modality={self.metadata.get('modality')!r}, series_uid={self.metadata.get('series_uid')!r})"
        )

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of ``array`` (z, y, x)."""
        return tuple(self.array.shape)

    @property
    def affine(self) -> np.ndarray:
        """4x4 matrix mapping voxel indices (i, j, k, 1) to LPS mm."""
        out = np.eye(4)
        out[:3, :3] = np.asarray(self.direction, dtype=float) * np.asarray(self.spacing, dtype=float)
        out[:3, 3] = self.origin
        return out

    @property
    def affine_ras(self) -> np.ndarray:
        """4x4 matrix mapping voxel indices (i, j, k, 1) to RAS mm (NIfTI, nibabel, MONAI)."""
        return LPS_TO_RAS @ self.affine

    def save(self, path: str | Path) -> Path:
        """Write the volume to ``.npz`` (array, geometry, metadata as JSON) or NIfTI ``.nii``/``.nii.gz``.

        NIfTI gets the array transposed to (i, j, k) and ``affine_ras``, as nibabel expects. NIfTI holds
        one slice distance only: when the slices are irregularly spaced, its header description says so and
        a sidecar JSON beside it (``ct.nii.gz`` -> ``ct.json``, as BIDS does) records the real position of
        every slice (:func:`irregular_spacing_record`).

        Parameters
        ----------
        path
            Target file; the suffix chooses the format. Parent folders are created.

        Returns
        -------
        pathlib.Path

        Raises
        ------
        ValueError
            For another suffix.
        FileWriteError
            The file cannot be written (a full disk: :class:`~workbench.errors.DiskFullError`); an existing
            file of that name is left as it was.
        """
        path = Path(path)
        name = path.name.lower()
        if not name.endswith((".npz", ".nii", ".nii.gz")):
            raise ValueError(f"cannot save a volume as {path.name!r}: use a .npz, .nii or .nii.gz file name")
        make_folder(path.parent)
        if name.endswith(".npz"):
            arrays: dict[str, Any] = {
                "array": self.array,
                "spacing": np.asarray(self.spacing),
                "origin": np.asarray(self.origin),
                "direction": np.asarray(self.direction),
                "affine": self.affine,
                "metadata": np.asarray(json.dumps(self.metadata, ensure_ascii=False, default=str)),
            }
            atomic_write(path, lambda fh: np.savez(fh, **arrays))  # the old file stays until this is whole
        else:
            import nibabel as nib

            data = np.moveaxis(self.array, (0, 1, 2), (2, 1, 0))
            image = nib.Nifti1Image(np.ascontiguousarray(data), self.affine_ras)
            image.header.set_xyzt_units("mm")
            image.set_qform(self.affine_ras, code=1)
            image.set_sform(self.affine_ras, code=1)
            record = irregular_spacing_record(self)
            sidecar = sidecar_path(path)
            if record is not None:
                note = f"irregular slice spacing; positions in {sidecar.name}"
                image.header["descrip"] = note.encode("utf-8")[:79]
            atomic_write(path, lambda fh: _write_nifti(image, fh, compressed=name.endswith(".gz")))
            if record is not None:
                text = json.dumps(record, ensure_ascii=False, indent=1)
                atomic_write(sidecar, text.encode("utf-8"))
                logger.warning("irregular slice spacing: real slice positions written to %s", sidecar)
        logger.info("saved %s to %s", self, path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Volume:
        """Read a volume written by :meth:`save` (``.npz``) or any 3-D NIfTI file.

        Raises
        ------
        ValueError
            For another suffix.
        FileNotFoundError
            If the file does not exist.
        """
        path = Path(path)
        name = path.name.lower()
        if name.endswith(".npz"):
            with np.load(path, allow_pickle=False) as data:
                return cls(
                    array=data["array"],
                    spacing=xyz(data["spacing"]),
                    origin=xyz(data["origin"]),
                    direction=data["direction"],
                    metadata=json.loads(str(data["metadata"])),
                )
        if name.endswith((".nii", ".nii.gz")):
            import nibabel as nib

            image: Any = nib.load(path)
            lps = LPS_TO_RAS @ image.affine
            spacing = np.linalg.norm(lps[:3, :3], axis=0)
            return cls(
                array=np.moveaxis(np.asarray(image.dataobj), (0, 1, 2), (2, 1, 0)),
                spacing=xyz(spacing),
                origin=xyz(lps[:3, 3]),
                direction=lps[:3, :3] / spacing,
                metadata={"source": str(path)},
            )
        raise ValueError(f"cannot read a volume from {path.name!r}: use a .npz, .nii or .nii.gz file")


def sidecar_path(path: str | Path) -> Path:
    """The JSON sidecar of a NIfTI file: ``ct.nii.gz`` -> ``ct.json``."""
    path = Path(path)
    stem = path.name[: -len(".nii.gz")] if path.name.lower().endswith(".nii.gz") else path.stem
    return path.with_name(f"{stem}.json")


def irregular_spacing_record(volume: Volume) -> dict[str, Any] | None:
    """What a NIfTI file cannot hold about irregularly spaced slices, or ``None`` when they are regular.

    Returns
    -------
    dict or None
        ``irregular_spacing`` (true), ``affine_slice_spacing_mm`` (the mean distance the affine uses),
        ``slice_distances_mm`` (each slice's position along the normal), ``slice_positions_lps_mm`` (each
        slice's ImagePositionPatient, in array order), ``sop_instance_uids``, ``series_uid``.
    """
    meta = volume.metadata
    if not meta.get("irregular_spacing"):
        return None
    return {
        "irregular_spacing": True,
        "note": "slices are not evenly spaced: the NIfTI affine uses their mean distance; these are real",
        "affine_slice_spacing_mm": float(volume.spacing[2]),
        "slice_distances_mm": meta.get("slice_distances"),
        "slice_positions_lps_mm": meta.get("slice_positions"),
        "sop_instance_uids": meta.get("sop_instance_uids"),
        "series_uid": meta.get("series_uid"),
    }


# -- reading instances ------------------------------------------------------------------------------------
@dataclass
class Frame:
    """One 2-D image of a series with its geometry (a slice, or one frame of a multi-frame instance)."""

    sop_instance_uid: str
    frame: int | None
    pixels: np.ndarray
    position: np.ndarray | None
    orientation: np.ndarray | None
    pixel_spacing: tuple[float, float] | None
    slice_spacing: float | None
    slope: float
    intercept: float
    instance_number: int | None
    slot: int | None = None
    """Where the pixels were placed in a :class:`FrameArena` (arrival order), if they were."""

    @property
    def label(self) -> str:
        """The instance UID, with the frame number (1-based) for multi-frame images."""
        return (
            self.sop_instance_uid if self.frame is None else f"{self.sop_instance_uid} frame {self.frame + 1}"
        )


DEFER_SIZE = 64 * 1024
"""Element values larger than this (in practice: the pixel data) are not copied while parsing; the fast
path views them in place in the file's buffer."""


class _BufferFile:
    """A read-only, seekable file over a buffer, without copying it (``io.BytesIO`` copies a memoryview).

    Only what pydicom's reader calls: ``read``, ``seek``, ``tell``.
    """

    def __init__(self, data: bytes | memoryview) -> None:
        self._view = memoryview(data).cast("B")
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else min(len(self._view), self._pos + size)
        chunk = self._view[self._pos : end].tobytes()
        self._pos = max(self._pos, end)
        return chunk

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos


def xyz(values: Iterable[Any]) -> tuple[float, float, float]:
    """Three numbers as an ``(x, y, z)`` tuple of floats."""
    x, y, z = (float(v) for v in values)
    return x, y, z


def read_dataset(data: bytes | memoryview, name: str, *, defer: bool = True) -> Any:
    """Parse one DICOM file from bytes with pydicom.

    Parameters
    ----------
    data
        The file's bytes.
    name
        What to call it in messages (usually its SOPInstanceUID).
    defer
        Leave values above :data:`DEFER_SIZE` (the pixel data) unread, to be viewed in ``data`` later.

    Raises
    ------
    DicomDataError
        Naming ``name``, if the bytes are not a readable DICOM file.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        if defer:
            return pydicom.dcmread(_BufferFile(data), defer_size=DEFER_SIZE)
        return pydicom.dcmread(io.BytesIO(bytes(data)))
    except (InvalidDicomError, EOFError, ValueError, KeyError, OSError) as exc:
        raise DicomDataError(f"instance {name} is not a readable DICOM file ({exc})") from None


def frames_of(ds: Any, source: bytes | memoryview | None = None) -> list[Frame]:
    """Decode the pixels of one instance and describe each of its frames.

    ``source`` is the buffer ``ds`` was read from with :func:`read_dataset`; it is needed when the pixel data
    was left unread (deferred).

    Uncompressed little-endian monochrome data is viewed directly with ``numpy.frombuffer`` (pydicom's
    general ``pixel_array`` costs about 0.7 ms per slice in option handling, a third of a cold 300-slice
    load); everything else (JPEG, JPEG-LS, JPEG 2000, RLE, big endian, odd bit depths) goes through pydicom's
    pixel handlers.

    Raises
    ------
    DicomDataError
        Naming the instance: its SOPInstanceUID is not a UID, it has no pixel data, an attribute needed to
        read its pixels or geometry is missing or malformed (Rows, NumberOfFrames='x',
        PixelRepresentation=7 ...), or its pixel data cannot be decoded (truncated, unsupported).
    """
    uid = str(ds.get("SOPInstanceUID", ""))
    problem = uid_problem(uid)
    if problem is not None:
        raise DicomDataError(f"instance {uid!r}: its SOPInstanceUID {problem}; it cannot be part of a volume")
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        sop_class = ds.get("SOPClassUID")
        kind = getattr(sop_class, "name", None) or sop_class or "unknown SOP class"
        raise DicomDataError(
            f"instance {uid} has no pixel data (it is a {kind}); it cannot be part of a volume"
        )
    n_frames = _pixel_description(ds, uid)
    try:
        return _frames(ds, uid, n_frames, source)
    except DicomDataError:
        raise
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, OverflowError) as exc:
        raise DicomDataError(f"instance {uid} has a malformed attribute ({_short(exc)})") from None


_PIXEL_TAGS: dict[str, tuple[int | None, tuple[int, ...] | None]] = {
    "Rows": (None, None),
    "Columns": (None, None),
    "NumberOfFrames": (1, None),
    "SamplesPerPixel": (1, (1, 3, 4)),
    "BitsAllocated": (16, (1, 8, 16, 32, 64)),
    "PixelRepresentation": (0, (0, 1)),
}
"""Attributes the pixels are read with: (default when absent or None for required, allowed values)."""


def _pixel_description(ds: Any, uid: str) -> int:
    """Check the attributes that describe the pixels; return the number of frames.

    Raises
    ------
    DicomDataError
        Naming the instance and the attribute that is missing, not a number, or out of range.
    """
    n_frames = 1
    for keyword, (default, allowed) in _PIXEL_TAGS.items():
        try:
            value = ds.get(keyword)
        except (ValueError, TypeError, OverflowError):  # pydicom converts on access
            raw = ds.get_item(keyword)
            value = getattr(raw, "value", raw)
        if value in (None, ""):
            if default is None:
                raise DicomDataError(f"instance {uid} has no {keyword}; its pixels cannot be read")
            value = default
        try:
            number = int(value)
        except (TypeError, ValueError):
            text = value.decode("latin-1", "replace") if isinstance(value, bytes) else value
            raise DicomDataError(f"instance {uid} has a malformed {keyword} {str(text).strip()!r}") from None
        if number < 1 and keyword not in ("PixelRepresentation",):
            raise DicomDataError(f"instance {uid} has {keyword} {number}; it must be at least 1")
        if allowed is not None and number not in allowed:
            raise DicomDataError(
                f"instance {uid} has {keyword} {number}; DICOM allows only {', '.join(map(str, allowed))}"
            )
        if keyword == "NumberOfFrames":
            n_frames = number
    return n_frames


def _frames(ds: Any, uid: str, n_frames: int, source: bytes | memoryview | None) -> list[Frame]:
    pixels = _pixels(ds, uid, n_frames, source)
    if n_frames == 1:
        pixels = pixels[np.newaxis]
    shared = _item(ds, "SharedFunctionalGroupsSequence", 0)
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    # RT Dose and other legacy multi-frames: frame k lies GridFrameOffsetVector[k] mm along the normal.
    offsets = ds.get("GridFrameOffsetVector") if per_frame is None and n_frames > 1 else None
    number = ds.get("InstanceNumber")
    frames = []
    for index in range(n_frames):
        groups = [per_frame[index]] if per_frame is not None and index < len(per_frame) else []
        if shared is not None:
            groups.append(shared)
        groups.append(ds)  # top level: classic single-frame attributes

        def find(sequence: str, keyword: str, groups: list[Any] = groups) -> Any:
            for group in groups:
                item = _item(group, sequence, 0) if group is not ds else ds
                value = item.get(keyword) if item is not None else None  # one look-up: a hot path
                if value is not None and value != "":
                    return value
            return None

        position = find("PlanePositionSequence", "ImagePositionPatient")
        orientation = find("PlaneOrientationSequence", "ImageOrientationPatient")
        spacing = find("PixelMeasuresSequence", "PixelSpacing") or ds.get("ImagerPixelSpacing")
        between = find("PixelMeasuresSequence", "SpacingBetweenSlices")
        thickness = find("PixelMeasuresSequence", "SliceThickness")
        slope = find("PixelValueTransformationSequence", "RescaleSlope") or ds.get("DoseGridScaling")
        intercept = find("PixelValueTransformationSequence", "RescaleIntercept")
        if offsets is not None and position is not None and orientation is not None and index < len(offsets):
            normal = np.cross(np.asarray(orientation[:3], float), np.asarray(orientation[3:], float))
            position = np.asarray(position, float) + float(offsets[index]) * normal
        frames.append(
            Frame(
                sop_instance_uid=uid,
                frame=index if n_frames > 1 else None,
                pixels=pixels[index],
                position=_vector(position, 3, "ImagePositionPatient", uid),
                orientation=_vector(orientation, 6, "ImageOrientationPatient", uid),
                pixel_spacing=(float(spacing[0]), float(spacing[1])) if spacing else None,
                slice_spacing=float(between or thickness) if (between or thickness) else None,
                slope=float(slope) if slope is not None else 1.0,
                intercept=float(intercept) if intercept is not None else 0.0,
                instance_number=int(number) if number not in (None, "") else None,
            )
        )
    return frames


def _item(ds: Any, sequence: str, index: int) -> Any:
    seq = ds.get(sequence)
    return seq[index] if seq is not None and len(seq) > index else None


def _vector(value: Any, size: int, keyword: str, uid: str) -> np.ndarray | None:
    if value is None:
        return None
    try:
        vector = np.asarray([float(v) for v in value], dtype=float)
    except (TypeError, ValueError):
        raise DicomDataError(f"instance {uid} has a malformed {keyword} {value!r}") from None
    if vector.shape != (size,) or not np.isfinite(vector).all():
        raise DicomDataError(f"instance {uid} has a malformed {keyword} {value!r}")
    return vector


_NATIVE_LE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}


def native_dtype(ds: Any) -> np.dtype | None:
    """The numpy dtype of pixel data that can be viewed as it is stored (uncompressed little endian,
    monochrome, 8/16/32 bits, no sign bits to extend), else ``None``."""
    bits = int(ds.get("BitsAllocated", 16))
    signed = int(ds.get("PixelRepresentation", 0)) == 1
    syntax = str(ds.file_meta.get("TransferSyntaxUID", "")) if hasattr(ds, "file_meta") else ""
    if (
        syntax in _NATIVE_LE
        and "PixelData" in ds
        and int(ds.get("SamplesPerPixel", 1)) == 1
        and bits in (8, 16, 32)
        and (int(ds.get("BitsStored", bits)) == bits or not signed)
    ):
        return np.dtype(f"{'i' if signed else 'u'}{bits // 8}").newbyteorder("<")
    return None


def _pixels(ds: Any, uid: str, n_frames: int, source: bytes | memoryview | None) -> np.ndarray:
    from pydicom.dataelem import RawDataElement

    rows, cols = int(ds.Rows), int(ds.Columns)
    element = ds.get_item("PixelData", keep_deferred=True) if "PixelData" in ds else None
    deferred = isinstance(element, RawDataElement) and element.value is None and element.length > 0
    if deferred and source is None:
        raise ValueError("frames_of needs the source buffer of a dataset read with deferred pixel data")
    dtype = native_dtype(ds)
    if dtype is not None and element is not None:
        if deferred:
            assert source is not None  # checked above
            raw = memoryview(source).cast("B")[element.value_tell : element.value_tell + element.length]
        else:
            raw = ds.PixelData
        expected = rows * cols * n_frames * dtype.itemsize
        if len(raw) < expected:
            raise DicomDataError(
                f"instance {uid} is truncated: its pixel data holds {len(raw)} bytes, "
                f"{rows}x{cols}x{n_frames} frames of {dtype.itemsize * 8} bits need {expected}"
            )
        array = np.frombuffer(raw, dtype=dtype, count=rows * cols * n_frames)
        return array.reshape((n_frames, rows, cols) if n_frames > 1 else (rows, cols))
    if deferred:  # pydicom's pixel handlers need the value itself
        ds = read_dataset(source, uid, defer=False)  # type: ignore[arg-type]
    try:
        return ds.pixel_array
    except Exception as exc:  # pydicom raises many kinds (ValueError, RuntimeError, NotImplementedError ...)
        raise DicomDataError(f"instance {uid}: its pixel data cannot be decoded ({_short(exc)})") from None


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


# -- stacking ---------------------------------------------------------------------------------------------
def stack_frames(frames: Sequence[Frame], *, arena: np.ndarray | FrameArena | None = None) -> Volume:
    """Order frames by position along the slice normal, check the geometry and build the volume.

    With ``arena`` (the frames' pixels already copied into it, ``frame.slot`` giving where), the slices are
    put in order and rescaled in place: no second copy of the volume is made. A
    :class:`~workbench.imaging.arena.FrameArena` may have rescaled them already, as they arrived.

    Raises
    ------
    DicomDataError
        Mixed orientations, duplicate positions, differing sizes or pixel spacings.
    """
    first = frames[0]
    for frame in frames[1:]:
        if frame.pixels.shape != first.pixels.shape:
            raise DicomDataError(
                f"{frame.label} is {frame.pixels.shape} pixels but {first.label} is {first.pixels.shape}; "
                "a volume needs one image size"
            )
    info: dict[str, Any] = {}
    has_geometry = all(f.position is not None and f.orientation is not None for f in frames)
    if has_geometry:
        ordered, origin, direction, z_spacing = _ordered_geometry(frames, info)
    else:
        ordered, origin, direction, z_spacing = _fallback_geometry(frames, info)
    spacings = {f.pixel_spacing for f in ordered}
    if len(spacings) > 1:
        shown = sorted(spacings, key=lambda s: s or (0.0, 0.0))
        raise DicomDataError(f"the slices have different pixel spacings {shown}")
    row_spacing, col_spacing = first.pixel_spacing or (1.0, 1.0)
    placed = arena if isinstance(arena, FrameArena) else None
    raw = arena.stacked() if isinstance(arena, FrameArena) else arena
    slots = [f.slot for f in ordered if f.slot is not None]
    if raw is not None and len(raw) == len(ordered) == len(slots):
        _permute(raw, slots)
        if placed is None:
            array = _rescaled_stack(ordered, raw=raw)
        else:
            placed.arranged(slots)
            if placed.rescaled:
                array = placed.rescaled_values()
            else:
                array = _rescaled_stack(ordered, raw=raw, ranges=placed.ranges(slots))
    else:
        if placed is not None:
            placed.restore()  # the frames view it: their stored values, not rescaled ones
        array = _rescaled_stack(ordered)
    metadata = {
        "sop_instance_uids": [f.sop_instance_uid for f in ordered],
        "frames": [f.frame for f in ordered] if any(f.frame is not None for f in ordered) else None,
        **info,
    }
    return Volume(
        array=array,
        spacing=(col_spacing, row_spacing, z_spacing),
        origin=xyz(origin),
        direction=direction,
        metadata=metadata,
    )


def _ordered_geometry(
    frames: Sequence[Frame], info: dict[str, Any]
) -> tuple[list[Frame], np.ndarray, np.ndarray, float]:
    first = frames[0]
    assert first.orientation is not None and first.position is not None
    for frame in frames[1:]:
        assert frame.orientation is not None
        if np.abs(frame.orientation - first.orientation).max() > ORIENTATION_TOLERANCE:
            raise DicomDataError(
                f"mixed orientations: {first.label} has ImageOrientationPatient {first.orientation.tolist()} "
                f"but {frame.label} has {frame.orientation.tolist()}; load one orientation at a time"
            )
    row = first.orientation[:3] / np.linalg.norm(first.orientation[:3])
    col = first.orientation[3:] / np.linalg.norm(first.orientation[3:])
    normal = np.cross(row, col)
    distances = np.array([float(np.dot(f.position, normal)) for f in frames])  # type: ignore[arg-type]
    order = np.argsort(distances, kind="stable")
    ordered = [frames[i] for i in order]
    distances = distances[order]
    gaps = np.diff(distances)
    for index in np.flatnonzero(gaps < POSITION_TOLERANCE_MM):
        a, b = ordered[index], ordered[index + 1]
        raise DicomDataError(
            f"duplicate slice position {distances[index]:.3f} mm along the normal: {a.label} and {b.label}; "
            "the series mixes acquisitions (load them separately) or holds a copy"
        )
    if len(ordered) == 1:
        direction = np.column_stack([row, col, normal])
        return ordered, first.position, direction, first.slice_spacing or 1.0
    step = (ordered[-1].position - ordered[0].position) / (len(ordered) - 1)
    z_spacing = float(np.linalg.norm(step))
    k_axis = step / z_spacing
    median = float(np.median(gaps))
    deviation = float(np.max(np.abs(gaps - median)))
    if deviation > SPACING_TOLERANCE * median:
        info["irregular_spacing"] = True
        info["slice_distances"] = [round(float(d), 4) for d in distances]
        info["slice_positions"] = [[round(float(v), 4) for v in f.position] for f in ordered]
        message = (
            f"irregular slice spacing: distances between slices range from {gaps.min():.3f} to "
            f"{gaps.max():.3f} mm (median {median:.3f}); the affine uses the mean {z_spacing:.3f} mm. "
            "The real positions are in metadata['slice_positions'], and Volume.save writes them beside a "
            "NIfTI file (its description says so) in a sidecar .json"
        )
        logger.warning(message)
        warnings.warn(message, GeometryWarning, stacklevel=3)
    if abs(float(np.dot(k_axis, normal))) < 1 - ORIENTATION_TOLERANCE:
        info["sheared"] = True
        message = (
            "slices are sheared (gantry tilt?): the stack advances "
            f"{np.degrees(np.arccos(np.clip(np.dot(k_axis, normal), -1, 1))):.2f} degrees off the normal; "
            "the direction matrix is not orthogonal"
        )
        logger.warning(message)
        warnings.warn(message, GeometryWarning, stacklevel=3)
    direction = np.column_stack([row, col, k_axis])
    return ordered, ordered[0].position, direction, z_spacing


def _fallback_geometry(
    frames: Sequence[Frame], info: dict[str, Any]
) -> tuple[list[Frame], np.ndarray, np.ndarray, float]:
    """Frames without ImagePositionPatient/ImageOrientationPatient (projection X-ray, secondary capture)."""
    info["geometry"] = "unknown"
    if len({f.sop_instance_uid for f in frames}) > 1:
        message = (
            "the instances have no ImagePositionPatient/ImageOrientationPatient: ordered by "
            "InstanceNumber; origin and direction are placeholders"
        )
        logger.warning(message)
        warnings.warn(message, GeometryWarning, stacklevel=3)
    ordered = sorted(frames, key=lambda f: (f.instance_number or 0, f.frame or 0))
    first = ordered[0]
    origin = first.position if first.position is not None else np.zeros(3)
    if first.orientation is not None:
        row, col = first.orientation[:3], first.orientation[3:]
        direction = np.column_stack([row, col, np.cross(row, col)])
    else:
        direction = np.eye(3)
    return ordered, origin, direction, first.slice_spacing or 1.0


def _permute(array: np.ndarray, order: Sequence[int]) -> None:
    """Reorder ``array`` in place so that ``array[j]`` becomes the former ``array[order[j]]``.

    Follows the permutation's cycles with one slice of scratch space (not a second array).
    """
    done = np.zeros(len(order), dtype=bool)
    scratch: np.ndarray | None = None
    for start in range(len(order)):
        if done[start] or order[start] == start:
            done[start] = True
            continue
        if scratch is None:
            scratch = np.empty_like(array[0])
        scratch[...] = array[start]
        j = start
        while True:
            done[j] = True
            k = order[j]
            if k == start:
                array[j] = scratch
                break
            array[j] = array[k]
            j = k


def _rescaled_stack(
    frames: Sequence[Frame],
    raw: np.ndarray | None = None,
    ranges: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Stack frames and apply the modality rescale in place.

    ``ranges`` are the frames' stored minimum and maximum values when already known (a
    :class:`~workbench.imaging.arena.FrameArena` takes them as the slices arrive).

    Integral slopes and intercepts give ``int16`` when every value fits (checked on the stored range), else
    ``int32``; anything else ``float32``. Working in place on one array (integer arithmetic wraps, and the
    range check guarantees the final values fit) avoids full-size temporaries: on a 300x512x512 CT this is
    several times faster than ``np.stack(...) * slope + intercept``.
    """
    first = frames[0].pixels
    if raw is None:
        raw = np.empty((len(frames), *first.shape), dtype=first.dtype.newbyteorder("="))
        for k, f in enumerate(frames):
            raw[k] = f.pixels
    if first.ndim == 3:  # colour: samples on the last axis, no modality rescale
        return raw
    slopes = np.array([f.slope for f in frames])
    intercepts = np.array([f.intercept for f in frames])
    uniform = bool((slopes == slopes[0]).all() and (intercepts == intercepts[0]).all())
    integral = raw.dtype.kind in "iu" and bool(
        (slopes == np.round(slopes)).all() and (intercepts == np.round(intercepts)).all()
    )
    if not integral:
        out = raw.astype(np.float32)
        if uniform:
            out *= np.float32(slopes[0])
            out += np.float32(intercepts[0])
        else:
            for k in range(len(frames)):
                out[k] *= np.float32(slopes[k])
                out[k] += np.float32(intercepts[k])
        return out
    if ranges is not None:
        low, high = ranges
    else:
        flat = raw.reshape(len(frames), -1)
        low, high = flat.min(axis=1).astype(float), flat.max(axis=1).astype(float)
    ends = np.stack([slopes * low + intercepts, slopes * high + intercepts])
    limits = np.iinfo(np.int16)
    dtype = (
        np.dtype(np.int16) if limits.min <= ends.min() and ends.max() <= limits.max else np.dtype(np.int32)
    )
    if (
        raw.dtype.itemsize == dtype.itemsize
        and low.min() >= np.iinfo(dtype).min
        and high.max() <= np.iinfo(dtype).max
    ):
        out = raw.view(dtype)
    else:
        out = raw.astype(dtype)
    if uniform:
        if slopes[0] != 1:
            out *= dtype.type(slopes[0])
        if intercepts[0] != 0:
            out += dtype.type(intercepts[0])
    else:
        for k in range(len(frames)):
            out[k] *= dtype.type(slopes[k])
            out[k] += dtype.type(intercepts[k])
    return out


def _write_nifti(image: Any, fh: BinaryIO, *, compressed: bool) -> None:
    """Write a NIfTI image to an open binary file, gzip-compressed as nibabel writes ``.nii.gz``."""
    if not compressed:
        image.to_stream(fh)
        return
    with gzip.GzipFile(fileobj=fh, mode="wb", compresslevel=1, mtime=0) as gz:
        image.to_stream(gz)
