"""The on-disk caches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workbench.imaging.cache import InstanceCache, VolumeCache, server_key
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
