"""The notebook study browser, driven headless."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.imaging.stored import StoredSeries
from workbench.imaging import browser
from workbench.imaging.orthanc import OrthancArchive

pytestmark = pytest.mark.orthanc


def test_browser_search_pick_load(archive: OrthancArchive, synthetic_ct: StoredSeries) -> None:
    ui = browser(archive)
    ui.patient_name.value = "*山田^花子*"
    ui.date_from.value = dt.date(2024, 1, 1)
    ui.search_button.click()
    assert ui.studies.study_uid.tolist() == [synthetic_ct.study_uid]
    assert "山田^花子" in ui.table.value
    ui.study_picker.value = synthetic_ct.study_uid  # as a click on the list does
    assert ui.series_picker.value == synthetic_ct.series_uid
    assert "explorer.html#study?uuid=" in ui.explorer.value
    ui.load_button.click()
    assert ui.volume is not None and ui.volume.array.shape == (12, 24, 20)
    assert ui.slice.max == 11 and ui.slice.value == 6
    assert bytes(ui.image.value).startswith(b"\x89PNG")
    assert len(ui.thumbnails.children) == 8
    before = bytes(ui.image.value)
    ui.preset.value = "bone"
    assert (ui.center.value, ui.width.value) == (400, 1800)
    assert bytes(ui.image.value) != before


def test_browser_shows_mistakes_as_messages(archive: OrthancArchive) -> None:
    ui = browser(archive)
    ui.patient_id.value = "a\\b"
    ui.search_button.click()
    assert "backslash" in ui.message.value
