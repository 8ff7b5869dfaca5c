"""Patch predictions on a whole-slide image back into the archive as DICOM, and read back.

A set of scored patches becomes **Microscopy Bulk Simple Annotations** (highdicom
:class:`~highdicom.ann.MicroscopyBulkSimpleAnnotations`, modality ``ANN``) on the slide's total pixel matrix:
one annotation group whose property is "Neoplasm" (SNOMED CT 108369006, category "Morphologically abnormal
structure"), one polygon per patch (its four corners in level-0 pixel coordinates) and the measurement
"Probability" (DCM 122157, unit 1) per patch. The object joins the slide's study, inherits its patient,
references the slide's base-level instance and names the algorithm, so viewers that read annotations (Slim,
QuPath with wsidicom) draw it over the slide. :func:`read_patch_annotations` finds it again through search.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pydicom
from pydicom.sr.coding import Code

import workbench
from workbench.errors import DicomDataError

logger = logging.getLogger(__name__)

ANN_SERIES_NUMBER = 9003
UTF8 = "ISO_IR 192"
"""Character set of what we write: UTF-8 carries any patient name."""
NEOPLASM = Code("108369006", "SCT", "Neoplasm")
ABNORMAL_STRUCTURE = Code("49755003", "SCT", "Morphologically abnormal structure")
PROBABILITY = Code("122157", "DCM", "Probability")
UNIT_ONE = Code("1", "UCUM", "no units")
ARTIFICIAL_INTELLIGENCE = Code("113038", "DCM", "Artificial Intelligence")


def patch_annotations(
    slide: Any,
    items: Sequence[Mapping[str, Any]],
    probabilities: Sequence[float],
    *,
    algorithm: str = "workbench patch classifier",
    version: str = workbench.__version__,
    label: str = "tumour probability",
) -> Any:
    """Scored patches of one slide as a highdicom ``MicroscopyBulkSimpleAnnotations``.

    Parameters
    ----------
    slide
        The open slide (:meth:`~workbench.imaging.slides.Slide.base_dataset` is referenced).
    items
        Patches of that slide (:func:`workbench.ml.patches.patch_items`).
    probabilities
        One score in [0, 1] per item.
    algorithm, version
        Named in the annotation group (Algorithm Identification).
    label
        The group's label.

    Returns
    -------
    highdicom.ann.MicroscopyBulkSimpleAnnotations

    Raises
    ------
    ValueError
        No items, lengths that differ, an item of another slide, or a score outside [0, 1].
    """
    import highdicom as hd
    from pydicom.uid import generate_uid

    if not items or len(items) != len(probabilities):
        raise ValueError(f"need one probability per patch, got {len(items)} patches and {len(probabilities)}")
    scores = np.asarray(probabilities, dtype=np.float32)
    if not np.all((scores >= 0) & (scores <= 1)):
        raise ValueError("probabilities must lie in [0, 1]")
    polygons = []
    for item in items:
        if item["series_uid"] != slide.series_uid:
            raise ValueError(f"patch of slide {item['series_uid']} given for slide {slide.series_uid}")
        x, y = (float(v) for v in item["location"])
        extent = float(item["size"]) * slide.level(int(item["level"])).downsample
        polygons.append(
            np.array([[x, y], [x + extent, y], [x + extent, y + extent], [x, y + extent]], dtype=np.float32)
        )
    group = hd.ann.AnnotationGroup(
        number=1,
        uid=generate_uid(),
        label=label,
        annotated_property_category=ABNORMAL_STRUCTURE,
        annotated_property_type=NEOPLASM,
        graphic_type=hd.ann.GraphicTypeValues.POLYGON,
        graphic_data=polygons,
        algorithm_type=hd.ann.AnnotationGroupGenerationTypeValues.AUTOMATIC,
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name=algorithm, family=ARTIFICIAL_INTELLIGENCE, version=version
        ),
        measurements=[hd.ann.Measurements(name=PROBABILITY, values=scores, unit=UNIT_ONE)],
    )
    return hd.ann.MicroscopyBulkSimpleAnnotations(
        source_images=[slide.base_dataset()],
        annotation_coordinate_type=hd.ann.AnnotationCoordinateTypeValues.SCOORD,
        annotation_groups=[group],
        series_instance_uid=generate_uid(),
        series_number=ANN_SERIES_NUMBER,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="workbench",
        manufacturer_model_name=algorithm,
        software_versions=version,
        device_serial_number="0",
        content_description="patch probabilities",
        content_label="PATCHES",
        specific_character_set=UTF8,
    )


def write_patch_annotations(
    archive: Any,
    slide: Any,
    items: Sequence[Mapping[str, Any]],
    probabilities: Sequence[float],
    **kwargs: Any,
) -> str:
    """Build :func:`patch_annotations` and store it in ``archive``; returns the new series UID.

    Raises
    ------
    ArchiveError
        The archive refused it.
    """
    annotations = patch_annotations(slide, items, probabilities, **kwargs)
    archive.store([annotations], progress=False)
    logger.info("stored %d patch annotations on slide %s", len(items), slide.series_uid)
    return str(annotations.SeriesInstanceUID)


def read_patch_annotations(archive: Any, slide_series_uid: str, study_uid: str | None = None) -> pd.DataFrame:
    """The patch annotations stored on a slide, found through the archive's search.

    Parameters
    ----------
    archive
        Either archive kind.
    slide_series_uid
        The slide's series.
    study_uid
        Its study (looked up when omitted).

    Returns
    -------
    pandas.DataFrame
        One row per annotated patch: ``annotation_series_uid``, ``sop_instance_uid``, ``label``, ``x``,
        ``y``, ``width``, ``height`` (level-0 pixels) and ``probability``; empty when there is none.

    Raises
    ------
    DicomDataError
        A stored annotation object cannot be read.
    """
    import highdicom as hd

    if study_uid is None:
        found = archive.series(series_uid=slide_series_uid)
        study_uid = str(found.study_uid.iloc[0]) if not found.empty else None
    columns = [
        "annotation_series_uid",
        "sop_instance_uid",
        "label",
        "x",
        "y",
        "width",
        "height",
        "probability",
    ]
    if study_uid is None:
        return pd.DataFrame(columns=columns)
    rows = []
    for series_uid in archive.series(study_uid=study_uid, modality="ANN").series_uid:
        with tempfile.TemporaryDirectory() as folder:
            for path in archive.download_series(series_uid, folder):
                ds = pydicom.dcmread(path)
                if not _references(ds, slide_series_uid):
                    continue
                try:
                    annotations = hd.ann.MicroscopyBulkSimpleAnnotations.from_dataset(ds)
                except (ValueError, AttributeError) as exc:
                    raise DicomDataError(f"annotations {ds.SOPInstanceUID} cannot be read: {exc}") from None
                for group in annotations.get_annotation_groups():
                    polygons = group.get_graphic_data(coordinate_type="2D")
                    names, values, _ = group.get_measurements(name=PROBABILITY)
                    scores = values[:, 0] if len(names) else np.full(len(polygons), np.nan)
                    for polygon, score in zip(polygons, scores, strict=True):
                        low, high = polygon.min(axis=0), polygon.max(axis=0)
                        rows.append(
                            {
                                "annotation_series_uid": series_uid,
                                "sop_instance_uid": str(ds.SOPInstanceUID),
                                "label": group.label,
                                "x": float(low[0]),
                                "y": float(low[1]),
                                "width": float(high[0] - low[0]),
                                "height": float(high[1] - low[1]),
                                "probability": float(score),
                            }
                        )
    return pd.DataFrame(rows, columns=columns)


def _references(ds: pydicom.Dataset, series_uid: str) -> bool:
    return any(
        str(item.get("SeriesInstanceUID", "")) == series_uid
        for item in ds.get("ReferencedSeriesSequence") or []
    )
