"""The one array a volume's slices are copied into as they arrive, and the work done on each slice there.

A cold load receives a slice every fraction of a millisecond while the server streams; whatever is done to
a slice as it arrives (its value range, its modality rescale, its checksum) costs little, done while the
slice is still in the processor's cache and the next one is on its way, whereas each pass over the whole
array after the last slice (157 MB for 300 CT slices) keeps the caller waiting. So :class:`FrameArena`:

- records each slice's stored value range (the int16/int32 choice of
  :func:`~workbench.imaging.volume.stack_frames` needs it);
- rescales a slice in place when it can tell that the whole volume will be ``int16`` with that rescale
  (RescaleSlope 1, an integral RescaleIntercept, every value within int16: CT as nearly all scanners store
  it); should a later slice break that, the slices before are restored exactly (integer addition wraps,
  so subtracting the intercept again gives the stored bits back) and the rescale is left to the end;
- takes the CRC-32 of each rescaled slice, so that the volume cache need not read the array again: the
  CRC-32 of the whole array is the slices' CRCs combined in slice order (zlib's ``crc32_combine``,
  :func:`crc32_combine`), which costs microseconds.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence

import numpy as np

from workbench.errors import DicomDataError

Allocator = Callable[[tuple[int, ...], np.dtype], np.ndarray]
"""Makes the array the frames are stacked into: ``allocate(shape, dtype)`` (default ``numpy.empty``)."""

_INT16 = np.iinfo(np.int16)


def _int16_rescale(low: int, high: int, slope: float, intercept: float) -> bool:
    """Whether stored values in ``low..high`` rescale to int16 as :func:`~workbench.imaging.volume.
    stack_frames` does it in place on an int16 view (slope 1, an integral intercept, every value in range)."""
    return (
        slope == 1
        and intercept == round(intercept)
        and _INT16.min <= intercept <= _INT16.max
        and _INT16.min <= low
        and high <= _INT16.max
        and _INT16.min <= low + intercept
        and high + intercept <= _INT16.max
    )


class FrameArena:
    """One preallocated array the frames' pixels are copied into as they are decoded.

    Each file's buffer can then be dropped at once: peak memory is the array plus the files in flight, not
    the array plus every file. Frames are placed in arrival order (their slot) and put in slice order in
    place once all have arrived (:func:`~workbench.imaging.volume.stack_frames`).

    Parameters
    ----------
    capacity
        Frames expected (the number of instances times the frames of the first), or ``None``.
    allocate
        Makes the array (:data:`Allocator`).

    Attributes
    ----------
    rescaled : bool
        Every frame placed so far holds its final ``int16`` modality values (see the module docstring).
    low, high : list of int
        The stored (not rescaled) value range of each slot (integer pixels only).
    """

    def __init__(self, capacity: int | None = None, allocate: Allocator | None = None) -> None:
        self.capacity = capacity
        self.allocate = allocate or (lambda shape, dtype: np.empty(shape, dtype=dtype))
        self.array: np.ndarray | None = None
        self.count = 0
        self.first_label = ""
        self.rescaled = True
        self.low: list[int] = []
        self.high: list[int] = []
        self._intercepts: list[int] = []
        self._crcs: list[int] = []
        self._order: list[int] | None = None

    def place(
        self, pixels: np.ndarray, label: str, slope: float, intercept: float, expected_frames: int = 1
    ) -> tuple[int, np.ndarray]:
        """Copy one frame's stored pixels into the next slot; return the slot and its view of the arena.

        Raises
        ------
        DicomDataError
            The frame's image size differs from the first frame's.
        """
        if self.array is None:
            capacity = max(1, (self.capacity or 1) * expected_frames)
            self.array = self.allocate((capacity, *pixels.shape), pixels.dtype.newbyteorder("="))
            self.first_label = label
            self.rescaled = pixels.ndim == 2 and pixels.dtype.kind in "iu" and pixels.dtype.itemsize == 2
        elif pixels.shape != self.array.shape[1:]:
            raise DicomDataError(
                f"{label} is {pixels.shape} pixels but {self.first_label} is {self.array.shape[1:]}; "
                "a volume needs one image size"
            )
        if self.count == len(self.array):  # more frames than announced: grow (copies once)
            grown = np.empty((2 * len(self.array), *self.array.shape[1:]), dtype=self.array.dtype)
            grown[: self.count] = self.array[: self.count]
            self.array = grown
        slot = self.count
        target = self.array[slot]
        self.count += 1
        low = high = None
        if self.array.dtype.kind in "iu" and pixels.dtype.newbyteorder("=") == self.array.dtype:
            low, high = int(pixels.min()), int(pixels.max())  # the stored values, read before the copy
        if (
            self.rescaled
            and low is not None
            and high is not None
            and _int16_rescale(low, high, slope, intercept)
        ):
            values = target.view(np.int16)
            stored = pixels.view(np.dtype(np.int16).newbyteorder(pixels.dtype.byteorder))
            if intercept:  # copy and rescale in one pass; wraps as stack_frames' in-place rescale: same bits
                np.add(stored, np.int16(intercept), out=values)
            else:
                values[...] = stored
            self._intercepts.append(int(intercept))
            self._crcs.append(zlib.crc32(values.reshape(-1).view(np.uint8).data))
        else:
            if self.rescaled:
                self.restore()
            target[...] = pixels
            if low is None and self.array.dtype.kind in "iu":
                low, high = int(target.min()), int(target.max())
        if low is not None and high is not None:
            self.low.append(low)
            self.high.append(high)
        return slot, target

    def restore(self) -> None:
        """Give the rescaled slots their stored values back (exactly: int16 arithmetic wraps); stop."""
        self.rescaled = False
        if self.array is None:
            return
        for slot, intercept in enumerate(self._intercepts):
            if intercept:
                values = self.array[slot].view(np.int16)
                values -= np.int16(intercept)
        self._intercepts.clear()
        self._crcs.clear()

    def stacked(self) -> np.ndarray:
        """The placed frames (a view of the arena)."""
        assert self.array is not None
        return self.array[: self.count]

    def arranged(self, order: Sequence[int]) -> None:
        """Note that the slots were put in ``order`` (``stacked()[j]`` is the former slot ``order[j]``)."""
        self._order = list(order)

    def ranges(self, order: Sequence[int]) -> tuple[np.ndarray, np.ndarray] | None:
        """The stored value range of each slot, in ``order``; ``None`` for non-integer pixels."""
        if len(self.low) != self.count:
            return None
        return np.array([self.low[k] for k in order], float), np.array([self.high[k] for k in order], float)

    def rescaled_values(self) -> np.ndarray:
        """The frames as final ``int16`` values (only when :attr:`rescaled`)."""
        assert self.rescaled
        return self.stacked().view(np.int16)

    def crc32(self) -> int | None:
        """CRC-32 of the arranged, rescaled frames' bytes, as ``zlib.crc32`` of the array; else ``None``."""
        if not self.rescaled or self._order is None or not self._crcs or self.array is None:
            return None
        operator = _x2nmodp(self.array[0].nbytes, 3)  # appending one slice's bytes
        crcs = self._crcs
        crc = crcs[self._order[0]]
        for slot in self._order[1:]:
            crc = _multmodp(operator, crc) ^ crcs[slot]
        return crc


# -- CRC-32 combination (zlib's crc32_combine, which Python's zlib does not expose) -------------------
_POLY = 0xEDB88320


def _multmodp(a: int, b: int) -> int:
    """``a * b`` modulo the CRC-32 polynomial (reflected bit order), as zlib's ``multmodp``."""
    m = 1 << 31
    p = 0
    while True:
        if a & m:
            p ^= b
            if not a & (m - 1):
                return p
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1


def _powers() -> list[int]:
    table = [1 << 30]  # x^1
    for _ in range(31):
        table.append(_multmodp(table[-1], table[-1]))
    return table


_X2N = _powers()
"""``x^(2^k)`` modulo the polynomial, k = 0..31."""


def _x2nmodp(n: int, k: int) -> int:
    """``x^(n * 2^k)`` modulo the polynomial, as zlib's ``x2nmodp``."""
    p = 1 << 31  # x^0
    while n:
        if n & 1:
            p = _multmodp(_X2N[k & 31], p)
        n >>= 1
        k += 1
    return p


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """The CRC-32 of ``a + b`` from ``crc32(a)``, ``crc32(b)`` and ``len(b)`` (zlib's ``crc32_combine``)."""
    return _multmodp(_x2nmodp(length2, 3), crc1) ^ crc2
