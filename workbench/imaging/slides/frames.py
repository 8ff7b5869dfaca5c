"""Tiles of a slide: decoding one frame's bytes, and the on-disk cache of frames.

Frames are cached as the server sent them (JPEG, JPEG 2000 or raw pixels) in
``<cache folder>/frames/<server key>/<SOPInstanceUID>-<frame>.frame``, beside the instance cache and under
the same size limit (:mod:`workbench.imaging.cache`: each frame is one entry of the least-recently-used
pruning). A SOPInstanceUID never changes content, so entries never go stale. A region's new frames are
written after the read has returned, by the cache's background writer
(:data:`workbench.imaging.cache.WRITER`, joined at exit and by ``workbench cache clear``); until then
:meth:`FrameCache.get` answers them from memory, and :func:`wait_for_writes` waits for them.

JPEG tiles are decoded with simplejpeg (libjpeg-turbo straight into a numpy array, about a third faster than
Pillow on 256-pixel tiles, the same pixels) when it is installed (the ``pathology`` extra), else with Pillow
(the same libjpeg-turbo behind an image object).
"""

from __future__ import annotations

import io
import itertools
import logging
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from workbench.errors import DicomDataError
from workbench.files import atomic_write
from workbench.imaging.cache import JANITOR, PART_PREFIX, WRITER, mark

try:  # the fast JPEG decoder of the pathology extra
    import simplejpeg
except ImportError:  # pragma: no cover - depends on the extras installed
    simplejpeg = None

logger = logging.getLogger(__name__)

FAST_COLOURS = ("YCbCr", "Gray")
"""JPEG colour spaces simplejpeg decodes to the same RGB as Pillow."""

_PENDING: dict[Path, bytes] = {}
"""Frames handed to the background writer and not written yet (what :meth:`FrameCache.get` answers)."""
_PENDING_LOCK = threading.Lock()
_BATCHES = itertools.count()
_FORKED = False
"""Whether this is a forked child (a DataLoader worker), where the parent's writer thread is gone."""


def _forked() -> None:
    global _FORKED, _PENDING_LOCK
    _FORKED = True
    _PENDING.clear()
    _PENDING_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forked)

_UID_RE = re.compile(r"^[0-9.]{1,64}$")
JPEG_START = b"\xff\xd8"
J2K_STARTS = (b"\xff\x4f\xff\x51", b"\x00\x00\x00\x0cjP  ")


class FrameCache:
    """Encoded frames of one server on local disk.

    Parameters
    ----------
    root
        The cache folder (the one of the archive's instance cache).
    key
        The server's key (:func:`workbench.imaging.cache.server_key`).
    """

    def __init__(self, root: str | Path, key: str) -> None:
        self.root = Path(root)
        self.folder = self.root / "frames" / key

    def __repr__(self) -> str:
        return f"FrameCache({str(self.folder)!r})"

    def path(self, sop_instance_uid: str, frame: int) -> Path:
        """Where a frame is (or would be) cached.

        Raises
        ------
        ValueError
            The UID is not a DICOM UID or the frame number is not positive.
        """
        if not _UID_RE.match(sop_instance_uid) or frame < 1:
            raise ValueError(f"{sop_instance_uid!r} frame {frame} does not name a frame")
        return self.folder / f"{sop_instance_uid}-{int(frame)}.frame"

    def get(self, sop_instance_uid: str, frame: int) -> bytes | None:
        """The cached frame (marking it used), or ``None``."""
        path = self.path(sop_instance_uid, frame)
        with _PENDING_LOCK:
            pending = _PENDING.get(path)
        if pending is not None:
            return pending
        try:
            data = path.read_bytes()
            os.utime(path)
        except FileNotFoundError:
            return None
        return data

    def put(self, sop_instance_uid: str, frame: int, data: bytes) -> None:
        """Store one frame atomically; a full or read-only disk only logs a warning."""
        try:
            mark(self.root)  # the cache's own folder: pruning and `cache clear` touch only what it made
            self.folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.folder.mkdir(exist_ok=True, mode=0o700)
            atomic_write(self.path(sop_instance_uid, frame), data, prefix=PART_PREFIX)
        except OSError as exc:
            logger.warning(
                "could not cache frame %d of %s in %s: %s", frame, sop_instance_uid, self.folder, exc
            )
            return
        JANITOR.wrote(self.root, len(data))

    def put_later(
        self, frames: dict[tuple[str, int], bytes], after: Callable[[], object] | None = None
    ) -> None:
        """Store frames (``(SOPInstanceUID, frame) -> bytes``) in the background, then call ``after``.

        Until each is written, :meth:`get` answers it from memory; :func:`wait_for_writes` waits for all.
        """
        if not frames:
            return
        if _FORKED:  # no background thread here: write now
            for (uid, n), data in frames.items():
                self.put(uid, n, data)
            if after is not None:
                after()
            return
        paths = {(uid, n): self.path(uid, n) for uid, n in frames}
        with _PENDING_LOCK:
            _PENDING.update((paths[key], data) for key, data in frames.items())

        def job() -> None:
            try:
                for (uid, n), data in frames.items():
                    self.put(uid, n, data)
                    with _PENDING_LOCK:
                        if _PENDING.get(paths[(uid, n)]) is data:
                            del _PENDING[paths[(uid, n)]]
            finally:
                with _PENDING_LOCK:
                    for key, path in paths.items():
                        if _PENDING.get(path) is frames[key]:
                            del _PENDING[path]
            if after is not None:
                after()

        WRITER.submit(self.folder / f".frames-{next(_BATCHES)}", job)


