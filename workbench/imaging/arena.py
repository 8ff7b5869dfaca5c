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
  :func:`crc32_combine`), which costs microseconds. The checksums are taken by a thread of their own
  (``zlib.crc32`` releases the GIL): 8 ms of CPU per 100 CT slices, which the loading thread no longer spends
  between receiving one slice and the next; it waits for them only before moving any slice.
"""

from __future__ import annotations

import os
import queue
import threading
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
    the array plus every file. A frame goes to the slot it is expected to have in slice order (``hint``,
    from its InstanceNumber: :class:`SlotGuess`) when that slot is free, else to
    the first free one; :func:`~workbench.imaging.volume.stack_frames` then puts the frames in slice order
    in place, which moves nothing when every guess was right.

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
    """

    def __init__(self, capacity: int | None = None, allocate: Allocator | None = None) -> None:
        self.capacity = capacity
        self.allocate = allocate or (lambda shape, dtype: np.empty(shape, dtype=dtype))
        self.array: np.ndarray | None = None
        self.count = 0
        self.first_label = ""
        self.rescaled = True
        self._taken = bytearray()
        self._free = 0  # no free slot below this one
        self._low: list[int | None] = []
        self._high: list[int | None] = []
        self._intercepts: dict[int, int] = {}
        self._crcs: list[int | None] = []
        self._pending = 0  # checksums still being computed by _CRC32
        self._results: queue.SimpleQueue[tuple[int, int | None]] = queue.SimpleQueue()
        self._order: list[int] | None = None

    def place(
        self,
        pixels: np.ndarray,
        label: str,
        slope: float,
        intercept: float,
        expected_frames: int = 1,
        hint: int | None = None,
    ) -> tuple[int, np.ndarray]:
        """Copy one frame's stored pixels into a slot; return the slot and its view of the arena.

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
            self._taken = bytearray(capacity)
            self._low, self._high = [None] * capacity, [None] * capacity
            self._crcs = [0] * capacity
        elif pixels.shape != self.array.shape[1:]:
            raise DicomDataError(
                f"{label} is {pixels.shape} pixels but {self.first_label} is {self.array.shape[1:]}; "
                "a volume needs one image size"
            )
        slot = self._slot(hint)
        target = self.array[slot]
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
            self._intercepts[slot] = int(intercept)
            _CRC32.submit(values.reshape(-1).view(np.uint8).data, slot, self._results)
            self._pending += 1
        else:
            if self.rescaled:
                self.restore()
            target[...] = pixels
            if low is None and self.array.dtype.kind in "iu":
                low, high = int(target.min()), int(target.max())
        self._low[slot], self._high[slot] = low, high
        return slot, target

    def _settle(self) -> None:
        """Wait for the checksums still being computed (before any slot is moved)."""
        while self._pending:
            slot, crc = self._results.get()
            self._crcs[slot] = crc
            self._pending -= 1

    def _slot(self, hint: int | None) -> int:
        """Take the hinted slot if free, else the first free one (growing the array when it is full)."""
        assert self.array is not None
        taken = self._taken
        if hint is not None and 0 <= hint < len(taken) and not taken[hint]:
            slot = hint
        else:
            if self.count == len(taken):  # more frames than announced: grow (copies once)
                grown = np.empty((2 * len(taken), *self.array.shape[1:]), dtype=self.array.dtype)
                grown[: len(taken)] = self.array
                self.array = grown
                more = len(taken)
                taken.extend(bytes(more))
                self._low += [None] * more
                self._high += [None] * more
                self._crcs += [0] * more
            while taken[self._free]:
                self._free += 1
            slot = self._free
        taken[slot] = 1
        self.count += 1
        return slot

    def restore(self) -> None:
        """Give the rescaled slots their stored values back (exactly: int16 arithmetic wraps); stop."""
        self.rescaled = False
        if self.array is None:
            return
        self._settle()  # no checksum is taken of a slot while its values change
        for slot, intercept in self._intercepts.items():
            if intercept:
                values = self.array[slot].view(np.int16)
                values -= np.int16(intercept)
        self._intercepts.clear()

    def compact(self) -> dict[int, int]:
        """Move frames placed beyond the first :attr:`count` slots into free ones below (fewer frames came
        than announced); return ``{old slot: new slot}`` of the frames moved."""
        if self.array is None:
            return {}
        self._settle()
        taken, moved = self._taken, {}
        holes = (k for k in range(self.count) if not taken[k])
        for slot in range(self.count, len(taken)):
            if taken[slot]:
                hole = next(holes)
                self.array[hole] = self.array[slot]
                taken[hole], taken[slot] = 1, 0
                self._low[hole], self._high[hole] = self._low[slot], self._high[slot]
                self._crcs[hole] = self._crcs[slot]
                if slot in self._intercepts:
                    self._intercepts[hole] = self._intercepts.pop(slot)
                moved[slot] = hole
        return moved

    def stacked(self) -> np.ndarray:
        """The placed frames (a view of the arena; :meth:`compact` first if fewer came than announced)."""
        assert self.array is not None
        self._settle()  # the slots may be moved by the caller: their checksums first
        return self.array[: self.count]

    def arranged(self, order: Sequence[int]) -> None:
        """Note that the slots were put in ``order`` (``stacked()[j]`` is the former slot ``order[j]``)."""
        self._order = list(order)

    def ranges(self, order: Sequence[int]) -> tuple[np.ndarray, np.ndarray] | None:
        """The stored value range of each slot, in ``order``; ``None`` for non-integer pixels."""
        low, high = [self._low[k] for k in order], [self._high[k] for k in order]
        if None in low or None in high:
            return None
        return np.array(low, float), np.array(high, float)

    def rescaled_values(self) -> np.ndarray:
        """The frames as final ``int16`` values (only when :attr:`rescaled`)."""
        assert self.rescaled
        return self.stacked().view(np.int16)

    def crc32(self) -> int | None:
        """CRC-32 of the arranged, rescaled frames' bytes, as ``zlib.crc32`` of the array; else ``None``."""
        if not self.rescaled or self._order is None or not self._order or self.array is None:
            return None
        self._settle()
        operator = _x2nmodp(self.array[0].nbytes, 3)  # appending one slice's bytes
        crcs = [self._crcs[slot] for slot in self._order]
        known = [value for value in crcs if value is not None]
        if len(known) < len(crcs):
            return None
        crc = known[0]
        for value in known[1:]:
            crc = _multmodp(operator, crc) ^ value
        return crc


