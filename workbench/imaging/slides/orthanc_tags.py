"""A slide's instance metadata from Orthanc's own ``/instances/{id}/tags`` answers, as pydicom datasets.

Why: to answer ``/dicom-web/studies/{s}/series/{u}/metadata``, Orthanc 1.10.1's DICOMweb plugin (1.7) reads
and parses every instance file of the series in full, pixel data included, while Orthanc's own
``GET /instances/{id}/tags`` reads a file only up to its pixel data (a range read at the offset Orthanc
stored at upload). Measured by ``bench/pathology.py`` on a freshly restarted Orthanc (loopback, 2 cores):
opening a 16384x16384 JPEG slide (level 0 one 57 MB instance) cost 219-226 ms over DICOMweb, more than
downloading that whole instance (190 ms), and 8192x8192 64 ms; with ``/tags`` 21 and 22 ms (same run). The
first region on the restarted server then pays the file read the DICOMweb request used to (its first frame
63 ms instead of 33): 97 / 51 ms instead of 83 / 40, so opening plus the first region 118 / 73 ms instead of
309 / 104. Where every frame's position is listed (Debian's ``OrthancWSIDicomizer``), pydicom's conversion
dominates on both routes (about 0.13 ms a frame: 1536 frames, a warm server, 390 ms here, 500 over DICOMweb).

What Orthanc 1.10.1 sends (``FromDcmtkBridge::DatasetToJson`` with its default flags; checked in its source
and against a running server): no value representations; ``?short`` gives ``{"gggg,eeee": value}`` where a
value is a string (several values joined by ``\\``, numbers of binary VRs in decimal, floating point with 17
significant digits, so exact), a list of items for a sequence, or ``null`` for: a binary value (OB, OW, UN
...: pixel data, ICC profiles), an empty number, and a text longer than 256 bytes ("TooLong" in the full
format; not truncated). ``ignore-length=ggggeeee,...`` sends the long texts of the tags listed, still by the
cheap range read. Private tags come with their values but without their VRs; text is converted to UTF-8
by the instance's ``SpecificCharacterSet``, as the DICOMweb plugin converts it, faults included (with
``ISO 2022 IR 6\\ISO 2022 IR 87`` both send the JIS text with its escape sequences stripped). One
difference: the plugin drops the empty first value of ``\\ISO 2022 IR 87``; here it is kept as stored.

So each value is typed here with the VR of pydicom's data dictionary, put in DICOM JSON form and read with
:meth:`pydicom.dataset.Dataset.from_json`, exactly as the DICOMweb answer is read; a text ``null`` is asked
again with ``ignore-length``. What cannot be represented faithfully is left out and listed
(:attr:`Converted.lost`): binary values, private and unknown tags, an attribute-tag list, a text Orthanc
would not send. Where a left-out element is one the workbench reads (:data:`READ_TAGS`), the caller takes
the series' DICOMweb metadata instead: never a wrong value. Group lengths are dropped (DICOMweb has none).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydicom.datadict import dictionary_VM, dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.valuerep import BYTES_VR

READ_KEYWORDS = (
    # the tile layout (pyramid.build_levels) and the reading of frames (slide.Slide)
    "SOPClassUID",
    "SOPInstanceUID",
    "ImageType",
    "InstanceNumber",
    "TotalPixelMatrixColumns",
    "TotalPixelMatrixRows",
    "Columns",
    "Rows",
    "NumberOfFrames",
    "DimensionOrganizationType",
    "SharedFunctionalGroupsSequence",
    "PixelMeasuresSequence",
    "PixelSpacing",
    "PerFrameFunctionalGroupsSequence",
    "PlanePositionSlideSequence",
    "ColumnPositionInTotalImagePixelMatrix",
    "RowPositionInTotalImagePixelMatrix",
    "ZOffsetInSlideCoordinateSystem",
    "OpticalPathIdentificationSequence",
    "OpticalPathIdentifier",
    "PhotometricInterpretation",
    "PlanarConfiguration",
    # the description (pyramid.describe)
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "PatientID",
    "PatientName",
    "ContainerIdentifier",
    "SpecimenDescriptionSequence",
    "SpecimenIdentifier",
    "SpecimenShortDescription",
    "SpecimenPreparationSequence",
    "SpecimenPreparationStepContentItemSequence",
    "ConceptNameCodeSequence",
    "ConceptCodeSequence",
    "CodeValue",
    "CodeMeaning",
    "TextValue",
    # what results written back reference (highdicom's source image: patient, study, frame of reference)
    "SpecificCharacterSet",
    "Modality",
    "FrameOfReferenceUID",
    "PatientBirthDate",
    "PatientSex",
    "AccessionNumber",
    "StudyID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "ImageOrientationSlide",
    "TotalPixelMatrixOriginSequence",
)
READ_TAGS: frozenset[int] = frozenset(int(tag_for_keyword(k) or 0) for k in READ_KEYWORDS)
"""Tags the workbench reads from a slide's metadata, at any depth: none of them may be left out."""

