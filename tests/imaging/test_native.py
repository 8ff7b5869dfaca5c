"""The pydicom-free reader of common DICOM files (``workbench.imaging.native``) against pydicom's path.

Each series is stacked twice from the same bytes: as ``load_series`` does it (files read by
:func:`read_native`, slices rescaled and checksummed as they arrive) and by pydicom alone (``read_native``
switched off); array, dtype, geometry and metadata must be identical. The reader must decline every file it
does not fully understand, so that pydicom's path (and its messages) handles it.
"""

from __future__ import annotations

import copy
import io
import os
import signal
import time
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import ImplicitVRLittleEndian, RLELossless, generate_uid

from tests.imaging.stored import StoredSeries, to_bytes, with_new_uids
from workbench.imaging import volume as volume_module
from workbench.imaging import volume_files as files_module
from workbench.imaging.arena import FrameArena, crc32_combine
from workbench.imaging.native import read_native
from workbench.imaging.orthanc import OrthancArchive
from workbench.imaging.volume import Volume
from workbench.imaging.volume_files import volume_from_files
from workbench.testing.synthetic import ct_series, enhanced_ct

Files = list[tuple[str, bytes]]


def files(datasets: list[Dataset]) -> Files:
    return [(str(ds.SOPInstanceUID), to_bytes(ds)) for ds in datasets]


