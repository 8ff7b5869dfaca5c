"""The tile layout of a whole-slide image, read from its instances' metadata (no pixels).

A slide is a series of *VL Whole Slide Microscopy Image Storage* instances. Each instance holds tiles of one
pyramid level (its ``TotalPixelMatrixColumns`` x ``TotalPixelMatrixRows``); a level may be spread over
several instances (Debian's ``OrthancWSIDicomizer`` splits a level at its ``--max-size``). Where each frame
goes is either implicit (``DimensionOrganizationType`` ``TILED_FULL``: row-major tile order) or given per
frame (``PerFrameFunctionalGroupsSequence`` / ``PlanePositionSlideSequence``, 1-based pixel column and row of
the tile's top-left corner in the total pixel matrix). Instances without ``ImageType`` (the dicomizer's
output) count as pyramid levels; ``LABEL``, ``OVERVIEW`` and ``THUMBNAIL`` images do not.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydicom.dataset import Dataset

from workbench.errors import DicomDataError

logger = logging.getLogger(__name__)

WSI_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.77.1.6"
"""VL Whole Slide Microscopy Image Storage."""
NOT_LEVELS = {"LABEL", "OVERVIEW", "THUMBNAIL"}
"""Third value of ``ImageType`` of whole-slide images that are not pyramid levels."""


@dataclass(frozen=True)
class FrameRef:
    """Where one tile is stored: an instance and a 1-based frame number."""

    sop_instance_uid: str
    frame: int


@dataclass
class Level:
    """One pyramid level.

    Attributes
    ----------
    index
        0 for the full resolution, then coarser.
    width, height
        Size in pixels (the total pixel matrix).
    tile_width, tile_height
        Size of a tile (a frame).
    pixel_spacing_um
        ``(column, row)`` spacing in micrometres, or ``None`` when the slide does not say.
    downsample
        Base-level width over this level's width.
    tiles
        ``(column, row)`` of a tile -> where it is stored; tiles absent from the slide read as white.
    """

    index: int
    width: int
    height: int
    tile_width: int
    tile_height: int
    pixel_spacing_um: tuple[float, float] | None
    downsample: float = 1.0
    tiles: dict[tuple[int, int], FrameRef] = field(default_factory=dict, repr=False)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return self.width, self.height

    @property
    def grid(self) -> tuple[int, int]:
        """``(columns, rows)`` of tiles."""
        return math.ceil(self.width / self.tile_width), math.ceil(self.height / self.tile_height)


@dataclass(frozen=True)
class SlideDescription:
    """What a slide's metadata says besides its levels."""

    series_uid: str
    study_uid: str
    patient_id: str
    patient_name: str
    specimen: str
    stain: str
    photometric: str


def is_slide_instance(ds: Dataset) -> bool:
    """Whether an instance is a whole-slide image (of any kind)."""
    return str(ds.get("SOPClassUID", "")) == WSI_SOP_CLASS


def build_levels(datasets: Iterable[Dataset], *, what: str = "slide") -> list[Level]:
    """The pyramid levels of a slide's instances, finest first.

    Parameters
    ----------
    datasets
        Metadata (no pixel data needed) of the slide's instances.
    what
        How to name the slide in errors.

    Returns
    -------
    list of Level

    Raises
    ------
    DicomDataError
        No instance is a pyramid level, or a frame's position is not on the tile grid.
    """
    by_size: dict[tuple[int, int], list[Dataset]] = {}
    for ds in datasets:
        if not is_slide_instance(ds):
            continue
        image_type = [str(v).upper() for v in (ds.get("ImageType") or [])]
        if len(image_type) > 2 and image_type[2] in NOT_LEVELS:
            continue
        key = (int(ds.TotalPixelMatrixColumns), int(ds.TotalPixelMatrixRows))
        by_size.setdefault(key, []).append(ds)
    if not by_size:
        raise DicomDataError(f"{what} has no pyramid level (no VOLUME whole-slide image instance)")
    sizes = sorted(by_size, key=lambda size: -size[0] * size[1])
    base_width = sizes[0][0]
    levels = []
    for index, size in enumerate(sizes):
        instances = sorted(by_size[size], key=lambda ds: int(ds.get("InstanceNumber") or 0))
        first = instances[0]
        level = Level(
            index=index,
            width=size[0],
            height=size[1],
            tile_width=int(first.Columns),
            tile_height=int(first.Rows),
            pixel_spacing_um=_pixel_spacing_um(first),
            downsample=base_width / size[0],
        )
        for ds in instances:
            _place_frames(level, ds, what)
        levels.append(level)
    return levels