class _Crc32Thread:
    """One thread taking the CRC-32 of the buffers queued to it (``zlib.crc32`` releases the GIL)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[memoryview, int, queue.SimpleQueue[tuple[int, int | None]]]]
        self._jobs = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, data: memoryview, slot: int, results: queue.SimpleQueue[tuple[int, int | None]]) -> None:
        """Queue ``data``; ``(slot, zlib.crc32(data))`` is put in ``results`` once computed."""
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    thread = threading.Thread(target=self._run, name="workbench-crc32", daemon=True)
                    thread.start()
                    self._thread = thread
        self._jobs.put((data, slot, results))

    def _run(self) -> None:
        jobs = self._jobs
        while True:
            data, slot, results = jobs.get()
            try:
                crc: int | None = zlib.crc32(data)
            except BaseException:  # never: but the waiting load must not hang
                crc = None
            results.put((slot, crc))
            del data, results


_CRC32 = _Crc32Thread()
"""The process's checksum thread (started on first use)."""


def _forget_crc32_thread() -> None:
    """A forked child has no such thread (nor its queue's waiters): it starts its own."""
    global _CRC32
    _CRC32 = _Crc32Thread()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_crc32_thread)


class SlotGuess:
    """Guesses where a slice goes in slice order from its InstanceNumber (:meth:`FrameArena.place`'s hint).

    Scanners number the slices of a series 1..n along the stack, one way or the other; two slices tell
    which (their numbers against their positions along the slice normal). Put in its place as it arrives,
    a slice need not be moved once all have come (moving them costs 2 ms per 100 CT slices); a wrong guess
    costs only that move, which :func:`~workbench.imaging.volume.stack_frames` makes anyway.

    Parameters
    ----------
    count
        Slices expected; ``None``: no guesses.
    """

    def __init__(self, count: int | None) -> None:
        self.count = count
        self.direction = 0
        """+1: numbers grow along the normal, -1: they shrink, 0: not known yet."""
        self.first: int | None = None
        """The InstanceNumber of the first slice seen (its place is known once :attr:`direction` is)."""
        self._normal: np.ndarray | None = None
        self._distance = 0.0

    def hint(
        self, number: int | None, position: np.ndarray | None, orientation: np.ndarray | None
    ) -> int | None:
        """The slot of slice ``number`` (``None`` when it cannot be guessed, as for the first slice)."""
        if self.count is None or number is None or position is None or orientation is None:
            return None
        if not self.direction:
            if self._normal is None:
                self._normal = np.cross(orientation[:3], orientation[3:])
            distance = float(np.dot(position, self._normal))
            if self.first is None:
                self.first, self._distance = number, distance
                return None
            if number == self.first or distance == self._distance:
                return None
            self.direction = 1 if (number > self.first) == (distance > self._distance) else -1
        return self.slot(number)

    def slot(self, number: int | None) -> int | None:
        """Where slice ``number`` goes, once :attr:`direction` is known."""
        if number is None or self.count is None or not self.direction:
            return None
        return number - 1 if self.direction > 0 else self.count - number


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
