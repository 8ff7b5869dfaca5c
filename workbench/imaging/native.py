"""A fast reader for the common DICOM image: uncompressed little-endian pixels, read without pydicom.

**Why not pydicom on this path.** A cold ``load_series`` has to keep up with the server, which sends one
512x512 CT slice every 0.2-0.5 ms on the benchmark machine (``bench/imaging.py``). pydicom takes about
0.22 ms to parse each file (``dcmread``) and 0.07 ms more to convert the values a volume needs (DS/IS
strings into ``DSfloat``/``IS`` objects on access), most of it on elements the volume never uses; together
they were more than half the client's time in a cold 300-slice load. This module walks the file's data
elements itself (about 0.02 ms a file), keeps the raw bytes of the few attributes a volume needs, converts
them with ``float``/``int`` exactly as pydicom does, and views the pixel data in place.

**Only what it is sure of.** :func:`read_native` handles one case: a Part 10 file (preamble, ``DICM``) in
Explicit or Implicit VR Little Endian, one frame of one sample per pixel of 8, 16 or 32 bits, no functional
groups, every element well formed (tags ascending, lengths inside the file, known VRs, sequences of
undefined length properly delimited). Any other file, or an unusual value (a DS that is not a plain number,
a missing Rows, a truncated pixel data ...), gives ``None``, and the caller reads the file with pydicom
(:func:`workbench.imaging.volume.read_dataset` and :func:`~workbench.imaging.volume.frames_of`), so that every
error and warning stays pydicom's path's own. Both paths give bit-identical frames (``tests/imaging/
test_native.py``).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

import numpy as np

from workbench.imaging.uids import uid_problem

NATIVE_SYNTAXES = {"1.2.840.10008.1.2": False, "1.2.840.10008.1.2.1": True}
"""The transfer syntaxes read here: Implicit and Explicit VR Little Endian (value: explicit VR)."""

UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_PIXEL_DATA = 0x7FE00010
_LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
"""Explicit VRs with a 4-byte length (PS3.5 7.1.2); the others have a 2-byte length."""
_SHORT_VRS = frozenset(
    {
        b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO",
        b"LT", b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US",
    }
)  # fmt: skip
_EXPLICIT = struct.Struct("<HH2sH")
_IMPLICIT = struct.Struct("<HHI")
_LENGTH32 = struct.Struct("<I")
_INTEGER = re.compile(r"[+-]?[0-9]+")

_WANTED: dict[int, tuple[bytes, ...]] = {
    0x00080018: (b"UI",),  # SOPInstanceUID
    0x00180050: (b"DS",),  # SliceThickness
    0x00180088: (b"DS",),  # SpacingBetweenSlices
    0x00181164: (b"DS",),  # ImagerPixelSpacing (only when PixelSpacing is missing)
    0x00200013: (b"IS",),  # InstanceNumber
    0x00200032: (b"DS",),  # ImagePositionPatient
    0x00200037: (b"DS",),  # ImageOrientationPatient
    0x00280002: (b"US",),  # SamplesPerPixel
    0x00280008: (b"IS",),  # NumberOfFrames
    0x00280010: (b"US",),  # Rows
    0x00280011: (b"US",),  # Columns
    0x00280030: (b"DS",),  # PixelSpacing
    0x00280100: (b"US",),  # BitsAllocated
    0x00280101: (b"US",),  # BitsStored
    0x00280103: (b"US",),  # PixelRepresentation
    0x00281052: (b"DS",),  # RescaleIntercept
    0x00281053: (b"DS",),  # RescaleSlope
    0x3004000E: (b"DS",),  # DoseGridScaling (RT Dose: pydicom's path decides)
    0x52009229: (b"SQ",),  # SharedFunctionalGroupsSequence (pydicom's path)
    0x52009230: (b"SQ",),  # PerFrameFunctionalGroupsSequence (pydicom's path)
    _PIXEL_DATA: (b"OB", b"OW"),
}
"""The attributes a single-frame volume slice is built from, with the explicit VRs accepted for them."""
_SEQUENCES = frozenset({0x52009229, 0x52009230})


class _NotNativeError(Exception):
    """This file is not one :func:`read_native` reads: the caller uses pydicom."""


@dataclass
class NativeImage:
    """What a volume needs of one single-frame image, as pydicom's path would read it."""

    sop_instance_uid: str
    pixels: np.ndarray
    """(rows, columns), viewing the file's buffer (little-endian dtype)."""
    position: tuple[float, ...] | None
    orientation: tuple[float, ...] | None
    pixel_spacing: tuple[float, float] | None
    slice_spacing: float | None
    slope: float
    intercept: float
    instance_number: int | None


