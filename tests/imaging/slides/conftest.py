"""Slides stored once per session in the test Orthanc: a coded lossless slide, a JPEG demo slide, the output
of Debian's ``OrthancWSIDicomizer``, and broken slides (a missing and a corrupt frame)."""

from __future__ import annotations

import copy
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import generate_uid

from workbench.imaging import connect
from workbench.imaging.dicomweb import DicomWebArchive
from workbench.imaging.local_server import LocalOrthanc
from workbench.imaging.slides.build import SlideInfo, slide_datasets

TILE = 256
CODED_SIZES = ((1100, 900), (550, 450), (275, 225))
"""(width, height) of the coded slide's levels: every level has partial border tiles."""


@dataclass(frozen=True)
class StoredSlide:
    """A slide as stored: its series, and the pixels each level must read as."""

    study_uid: str
    series_uid: str
    levels: list[np.ndarray]
    datasets: list[pydicom.Dataset]


def coded_level(level: int, width: int, height: int) -> np.ndarray:
    """Pixels that say where they are: R = the tile's (level, col, row) code, G = x % 251, B = y % 241."""
    y, x = np.mgrid[0:height, 0:width]
    code = (level * 60 + (y // TILE) * 8 + (x // TILE)) % 256
    return np.stack([code, x % 251, y % 241], axis=-1).astype(np.uint8)


def tile_code(level: int, col: int, row: int) -> int:
    """The R value of every pixel of tile (col, row) of ``level``."""
    return (level * 60 + row * 8 + col) % 256


def info(name: str, patient_id: str, patient_name: str) -> SlideInfo:
    study = generate_uid(entropy_srcs=["slides-test", name, "study"])
    series = generate_uid(entropy_srcs=["slides-test", name, "series"])
    return SlideInfo(patient_id, patient_name, study, series, f"SP-{name}")


def _store(orthanc: LocalOrthanc, datasets: list[pydicom.Dataset]) -> None:
    orthanc.client().upload(datasets, progress=False)


@pytest.fixture(scope="session")
def coded_slide(orthanc: LocalOrthanc) -> StoredSlide:
    """Three lossless levels whose every tile encodes its own (level, col, row)."""
    levels = [coded_level(i, w, h) for i, (w, h) in enumerate(CODED_SIZES)]
    slide = info("coded", "IMG-WSI-01", "Kimura^Sora=木村^空=きむら^そら")
    datasets = slide_datasets(levels, slide, compression="none")
    _store(orthanc, datasets)
    return StoredSlide(slide.study_uid, slide.series_uid, levels, datasets)


@pytest.fixture(scope="session")
def jpeg_slide(orthanc: LocalOrthanc) -> StoredSlide:
    """A small demo-like H&E slide with JPEG tiles (4 levels)."""
    from workbench.imaging.demo.tissue import render

    image = render(11, 1536, 1024, 1).image
    slide = info("jpeg", "IMG-WSI-02", "Ishii^Ren=石井^蓮=いしい^れん")
    datasets = slide_datasets(image, slide, levels=4)
    _store(orthanc, datasets)
    return StoredSlide(slide.study_uid, slide.series_uid, [image], datasets)


@pytest.fixture(scope="session")
def dicomized_slide(orthanc: LocalOrthanc, tmp_path_factory: pytest.TempPathFactory) -> StoredSlide:
    """Debian's OrthancWSIDicomizer output: no ImageType, each level over several instances."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("dicomizer")
    rng = np.random.default_rng(5)
    source = rng.integers(0, 256, (700, 1000, 3), dtype=np.uint8)
    Image.fromarray(source).save(folder / "source.png")
    (folder / "out").mkdir()
    subprocess.run(
        [
            "OrthancWSIDicomizer",
            "--pyramid",
            "1",
            "--levels",
            "3",
            "--tile-width",
            str(TILE),
            "--tile-height",
            str(TILE),
            "--compression",
            "none",
            "--max-size",
            "1",
            "--folder",
            str(folder / "out"),
            str(folder / "source.png"),
        ],
        check=True,
        capture_output=True,
    )
    files = sorted((folder / "out").glob("*.dcm"))
    datasets = [pydicom.dcmread(path) for path in files]
    _store(orthanc, [path.read_bytes() for path in files])
    first = datasets[0]
    return StoredSlide(str(first.StudyInstanceUID), str(first.SeriesInstanceUID), [source], datasets)


@pytest.fixture(scope="session")
def broken_slide(orthanc: LocalOrthanc) -> StoredSlide:
    """A JPEG slide whose level 0 has a corrupt frame 2 and whose level 1 lacks its last frame."""
    rng = np.random.default_rng(9)
    image = rng.integers(0, 256, (512, 768, 3), dtype=np.uint8)
    slide = info("broken", "IMG-WSI-03", "Broken^Slide")
    datasets = slide_datasets(image, slide, levels=2)
    base, top = copy.deepcopy(datasets[0]), copy.deepcopy(datasets[1])
    frames = list(generate_frames(base.PixelData, number_of_frames=int(base.NumberOfFrames)))
    frames[1] = b"\xff\xd8" + b"\x00garbage" * 50
    base.PixelData = encapsulate(frames)
    frames = list(generate_frames(top.PixelData, number_of_frames=int(top.NumberOfFrames)))
    top.PixelData = encapsulate(frames[:-1])  # NumberOfFrames says one more
    datasets[:2] = [base, top]
    _store(orthanc, datasets)
    return StoredSlide(slide.study_uid, slide.series_uid, [image], datasets)


@pytest.fixture(params=["orthanc", "dicomweb"])
def any_archive(request: pytest.FixtureRequest, orthanc: LocalOrthanc):
    """Both archive kinds on the session server, each with this test's own empty cache."""
    if request.param == "orthanc":
        return connect(orthanc.url, orthanc.username, orthanc.password)
    archive = connect(orthanc.url + "/dicom-web", orthanc.username, orthanc.password, kind="dicomweb")
    assert isinstance(archive, DicomWebArchive)
    return archive


def write_files(datasets: list[pydicom.Dataset], folder: Path) -> Path:
    """Save datasets as ``folder/<n>.dcm``."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, ds in enumerate(datasets):
        ds.save_as(folder / f"{index}.dcm", enforce_file_format=True)
    return folder
