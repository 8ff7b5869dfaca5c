"""Search against the real Orthanc: tables, dtypes, filters, paging, errors, dcmtk-sent files."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from pydicom.uid import RLELossless

from tests.conftest import DCMTK_AET
from tests.imaging.stored import StoredSeries
from workbench.errors import ArchiveError, AuthenticationError, ConfigError, NotFoundError
from workbench.imaging import QueryError, connect
from workbench.imaging import orthanc as orthanc_module
from workbench.imaging.local_server import LocalOrthanc
from workbench.imaging.orthanc import OrthancArchive
from workbench.imaging.query import Level
from workbench.imaging.tables import COLUMNS
from workbench.testing.synthetic import ct_series, tiny_study

pytestmark = pytest.mark.orthanc


def test_studies_table_columns_and_dtypes(archive: OrthancArchive, synthetic_ct: StoredSeries) -> None:
    table = archive.studies(patient_name="*山田^花子*")
    assert list(table.columns) == list(COLUMNS[Level.STUDY])
    assert table.dtypes["study_date"] == "datetime64[ns]"
    assert table.dtypes["n_series"] == "int64"
    row = table.set_index("study_uid").loc[synthetic_ct.study_uid]
    assert row.patient_id == "IMG-CT-01"
    assert row.patient_name_ideographic == "山田^花子"
    assert row.patient_name_phonetic == "やまだ^はなこ"
    assert row.study_date == pd.Timestamp("2024-01-15")
    assert row.modalities == "CT"
    assert row.n_series == 1


def test_study_filters(archive: OrthancArchive, synthetic_ct: StoredSeries, oblique_ct: StoredSeries) -> None:
    uids = {synthetic_ct.study_uid, oblique_ct.study_uid}
    assert set(archive.studies(patient_name="yamada^hanako*").study_uid) == {synthetic_ct.study_uid}
    assert set(archive.studies(patient_name="*もりた*").study_uid) == {oblique_ct.study_uid}
    assert uids <= set(archive.studies(study_date=(dt.date(2024, 1, 1), "2024-01-31")).study_uid)
    assert not uids & set(archive.studies(study_date="20230101-20231231").study_uid)
    assert uids <= set(archive.studies(modality="CT").study_uid)
    assert not uids & set(archive.studies(modality=["MR", "CR"]).study_uid)
    assert set(archive.studies(patient_id="IMG-CT-0?", description="SYNTHETIC*").study_uid) == uids
    assert set(archive.studies(study_uid=[synthetic_ct.study_uid]).study_uid) == {synthetic_ct.study_uid}
    assert len(archive.studies(patient_id="IMG-CT-0*", limit=1)) == 1


def test_patients_series_instances(archive: OrthancArchive, synthetic_ct: StoredSeries) -> None:
    patients = archive.patients(patient_id="IMG-CT-01")
    assert patients.loc[0, "n_studies"] == 1
    assert patients.loc[0, "birth_date"] == pd.Timestamp("1960-01-01")
    assert list(patients.columns) == list(COLUMNS[Level.PATIENT])
    series = archive.series(study_uid=synthetic_ct.study_uid)
    assert list(series.columns) == list(COLUMNS[Level.SERIES])
    row = series.iloc[0]
    assert (row.series_uid, row.study_uid, row.patient_id) == (
        synthetic_ct.series_uid,
        synthetic_ct.study_uid,
        "IMG-CT-01",
    )
    assert (row.modality, row.series_number, row.n_instances, row.body_part) == ("CT", 2, 12, "CHEST")
    instances = archive.instances(series_uid=synthetic_ct.series_uid)
    assert list(instances.columns) == list(COLUMNS[Level.INSTANCE])
    assert instances.instance_number.tolist() == list(range(1, 13))
    assert set(instances.sop_instance_uid) == {str(ds.SOPInstanceUID) for ds in synthetic_ct.datasets}
    assert set(instances.sop_class_uid) == {"1.2.840.10008.5.1.4.1.1.2"}


def test_empty_results_keep_their_dtypes(archive: OrthancArchive) -> None:
    table = archive.studies(patient_id="NOBODY-AT-ALL")
    assert table.empty
    assert table.dtypes["study_date"] == "datetime64[ns]"
    assert list(table.columns) == list(COLUMNS[Level.STUDY])


def test_paging_returns_every_study(orthanc: LocalOrthanc) -> None:
    orthanc.client().upload(
        [tiny_study(90_000 + i, patient_id="IMG-PAGE") for i in range(23)], progress=False
    )
    archive = OrthancArchive(orthanc.client(), page_size=5)
    table = archive.studies(patient_id="IMG-PAGE")
    assert len(table) == 23 and table.study_uid.is_unique
    assert len(archive.studies(patient_id="IMG-PAGE", limit=12)) == 12
    assert (table.modalities == "CT").all()
    assert table.study_date.is_monotonic_increasing


@pytest.mark.parametrize("share", [0.0, 1.1])  # 0: the plain series listing; above 1: the repeated filters
def test_modalities_of_many_studies(
    orthanc: LocalOrthanc, monkeypatch: pytest.MonkeyPatch, share: float
) -> None:
    orthanc.client().upload(
        [tiny_study(93_000 + i, patient_id="IMG-MANY", modality="MR" if i % 2 else "CT") for i in range(6)],
        progress=False,
    )
    monkeypatch.setattr(orthanc_module, "UID_LIST_MAX", 0)
    monkeypatch.setattr(orthanc_module, "LISTING_SHARE", share)
    table = OrthancArchive(orthanc.client()).studies(patient_id="IMG-MANY").sort_values("accession_number")
    assert table.modalities.tolist() == ["CT", "MR"] * 3


def test_unfiltered_search_pages_the_plain_listing(orthanc: LocalOrthanc, synthetic_ct: StoredSeries) -> None:
    """No filter: Orthanc's /studies listing (no lookup engine) gives the same table as /tools/find."""
    orthanc.client().upload(
        [tiny_study(91_000 + i, patient_id="IMG-LIST", modality="MR") for i in range(9)], progress=False
    )
    archive = OrthancArchive(orthanc.client(), page_size=4)
    listed = archive.studies().sort_values("study_uid", ignore_index=True)
    found = OrthancArchive(orthanc.client(), page_size=4).studies(patient_id="*")
    pd.testing.assert_frame_equal(listed, found.sort_values("study_uid", ignore_index=True))
    assert listed.study_uid.is_unique and len(listed) >= 10
    assert set(listed[listed.patient_id == "IMG-LIST"].modalities) == {"MR"}
    assert len(archive.studies(limit=6)) == 6
    assert len(archive.series()) == len(archive.series(patient_id="*"))
    assert len(archive.patients()) == len(archive.patients(patient_id="*"))


