"""Slide metadata of an Orthanc archive from Orthanc's ``/instances/{id}/tags``: the same datasets as the
DICOMweb series metadata on every element but the binary ones, the same levels, frames and description, no
DICOMweb request; long texts asked again with ``ignore-length``; the DICOMweb metadata where an element the
workbench reads cannot be converted."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import pydicom
import pytest

from tests.imaging.slides.conftest import CODED_SIZES, StoredSlide, coded_level, info
from workbench.imaging import connect
from workbench.imaging.local_server import LocalOrthanc
from workbench.imaging.orthanc import OrthancArchive
from workbench.imaging.slides import orthanc_tags
from workbench.imaging.slides.build import slide_datasets
from workbench.imaging.slides.connections import Connection
from workbench.imaging.slides.pyramid import build_levels, describe
from workbench.imaging.slides.source import OrthancSource, datasets_from_json

pytestmark = pytest.mark.orthanc

BINARY = {"OB", "OW", "OD", "OF", "OL", "OV", "UN"}
ICC_PROFILE = 0x00282000
PRIVATE_TAG = 0x00091010


@pytest.fixture
def archive(orthanc: LocalOrthanc) -> OrthancArchive:
    result = connect(orthanc.url, orthanc.username, orthanc.password, cache=False)
    assert isinstance(result, OrthancArchive)
    return result


class Requests:
    """The paths an Orthanc source asks, through its session and its kept-alive connections."""

    def __init__(self, source: OrthancSource, monkeypatch: pytest.MonkeyPatch) -> None:
        self.paths: list[str] = []
        session_get = source.client.get_json
        connection_get = Connection.get

        def by_session(path: str, *args: Any, **kwargs: Any) -> Any:
            self.paths.append(path)
            return session_get(path, *args, **kwargs)

        def by_connection(connection: Connection, path: str) -> Any:
            self.paths.append(path)
            return connection_get(connection, path)

        monkeypatch.setattr(source.client, "get_json", by_session)
        monkeypatch.setattr(Connection, "get", by_connection)


def dicomweb_metadata(orthanc: LocalOrthanc, study_uid: str, series_uid: str) -> list[pydicom.Dataset]:
    items = orthanc.client().get_json(f"/dicom-web/studies/{study_uid}/series/{series_uid}/metadata")
    return datasets_from_json(items)


def differences(rest: pydicom.Dataset, web: pydicom.Dataset, lost: set[str], prefix: str = "") -> list[str]:
    """Where two datasets differ, recursively: values, their types and VRs; an element only in the DICOMweb
    one counts unless it is binary and listed as left out (``lost``)."""
    found = []
    for element in web:
        path = f"{prefix}({element.tag.group:04X},{element.tag.element:04X})"
        if element.tag not in rest:
            if not (element.VR in BINARY and path in lost):
                found.append(f"{path} {element.keyword} only over DICOMweb")
            continue
        mine = rest[element.tag]
        if mine.VR != element.VR:
            found.append(f"{path} VR {mine.VR} over REST, {element.VR} over DICOMweb")
        elif element.VR == "SQ":
            if len(mine.value) != len(element.value):
                found.append(f"{path} {len(mine.value)} items over REST, {len(element.value)} over DICOMweb")
                continue
            for index, (a, b) in enumerate(zip(mine.value, element.value, strict=True)):
                found += differences(a, b, lost, f"{path}[{index}].")
        elif element.keyword == "SpecificCharacterSet" and list(mine.value) == ["", element.value]:
            continue  # as stored: the DICOMweb plugin drops the empty first value of a code extension
        elif mine.value != element.value or type(mine.value) is not type(element.value):
            found.append(
                f"{path} {element.keyword}: {mine.value!r} over REST, {element.value!r} over DICOMweb"
            )
    found += [
        f"{prefix}{element.tag} {element.keyword} only over REST"
        for element in rest
        if element.tag not in web
    ]
    return found


def assert_same_as_dicomweb(
    archive: OrthancArchive,
    orthanc: LocalOrthanc,
    study_uid: str,
    series_uid: str,
    monkeypatch: pytest.MonkeyPatch,
) -> list[pydicom.Dataset]:
    """The REST datasets equal the DICOMweb ones (but left-out binary values), with no DICOMweb request, and
    give the same slide."""
    source = archive.slide_source()
    assert isinstance(source, OrthancSource)
    converted = {
        str(item.dataset.SOPInstanceUID): item
        for item in source._all_tags(series_uid, source._series_ids(study_uid, series_uid))
    }
    web = dicomweb_metadata(orthanc, study_uid, series_uid)
    assert len(converted) == len(web) > 0
    for ds in web:
        item = converted[str(ds.SOPInstanceUID)]
        assert item.needed_lost() == []
        assert differences(item.dataset, ds, {path for path, _ in item.lost}) == []
    with monkeypatch.context() as patch:
        asked = Requests(source, patch)
        rest = source.metadata(study_uid, series_uid)
    assert not [path for path in asked.paths if path.startswith("/dicom-web")]
    assert sum(path.endswith("/tags?short") for path in asked.paths) == len(web)
    assert sorted(str(ds.SOPInstanceUID) for ds in rest) == sorted(converted)
    for ds in rest:
        assert differences(ds, converted[str(ds.SOPInstanceUID)].dataset, set()) == []
    rest_levels, web_levels = build_levels(rest), build_levels(web)
    assert [(lv.index, lv.size, lv.tile_width, lv.tile_height) for lv in rest_levels] == [
        (lv.index, lv.size, lv.tile_width, lv.tile_height) for lv in web_levels
    ]
    assert [(lv.pixel_spacing_um, lv.downsample, lv.tiles) for lv in rest_levels] == [
        (lv.pixel_spacing_um, lv.downsample, lv.tiles) for lv in web_levels
    ]
    assert describe(rest, series_uid) == describe(web, series_uid)
    return rest


def test_every_demo_slide_is_the_same_as_over_dicomweb(
    archive: OrthancArchive, orthanc: LocalOrthanc, demo_hospital: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workbench.imaging.demo.slides import SLIDE_LEVELS, slide_plans

    plans = slide_plans()
    assert len(plans) >= 6
    charsets: set[str] = set()
    for plan in plans:
        rest = assert_same_as_dicomweb(archive, orthanc, plan.study_uid, plan.series_uid, monkeypatch)
        assert len(rest) == SLIDE_LEVELS
        charsets.update(str(ds.SpecificCharacterSet) for ds in rest)
    assert "['', 'ISO 2022 IR 87']" in charsets  # a code extension (JIS X 0208) among them, kept as stored
    slide = archive.open_slide(plans[0].series_uid)
    assert "=" in str(slide.description.patient_name)  # Japanese name groups, as stored
    assert "hematoxylin" in slide.description.stain


def test_the_dicomizer_output_is_the_same_as_over_dicomweb(
    archive: OrthancArchive,
    orthanc: LocalOrthanc,
    dicomized_slide: StoredSlide,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rest = assert_same_as_dicomweb(
        archive, orthanc, dicomized_slide.study_uid, dicomized_slide.series_uid, monkeypatch
    )
    assert all("PerFrameFunctionalGroupsSequence" in ds and "ImageType" not in ds for ds in rest)
    stored = {str(ds.SOPInstanceUID): ds for ds in dicomized_slide.datasets}
    for ds in rest:  # the per-frame positions as in the files
        assert (
            ds.PerFrameFunctionalGroupsSequence
            == stored[str(ds.SOPInstanceUID)].PerFrameFunctionalGroupsSequence
        )
        assert ICC_PROFILE not in ds.OpticalPathSequence[0]  # binary: left out (DICOMweb has only a bulk URI)
    slide = archive.open_slide(dicomized_slide.series_uid)
    assert [level.size for level in slide.levels] == [(1000, 700), (500, 350), (250, 175)]


def test_a_lossless_slide_is_the_same_as_over_dicomweb(
    archive: OrthancArchive, orthanc: LocalOrthanc, coded_slide: StoredSlide, monkeypatch: pytest.MonkeyPatch
) -> None:
    rest = assert_same_as_dicomweb(
        archive, orthanc, coded_slide.study_uid, coded_slide.series_uid, monkeypatch
    )
    assert {str(ds.PhotometricInterpretation) for ds in rest} == {"RGB"}
    slide = archive.open_slide(coded_slide.series_uid)
    assert [level.size for level in slide.levels] == list(CODED_SIZES)
    assert slide.read_region((0, 0), 2, (275, 225)).tolist() == coded_slide.levels[2].tolist()


@pytest.fixture(scope="module")
def unusual_slide(orthanc: LocalOrthanc) -> StoredSlide:
    """A lossless slide with a stain named in 300 characters (Orthanc's JSON leaves out texts over 256 bytes)
    and a private element in each instance."""
    stain = "haematoxylin (Mayer's, 5 minutes) " * 9
    assert len(stain.encode()) > 256
    slide = replace(
        info("unusual", "IMG-WSI-06", "Ueno^Aoi=上野^葵=うえの^あおい"), stains=(stain.strip(), "eosin")
    )
    datasets = slide_datasets(
        [coded_level(0, *CODED_SIZES[1]), coded_level(1, *CODED_SIZES[2])], slide, compression="none"
    )
    for ds in datasets:
        ds.private_block(0x0009, "WORKBENCH TEST", create=True).add_new(0x10, "LO", "private value")
    orthanc.client().upload(datasets, progress=False)
    return StoredSlide(slide.study_uid, slide.series_uid, [], datasets)


def test_long_texts_are_asked_again_in_full(
    archive: OrthancArchive,
    orthanc: LocalOrthanc,
    unusual_slide: StoredSlide,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = archive.slide_source()
    asked = Requests(source, monkeypatch)
    rest = source.metadata(unusual_slide.study_uid, unusual_slide.series_uid)
    again = [path for path in asked.paths if "ignore-length=" in path]
    assert len(again) == len(rest) == 2
    assert all(path.endswith("ignore-length=0040A160") for path in again)  # TextValue
    stain = describe(rest, unusual_slide.series_uid).stain
    assert stain.startswith("haematoxylin (Mayer's, 5 minutes) haematoxylin")
    assert stain.endswith(", water soluble eosin stain")
    assert stain == describe(unusual_slide.datasets, unusual_slide.series_uid).stain
    assert all(PRIVATE_TAG not in ds for ds in rest)  # private: left out, not needed
    assert not [path for path in asked.paths if path.startswith("/dicom-web")]


@pytest.mark.parametrize("needed", [PRIVATE_TAG, ICC_PROFILE], ids=["private", "binary"])
def test_an_element_the_reader_needs_but_cannot_get_falls_back_to_dicomweb(
    archive: OrthancArchive,
    orthanc: LocalOrthanc,
    unusual_slide: StoredSlide,
    dicomized_slide: StoredSlide,
    needed: int,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A private element or a binary one (the dicomizer's ICC profile) among the tags read."""
    stored = unusual_slide if needed == PRIVATE_TAG else dicomized_slide
    monkeypatch.setattr(orthanc_tags, "READ_TAGS", orthanc_tags.READ_TAGS | {needed})
    source = archive.slide_source()
    asked = Requests(source, monkeypatch)
    with caplog.at_level(logging.DEBUG, logger="workbench.imaging.slides.source"):
        rest = source.metadata(stored.study_uid, stored.series_uid)
    path = "(0009,1010)" if needed == PRIVATE_TAG else "(0048,0105)[0].(0028,2000)"
    assert f"series {stored.series_uid}: metadata through DICOMweb" in caplog.text and path in caplog.text
    assert [p for p in asked.paths if p.startswith("/dicom-web")] == [
        f"/dicom-web/studies/{stored.study_uid}/series/{stored.series_uid}/metadata"
    ]
    web = dicomweb_metadata(orthanc, stored.study_uid, stored.series_uid)
    assert rest == web
    if needed == PRIVATE_TAG:
        assert {ds[PRIVATE_TAG].value for ds in rest} == {"private value"}
    else:
        assert all(ds.OpticalPathSequence[0].ICCProfile == b"" for ds in rest)  # the bulk data placeholder
    slide = archive.open_slide(stored.series_uid)
    assert [level.tiles for level in slide.levels] == [level.tiles for level in build_levels(web)]
