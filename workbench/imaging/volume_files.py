"""Volumes from a series' DICOM files: each file read as it arrives and stacked into one array.

:func:`volume_from_files` is what every load ends in (both archive kinds, the on-disk instance cache, local
files): files of the common kind go through :mod:`workbench.imaging.native`, the others through pydicom
(:func:`workbench.imaging.volume.read_dataset`, :func:`~workbench.imaging.volume.frames_of`); each slice is
placed in a preallocated array (:class:`~workbench.imaging.arena.FrameArena`) and the stack's geometry is
worked out by :func:`~workbench.imaging.volume.stack_frames`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from workbench.errors import DicomDataError
from workbench.imaging.arena import Allocator, FrameArena, SlotGuess
from workbench.imaging.native import NativeImage, read_native
from workbench.imaging.volume import (
    BadTagWarning,
    Frame,
    SkippedInstancesWarning,
    Volume,
    frames_of,
    native_dtype,
    read_dataset,
    stack_frames,
)

logger = logging.getLogger(__name__)


def volume_from_files(
    items: Iterable[tuple[str, bytes | memoryview]],
    *,
    skip_bad: bool = False,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    expected: int | None = None,
    allocate: Allocator | None = None,
    on_crc32: Callable[[int], None] | None = None,
) -> Volume:
    """Parse, decode and stack the DICOM files of one series.

    Each file is decoded as it comes (``items`` may still be arriving), its pixels copied into one
    preallocated array (:class:`~workbench.imaging.arena.FrameArena`), and the file dropped. Files of the
    common kind (uncompressed little endian, one frame) are read by :func:`~workbench.imaging.native.
    read_native`, the others (and the first file, whose data set gives the series' metadata) by pydicom.

    Parameters
    ----------
    items
        ``(name, bytes)`` per file; ``name`` (usually the SOPInstanceUID) is used in messages.
    skip_bad
        Leave unreadable instances out (reported in ``metadata["skipped"]`` and by a
        :class:`SkippedInstancesWarning`) instead of failing.
    workers
        Threads decoding at once (compressed syntaxes decode outside the GIL).
    progress
        Called with 1 after each file.
    expected
        How many files will come (default: ``len(items)`` when it has one), to preallocate the array.
    allocate
        Makes the array (:data:`~workbench.imaging.arena.Allocator`).
    on_crc32
        Called with the CRC-32 of the returned array's bytes when it was computed on the way (slice by
        slice as they arrived; the volume cache then need not read the array again).

    Returns
    -------
    Volume

    Raises
    ------
    DicomDataError
        A file is unreadable, truncated or has no pixel data (naming it) and ``skip_bad`` is false; or the
        slices cannot form one volume.
    """
    if expected is None and isinstance(items, Sequence):
        expected = len(items)
    arena = FrameArena(expected, allocate)
    frames: list[Frame] = []
    first: list[Any] = []  # the first readable data set: series metadata
    skipped: list[dict[str, str]] = []
    pending: list[tuple[str, Any]] = []
    count = 0

    def failed(name: str, exc: DicomDataError) -> None:
        if not skip_bad:
            raise exc
        skipped.append({"sop_instance_uid": name, "reason": str(exc)})

    guess = SlotGuess(expected)
    held: list[Frame] = []  # the first slice, until another tells which way the InstanceNumbers run

    def place(frame: Frame, frames_in_file: int, hint: int | None) -> None:
        frame.slot, frame.pixels = arena.place(
            frame.pixels, frame.label, frame.slope, frame.intercept, frames_in_file, hint
        )

    def take(ds: Any, decoded: list[Frame]) -> None:
        if not first:
            first.append(ds)
        if len(decoded) == 1:
            frame = decoded[0]
            hint = guess.hint(frame.instance_number, frame.position, frame.orientation)
            if guess.first is not None and not guess.direction and not held and not frames:
                held.append(frame)  # its place is not known yet (its pixels stay in its file meanwhile)
            else:
                if held and guess.direction:
                    place(held.pop(), 1, guess.slot(guess.first))
                place(frame, 1, hint)
        else:
            for frame in decoded:
                place(frame, len(decoded), None)
        frames.extend(decoded)
        if progress is not None:
            progress(1)

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        try:
            # Items are taken as they arrive (a download may still be streaming in). Uncompressed pixels
            # are only viewed, cheaper here than a thread hop; compressed ones go to the decoder threads
            # (pylibjpeg and pyjpegls decode outside the GIL).
            for name, data in items:
                count += 1
                image = read_native(data) if first else None
                if image is not None:
                    take(None, [_native_frame(image)])
                    del image, data  # the file's buffer is freed here: its pixels are in the arena
                    continue
                try:
                    ds = read_dataset(data, name)
                    if _viewable(ds):
                        decoded = frames_of(ds, data)
                    else:
                        pending.append((name, pool.submit(_with_frames, ds, data)))
                        continue
                except DicomDataError as exc:
                    failed(name, exc)
                    continue
                take(ds, decoded)
                del ds, decoded, data  # the file's buffer is freed here: its pixels are in the arena
            for name, future in pending:
                try:
                    ds, decoded = future.result()
                except DicomDataError as exc:
                    failed(name, exc)
                    continue
                take(ds, decoded)
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise
    if held:
        place(held.pop(), 1, guess.slot(guess.first))
    moved = arena.compact()  # fewer frames came than announced: they fill the first slots
    for frame in frames:
        if frame.slot in moved:
            frame.slot = moved[frame.slot]
            frame.pixels = arena.stacked()[frame.slot]
    if not count:
        raise DicomDataError("the series has no instances")
    if skipped:
        text = "; ".join(s["reason"] for s in skipped)
        logger.warning("skipped %d bad instance(s): %s", len(skipped), text)
        warnings.warn(
            f"skipped {len(skipped)} bad instance(s): {text}", SkippedInstancesWarning, stacklevel=2
        )
    if not frames:
        raise DicomDataError(f"no instance of the series could be read ({len(skipped)} skipped)")
    volume = stack_frames(frames, arena=arena)
    volume.metadata.update(_series_metadata(first[0]))
    volume.metadata["skipped"] = skipped
    crc = arena.crc32()
    if crc is not None and on_crc32 is not None:
        on_crc32(crc)
    return volume


def _native_frame(image: NativeImage) -> Frame:
    """The frame of a file read by :func:`~workbench.imaging.native.read_native`."""
    return Frame(
        sop_instance_uid=image.sop_instance_uid,
        frame=None,
        pixels=image.pixels,
        position=None if image.position is None else np.asarray(image.position, dtype=float),
        orientation=None if image.orientation is None else np.asarray(image.orientation, dtype=float),
        pixel_spacing=image.pixel_spacing,
        slice_spacing=image.slice_spacing,
        slope=image.slope,
        intercept=image.intercept,
        instance_number=image.instance_number,
    )


def _viewable(ds: Any) -> bool:
    """Whether the pixels are viewed in place (cheap: decoded here), else decoded in a worker thread."""
    try:
        return native_dtype(ds) is not None or "PixelData" not in ds
    except (ValueError, TypeError, AttributeError):  # malformed tags: frames_of names the problem
        return True


def _with_frames(ds: Any, data: bytes | memoryview) -> tuple[Any, list[Frame]]:
    return ds, frames_of(ds, data)


def _series_metadata(ds: Any) -> dict[str, Any]:
    uid = str(ds.get("SOPInstanceUID", "?"))

    def text(keyword: str) -> str | None:
        try:
            value = ds.get(keyword)
        except (ValueError, TypeError):
            return None
        return str(value) if value not in (None, "") else None

    def number(keyword: str) -> float | None:
        """The (first) value as a number; a malformed one is ignored with a warning, never fatal."""
        try:
            value = ds.get(keyword)
            if value in (None, ""):
                return None
            if hasattr(value, "__len__") and not isinstance(value, str):  # multi-valued: first window
                value = value[0]
            result = float(value)
            if not np.isfinite(result):
                raise ValueError(value)
            return result
        except (ValueError, TypeError, IndexError, OverflowError):
            raw = ds.get_item(keyword)
            shown = getattr(raw, "value", raw)
            if isinstance(shown, bytes):
                shown = shown.decode("latin-1", "replace").strip()
            message = f"instance {uid}: {keyword} {shown!r} is not a number; ignored"
            logger.warning(message)
            warnings.warn(message, BadTagWarning, stacklevel=4)
            return None

    return {
        "patient_id": text("PatientID"),
        "study_uid": text("StudyInstanceUID"),
        "series_uid": text("SeriesInstanceUID"),
        "modality": text("Modality"),
        "series_description": text("SeriesDescription"),
        "frame_of_reference_uid": text("FrameOfReferenceUID"),
        "rescale_type": text("RescaleType"),
        "window_center": number("WindowCenter"),
        "window_width": number("WindowWidth"),
    }