def read_native(data: bytes | bytearray | memoryview) -> NativeImage | None:
    """Read one DICOM file of the common kind (see the module docstring), or ``None`` for any other.

    Parameters
    ----------
    data
        The Part 10 file's bytes; the returned pixels view them (no copy).

    Returns
    -------
    NativeImage or None
        ``None``: read the file with pydicom instead (it names any problem).
    """
    view = memoryview(data).cast("B") if not isinstance(data, memoryview) or data.format != "B" else data
    try:
        explicit, start = _file_meta(view)
        values = _top_level(view, start, explicit)
        return _image(view, values)
    except (_NotNativeError, struct.error, ValueError, OverflowError):
        return None


def _file_meta(view: memoryview) -> tuple[bool, int]:
    """(explicit VR, offset of the data set) from the preamble and the group 0002 header."""
    end = len(view)
    if end < 132 or view[128:132] != b"DICM":
        raise _NotNativeError
    pos, syntax = 132, None
    while pos + 8 <= end:
        group, element, vr, length = _EXPLICIT.unpack_from(view, pos)
        if group != 0x0002:
            break
        if vr in _LONG_VRS:
            length = _LENGTH32.unpack_from(view, pos + 8)[0]
            pos += 12
        elif vr in _SHORT_VRS:
            pos += 8
        else:
            raise _NotNativeError
        if length == UNDEFINED or pos + length > end:
            raise _NotNativeError
        if element == 0x0010:
            syntax = bytes(view[pos : pos + length]).decode("latin-1").rstrip("\0 ")
        pos += length
    if syntax not in NATIVE_SYNTAXES:
        raise _NotNativeError
    return NATIVE_SYNTAXES[syntax], pos


def _looks_explicit(view: memoryview, pos: int, end: int) -> bool:
    """pydicom's test of a data set's first element: two capital letters where an explicit VR would be."""
    return pos + 6 <= end and 0x40 < view[pos + 4] < 0x5B and 0x40 < view[pos + 5] < 0x5B


def _top_level(view: memoryview, pos: int, explicit: bool) -> dict[int, tuple[bytes, int, int]]:
    """The wanted elements of the top-level data set: tag -> (VR, value offset, value length)."""
    end = len(view)
    if not explicit and _looks_explicit(view, pos, end):
        raise _NotNativeError  # pydicom would switch to explicit VR here (with a warning)
    found: dict[int, tuple[bytes, int, int]] = {}
    last = -1
    unpack = _EXPLICIT.unpack_from if explicit else _IMPLICIT.unpack_from
    length32, short_vrs, long_vrs, wanted = _LENGTH32.unpack_from, _SHORT_VRS, _LONG_VRS, _WANTED.get
    while pos < end:
        if pos + 8 > end:
            raise _NotNativeError  # pydicom ignores a few trailing bytes; the odd file is its to read
        if explicit:
            group, element, vr, length = unpack(view, pos)
            if vr in short_vrs:
                pos += 8
            elif vr in long_vrs:
                length = length32(view, pos + 8)[0]
                pos += 12
            else:
                raise _NotNativeError
        else:
            group, element, length = unpack(view, pos)
            vr = b""
            pos += 8
        tag = group << 16 | element
        if tag <= last or group == 0xFFFE or not group:
            raise _NotNativeError  # out of order, repeated, a delimiter, a command set (pydicom's own)
        last = tag
        if length == UNDEFINED:
            if tag in _SEQUENCES:
                found[tag] = (b"SQ", pos, 0)
            pos = _skip_sequence_value(view, pos, end, explicit, tag, vr)
            continue
        if pos + length > end:
            raise _NotNativeError
        accepted = wanted(tag)
        if accepted is not None:
            if explicit and vr not in accepted:
                raise _NotNativeError  # e.g. UN: pydicom converts it by its dictionary
            found[tag] = (vr, pos, length)
        pos += length
    return found