def describe(datasets: list[Dataset], series_uid: str) -> SlideDescription:
    """Patient, specimen and stain of a slide (from its first whole-slide instance)."""
    first = next((ds for ds in datasets if is_slide_instance(ds)), datasets[0])
    specimens = list(first.get("SpecimenDescriptionSequence") or [])
    specimen = str(specimens[0].get("SpecimenIdentifier", "")) if specimens else ""
    stains: list[str] = []
    for item in specimens:
        for step in item.get("SpecimenPreparationSequence") or []:
            for content in step.get("SpecimenPreparationStepContentItemSequence") or []:
                concept = (content.get("ConceptNameCodeSequence") or [None])[0]
                if concept is None or str(concept.get("CodeValue", "")) != "424361007":  # using substance
                    continue
                value = (content.get("ConceptCodeSequence") or [None])[0]
                text = str(value.CodeMeaning) if value is not None else str(content.get("TextValue", ""))
                if text and text not in stains:
                    stains.append(text)
    if not stains and specimens:
        short = str(specimens[0].get("SpecimenShortDescription", ""))
        stains = [short] if short else []
    return SlideDescription(
        series_uid=series_uid,
        study_uid=str(first.get("StudyInstanceUID", "")),
        patient_id=str(first.get("PatientID", "")),
        patient_name=str(first.get("PatientName", "")),
        specimen=specimen or str(first.get("ContainerIdentifier", "")),
        stain=", ".join(stains),
        photometric=str(first.get("PhotometricInterpretation", "")),
    )


def _pixel_spacing_um(ds: Dataset) -> tuple[float, float] | None:
    for group in (ds.get("SharedFunctionalGroupsSequence") or [])[:1]:
        for measures in (group.get("PixelMeasuresSequence") or [])[:1]:
            spacing = measures.get("PixelSpacing")
            if spacing and len(spacing) == 2:
                # DICOM gives (row spacing, column spacing) in mm
                return float(spacing[1]) * 1000.0, float(spacing[0]) * 1000.0
    return None


def _place_frames(level: Level, ds: Dataset, what: str) -> None:
    """Add the tiles of one instance to ``level`` (first focal plane and optical path only)."""
    uid = str(ds.SOPInstanceUID)
    n_frames = int(ds.get("NumberOfFrames") or 1)
    if int(ds.Columns) != level.tile_width or int(ds.Rows) != level.tile_height:
        raise DicomDataError(
            f"{what}: instance {uid} has {ds.Columns}x{ds.Rows} tiles where its level has "
            f"{level.tile_width}x{level.tile_height}"
        )
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    columns, rows = level.grid
    if str(ds.get("DimensionOrganizationType", "")).upper() == "TILED_FULL" or not per_frame:
        for number in range(min(n_frames, columns * rows)):
            level.tiles.setdefault((number % columns, number // columns), FrameRef(uid, number + 1))
        return
    first_plane: tuple[str, str] | None = None
    for number, item in enumerate(per_frame, start=1):
        position = (item.get("PlanePositionSlideSequence") or [None])[0]
        if position is None:
            raise DicomDataError(
                f"{what}: frame {number} of instance {uid} has no PlanePositionSlideSequence"
            )
        plane = (str(position.get("ZOffsetInSlideCoordinateSystem", "")), _optical_path(item))
        first_plane = first_plane or plane
        if plane != first_plane:
            continue  # another focal plane or optical path: the first one is read
        x = int(position.ColumnPositionInTotalImagePixelMatrix) - 1
        y = int(position.RowPositionInTotalImagePixelMatrix) - 1
        if x % level.tile_width or y % level.tile_height:
            raise DicomDataError(
                f"{what}: frame {number} of instance {uid} starts at pixel ({x + 1}, {y + 1}), "
                f"off the {level.tile_width}x{level.tile_height} tile grid"
            )
        level.tiles.setdefault((x // level.tile_width, y // level.tile_height), FrameRef(uid, number))


def _optical_path(item: Dataset) -> str:
    path = (item.get("OpticalPathIdentificationSequence") or [None])[0]
    return str(path.get("OpticalPathIdentifier", "")) if path is not None else ""
