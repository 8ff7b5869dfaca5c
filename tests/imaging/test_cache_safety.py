"""The image caches delete only what they made, and verify what they serve (#12.5, #12.6)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.imaging.stored import StoredSeries
from workbench.cli import main
from workbench.imaging import cache as cache_module
from workbench.imaging import connect
from workbench.imaging.cache import (
    MARKER,
    CacheWarning,
    InstanceCache,
    VolumeCache,
    clear_all,
    prune,
    scan,
    server_key,
)
from workbench.imaging.local_server import LocalOrthanc
from workbench.imaging.orthanc import OrthancArchive
from workbench.imaging.volume import Volume
from workbench.testing.synthetic import ct_series


def _user_files(root: Path) -> list[Path]:
    files = [
        root / "dicom" / "my-study" / "IM0001.dcm",
        root / "volumes" / "brain.npy",
        root / "dicom" / ("a" * 16) / "notes.txt",
        root / "volumes" / ("b" * 16) / "thesis.json",
    ]
    for path in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"the user's own")
    return files


def test_a_folder_the_cache_did_not_make_is_never_emptied(isolated_folders: Path) -> None:
    root = isolated_folders / "wb-cache"
    mine = _user_files(root)
    assert not (root / MARKER).exists() and scan(root) == []
    assert prune(0, root) == (0, 0) and clear_all(root) == 0
    assert main(["cache", "clear"]) == 0
    assert all(path.read_bytes() == b"the user's own" for path in mine)


def test_the_cache_deletes_only_its_own_entries(isolated_folders: Path) -> None:
    root = isolated_folders / "wb-cache"
    mine = _user_files(root)
    key = server_key("http://pacs:8042")
    instances, volumes = InstanceCache(key), VolumeCache(key)
    instances.put("1.2.3", b"DICM" * 10)
    volume = Volume(np.ones((2, 3, 4), np.int16), (1, 1, 1), (0, 0, 0), np.eye(3), {"skipped": []})
    volumes.put(VolumeCache.entry("1.2", ["1.2.1"]), volume)
    (instances.folder / "keep-me.txt").write_bytes(b"the user's own")
    assert (root / MARKER).exists()
    assert {entry.kind for entry in scan(root)} == {"instance", "volume"}
    assert prune(1, root)[0] == 2
    volumes.put(VolumeCache.entry("1.2", ["1.2.1"]), volume)
    instances.clear()
    volumes.clear()
    assert clear_all(root) == 0
    assert all(path.read_bytes() == b"the user's own" for path in mine)
    assert (instances.folder / "keep-me.txt").exists() and not volumes.folder.exists()


@pytest.mark.orthanc
def test_cut_and_corrupted_instances_are_fetched_again(
    orthanc: LocalOrthanc, synthetic_ct: StoredSeries, isolated_folders: Path, tmp_path: Path
) -> None:
    archive = connect(orthanc.url, orthanc.username, orthanc.password)
    assert isinstance(archive, OrthancArchive) and archive.instance_cache is not None
    first = archive.download_series(synthetic_ct.series_uid, tmp_path / "first")
    cut, flipped = (str(ds.SOPInstanceUID) for ds in synthetic_ct.datasets[:2])
    path = archive.instance_cache.path(cut)
    path.write_bytes(path.read_bytes()[:1000])  # a killed writer, a full disk
    path = archive.instance_cache.path(flipped)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one wrong byte
    path.write_bytes(bytes(data))
    with pytest.warns(CacheWarning) as caught:
        again = archive.download_series(synthetic_ct.series_uid, tmp_path / "again")
    messages = sorted(str(w.message) for w in caught)
    assert any(f"cached instance {cut} is cut short" in m for m in messages)
    assert any(f"cached instance {flipped} is corrupted" in m for m in messages)
    assert {p.name: p.read_bytes() for p in again} == {p.name: p.read_bytes() for p in first}
    assert archive.instance_cache.get(cut) == (tmp_path / "first" / f"{cut}.dcm").read_bytes()


@pytest.mark.orthanc
def test_a_series_stored_again_is_not_served_stale(orthanc: LocalOrthanc, isolated_folders: Path) -> None:
    archive = connect(orthanc.url, orthanc.username, orthanc.password)
    datasets = ct_series(3, 8, 8, patient_id="IMG-RESTORE", shuffle=False)
    client = orthanc.client()
    client.upload(datasets, progress=False)
    series_uid = str(datasets[0].SeriesInstanceUID)
    before = archive.load_series(series_uid, progress=False).array.copy()
    cache_module.WRITER.wait_all()
    query = {"Level": "Series", "Query": {"SeriesInstanceUID": series_uid}}
    (found,) = client.post_json("/tools/find", query)
    client.request("DELETE", f"/series/{found}")
    time.sleep(1.1)  # Orthanc's LastUpdate counts seconds
    for ds in datasets:
        ds.PixelData = (np.frombuffer(ds.PixelData, dtype=np.int16) + 100).astype(np.int16).tobytes()
    client.upload(datasets, progress=False)
    after = archive.load_series(series_uid, progress=False).array
    np.testing.assert_array_equal(after, before + 100)


def test_a_volume_is_cached_only_as_it_was_built(isolated_folders: Path) -> None:
    cache = VolumeCache(server_key("http://pacs:8042"))
    volume = Volume(np.arange(24, dtype=np.int16).reshape(2, 3, 4), (1, 1, 1), (0, 0, 0), np.eye(3), {})
    entry = VolumeCache.entry("1.2", ["1.2.1"])
    cache.put(entry, volume, background=True)
    cache_module.WRITER.wait_all()
    cached = cache.get(entry)
    assert cached is not None and np.array_equal(cached.array, volume.array)
    # the caller changed the array while the background writer wrote it: nothing is cached
    changed = volume.array.copy()
    changed[0, 0, 0] = 99
    info = (cache.folder / f"{entry}.json").read_bytes()
    cache.clear()
    crc = int(json.loads(info)["crc32"])
    cache._write(entry, changed, info, crc)
    assert cache.get(entry) is None
    # an array file that is not the one recorded (replaced, cut) is discarded
    cache.put(entry, volume)
    np.save(cache.folder / f"{entry}.npy", np.zeros((2, 3), np.int16))
    assert cache.get(entry) is None and not (cache.folder / f"{entry}.json").exists()


@pytest.mark.orthanc
def test_pydicom_reads_what_download_writes(
    orthanc: LocalOrthanc, synthetic_ct: StoredSeries, isolated_folders: Path, tmp_path: Path
) -> None:
    """The cache trailer never reaches a downloaded file."""
    archive = connect(orthanc.url, orthanc.username, orthanc.password)
    archive.download_series(synthetic_ct.series_uid, tmp_path / "a")
    for path in archive.download_series(synthetic_ct.series_uid, tmp_path / "b"):  # from the cache
        assert path.read_bytes() == (tmp_path / "a" / path.name).read_bytes()
        assert pydicom.dcmread(path).SOPInstanceUID == path.stem