SINGLE_VALUED = {"LT", "ST", "UT", "UR"}
"""Text VRs whose backslashes are part of the one value."""
NUMBERS = {"US", "UL", "SS", "SL", "UV", "SV", "FL", "FD"}
"""VRs Orthanc sends as decimal text (binary numbers in the file)."""


@dataclass
class Converted:
    """One instance's tags as a dataset, and what had to be left out.

    Attributes
    ----------
    dataset
        The elements that could be represented.
    lost
        ``(path, tag)`` of each element left out (path as ``"(0048,0105)[0].(0028,2000)"``).
    long_texts
        Tags of texts Orthanc sent as ``null`` (too long: ask again with ``ignore-length``).
    """

    dataset: Dataset
    lost: list[tuple[str, int]] = field(default_factory=list)
    long_texts: set[int] = field(default_factory=set)

    def needed_lost(self, needed: Iterable[int] = READ_TAGS) -> list[str]:
        """Paths of the left-out elements whose tag is in ``needed``."""
        wanted = set(needed)
        return [path for path, tag in self.lost if tag in wanted]


def convert(tags: dict[str, Any]) -> Converted:
    """Orthanc's ``/instances/{id}/tags?short`` answer as a :class:`Converted`.

    Raises
    ------
    ValueError
        A value pydicom refuses for its VR (the caller falls back to DICOMweb).
    """
    result = Converted(Dataset())
    model = _item(tags, "", result)
    result.dataset = Dataset.from_json(model)
    return result


def ignore_length_argument(tags: Iterable[int]) -> str:
    """The ``ignore-length`` GET argument naming ``tags`` (Orthanc splits it at commas)."""
    return ",".join(f"{tag:08X}" for tag in sorted(tags))


def _item(tags: dict[str, Any], prefix: str, result: Converted) -> dict[str, Any]:
    """One dataset or sequence item in DICOM JSON form."""
    model: dict[str, Any] = {}
    for key, value in tags.items():
        tag = int(key.replace(",", ""), 16)
        path = f"{prefix}({key.upper()})"
        element = _element(tag, value, path, result)
        if element is not None:
            model[f"{tag:08X}"] = element
    return model


def _element(tag: int, value: Any, path: str, result: Converted) -> dict[str, Any] | None:
    if tag & 0xFFFF == 0:  # a group length: no data, and DICOMweb has none
        return None
    vr = _vr(tag)
    if vr is None or tag >> 16 & 1 or vr in BYTES_VR:  # unknown, private or binary: no faithful value
        result.lost.append((path, tag))
        return None
    if vr == "SQ":
        if not isinstance(value, list):
            result.lost.append((path, tag))
            return None
        items = [_item(item, f"{path}[{index}].", result) for index, item in enumerate(value)]
        return {"vr": "SQ", "Value": items}
    if isinstance(value, list | dict):
        result.lost.append((path, tag))
        return None
    if value is None:
        if vr in NUMBERS:  # an empty number
            return {"vr": vr}
        result.long_texts.add(tag)  # a text too long for Orthanc's default answer
        result.lost.append((path, tag))
        return None
    text = str(value)
    if text == "":
        return {"vr": vr}
    if vr in SINGLE_VALUED:
        return {"vr": vr, "Value": [text]}
    values: list[Any] = [v or None for v in text.split("\\")]  # an empty one as in DICOM JSON
    if vr == "AT":
        if dictionary_VM(tag) != "1":  # Orthanc sends only the first of several
            result.lost.append((path, tag))
            return None
        return {"vr": vr, "Value": [v.replace(",", "").upper() for v in values]}
    if vr == "PN":
        return {"vr": vr, "Value": [_person_name(v or "") for v in values]}
    if vr in NUMBERS:  # never empty: Orthanc writes them from binary numbers
        if vr in ("FL", "FD"):
            return {"vr": vr, "Value": [float(v) for v in values]}
        return {"vr": vr, "Value": [int(v) for v in values]}
    if vr == "US or SS":
        numbers = [int(v) for v in values]  # never empty, as NUMBERS
        return {"vr": "SS" if min(numbers) < 0 else "US", "Value": numbers}
    return {"vr": vr, "Value": values}


def _vr(tag: int) -> str | None:
    """The VR of a public tag in pydicom's dictionary (``None`` when unknown); ``"US or SS"`` is kept (the
    value decides), other ambiguous VRs are binary ones."""
    try:
        vr = str(dictionary_VR(tag))
    except KeyError:
        return None
    if " or " in vr and vr != "US or SS":
        return "OB"  # OB or OW, US or OW, US or SS or OW: Orthanc sends no value either way
    return vr


def _person_name(text: str) -> dict[str, str]:
    """A PN value ``alphabetic=ideographic=phonetic`` in DICOM JSON form."""
    groups = text.split("=")
    names = ("Alphabetic", "Ideographic", "Phonetic")
    return {name: group for name, group in zip(names, groups, strict=False) if group}
