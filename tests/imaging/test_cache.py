"""The on-disk caches: instances, volumes, the size limit and its pruning."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.imaging.stored import StoredSeries
from workbench.config import update_config
from workbench.errors import ConfigError
from workbench.imaging import cache as cache_module
from workbench.imaging import connect
from workbench.imaging.cache import InstanceCache, VolumeCache, image_cache_limit, prune, scan, server_key
from workbench.imaging.local_server import LocalOrthanc
from workbench.imaging.volume import Volume


def test_instance_cache_lives_in_the_cache_folder(isolated_folders: Path) -> None:
    key = server_key("http://pacs:8042/", "alice")
    assert key == server_key("http://pacs:8042", "alice") != server_key("http://pacs:8042", "bob")
    cache = InstanceCache(key)
    assert cache.folder == isolated_folders / "wb-cache" / "dicom" / key
    assert cache.get("1.2.3") is None
    cache.put("1.2.3", memoryview(b"DICM data"))
    assert cache.get("1.2.3") == b"DICM data" and "1.2.3" in cache
    with pytest.raises(ValueError, match="is not a DICOM UID"):
        cache.path("../../etc/passwd")
    cache.clear()
    assert "1.2.3" not in cache


def test_volume_cache_round_trip() -> None:
    cache = VolumeCache("k")
    volume = Volume(
        np.arange(24, dtype=np.int16).reshape(2, 3, 4),
        (0.5, 0.6, 2.0),
        (1.0, 2.0, 3.0),
        np.eye(3),
        {"series_uid": "1.2", "skipped": []},
    )
    entry = VolumeCache.entry("1.2", ["b", "a"])
    assert entry == VolumeCache.entry("1.2", ["a", "b"]) != VolumeCache.entry("1.2", ["a"])
    assert cache.get(entry) is None
    cache.put(entry, volume)
    again = cache.get(entry)
    assert again is not None
    np.testing.assert_array_equal(again.array, volume.array)
    np.testing.assert_allclose(again.affine, volume.affine)
    assert again.metadata == volume.metadata
    (cache.folder / f"{entry}.npy").write_bytes(b"garbage")
    assert cache.get(entry) is None  # unreadable entries are dropped, not fatal
    assert not (cache.folder / f"{entry}.json").exists()


def _entry_files(root: Path) -> dict[str, set[str]]:
    return {
        kind: {p.name for e in scan(root) if e.kind == kind for p in e.paths}
        for kind in ("instance", "volume")
    }


def test_prune_deletes_least_recently_used_first(isolated_folders: Path) -> None:
    root = isolated_folders / "wb-cache"
    key = server_key("http://srv:8042")
    instances = InstanceCache(key)
    for index, uid in enumerate(("1.1", "1.2", "1.3")):
        instances.put(uid, b"x" * 978)  # + a 22-byte trailer (size, CRC-32, version)
        os.utime(instances.path(uid), (1000 + index, 1000 + index))  # 1.1 is the oldest
    volumes = VolumeCache(key)
    volume = Volume(np.zeros((2, 10, 25), np.int16), (1, 1, 1), (0, 0, 0), np.eye(3), {"skipped": []})
    v1 = VolumeCache.entry("1.9", ["1.9.1"])
    volumes.put(v1, volume)  # 1,000 bytes of array + header + geometry: one entry of two files
    for path in volumes.folder.iterdir():
        os.utime(path, (999, 999))  # older than every instance
    stale = instances.folder / ".part-crashed"
    stale.write_bytes(b"y" * 10)
    os.utime(stale, (1, 1))
    assert instances.get("1.1") == b"x" * 978  # reading marks 1.1 as used now
    total = sum(e.size for e in scan(root))
    assert {e.kind for e in scan(root)} == {"instance", "volume", "partial"}

    assert prune(total + 1, root) == (1, 10)  # under the limit: only the crash's leftover goes
    removed, freed = prune(3100, root)  # to 90 %: 2,790 bytes
    assert (
        removed == 2
        and not (volumes.folder / f"{v1}.npy").exists()
        and not (volumes.folder / f"{v1}.json").exists()
    )
    assert _entry_files(root)["instance"] == {"1.1.dcm", "1.3.dcm"}  # 1.2 was the least recently used
    assert sum(e.size for e in scan(root)) == 2000 == total - 10 - freed


def test_image_cache_limit_setting(isolated_folders: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    assert image_cache_limit() == int(shutil.disk_usage(isolated_folders).total * 0.5)
    monkeypatch.setenv("WORKBENCH_IMAGE_CACHE_MAX_GB", "0")
    assert image_cache_limit() is None
    monkeypatch.setenv("WORKBENCH_IMAGE_CACHE_MAX_GB", "2.5")
    assert image_cache_limit() == 2_500_000_000
    for bad in ("lots", "-1", "nan"):
        monkeypatch.setenv("WORKBENCH_IMAGE_CACHE_MAX_GB", bad)
        with pytest.raises(ConfigError, match="WORKBENCH_IMAGE_CACHE_MAX_GB"):
            image_cache_limit()
    monkeypatch.delenv("WORKBENCH_IMAGE_CACHE_MAX_GB")
    update_config("cache", {"images_max_gb": 7})
    assert image_cache_limit() == 7_000_000_000


def test_loads_keep_the_cache_under_its_limit(
    orthanc: LocalOrthanc,
    synthetic_ct: StoredSeries,
    oblique_ct: StoredSeries,
    isolated_folders: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = isolated_folders / "wb-cache"
    archive = connect(orthanc.url, orthanc.username, orthanc.password)
    sizes = {}
    for stored in (synthetic_ct, oblique_ct):
        archive.load_series(stored.series_uid, progress=False)
        cache_module.WRITER.wait_all()  # volumes are written in the background after a load
        sizes[stored.series_uid] = sum(e.size for e in scan(root))
        archive.instance_cache.clear()
        archive.volume_cache.clear()
    big, small = sizes[synthetic_ct.series_uid], sizes[oblique_ct.series_uid]
    limit = big + small // 2  # room for the big series, not for both
    monkeypatch.setenv("WORKBENCH_IMAGE_CACHE_MAX_GB", str(limit / 1e9))
    monkeypatch.setattr(cache_module, "PRUNE_TO", 1.0)
    expected = archive.load_series(synthetic_ct.series_uid, progress=False).array
    archive.instance_cache.clear()
    archive.volume_cache.clear()

    archive = connect(orthanc.url, orthanc.username, orthanc.password)
    oblique = archive.load_series(oblique_ct.series_uid, progress=False).array
    cache_module.WRITER.wait_all()
    first = _entry_files(root)
    for entry in scan(root):
        for path in entry.paths:
            os.utime(path, (1000, 1000))  # loaded long ago
    np.testing.assert_array_equal(
        archive.load_series(synthetic_ct.series_uid, progress=False).array, expected
    )
    cache_module.WRITER.wait_all()  # the background writer prunes after writing
    assert sum(e.size for e in scan(root)) <= limit
    left = _entry_files(root)
    newest = {kind: left[kind] - first[kind] for kind in left}
    assert len(newest["volume"]) == 2 and not left["instance"]  # a load caches its volume only
    assert first["volume"] - left["volume"]  # the oldest made room
    again = archive.load_series(oblique_ct.series_uid, progress=False)  # evicted: fetched again
    np.testing.assert_array_equal(again.array, oblique)