def wait_for_writes() -> None:
    """Wait until every frame handed to the background writer is on disk."""
    WRITER.wait_all()


def decode_frame(
    data: bytes,
    *,
    rows: int,
    columns: int,
    photometric: str = "RGB",
    planar: int = 0,
    what: str = "frame",
) -> np.ndarray:
    """One tile as ``(rows, columns, 3)`` uint8 RGB.

    JPEG and JPEG 2000 are recognised by their first bytes and decoded with simplejpeg (Pillow when it is
    not installed, or for a JPEG neither YCbCr nor grey, such as CMYK) and pylibjpeg-openjpeg;
    anything else must be raw 8-bit pixels of exactly ``rows * columns * 3`` bytes (or one sample, for
    monochrome, repeated into three).

    Raises
    ------
    DicomDataError
        The bytes are not a decodable tile of that size (naming ``what``).
    """
    try:
        if data[:2] == JPEG_START:
            array = _jpeg(data)
        elif data.startswith(J2K_STARTS):
            from openjpeg import decode

            array = np.asarray(decode(data))
            if photometric.startswith("YBR") and array.ndim == 3:
                array = _ybr_to_rgb(array)
        else:
            array = _raw(data, rows, columns, photometric, planar)
    except DicomDataError:
        raise
    except Exception as exc:  # decoders raise many types for corrupt data
        raise DicomDataError(f"{what} cannot be decoded ({type(exc).__name__}: {exc})") from None
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.shape != (rows, columns, 3):
        raise DicomDataError(f"{what} decodes to {array.shape}, expected ({rows}, {columns}, 3)")
    return np.ascontiguousarray(array, dtype=np.uint8)


def _jpeg(data: bytes) -> np.ndarray:
    if simplejpeg is not None:
        try:  # YCbCr and grey as Pillow decodes them; the rest (CMYK ...) is left to Pillow's conversions
            if simplejpeg.decode_jpeg_header(data)[2] in FAST_COLOURS:
                return simplejpeg.decode_jpeg(data, colorspace="RGB")
        except ValueError:  # Pillow decodes (or names the fault of) what simplejpeg cannot
            pass
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))


def _raw(data: bytes, rows: int, columns: int, photometric: str, planar: int) -> np.ndarray:
    pixels = rows * columns
    if len(data) == pixels:
        return np.frombuffer(data, dtype=np.uint8).reshape(rows, columns)
    if len(data) not in (pixels * 3, pixels * 3 + 1):  # raw frames may be padded to an even length
        raise DicomDataError(f"{len(data)} bytes are neither JPEG, JPEG 2000 nor {rows}x{columns} raw pixels")
    flat = np.frombuffer(data, dtype=np.uint8, count=pixels * 3)
    array = flat.reshape(3, rows, columns).transpose(1, 2, 0) if planar else flat.reshape(rows, columns, 3)
    return _ybr_to_rgb(array) if photometric.startswith("YBR") else array


def _ybr_to_rgb(array: np.ndarray) -> np.ndarray:
    from pydicom.pixels import convert_color_space

    return convert_color_space(np.ascontiguousarray(array), "YBR_FULL", "RGB")