def _skip_sequence_value(view: memoryview, pos: int, end: int, explicit: bool, tag: int, vr: bytes) -> int:
    """Skip the value of an element of undefined length, which must be a sequence; return the next offset."""
    if explicit:
        if vr != b"SQ":
            raise _NotNativeError  # UN, OB ... of undefined length: pydicom's own rules
    else:
        from pydicom.datadict import dictionary_VR

        try:
            if dictionary_VR(tag) != "SQ":
                raise _NotNativeError
        except KeyError:
            raise _NotNativeError from None  # a private tag: pydicom guesses
    return _sequence(view, pos, end, explicit)


def _sequence(view: memoryview, pos: int, end: int, explicit: bool) -> int:
    """Walk the items of a sequence of undefined length; return the offset after its delimiter."""
    while True:
        if pos + 8 > end:
            raise _NotNativeError
        group, element, length = _IMPLICIT.unpack_from(view, pos)
        pos += 8
        tag = group << 16 | element
        if tag == _SEQUENCE_END:
            return pos
        if tag != _ITEM:
            raise _NotNativeError
        # items may be implicit VR inside an explicit data set (PS3.5 6.2.2); pydicom decides so
        item_explicit = explicit and _looks_explicit(view, pos, end)
        if length == UNDEFINED:
            pos = _elements(view, pos, end, item_explicit, delimited=True)
        else:
            if pos + length > end:
                raise _NotNativeError
            if _elements(view, pos, pos + length, item_explicit, delimited=False) != pos + length:
                raise _NotNativeError
            pos += length


def _elements(view: memoryview, pos: int, end: int, explicit: bool, *, delimited: bool) -> int:
    """Walk the elements of a sequence item (to its delimiter, or to ``end``); return the offset after."""
    last = -1
    while pos < end:
        if pos + 8 > end:
            raise _NotNativeError
        if explicit:
            group, element, vr, length = _EXPLICIT.unpack_from(view, pos)
            tag = group << 16 | element
            if tag == _ITEM_END:
                vr = b""
                pos += 8
            elif vr in _LONG_VRS:
                length = _LENGTH32.unpack_from(view, pos + 8)[0]
                pos += 12
            elif vr in _SHORT_VRS:
                pos += 8
            else:
                raise _NotNativeError
        else:
            group, element, length = _IMPLICIT.unpack_from(view, pos)
            tag = group << 16 | element
            vr = b""
            pos += 8
        if tag == _ITEM_END:
            if not delimited:
                raise _NotNativeError
            return pos
        if tag <= last or group == 0xFFFE:
            raise _NotNativeError
        last = tag
        if length == UNDEFINED:
            pos = _skip_sequence_value(view, pos, end, explicit, tag, vr)
        elif pos + length > end:
            raise _NotNativeError
        else:
            pos += length
    if delimited:
        raise _NotNativeError  # no item delimiter
    return pos


