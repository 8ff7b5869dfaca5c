"""The demo hospital's pathology slides: deterministic, H&E-like, masks known, loaded with the hospital,
opened by Orthanc's WSI plugin, wsidicom and highdicom."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.cli import main
from workbench.imaging import connect
from workbench.imaging.demo import slides, tissue
from workbench.imaging.demo.roster import ROSTER
from workbench.imaging.local_server import LocalOrthanc


def test_at_least_six_slides_of_roster_patients_with_and_without_tumour() -> None:
    plans = slides.slide_plans()
    assert len(plans) >= 6
    names = {p.name for p in ROSTER}
    assert all(plan.subject.name in names and "=" in plan.subject.name for plan in plans)  # kanji names
    labels = slides.slide_labels()
    assert set(labels.label) == {"tumour", "normal"} and labels.series_uid.is_unique
    tumour = labels[labels.label == "tumour"]
    assert (tumour.tumour_fraction > 0.02).all() and (
        labels[labels.label == "normal"].tumour_fraction == 0
    ).all()


def test_rendering_is_deterministic_and_h_and_e_like() -> None:
    first, again = tissue.render(3, 512, 384, 1), tissue.render(3, 512, 384, 1)
    np.testing.assert_array_equal(first.image, again.image)
    image = first.image.astype(int)
    background = image[~np.kron(first.tissue, np.ones((tissue.MASK_CELL,) * 2, dtype=bool))]
    assert background.mean() > 230  # bright glass
    tumour = np.kron(first.tumour, np.ones((tissue.MASK_CELL,) * 2, dtype=bool))
    stroma = np.kron(first.tissue & ~first.tumour, np.ones((tissue.MASK_CELL,) * 2, dtype=bool))
    pink = image[stroma].mean(axis=0)
    assert pink[0] > pink[1] and pink[2] > pink[1]  # eosin: red and blue over green
    assert image[tumour][:, 0].mean() < pink[0] - 20  # crowded haematoxylin nuclei absorb red
    with pytest.raises(ValueError, match="multiples of 16"):
        tissue.render(3, 500, 384, 0)


def test_tumour_mask_at_any_shape() -> None:
    uid = slides.slide_labels().series_uid.iloc[0]
    mask = slides.tumour_mask(uid)
    assert mask.shape == (slides.SLIDE_HEIGHT // 16, slides.SLIDE_WIDTH // 16) and mask.any()
    small = slides.tumour_mask(uid, (32, 48))
    assert small.shape == (32, 48) and abs(small.mean() - mask.mean()) < 0.03
    with pytest.raises(KeyError):
        slides.tumour_mask("1.2.3")


def test_labels_command_writes_masks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    assert main(["demo-data", "labels", "--slides", "--masks-dir", str(tmp_path / "masks")]) == 0
    from io import StringIO

    table = pd.read_csv(StringIO(capsys.readouterr().out))
    assert len(table) == len(slides.slide_plans()) and {"label", "mask_file"} <= set(table.columns)
    first = table.iloc[0]
    mask = np.asarray(Image.open(first.mask_file)) > 0
    np.testing.assert_array_equal(mask, slides.tumour_mask(first.series_uid))
    assert Path(first.mask_file).stat().st_mode & 0o777 == 0o600


@pytest.mark.pathology
def test_a_demo_slide_opens_in_wsidicom_and_highdicom(tmp_path: Path) -> None:
    import highdicom as hd
    from wsidicom import WsiDicom

    plan = slides.slide_plans()[0]
    datasets = slides.datasets(plan)
    assert len(datasets) == slides.SLIDE_LEVELS >= 3
    assert {(ds.Rows, ds.Columns) for ds in datasets} == {(256, 256)}
    assert {str(ds.file_meta.TransferSyntaxUID) for ds in datasets} == {"1.2.840.10008.1.2.4.50"}
    for index, ds in enumerate(datasets):
        ds.save_as(tmp_path / f"{index}.dcm", enforce_file_format=True)
    with WsiDicom.open(tmp_path) as wsi:
        assert len(wsi.levels) == slides.SLIDE_LEVELS
        assert (wsi.size.width, wsi.size.height) == (slides.SLIDE_WIDTH, slides.SLIDE_HEIGHT)
    assert hd.imread(tmp_path / "3.dcm").get_total_pixel_matrix().shape == (256, 384, 3)


@pytest.mark.orthanc
def test_demo_slides_are_loaded_and_served(orthanc: LocalOrthanc, demo_hospital: pd.DataFrame) -> None:
    rows = demo_hospital[demo_hospital.cohort == "pathology"]
    assert rows.series_uid.tolist() == [plan.series_uid for plan in slides.slide_plans()]
    assert set(rows.modality) == {"SM"} and set(rows.n_instances) == {slides.SLIDE_LEVELS}
    archive = connect(orthanc.url, orthanc.username, orthanc.password)
    table = archive.slides(patient_name="*山田*")
    (row,) = table[table.series_uid.isin(rows.series_uid)].itertuples()
    assert row.patient_name.startswith("YAMADA^TARO=山田^太郎") and row.levels == slides.SLIDE_LEVELS
    assert (row.width, row.height, row.mpp_x) == (slides.SLIDE_WIDTH, slides.SLIDE_HEIGHT, pytest.approx(0.5))
    assert "hematoxylin" in row.stain and "eosin" in row.stain
    orthanc_id = orthanc.client().post_json(
        "/tools/find", {"Level": "Series", "Query": {"SeriesInstanceUID": row.series_uid}}
    )[0]
    pyramid = orthanc.client().get_json(f"/wsi/pyramids/{orthanc_id}")
    assert len(pyramid["Sizes"]) == slides.SLIDE_LEVELS and pyramid["TilesSizes"][0] == [256, 256]


def test_list_shows_the_slides(capsys: pytest.CaptureFixture[str]) -> None:
    from io import StringIO

    assert main(["demo-data", "list", "--cohort-size", "0", "--format", "csv"]) == 0
    listing = pd.read_csv(StringIO(capsys.readouterr().out))
    pathology = listing[listing.cohort == "pathology"]
    assert pathology.series_uid.tolist() == slides.slide_labels().series_uid.tolist()
    assert set(pathology.modality) == {"SM"} and set(pathology.finding) == {"tumour", "normal"}


@pytest.mark.orthanc
def test_a_slide_missing_a_level_is_completed_and_a_second_load_adds_nothing(
    orthanc: LocalOrthanc, demo_hospital: pd.DataFrame
) -> None:
    from tqdm.auto import tqdm

    from workbench.imaging.demo import loader

    client = orthanc.client()
    archive = connect(orthanc.url, orthanc.username, orthanc.password, cache=False)
    plan = slides.slide_plans()[1]
    found = client.post_json(
        "/tools/find", {"Level": "Series", "Query": {"SeriesInstanceUID": plan.series_uid}, "Expand": True}
    )
    client.request("DELETE", f"/instances/{found[0]['Instances'][0]}")
    with tqdm(disable=True) as bar:
        rows = slides.load_slides(archive, loader._upload, loader._stored_instances, bar)
    status = {row["series_uid"]: row["status"] for row in rows}
    assert status.pop(plan.series_uid) == "completed" and set(status.values()) == {"already stored"}
    assert loader._stored_instances(archive, plan.series_uid) == slides.SLIDE_LEVELS
    with tqdm(disable=True) as bar:
        again = slides.load_slides(archive, loader._upload, loader._stored_instances, bar)
    assert {row["status"] for row in again} == {"already stored"}
