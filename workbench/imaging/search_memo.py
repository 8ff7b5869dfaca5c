"""The modalities of an Orthanc server's studies, remembered on disk between sessions.

Orthanc 1.10 keeps ``ModalitiesInStudy`` in no study-level index and puts it in no study answer, so the
first search of a connection looks the found studies' series up (one series-level query or the plain
series listing: 0.2-0.6 s at 20,000 studies, as much as a third of the search). What it finds is kept per
study with the study's *version* (its ``LastUpdate`` and the IDs of its series), in memory for the
connection and here on disk for the next session, so that a new kernel searching a known archive does not
walk its series again.

**Verified, not trusted.** An entry is used only when the study's version in the fresh answer equals the
one recorded (a series added, removed or stored again changes it; Orthanc series IDs are hashes of the
patient, study and series UIDs, and a series' Modality is fixed when it is first stored). A file that does
not parse or has the wrong shape is ignored with a :class:`~workbench.imaging.cache.CacheWarning` and
written anew. The file lives in ``<cache folder>/search/<server key>/study-modalities.json`` (0600, written
atomically by the background cache writer), is counted, pruned and cleared with the image caches, and
holds at most :data:`MAX_STUDIES` studies (the most recently found).
"""

from __future__ import annotations

import json
import logging
import threading
import warnings
from pathlib import Path
from typing import Any

from workbench import config
from workbench.files import atomic_write, make_folder

logger = logging.getLogger(__name__)

FILE_NAME = "study-modalities.json"
MAX_STUDIES = 200_000
"""At most this many studies are remembered per server (about 100 bytes each)."""
FORMAT = 1

Version = tuple[str, ...]


class StudyModalities:
    """ModalitiesInStudy per Orthanc study ID of one server, with each study's version.

    Parameters
    ----------
    key
        The server's key (:func:`workbench.imaging.cache.server_key`).
    root
        The cache folder (default :func:`workbench.config.cache_dir`); ``None`` and ``persist=False``: memory
        only.
    persist
        Read and write the file (an archive opened with ``cache=False`` keeps the memo in memory only).
    """

    def __init__(self, key: str, root: str | Path | None = None, *, persist: bool = True) -> None:
        self.persist = persist
        self.root = Path(root or config.cache_dir())
        self.path = self.root / "search" / key / FILE_NAME
        self._lock = threading.RLock()
        self._entries: dict[str, tuple[Version, str]] | None = None
        self._dirty = False

    def __repr__(self) -> str:
        return f"StudyModalities({str(self.path)!r}, persist={self.persist})"

    def get(self, study_id: str, version: Version) -> str | None:
        """The study's modalities (``"CT\\\\MR"``) if remembered for this very version, else ``None``."""
        entry = self._loaded().get(study_id)
        return entry[1] if entry is not None and entry[0] == version else None

    def put(self, study_id: str, version: Version, modalities: str) -> None:
        """Remember a study's modalities (written to disk by :meth:`save`)."""
        entries = self._loaded()
        with self._lock:
            entries.pop(study_id, None)  # the most recently found last: the oldest go first at the limit
            entries[study_id] = (version, modalities)
            self._dirty = True

    def clear(self) -> None:
        """Forget every study (the file is emptied at the next :meth:`save`)."""
        with self._lock:
            self._entries = {}
            self._dirty = True

    def save(self) -> None:
        """Write what changed since the last save, in the background (a failure only logs a warning)."""
        if not self.persist or not self._dirty:
            return
        with self._lock:
            entries = self._loaded()
            keep = list(entries.items())[-MAX_STUDIES:]
            payload = {
                "format": FORMAT,
                "studies": {study_id: [list(version), text] for study_id, (version, text) in keep},
            }
            self._dirty = False
        from workbench.imaging.cache import JANITOR, PART_PREFIX, WRITER, mark

        def job() -> None:
            data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            mark(self.root)
            make_folder(self.path.parent, private=True)
            atomic_write(self.path, data, mode=0o600, prefix=PART_PREFIX)
            JANITOR.wrote(self.root, len(data))

        WRITER.submit(self.path, job)

    def _loaded(self) -> dict[str, tuple[Version, str]]:
        if self._entries is None:
            with self._lock:
                if self._entries is None:
                    self._entries = self._read() if self.persist else {}
        return self._entries

    def _read(self) -> dict[str, tuple[Version, str]]:
        from workbench.imaging.cache import WRITER, CacheWarning

        WRITER.wait(self.path)
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            logger.warning("could not read %s: %s", self.path, exc)
            return {}
        try:
            data = json.loads(raw)
            return _entries_of(data)
        except (ValueError, TypeError, KeyError) as exc:
            message = (
                f"the remembered study modalities in {self.path} are unreadable ({exc}); "
                "looking them up again"
            )
            logger.warning(message)
            warnings.warn(message, CacheWarning, stacklevel=4)
            self._dirty = True  # the next save replaces the file
            return {}


def _entries_of(data: Any) -> dict[str, tuple[Version, str]]:
    """The entries of a parsed file, checked for shape (raises ValueError, TypeError or KeyError)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"not format {FORMAT}")
    studies = data["studies"]
    if not isinstance(studies, dict):
        raise TypeError("'studies' is not an object")
    entries: dict[str, tuple[Version, str]] = {}
    for study_id, value in studies.items():
        version, text = value
        if not isinstance(text, str) or not isinstance(version, list):
            raise TypeError(f"study {study_id}: not [version, modalities]")
        if not all(isinstance(part, str) for part in version):
            raise TypeError(f"study {study_id}: version is not a list of strings")
        entries[study_id] = (tuple(version), text)
    return entries
