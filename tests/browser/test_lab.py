"""The screens as a researcher meets them: notebooks 01 and 05 in JupyterLab, in headless Chromium.

Screenshots are saved under the test's temporary folder (``screens/``) for a person to look at.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.browser.conftest import VIEWPORT, Lab

pytestmark = [pytest.mark.browser, pytest.mark.orthanc, pytest.mark.notebook]

NAME_QUERY = "山田"
"""Typed into the study browser's name box as a person types it: no wildcards (names match as typed, #15b)."""


def _run_all(page: Any, lab: Lab, name: str) -> None:
    """Open a notebook and run all its cells from the Run menu."""
    page.goto(lab.notebook_url(name))
    page.locator(".jp-Notebook").first.wait_for()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # the kernel starts; a "Select Kernel" dialog may come up: accept it
        dialog = page.locator(".jp-Dialog button.jp-mod-accept")
        if dialog.count():
            dialog.first.click()
        elif "Idle" in page.locator(".jp-StatusBar-Widget").all_inner_texts().__str__():
            break
        page.wait_for_timeout(500)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def _wait_idle(page: Any, timeout: float = 240_000) -> None:
    """Until every code cell has run (each shows its execution number)."""
    page.wait_for_function(
        r"""() => {
            const cells = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
            return cells.length > 0 && cells.every(p => /\[\d+\]/.test(p.textContent));
        }""",
        timeout=timeout,
    )


def _errors(page: Any) -> list[str]:
    return (
        page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        .filter(has_text="Traceback")
        .all_inner_texts()
    )


def test_study_browser_and_viewer(lab: Lab, browser_context: Any, tmp_path: Path) -> None:
    screens = tmp_path / "screens"
    screens.mkdir()
    page = browser_context.new_page()
    _run_all(page, lab, "01_browse_studies")
    _wait_idle(page)
    assert not _errors(page)
    ui = page.locator(".widget-vbox", has=page.locator("button", has_text="Load series")).first
    ui.scroll_into_view_if_needed()
    name_box = ui.locator(".widget-text", has=page.locator("label", has_text="Name")).locator("input")
    name_box.fill(NAME_QUERY)
    name_box.press("Enter")  # Enter searches
    message = ui.locator(".widget-html-content").filter(  # this search's answer, not the notebook's own
        has_text=re.compile(r"\d+ stud(y|ies) for patient name 山田(?!\*)")
    )
    message.wait_for()
    assert re.match(r"[1-9]\d* stud(y|ies) for patient name 山田", message.inner_text()), (
        message.inner_text()
    )
    assert "1 studies" not in message.inner_text()
    assert "山田" in ui.locator("table").first.inner_text()
    images = ui.locator("img.widget-image")
    assert images.first.is_hidden()  # no broken-image icon before a load
    studies = ui.locator(".widget-select select")
    ct = [t for t in studies.evaluate("s => [...s.options].map(o => o.text)") if re.search(r"\sCT\s", t)]
    assert ct, "the demo patient has a CT study"
    studies.select_option(label=ct[0])
    link = ui.locator("a.workbench-viewer-link")
    link.wait_for()
    ui.locator("button", has_text="Load series").click()
    caption = ui.locator(".widget-html-content b", has_text="slice")
    caption.wait_for()
    assert "山田" in caption.inner_text() and re.search(r"\d{4}-\d{2}-\d{2}", caption.inner_text())
    image = images.first
    image.scroll_into_view_if_needed()
    box = image.bounding_box()
    slider = ui.locator(".widget-slider", has=page.locator("label", has_text="Slice")).first.bounding_box()
    load = ui.locator("button", has_text="Load series").bounding_box()
    assert box and slider and load
    assert box["height"] <= 440 and box["width"] <= 440  # bounded size
    assert slider["x"] > box["x"] + box["width"] - 5  # the controls sit beside the image
    for item in (box, slider, load):  # image and controls on one 1366x768 screen
        assert item["y"] >= 0 and item["y"] + item["height"] <= VIEWPORT["height"], item
    page.screenshot(path=str(screens / "01_browser.png"))

    # The viewer link opens through JupyterLab, without another login.
    href = link.get_attribute("href")
    assert href and href.startswith("/workbench-orthanc/web-viewer/app/viewer.html?series=")
    viewer = browser_context.new_page()
    response = viewer.goto(lab.url.rstrip("/") + href)
    assert response is not None and response.ok and "/login" not in viewer.url
    viewer.wait_for_load_state("networkidle")
    assert "Orthanc" in viewer.title() or viewer.locator("body").inner_text()
    series_id = href.rsplit("=", 1)[-1]
    answer = browser_context.request.get(f"{lab.url}workbench-orthanc/series/{series_id}")
    assert answer.ok and answer.json()["ID"] == series_id  # Orthanc's credentials were added by the server
    viewer.screenshot(path=str(screens / "01_viewer.png"))
    anonymous = requests.get(
        f"{lab.url}workbench-orthanc/series/{series_id}", allow_redirects=False, timeout=10
    )
    assert anonymous.status_code in (302, 403)  # behind JupyterLab's login


def test_assistant_summarises_a_second_case(lab: Lab, browser_context: Any, tmp_path: Path) -> None:
    screens = tmp_path / "screens"
    screens.mkdir()
    page = browser_context.new_page()
    _run_all(page, lab, "05_summary_assistant")
    _wait_idle(page)
    assert not _errors(page)
    tab = page.locator(".jupyter-widgets.widget-tab").last
    tab.scroll_into_view_if_needed()
    picker = tab.locator(".widget-dropdown", has=page.locator("label", has_text="Case")).locator("select")
    labels = picker.evaluate("s => [...s.options].map(o => o.text)")
    assert len(labels) >= 2 and labels[1].startswith("case-002")
    picker.select_option(index=1)
    patient_box = tab.locator("input[list]").first  # the patient box (a Combobox)
    page.wait_for_function("el => /^[0-9A-F]{64}$/.test(el.value)", arg=patient_box.element_handle())
    patient = patient_box.input_value()
    tab.locator("button", has_text="Submit").click()
    status = tab.locator(".widget-html-content", has_text=re.compile(r"· id [0-9a-f-]{36}"))
    status.wait_for()
    generation_id = re.search(r"id ([0-9a-f-]{36})", status.inner_text()).group(1)
    assert tab.locator(".widget-html-content", has_text="Physician's summary").count() == 1
    assert tab.locator(".widget-html-content", has_text="Summary").count() >= 2
    page.screenshot(path=str(screens / "05_report.png"))
    tab.locator(".lm-TabBar-tab", has_text="History").click()
    search = tab.locator("input[placeholder^='Search the histories']")
    search.fill(patient[:4])  # an ID prefix, as the seed's users type it
    search.press("Enter")
    tab.locator("table", has_text=generation_id).wait_for()
    label = tab.locator(".widget-label", has_text=re.compile(r"Page 1 of \d+ \([1-9]\d* generations\)"))
    label.wait_for()
    page.screenshot(path=str(screens / "05_history.png"))