def test_modalities_follow_new_series(orthanc: LocalOrthanc, archive: OrthancArchive) -> None:
    first = ct_series(1, 4, 4, patient_id="IMG-MOD", description="first")
    orthanc.client().upload(first, progress=False)
    study_uid = str(first[0].StudyInstanceUID)
    assert archive.studies(study_uid=study_uid).modalities[0] == "CT"
    second = ct_series(1, 4, 4, patient_id="IMG-MOD", study_uid=study_uid)
    second[0].Modality = "PT"
    orthanc.client().upload(second, progress=False)
    assert archive.studies(study_uid=study_uid).modalities[0] == "CT\\PT"


def test_files_sent_with_storescu_are_found(
    orthanc: LocalOrthanc, archive: OrthancArchive, tmp_path: Path
) -> None:
    assert shutil.which("storescu"), "dcmtk is not installed: apt-get install dcmtk (make test does)"
    datasets = ct_series(3, 8, 8, patient_id="IMG-DCMTK", patient_name="Kimura^Kenji=木村^健二=きむら^けんじ")
    paths = []
    for ds in datasets:
        ds.compress(RLELossless)  # storescu proposes RLE only with -xr
        path = tmp_path / f"{ds.SOPInstanceUID}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(str(path))
    result = subprocess.run(
        [
            "storescu",
            "-R",
            "-xr",
            "-nh",
            "-aet",
            DCMTK_AET,
            "-aec",
            "ORTHANC",
            "127.0.0.1",
            str(orthanc.state.dicom_port),
            *paths,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    table = archive.studies(patient_name="*木村*", patient_id="IMG-DCMTK")  # slides tests store a 木村 too
    assert table.study_uid.tolist() == [str(datasets[0].StudyInstanceUID)]
    assert table.patient_name_phonetic[0] == "きむら^けんじ"
    series = archive.series(patient_id="IMG-DCMTK")
    assert series.n_instances.tolist() == [3]
    volume = archive.load_series(series.series_uid[0], progress=False)
    assert volume.array.shape == (3, 8, 8) and volume.metadata["patient_id"] == "IMG-DCMTK"


@pytest.mark.parametrize(
    ("calling", "called", "refusal"),
    [
        ("INTRUDER", "ORTHANC", "Store Failed"),  # an AET nobody registered
        (DCMTK_AET, "NOT-ORTHANC", "Called AE Title Not Recognized"),  # the wrong called AET
    ],
)
def test_storescu_from_an_unregistered_peer_is_refused(
    orthanc: LocalOrthanc, archive: OrthancArchive, tmp_path: Path, calling: str, called: str, refusal: str
) -> None:
    assert shutil.which("storescu"), "dcmtk is not installed: apt-get install dcmtk (make test does)"
    patient_id = f"IMG-INTRUDER-{calling}"
    path = tmp_path / "intruder.dcm"
    ct_series(1, 8, 8, patient_id=patient_id)[0].save_as(path, enforce_file_format=True)
    before = orthanc.client().get_json("/statistics")["CountInstances"]
    result = subprocess.run(
        [
            "storescu",
            "-R",
            "-nh",
            "-aet",
            calling,
            "-aec",
            called,
            "127.0.0.1",
            str(orthanc.state.dicom_port),
            path,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0 and refusal in result.stderr, result.stderr
    assert orthanc.client().get_json("/statistics")["CountInstances"] == before
    assert archive.series(patient_id=patient_id).empty


def test_explorer_url(archive: OrthancArchive, synthetic_ct: StoredSeries) -> None:
    url = archive.explorer_url(synthetic_ct.study_uid)
    assert url.startswith(f"{archive.url}/app/explorer.html#study?uuid=")
    assert archive.client.get_json(f"/studies/{url.rsplit('=', 1)[1]}")["MainDicomTags"][
        "StudyInstanceUID"
    ] == (synthetic_ct.study_uid)
    with pytest.raises(NotFoundError, match=re.escape("study 1.2.3.4 not found")):
        archive.explorer_url("1.2.3.4")


def test_bad_filters_fail_before_any_request(archive: OrthancArchive) -> None:
    with pytest.raises(QueryError, match="unknown filter 'modalty'"):
        archive.studies(modalty="CT")
    with pytest.raises(QueryError, match="instances\\(\\) needs series_uid"):
        archive.instances()


def test_connect_errors(
    orthanc: LocalOrthanc, orthanc_env: LocalOrthanc, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(connect(), OrthancArchive)  # settings from the environment
    with pytest.raises(AuthenticationError, match="refused user 'workbench'"):
        connect(orthanc.url, orthanc.username, "wrong-password")
    with pytest.raises(ArchiveError, match=re.escape("cannot reach Orthanc at http://127.0.0.1:9")):
        connect("http://127.0.0.1:9", "x", "y", retries=0)
    with pytest.raises(ArchiveError, match="kind 'pacs' is not one of"):
        connect(orthanc.url, kind="pacs")
    monkeypatch.delenv("WORKBENCH_ORTHANC_URL")
    with pytest.raises(ConfigError, match="no archive is configured"):
        connect()


def test_series_parents_found_by_query_when_many(
    archive: OrthancArchive,
    synthetic_ct: StoredSeries,
    oblique_ct: StoredSeries,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one_by_one = archive.series(patient_id="IMG-CT-0*")
    monkeypatch.setattr("workbench.imaging.orthanc.PARENT_LOOKUPS", 0)
    by_query = archive.series(patient_id="IMG-CT-0*")
    assert by_query.equals(one_by_one)
    assert set(by_query.study_uid) == {synthetic_ct.study_uid, oblique_ct.study_uid}
    monkeypatch.setattr("workbench.imaging.orthanc.UID_LIST_MAX", 0)  # modalities by repeating the filters
    archive._modalities.clear()
    assert archive.studies(patient_id="IMG-CT-0*").modalities.tolist() == ["CT", "CT"]


def test_credentials_inside_the_url_log_in_and_are_never_shown(orthanc: LocalOrthanc) -> None:
    host = orthanc.url.removeprefix("http://")
    archive = connect(f"http://{orthanc.username}:{orthanc.password}@{host}")
    assert isinstance(archive, OrthancArchive) and archive.client.system()["Name"] == "workbench"
    assert orthanc.password not in repr(archive) + repr(archive.client) + archive.url
    with pytest.raises(AuthenticationError) as caught:
        connect(f"http://{orthanc.username}:wrong-s3cret@{host}")
    assert "wrong-s3cret" not in str(caught.value)
