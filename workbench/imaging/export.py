"""Export a loaded series for use elsewhere: the volume as ``.npz`` and NIfTI, and a ``summary.json``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from workbench.files import atomic_write
from workbench.imaging.volume import Volume

logger = logging.getLogger(__name__)


def export_volume(volume: Volume, folder: str | Path, **extra: Any) -> dict[str, Any]:
    """Write ``volume.npz``, ``volume.nii.gz`` and ``summary.json`` into ``folder``.

    Parameters
    ----------
    volume
        A loaded series.
    folder
        Created if needed.
    **extra
        More fields for the summary (e.g. ``n_studies``).

    Returns
    -------
    dict
        The summary written: ``series_uid``, ``study_uid``, ``patient_id``, ``shape``, ``spacing``, ``files``
        and the ``extra`` fields.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    npz = volume.save(out / "volume.npz")
    nifti = volume.save(out / "volume.nii.gz")
    summary = {
        "series_uid": volume.metadata.get("series_uid"),
        "study_uid": volume.metadata.get("study_uid"),
        "patient_id": volume.metadata.get("patient_id"),
        "shape": list(volume.array.shape),
        "spacing": list(volume.spacing),
        "files": [str(npz), str(nifti)],
        **extra,
    }
    text = json.dumps(summary, indent=2, ensure_ascii=False)
    atomic_write(out / "summary.json", text.encode("utf-8"), mode=0o600)
    logger.info("exported %s to %s", summary["series_uid"], out)
    return summary
