"""The notebook study browser, driven headless."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.imaging.stored import StoredSeries
from workbench.imaging import browser
from workbench.imaging.orthanc import OrthancArchive
from workbench.imaging.widgets import plural

pytestmark = pytest.mark.orthanc


def test_browser_search_pick_load(archive: OrthancArchive, synthetic_ct: StoredSeries) -> None:
    ui = browser(archive)
    assert ui.image.layout.display == "none"  # no broken-image icon before a load
    ui.patient_name.value = "*山田^花子*"  # Enter in the box searches
    assert ui.studies.study_uid.tolist() == [synthetic_ct.study_uid]
    assert ui.message.value.startswith("1 study for patient name *山田^花子*")
    ui.date_from.value = dt.date(2024, 1, 1)
    ui.search_button.click()
    assert ui.studies.study_uid.tolist() == [synthetic_ct.study_uid]
    assert "山田^花子" in ui.table.value
    ui.study_picker.value = synthetic_ct.study_uid  # as a click on the list does
    assert ui.series_picker.value == synthetic_ct.series_uid
    assert "workbench-orthanc/web-viewer/app/viewer.html?series=" in ui.explorer.value
    ui.load_button.click()
    assert ui.volume is not None and ui.volume.array.shape == (12, 24, 20)
    assert not ui.load_button.disabled and ui.load_button.description == "Load series"
    assert ui.slice.max == 11 and ui.slice.value == 6
    assert bytes(ui.image.value).startswith(b"\x89PNG") and ui.image.layout.display == ""
    assert "山田^花子" in ui.caption.value and "slice 7/12" in ui.caption.value
    assert len(ui.thumbnails.children) == 8
    file_window = (ui.center.value, ui.width.value)
    before = bytes(ui.image.value)
    ui.preset.value = "bone"
    assert (ui.center.value, ui.width.value) == (400, 1800)
    assert bytes(ui.image.value) != before
    ui.preset.value = "mediastinum"
    assert (ui.center.value, ui.width.value) == (50, 350)  # the readout is the preset, not 351
    ui.preset.value = "(file)"
    assert (ui.center.value, ui.width.value) == file_window

    ui.search(patient_name="*nobody*")  # a new search clears the old series, image and link
    assert ui.patient_name.value == "*nobody*" and ui.date_from.value is None  # the form shows the filters
    assert ui.volume is None and ui.series_picker.options == () and ui.explorer.value == ""
    assert ui.image.layout.display == "none" and ui.caption.value == "" and not ui.thumbnails.children
    assert ui.message.value.startswith("0 studies")


def test_browser_shows_mistakes_as_messages(archive: OrthancArchive) -> None:
    ui = browser(archive)
    ui.patient_id.value = "a\\b"
    ui.search_button.click()
    assert "backslash" in ui.message.value


def test_plural() -> None:
    assert [plural(n, "study", "studies") for n in (0, 1, 2)] == ["0 studies", "1 study", "2 studies"]
