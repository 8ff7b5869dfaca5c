"""load_series / download_series against the real Orthanc: geometry proofs, syntaxes, cache, bad input."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.imaging.stored import COMPRESSED, StoredSeries
from workbench.errors import DicomDataError, NotFoundError
from workbench.imaging import SkippedInstancesWarning, Volume
from workbench.imaging.local_server import LocalOrthanc
from workbench.imaging.orthanc import OrthancArchive
from workbench.testing.synthetic import ct_series

pytestmark = pytest.mark.orthanc


def independent_geometry(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Array (z, y, x) and LPS affine computed straight from the files, written out longhand."""
    datasets = [pydicom.dcmread(path) for path in sorted(folder.glob("*.dcm"))]
    iop = np.array(datasets[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    datasets.sort(key=lambda ds: float(np.dot(np.array(ds.ImagePositionPatient, dtype=float), normal)))
    first = np.array(datasets[0].ImagePositionPatient, dtype=float)
    last = np.array(datasets[-1].ImagePositionPatient, dtype=float)
    row_spacing, col_spacing = (float(v) for v in datasets[0].PixelSpacing)
    affine = np.eye(4)
    affine[:3, 0] = iop[:3] * col_spacing
    affine[:3, 1] = iop[3:] * row_spacing
    affine[:3, 2] = (last - first) / (len(datasets) - 1)
    affine[:3, 3] = first
    array = np.stack(
        [ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in datasets]
    )
    return array, affine


@pytest.mark.parametrize("fixture", ["synthetic_ct", "oblique_ct"])
def test_geometry_equals_an_independent_computation(
    archive: OrthancArchive, fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    stored: StoredSeries = request.getfixturevalue(fixture)
    volume = archive.load_series(stored.series_uid, progress=False)
    paths = archive.download_series(stored.series_uid, tmp_path / "files")
    assert len(paths) == len(stored.datasets)
    array, affine = independent_geometry(tmp_path / "files")
    np.testing.assert_array_equal(volume.array, array)
    np.testing.assert_allclose(volume.affine, affine, atol=1e-6)
    assert volume.metadata["series_uid"] == stored.series_uid
    assert volume.metadata["study_uid"] == stored.study_uid
    assert volume.metadata["patient_id"] == stored.patient_id


def test_geometry_equals_monai_pydicom_reader(
    archive: OrthancArchive, oblique_ct: StoredSeries, tmp_path: Path
) -> None:
    import monai

    folder = tmp_path / "files"
    archive.download_series(oblique_ct.series_uid, folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        image = monai.transforms.LoadImage(reader="PydicomReader", image_only=True)(str(folder))
    volume = archive.load_series(oblique_ct.series_uid, progress=False)
    # MONAI: array indexed (i, j, k), affine in RAS; ours: (k, j, i) and LPS (affine_ras for RAS)
    np.testing.assert_allclose(np.asarray(image), np.transpose(volume.array, (2, 1, 0)), atol=1e-4)
    np.testing.assert_allclose(np.asarray(image.affine), volume.affine_ras, atol=1e-4)


def test_multiframe_enhanced_ct(archive: OrthancArchive, multiframe_ct: StoredSeries) -> None:
    slices = multiframe_ct.datasets[1:]
    volume = archive.load_series(multiframe_ct.series_uid, progress=False)
    expected = np.stack([s.pixel_array.astype(np.int32) - 1024 for s in slices])
    np.testing.assert_array_equal(volume.array, expected)
    assert volume.spacing == pytest.approx((0.5, 0.5, 1.25))
    assert volume.origin == pytest.approx(tuple(float(v) for v in slices[0].ImagePositionPatient))
    assert volume.metadata["frames"] == [1, 4, 3, 6, 0, 5, 2]


@pytest.mark.parametrize("label", list(COMPRESSED))
def test_compressed_syntaxes_decode_like_the_reference(
    archive: OrthancArchive, compressed_series: dict[str, StoredSeries], label: str
) -> None:
    reference = archive.load_series(compressed_series["reference"].series_uid, progress=False)
    volume = archive.load_series(compressed_series[label].series_uid, progress=False)
    np.testing.assert_array_equal(volume.array, reference.array)
    np.testing.assert_allclose(volume.affine, reference.affine)


def test_jpeg_baseline_colour(archive: OrthancArchive, compressed_series: dict[str, StoredSeries]) -> None:
    stored = compressed_series["JPEG baseline"]
    volume = archive.load_series(stored.series_uid, progress=False)
    assert volume.array.shape == (1, 100, 100, 3)
    np.testing.assert_array_equal(volume.array[0], stored.datasets[0].pixel_array)


def test_second_load_comes_from_disk(
    archive: OrthancArchive, synthetic_ct: StoredSeries, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = archive.load_series(synthetic_ct.series_uid, progress=False)
    assert archive.instance_cache is not None and archive.volume_cache is not None
    archive.volume_cache.get(archive._series_ref(synthetic_ct.series_uid).entry())  # waits for the writer
    assert not list(archive.instance_cache.folder.glob("*.dcm"))  # the data is written once: the volume
    assert len(list(archive.volume_cache.folder.glob("*.npy"))) == 1

    def no_retrieval(*args: object, **kwargs: object) -> None:
        raise AssertionError("retrieved from the server although cached")

    monkeypatch.setattr(archive, "_retrieve_series", no_retrieval)
    monkeypatch.setattr(archive, "_retrieve_instance", no_retrieval)
    warm = archive.load_series(synthetic_ct.series_uid, progress=False)
    np.testing.assert_array_equal(warm.array, first.array)
    np.testing.assert_allclose(warm.affine, first.affine)
    assert warm.metadata["sop_instance_uids"] == first.metadata["sop_instance_uids"]
    warm.array[0, 0, 0] += 1  # the caller's changes stay in its copy
    again = archive.load_series(synthetic_ct.series_uid, progress=False)
    np.testing.assert_array_equal(again.array, first.array)


def test_partly_cached_series_fetches_only_the_missing(
    archive: OrthancArchive, synthetic_ct: StoredSeries, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive.download_series(synthetic_ct.series_uid, tmp_path / "a")  # caches the instance files
    assert archive.instance_cache is not None
    lost = str(synthetic_ct.datasets[0].SOPInstanceUID)
    archive.instance_cache.path(lost).unlink()
    fetched = []
    original = archive._retrieve_instance
    monkeypatch.setattr(archive, "_retrieve_instance", lambda s, ref: fetched.append(ref) or original(s, ref))
    paths = archive.download_series(synthetic_ct.series_uid, tmp_path / "b")
    assert len(paths) == 12 and [ref.sop_instance_uid for ref in fetched] == [lost]
    assert archive.instance_cache.path(lost).exists()


def test_bad_instances_fail_the_load_or_are_skipped(orthanc: LocalOrthanc, archive: OrthancArchive) -> None:
    datasets = ct_series(5, 8, 8, patient_id="IMG-BAD", shuffle=False)
    truncated, empty = datasets[1], datasets[3]
    truncated.Rows = 64  # the pixel data is now far shorter than Rows x Columns says
    del empty.PixelData
    orthanc.client().upload(datasets, progress=False)
    series_uid = str(datasets[0].SeriesInstanceUID)
    with pytest.raises(DicomDataError, match=f"instance ({truncated.SOPInstanceUID}|{empty.SOPInstanceUID})"):
        archive.load_series(series_uid, progress=False)
    with pytest.warns(SkippedInstancesWarning):
        volume = archive.load_series(series_uid, progress=False, skip_bad=True)
    assert volume.array.shape == (3, 8, 8)
    reasons = {s["sop_instance_uid"]: s["reason"] for s in volume.metadata["skipped"]}
    assert "truncated" in reasons[str(truncated.SOPInstanceUID)]
    assert "no pixel data" in reasons[str(empty.SOPInstanceUID)]


def test_unknown_series(archive: OrthancArchive, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=re.escape("series 1.2.3.999 not found on Orthanc")):
        archive.load_series("1.2.3.999", progress=False)
    with pytest.raises(NotFoundError, match=re.escape("series 1.2.3.999 not found")):
        archive.download_series("1.2.3.999", tmp_path)


def test_volume_exports(archive: OrthancArchive, synthetic_ct: StoredSeries, tmp_path: Path) -> None:
    volume = archive.load_series(synthetic_ct.series_uid, progress=False)
    for name in ("ct.npz", "ct.nii.gz"):
        again = Volume.load(volume.save(tmp_path / name))
        np.testing.assert_array_equal(again.array, volume.array)
        np.testing.assert_allclose(again.affine, volume.affine, atol=1e-5)


def test_without_the_dicomweb_plugin(orthanc: LocalOrthanc, synthetic_ct: StoredSeries) -> None:
    assert OrthancArchive(orthanc.client()).has_dicomweb  # the test server has it
    archive = OrthancArchive(orthanc.client())
    archive.has_dicomweb = False  # as on a server without the plugin: REST routes only
    volume = archive.load_series(synthetic_ct.series_uid, progress=False)
    assert volume.array.shape == (12, 24, 20)
    instances = archive.instances(series_uid=synthetic_ct.series_uid)
    assert instances.instance_number.tolist() == list(range(1, 13))
    assert set(instances.sop_class_uid) == {"1.2.840.10008.5.1.4.1.1.2"}