def both_paths(items: Files, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> tuple[Volume, Volume, int]:
    """(volume as loads build it, volume by pydicom alone, files the native reader read)."""
    read: list[bool] = []

    def spy(data: Any) -> Any:
        image = read_native(data)
        read.append(image is not None)
        return image

    crcs: list[int] = []
    with monkeypatch.context() as patch:
        patch.setattr(files_module, "read_native", spy)
        native = volume_from_files(items, on_crc32=crcs.append, **kwargs)
    with monkeypatch.context() as patch:
        patch.setattr(files_module, "read_native", lambda data: None)
        reference = volume_from_files(items, **kwargs)
    if crcs:  # the checksum taken slice by slice is the array's
        assert crcs == [zlib.crc32(np.ascontiguousarray(native.array).reshape(-1).view(np.uint8).data)]
    return native, reference, sum(read)


def assert_same(native: Volume, reference: Volume) -> None:
    assert native.array.dtype == reference.array.dtype
    np.testing.assert_array_equal(native.array, reference.array)
    assert native.spacing == reference.spacing
    assert native.origin == reference.origin
    np.testing.assert_array_equal(native.direction, reference.direction)
    np.testing.assert_array_equal(native.affine, reference.affine)
    assert native.metadata == reference.metadata


def implicit(ds: Dataset) -> Dataset:
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    return ds


def undefined_length_sequence(ds: Dataset) -> Dataset:
    """A two-item sequence of undefined length (items of undefined length, one nesting another) before the
    pixel data, as many scanners write ReferencedImageSequence."""
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "121311", "DCM", "Localizer"
    nested = Sequence([code])
    nested.is_undefined_length = True
    items = []
    for k in range(2):
        item = Dataset()
        item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        item.ReferencedSOPInstanceUID = generate_uid(entropy_srcs=[str(ds.SOPInstanceUID), str(k)])
        item.PurposeOfReferenceCodeSequence = nested
        item.is_undefined_length_sequence_item = True
        items.append(item)
    ds.ReferencedImageSequence = Sequence(items)
    ds["ReferencedImageSequence"].is_undefined_length = True
    return ds


def signed(ds: Dataset) -> Dataset:
    ds.PixelRepresentation = 1
    values = np.frombuffer(ds.PixelData, np.uint16).astype(np.int32) - 600
    ds.PixelData = values.astype("<i2").tobytes()
    return ds


def eight_bit(ds: Dataset) -> Dataset:
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = (np.frombuffer(ds.PixelData, np.uint16) % 256).astype(np.uint8).tobytes()
    return ds


SERIES: dict[str, tuple[Callable[[Dataset], Dataset], dict[str, Any]]] = {
    "explicit VR, rescale -1024": (lambda ds: ds, {}),
    "implicit VR": (implicit, {}),
    "undefined-length sequence, explicit VR": (undefined_length_sequence, {}),
    "undefined-length sequence, implicit VR": (lambda ds: implicit(undefined_length_sequence(ds)), {}),
    "fractional rescale (float32)": (lambda ds: ds, {"slope": 0.5, "intercept": -1000.25}),
    "integral slope 2 (int16, rescaled at the end)": (lambda ds: ds, {"slope": 2.0, "intercept": -1000.0}),
    "no rescale": (lambda ds: ds, {"slope": 1.0, "intercept": 0.0}),
    "signed pixels": (signed, {}),
    "8-bit pixels": (eight_bit, {}),
    "oblique": (
        lambda ds: ds,
        {"row_direction": (0.8660254037844387, 0.5, 0.0), "column_direction": (0.0, 0.0, -1.0)},
    ),
}


@pytest.mark.parametrize("name", SERIES)
def test_both_paths_give_the_same_volume(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    change, options = SERIES[name]
    datasets = [change(ds) for ds in ct_series(9, 12, 10, seed=4, **options)]
    items = files(datasets)
    if "sequence" in name:
        assert b"\xfe\xff\xdd\xe0" in items[1][1]  # a sequence delimiter: undefined length indeed
    native, reference, read = both_paths(items, monkeypatch)
    assert read == len(items) - 1  # all but the first (pydicom reads it: the series' metadata)
    assert_same(native, reference)


def test_padded_values_read_as_pydicom_reads_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """DS and IS values as some writers pad them (spaces, a plus sign, an exponent, a trailing NUL),
    written into the files byte by byte (pydicom would tidy them when saving)."""
    items = []
    for uid, data in files(ct_series(6, 8, 8, seed=13)):
        ds = pydicom.dcmread(io.BytesIO(data))
        x, y, z = (float(v) for v in ds.ImagePositionPatient)
        data = _with_value(data, 0x00200032, b"DS", f" {x:.4f}\\+{-y:.1E} \\{z}".encode(), b"\0")
        data = _with_value(data, 0x00281052, b"DS", b" -1024.0", b" ")
        data = _with_value(data, 0x00200013, b"IS", f"+{int(ds.InstanceNumber)}".encode(), b" ")
        items.append((uid, data))
    assert b"+1.2E+02 " in items[1][1]
    native, reference, read = both_paths(items, monkeypatch)
    assert read == 5
    assert_same(native, reference)


def _with_value(data: bytes, tag: int, vr: bytes, value: bytes, pad: bytes) -> bytes:
    """The file with the value of the (explicit VR, 2-byte length) element ``tag`` replaced."""
    head = (tag >> 16).to_bytes(2, "little") + (tag & 0xFFFF).to_bytes(2, "little") + vr
    at = data.index(head, 132)
    old = int.from_bytes(data[at + 6 : at + 8], "little")
    value = value + pad if len(value) % 2 else value
    return data[: at + 6] + len(value).to_bytes(2, "little") + value + data[at + 8 + old :]


def test_a_rescale_that_outgrows_int16_midway_is_undone_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first slices fit int16 after the intercept and are rescaled as they arrive; a later one does
    not (int32 volume): the first are given back their stored values, bit for bit."""
    datasets = ct_series(40, 8, 8, intercept=30000.0, seed=5, shuffle=False)  # values k * 100 + noise
    native, reference, read = both_paths(files(datasets), monkeypatch)
    assert native.array.dtype == np.int32
    assert read == 39
    assert_same(native, reference)


def test_fewer_files_than_announced(monkeypatch: pytest.MonkeyPatch) -> None:
    items = files(ct_series(10, 8, 8, seed=6))
    native, reference, _ = both_paths(items, monkeypatch, expected=len(items) + 5)
    assert native.array.shape == (10, 8, 8)
    assert_same(native, reference)


def test_slices_numbered_along_the_stack_are_not_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    """Either way the InstanceNumbers run, each slice is put straight in its place as it arrives."""
    orders: list[list[int]] = []
    permute = volume_module._permute

    def recording(array: np.ndarray, order: list[int]) -> None:
        orders.append(list(order))
        permute(array, order)

    monkeypatch.setattr(volume_module, "_permute", recording)
    reversed_numbers = ct_series(15, 8, 8, seed=7)  # shuffled; InstanceNumber runs against position
    along = ct_series(15, 8, 8, seed=8)
    for ds in along:
        ds.InstanceNumber = 16 - int(ds.InstanceNumber)
    for datasets in (reversed_numbers, along):
        volume = volume_from_files(files(datasets))
        assert orders.pop() == list(range(15))
        assert volume.array[:, 0, 0].tolist() == sorted(volume.array[:, 0, 0].tolist())


def test_compressed_and_big_endian_files_are_left_to_pydicom(monkeypatch: pytest.MonkeyPatch) -> None:
    names = {"RLE": "MR_small_RLE.dcm", "big endian": "MR_small_bigendian.dcm"}
    for label, name in names.items():
        path = get_testdata_file(name, download=False)
        assert isinstance(path, str)
        base = pydicom.dcmread(path)
        series_uid = generate_uid(entropy_srcs=[label, "series"])
        datasets = []
        for k in range(3):
            ds = with_new_uids(base, f"{label}{k}", series_uid=series_uid)
            ds.ImagePositionPatient = [0.0, 0.0, 2.0 * k]
            ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
            datasets.append(ds)
        items = files(datasets)
        assert all(read_native(data) is None for _, data in items)
        native, reference, read = both_paths(items, monkeypatch)
        assert read == 0
        assert_same(native, reference)
    # a native series with one compressed slice among them
    datasets = ct_series(5, 8, 8, seed=9, shuffle=False)
    datasets[3].compress(RLELossless)
    native, reference, read = both_paths(files(datasets), monkeypatch)
    assert read == 3
    assert_same(native, reference)


def base_file() -> bytes:
    return to_bytes(ct_series(1, 6, 5, seed=10)[0])


def changed(*removed: str, raw: tuple[int, str, bytes] | None = None, **values: Any) -> bytes:
    """The base file without the ``removed`` attributes, with ``values`` set and a ``raw`` value stored."""
    ds = ct_series(1, 6, 5, seed=10)[0]
    for name in removed:
        delattr(ds, name)
    for name, value in values.items():
        setattr(ds, name, value)
    if raw is not None:
        _raw(ds, *raw)
    return to_bytes(ds)


def test_the_reader_declines_what_it_does_not_fully_understand() -> None:
    assert read_native(base_file()) is not None
    declined = {
        "no preamble": base_file()[132:],
        "trailing bytes": base_file() + b"\0\0\0",
        "cut in the pixel data": base_file()[:-10],
        "ImagePositionPatient as UN": _as_unknown(base_file(), b"\x20\x00\x32\x00"),
        "ImagePositionPatient not numbers": changed(raw=(0x00200032, "DS", b"1\\x\\3 ")),
        "ImagePositionPatient infinite": changed(raw=(0x00200032, "DS", b"1\\1e999\\3 ")),
        "ImagePositionPatient of two values": changed(ImagePositionPatient=[1, 2]),
        "RescaleSlope nan": changed(RescaleSlope="nan"),
        "RescaleSlope 0 and a DoseGridScaling": changed(RescaleSlope="0", DoseGridScaling=2),
        "InstanceNumber 1.5": changed(raw=(0x00200013, "IS", b"1.5 ")),
        "no Rows": changed("Rows"),
        "two frames": changed(NumberOfFrames=2),
        "colour": changed(SamplesPerPixel=3),
        "12 bits signed": changed(PixelRepresentation=1, BitsStored=12),
        "SOPInstanceUID not a UID": changed(SOPInstanceUID="1.2.abc"),
        "ImagerPixelSpacing instead of PixelSpacing": changed("PixelSpacing", ImagerPixelSpacing=[0.5, 0.5]),
        "private sequence of undefined length, implicit VR": _private_sequence(),
        "enhanced multi-frame": to_bytes(enhanced_ct(ct_series(3, 6, 5, seed=11, shuffle=False))),
    }
    for label, data in declined.items():
        assert read_native(data) is None, label


def _as_unknown(data: bytes, tag: bytes) -> bytes:
    """The file with the explicit VR of element ``tag`` (little-endian bytes) turned into UN."""
    at = data.index(tag + b"DS")
    length = int.from_bytes(data[at + 6 : at + 8], "little")
    return data[:at] + tag + b"UN\0\0" + length.to_bytes(4, "little") + data[at + 8 :]


def _raw(ds: Dataset, tag: int, vr: str, value: bytes) -> None:
    """Store ``value`` as it is (as a file with a garbled value arrives)."""
    ds[tag] = RawDataElement(BaseTag(tag), vr, len(value), value, 0, False, True)


def _private_sequence() -> bytes:
    ds = implicit(ct_series(1, 6, 5, seed=10)[0])
    ds.add_new(0x00090010, "LO", "ACME")
    item = Dataset()
    item.add_new(0x00091001, "LO", "x")
    ds.add_new(0x00091002, "SQ", Sequence([item]))
    ds[0x00091002].is_undefined_length = True
    return to_bytes(ds)


def test_crc32_of_slices_combine_into_that_of_the_array() -> None:
    rng = np.random.default_rng(12)
    a, b = rng.bytes(1000), rng.bytes(777)
    assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)
    arena = FrameArena(3)
    slices = [rng.integers(0, 4000, (4, 5)).astype(np.uint16) for _ in range(3)]
    for k, pixels in enumerate(slices):
        arena.place(pixels, f"s{k}", 1.0, -1024.0)
    arena.arranged([2, 0, 1])  # as if the slots had been put in this slice order
    expected = np.concatenate([slices[k] for k in (2, 0, 1)]).astype(np.int32) - 1024
    assert arena.crc32() == zlib.crc32(expected.astype(np.int16).tobytes())


@pytest.mark.parametrize("expected", [8, 5, 12])  # as announced; more (the array grows); fewer (moved down)
def test_checksums_from_their_thread_are_those_of_the_slices_as_stacked(
    expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The slices' CRC-32s come from a thread of their own (slow here): no slice moves before they are in."""
    crc32 = zlib.crc32

    def slow(data: Any, *args: int) -> int:
        time.sleep(0.003)
        return crc32(data, *args)

    datasets = ct_series(8, 16, 12, seed=4)
    for ds, number in zip(datasets, [3, 8, 1, 5, 2, 7, 4, 6], strict=True):
        ds.InstanceNumber = number  # the slots guessed are wrong: the slices are put in order afterwards
    crcs: list[int] = []
    with monkeypatch.context() as patch:
        patch.setattr(zlib, "crc32", slow)
        volume = volume_from_files(files(datasets), expected=expected, on_crc32=crcs.append)
    assert volume.array.dtype == np.int16
    assert crcs == [crc32(np.ascontiguousarray(volume.array).tobytes())]


def test_crc32_thread_serves_a_forked_child() -> None:
    """A child forked after the thread started has none: it starts its own instead of waiting forever."""
    if not hasattr(os, "fork"):
        pytest.skip("no fork here")
    pixels = np.arange(20, dtype=np.uint16).reshape(4, 5)
    arena = FrameArena(1)
    arena.place(pixels, "parent", 1.0, 0.0)
    arena.arranged([0])
    assert arena.crc32() == zlib.crc32(pixels.tobytes())  # the parent's thread is running
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if its own checksum came back
        code = 1
        try:
            child = FrameArena(1)
            child.place(pixels, "child", 1.0, 0.0)
            child.arranged([0])
            code = 0 if child.crc32() == zlib.crc32(pixels.tobytes()) else 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    pytest.fail("the forked child waited for a checksum thread it does not have")


@pytest.mark.orthanc
def test_a_load_reads_the_same_volume_as_pydicom(
    archive: OrthancArchive, synthetic_ct: StoredSeries, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the real Orthanc, its cache included: the volume cached on the way is the one returned."""
    native = archive.load_series(synthetic_ct.series_uid, progress=False)
    expected = copy.deepcopy(native)
    assert archive.volume_cache is not None
    assert_same(archive.load_series(synthetic_ct.series_uid, progress=False), expected)  # from the cache
    archive.volume_cache.clear()
    with monkeypatch.context() as patch:
        patch.setattr(files_module, "read_native", lambda data: None)
        reference = archive.load_series(synthetic_ct.series_uid, progress=False)
    assert_same(expected, reference)


def _corruptions(data: bytes, rng: np.random.Generator, count: int) -> list[bytes]:
    """``count`` damaged copies of ``data``: bytes changed in the header, cuts, and bytes added or dropped."""
    header = data.index(b"\xe0\x7f\x10\x00") + 12  # up to the pixel data's value
    out = []
    for _ in range(count):
        damaged = bytearray(data)
        kind = rng.integers(4)
        if kind == 0:  # a few bytes of the header changed
            for at in rng.integers(128, header, size=rng.integers(1, 4)):
                damaged[at] = int(rng.integers(256))
        elif kind == 1:  # a digit or separator of a text value turned into another
            at = int(rng.integers(132, header))
            damaged[at] = b"0123456789.-+\\ eE"[int(rng.integers(17))]
        elif kind == 2:  # the file cut short
            del damaged[int(rng.integers(132, len(damaged))) :]
        else:  # a byte inserted or dropped in the header
            at = int(rng.integers(132, header))
            if rng.integers(2):
                damaged.insert(at, int(rng.integers(256)))
            else:
                del damaged[at]
        out.append(bytes(damaged))
    return out


def rescaled(ds: Dataset) -> Dataset:
    ds.RescaleSlope, ds.RescaleIntercept = "0.5", "-1024"
    return ds


@pytest.mark.filterwarnings("ignore:Invalid value for VR")
@pytest.mark.parametrize("variant", ["explicit", "implicit", "sequence", "rescaled"])
def test_damaged_files_are_read_as_pydicom_reads_them_or_declined(
    variant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever damage the reader accepts, the load must equal pydicom's path's (same array, geometry and
    metadata; a file pydicom's path refuses is refused)."""
    ds = ct_series(1, 6, 5, seed=20)[0]
    ds = {
        "explicit": lambda d: d,
        "implicit": implicit,
        "sequence": undefined_length_sequence,
        "rescaled": rescaled,
    }[variant](ds)
    rng = np.random.default_rng(sum(map(ord, variant)))
    accepted = 0
    for damaged in _corruptions(to_bytes(ds), rng, 400):
        if read_native(damaged) is None:
            continue
        accepted += 1
        items = [(str(ds.SOPInstanceUID), damaged)]
        with monkeypatch.context() as patch:
            patch.setattr(files_module, "read_native", lambda data: None)
            try:
                reference = volume_from_files(items)
            except Exception as exc:  # any refusal of pydicom's path must be the reader's too
                pytest.fail(f"the native reader accepted a file pydicom's path refuses ({exc!r})")
        native = volume_from_files(items)
        assert_same(native, reference)
    assert accepted > 10  # the damage leaves many files readable: the comparison ran