def _image(view: memoryview, found: dict[int, tuple[bytes, int, int]]) -> NativeImage:
    """Convert the wanted values as pydicom's path would; :class:`_NotNativeError` where it might differ."""

    def raw(tag: int) -> bytes | None:
        entry = found.get(tag)
        return None if entry is None else bytes(view[entry[1] : entry[1] + entry[2]])

    def unsigned(tag: int, default: int | None) -> int:
        value = raw(tag)
        if value is None:  # absent: pydicom's path uses the same default (an empty value it rejects)
            if default is None:
                raise _NotNativeError
            return default
        if len(value) != 2:
            raise _NotNativeError
        return int.from_bytes(value, "little")

    if found.keys() & _SEQUENCES or _PIXEL_DATA not in found:
        raise _NotNativeError
    rows, columns = unsigned(0x00280010, None), unsigned(0x00280011, None)
    samples = unsigned(0x00280002, 1)
    bits = unsigned(0x00280100, 16)
    stored = unsigned(0x00280101, bits)
    signed = unsigned(0x00280103, 0)
    frames = _integer(raw(0x00280008))
    if (
        rows < 1
        or columns < 1
        or samples != 1
        or bits not in (8, 16, 32)
        or signed not in (0, 1)
        or (stored != bits and signed)
        or frames not in (None, 1)
    ):
        raise _NotNativeError
    uid = (raw(0x00080018) or b"").decode("latin-1").rstrip("\0 ")
    if "\\" in uid or uid_problem(uid) is not None:
        raise _NotNativeError
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
    _, offset, length = found[_PIXEL_DATA]
    if length < rows * columns * dtype.itemsize:
        raise _NotNativeError  # truncated: pydicom's path says so
    pixels = np.frombuffer(view, dtype=dtype, count=rows * columns, offset=offset).reshape(rows, columns)

    spacing = _decimals(raw(0x00280030))
    if spacing is None and 0x00181164 in found:
        raise _NotNativeError  # ImagerPixelSpacing instead: pydicom's path
    if spacing is not None and len(spacing) != 2:
        raise _NotNativeError
    slope = _single(raw(0x00281053))
    if not slope and 0x3004000E in found:
        raise _NotNativeError  # pydicom's path falls back on DoseGridScaling
    intercept = _single(raw(0x00281052))
    between, thickness = _single(raw(0x00180088)), _single(raw(0x00180050))
    slice_spacing = between or thickness  # as pydicom's path: a zero distance is no distance
    return NativeImage(
        sop_instance_uid=uid,
        pixels=pixels,
        position=_vector(raw(0x00200032), 3),
        orientation=_vector(raw(0x00200037), 6),
        pixel_spacing=(spacing[0], spacing[1]) if spacing is not None else None,
        slice_spacing=float(slice_spacing) if slice_spacing else None,
        slope=slope if slope else 1.0,
        intercept=intercept if intercept is not None else 0.0,
        instance_number=_integer(raw(0x00200013)),
    )


def _decimals(value: bytes | None) -> list[float] | None:
    """A DS value split as pydicom splits it (``None`` when empty); :class:`_NotNativeError` if odd."""
    if value is None:
        return None
    text = value.decode("latin-1").strip().rstrip(" \x00")
    if not text:
        return None
    numbers = []
    for item in text.split("\\"):
        if not item.strip():
            raise _NotNativeError
        number = float(item)  # a ValueError: not a number, pydicom's path says so
        if number != number or number in (float("inf"), float("-inf")):
            raise _NotNativeError
        numbers.append(number)
    return numbers


def _single(value: bytes | None) -> float | None:
    numbers = _decimals(value)
    if numbers is None:
        return None
    if len(numbers) != 1:
        raise _NotNativeError
    return numbers[0]


def _vector(value: bytes | None, size: int) -> tuple[float, ...] | None:
    numbers = _decimals(value)
    if numbers is None:
        return None
    if len(numbers) != size:
        raise _NotNativeError
    return tuple(numbers)


def _integer(value: bytes | None) -> int | None:
    """An IS value with one plain integer (``None`` when empty); :class:`_NotNativeError` otherwise."""
    if value is None:
        return None
    text = value.decode("latin-1").strip().rstrip(" \x00")
    if not text:
        return None
    if not _INTEGER.fullmatch(text):
        raise _NotNativeError
    return int(text)
