"""Build VL Whole Slide Microscopy Image instances (a tiled pyramid) from an RGB image.

Each pyramid level is one instance of *VL Whole Slide Microscopy Image Storage* with
``DimensionOrganizationType`` ``TILED_FULL`` (frames in row-major tile order, border tiles padded to the full
tile size), ``ImageType`` ``ORIGINAL\\PRIMARY\\VOLUME\\NONE`` for the base level and
``DERIVED\\PRIMARY\\VOLUME\\RESAMPLED`` above, the specimen described with highdicom's
:class:`~highdicom.SpecimenDescription` (its staining step names the stains), one optical path, and the
attributes wsidicom, highdicom and Orthanc's WSI plugin need to place every tile.

Why by hand (with pydicom and highdicom's specimen content) rather than a converter: highdicom has no VL WSI
constructor, wsidicom writes only from its own image sources, and Debian's ``OrthancWSIDicomizer`` omits
``ImageType``, which wsidicom then refuses. Tiles are JPEG baseline (Pillow, quality 90) or, for tests that
compare pixels exactly, uncompressed RGB.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    VLWholeSlideMicroscopyImageStorage,
    generate_uid,
)

logger = logging.getLogger(__name__)

DEFAULT_TILE = 256
WHITE = 245
"""Value of padding outside the image (a slide's bright background)."""


class TileCompression(StrEnum):
    """How tiles are stored."""

    JPEG = "jpeg"
    NONE = "none"


@dataclass(frozen=True)
class SlideInfo:
    """Patient, study and specimen attributes of a slide (the rest is computed)."""

    patient_id: str
    patient_name: str
    study_uid: str
    series_uid: str
    specimen_id: str
    study_date: dt.date = dt.date(2024, 1, 1)
    patient_sex: str = ""
    patient_birth_date: dt.date | None = None
    accession_number: str = ""
    study_description: str = "Pathology"
    series_description: str = "H&E whole slide"
    specimen_description: str = "H&E"
    stains: tuple[str, ...] = ("hematoxylin", "eosin")
    charset: str = "ISO_IR 192"
    institution: str = ""
    manufacturer: str = "Workbench Synthetic"
    series_number: int = 1


def downsample(image: np.ndarray, factor: int = 2) -> np.ndarray:
    """Average ``factor`` x ``factor`` blocks (the border repeats its last row/column to fill a block).

    Parameters
    ----------
    image
        ``(rows, columns, 3)`` uint8.
    factor
        Reduction per side.

    Returns
    -------
    numpy.ndarray
        ``(ceil(rows / factor), ceil(columns / factor), 3)`` uint8.
    """
    rows, cols = image.shape[:2]
    pad_r, pad_c = -rows % factor, -cols % factor
    if pad_r or pad_c:
        image = np.pad(image, ((0, pad_r), (0, pad_c), (0, 0)), mode="edge")
    r, c = image.shape[0] // factor, image.shape[1] // factor
    blocks = image.reshape(r, factor, c, factor, -1).astype(np.uint32)
    return ((blocks.sum(axis=(1, 3)) + factor * factor // 2) // (factor * factor)).astype(np.uint8)


def pyramid(image: np.ndarray, levels: int) -> list[np.ndarray]:
    """``image`` and its successive halvings: ``levels`` arrays, the base level first."""
    result = [image]
    for _ in range(levels - 1):
        result.append(downsample(result[-1]))
    return result


def tiles(image: np.ndarray, tile: int = DEFAULT_TILE) -> list[np.ndarray]:
    """The ``tile`` x ``tile`` tiles of ``image``, row-major, border tiles padded with :data:`WHITE`."""
    rows, cols = image.shape[:2]
    result = []
    for y in range(0, rows, tile):
        for x in range(0, cols, tile):
            piece = image[y : y + tile, x : x + tile]
            if piece.shape[:2] != (tile, tile):
                padded = np.full((tile, tile, 3), WHITE, dtype=np.uint8)
                padded[: piece.shape[0], : piece.shape[1]] = piece
                piece = padded
            result.append(np.ascontiguousarray(piece))
    return result


def encode_jpeg(tile: np.ndarray, quality: int = 90) -> bytes:
    """One RGB tile as a JPEG baseline bitstream (YCbCr, 4:2:0) via Pillow."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(tile, "RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def slide_datasets(
    image: np.ndarray | Sequence[np.ndarray],
    info: SlideInfo,
    *,
    levels: int = 4,
    tile: int = DEFAULT_TILE,
    compression: TileCompression | str = TileCompression.JPEG,
    pixel_spacing_mm: float = 0.0005,
    quality: int = 90,
) -> list[Dataset]:
    """One VL WSI instance per pyramid level, base level first.

    Parameters
    ----------
    image
        The base level ``(rows, columns, 3)`` uint8 (halved ``levels - 1`` times), or the levels themselves.
    info
        Patient, study, series and specimen.
    levels
        Pyramid levels made from a single image.
    tile
        Tile side in pixels.
    compression
        ``"jpeg"`` (lossy, as scanners store) or ``"none"`` (exact pixels).
    pixel_spacing_mm
        Base-level pixel spacing in mm (0.0005 = 0.5 µm, a 20x scan).
    quality
        JPEG quality.

    Returns
    -------
    list of pydicom.Dataset
        Ready to store (file meta included).

    Raises
    ------
    ValueError
        ``image`` is not RGB uint8, or ``levels``/``tile`` is not positive.
    """
    compression = TileCompression(compression)
    if levels < 1 or tile < 1:
        raise ValueError(f"levels and tile must be positive, got {levels} and {tile}")
    images = pyramid(np.asarray(image), levels) if isinstance(image, np.ndarray) else list(image)
    for level in images:
        if level.ndim != 3 or level.shape[2] != 3 or level.dtype != np.uint8:
            raise ValueError(
                f"a slide level must be (rows, columns, 3) uint8, got {level.shape} {level.dtype}"
            )
    frame_of_reference = generate_uid(entropy_srcs=[info.series_uid, "frame-of-reference"])
    base_rows, base_cols = images[0].shape[:2]
    result = []
    for index, level in enumerate(images):
        scale = base_cols / level.shape[1]
        ds = _instance(info, index, level.shape[:2], tile, pixel_spacing_mm * scale, frame_of_reference)
        ds.ImagedVolumeWidth = base_cols * pixel_spacing_mm
        ds.ImagedVolumeHeight = base_rows * pixel_spacing_mm
        frames = tiles(level, tile)
        ds.NumberOfFrames = len(frames)
        if compression is TileCompression.JPEG:
            ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
            ds.PhotometricInterpretation = "YBR_FULL_422"
            ds.LossyImageCompression = "01"
            ds.LossyImageCompressionMethod = "ISO_10918_1"
            encoded = [encode_jpeg(t, quality) for t in frames]
            ds.LossyImageCompressionRatio = f"{len(frames) * tile * tile * 3 / sum(map(len, encoded)):.2f}"
            ds.PixelData = encapsulate(encoded)
            ds["PixelData"].VR = "OB"
        else:
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.PhotometricInterpretation = "RGB"
            ds.LossyImageCompression = "00"
            ds.PixelData = b"".join(t.tobytes() for t in frames)
            ds["PixelData"].VR = "OB"
        result.append(ds)
    logger.debug("slide %s: %d levels", info.series_uid, len(result))
    return result


def _instance(
    info: SlideInfo,
    index: int,
    shape: tuple[int, int],
    tile: int,
    spacing_mm: float,
    frame_of_reference: str,
) -> Dataset:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = VLWholeSlideMicroscopyImageStorage
    sop_uid = generate_uid(entropy_srcs=[info.series_uid, "level", str(index)])
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.SpecificCharacterSet = info.charset
    ds.SOPClassUID = VLWholeSlideMicroscopyImageStorage
    ds.SOPInstanceUID = sop_uid
    date = info.study_date.strftime("%Y%m%d")
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "100000"
    ds.AcquisitionDateTime = date + "100000"
    ds.AccessionNumber = info.accession_number
    ds.Modality = "SM"
    ds.Manufacturer = info.manufacturer
    ds.ManufacturerModelName = "workbench"
    ds.DeviceSerialNumber = "0"
    ds.SoftwareVersions = "1"
    if info.institution:
        ds.InstitutionName = info.institution
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = info.study_description
    ds.SeriesDescription = info.series_description
    ds.PatientName = info.patient_name
    ds.PatientID = info.patient_id
    ds.PatientBirthDate = info.patient_birth_date.strftime("%Y%m%d") if info.patient_birth_date else ""
    ds.PatientSex = info.patient_sex
    ds.StudyInstanceUID = info.study_uid
    ds.SeriesInstanceUID = info.series_uid
    ds.StudyID = info.accession_number[-16:]
    ds.SeriesNumber = info.series_number
    ds.InstanceNumber = index + 1
    ds.FrameOfReferenceUID = frame_of_reference
    ds.PositionReferenceIndicator = "SLIDE_CORNER"
    ds.ImageType = (
        ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
        if index == 0
        else ["DERIVED", "PRIMARY", "VOLUME", "RESAMPLED"]
    )
    ds.BurnedInAnnotation = "NO"
    ds.SpecimenLabelInImage = "NO"
    ds.VolumetricProperties = "VOLUME"
    ds.FocusMethod = "AUTO"
    ds.ExtendedDepthOfField = "NO"
    ds.ImageOrientationSlide = [0, -1, 0, -1, 0, 0]
    ds.SamplesPerPixel = 3
    ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.Rows = ds.Columns = tile
    ds.TotalPixelMatrixRows, ds.TotalPixelMatrixColumns = shape
    ds.TotalPixelMatrixFocalPlanes = 1
    ds.NumberOfOpticalPaths = 1
    ds.DimensionOrganizationType = "TILED_FULL"
    ds.ImagedVolumeDepth = 0.001
    origin = Dataset()
    origin.XOffsetInSlideCoordinateSystem = 20.0
    origin.YOffsetInSlideCoordinateSystem = 40.0
    ds.TotalPixelMatrixOriginSequence = [origin]
    dimension = Dataset()
    dimension.DimensionOrganizationUID = generate_uid(entropy_srcs=[info.series_uid, "dimensions"])
    ds.DimensionOrganizationSequence = [dimension]
    measures = Dataset()
    measures.PixelSpacing = [round(spacing_mm, 9), round(spacing_mm, 9)]
    measures.SliceThickness = 0.001
    measures.SpacingBetweenSlices = 0.001
    optical = Dataset()
    optical.OpticalPathIdentifier = "1"
    shared = Dataset()
    shared.PixelMeasuresSequence = [measures]
    shared.OpticalPathIdentificationSequence = [optical]
    whole = Dataset()
    whole.FrameType = ds.ImageType
    shared.WholeSlideMicroscopyImageFrameTypeSequence = [whole]
    ds.SharedFunctionalGroupsSequence = [shared]
    path = Dataset()
    path.OpticalPathIdentifier = "1"
    path.OpticalPathDescription = "Brightfield"
    path.IlluminationTypeCodeSequence = [_code("111744", "DCM", "Brightfield illumination")]
    path.IlluminationColorCodeSequence = [_code("414298005", "SCT", "Full Spectrum")]
    ds.OpticalPathSequence = [path]
    known = {"hematoxylin": codes.SCT.HematoxylinStain, "eosin": codes.SCT.WaterSolubleEosinStain}
    stains = [known.get(name, name) for name in info.stains]
    staining = hd.SpecimenPreparationStep(
        info.specimen_id, processing_procedure=hd.SpecimenStaining(substances=stains)
    )
    specimen = hd.SpecimenDescription(
        specimen_id=info.specimen_id,
        specimen_uid=generate_uid(entropy_srcs=[info.series_uid, "specimen"]),
        specimen_preparation_steps=[staining],
        specimen_short_description=info.specimen_description,
        primary_anatomic_structures=None,
    )
    ds.SpecimenDescriptionSequence = [specimen]
    ds.ContainerIdentifier = info.specimen_id
    ds.IssuerOfTheContainerIdentifierSequence = []
    ds.ContainerTypeCodeSequence = [_code(codes.SCT.MicroscopeSlide.value, "SCT", "Microscope slide")]
    ds.AcquisitionContextSequence = []
    return ds


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item
