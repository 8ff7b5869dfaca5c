"""JupyterLab on a free port (token auth) and headless Debian Chromium driven by Playwright.

No browser is downloaded: Playwright drives ``/usr/bin/chromium`` (Debian ``chromium``, in APT_PACKAGES).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import sync_playwright

from tests.conftest import ROOT
from workbench.imaging.local_server import LocalOrthanc, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1366, "height": 768}
"""A common laptop screen: the study browser's image and its controls must both fit."""


@dataclass
class Lab:
    """A running JupyterLab: its URL, token and notebook folder."""

    url: str
    token: str
    root: Path
    log: Path

    def notebook_url(self, name: str) -> str:
        return f"{self.url}lab/tree/notebooks/{name}.ipynb?token={self.token}"


@pytest.fixture
def lab(orthanc_env: LocalOrthanc, demo_hospital: Any, tmp_path: Path) -> Iterator[Lab]:
    """JupyterLab with the workbench kernel and the viewer proxy, over a copy of the notebooks."""
    root = tmp_path / "lab"
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    (root / "eval").symlink_to(ROOT / "eval")
    jupyter = tmp_path / "jupyter"
    (jupyter / "config").mkdir(parents=True)
    (jupyter / "config" / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"workbench.jupyter.proxy": True}}})
    )
    news = jupyter / "settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(jupyter / "config"),
        "JUPYTER_RUNTIME_DIR": str(jupyter / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(jupyter / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(jupyter / "workspaces"),
        "PYTHONPATH": str(ROOT),
    }
    port, token = free_port(), secrets.token_hex(16)
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.port_retries=0",
    ]
    if os.getuid() == 0:
        command.append("--allow-root")
    log = tmp_path / "jupyter.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}api/status", params={"token": token}, timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"JupyterLab did not start:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.3)
        yield Lab(url=url, token=token, root=root, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def browser_context(tmp_path: Path) -> Iterator[Any]:
    """A headless Chromium page context at 1366x768."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: sudo apt-get install -y chromium (never 'playwright install')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport=VIEWPORT, locale="ja-JP")
        context.set_default_timeout(60_000)
        try:
            yield context
        finally:
            (tmp_path / "screens").mkdir(exist_ok=True)
            for number, page in enumerate(context.pages):  # what each page showed at the end (or the failure)
                page.screenshot(path=str(tmp_path / "screens" / f"last-{number}.png"), full_page=True)
            context.close()
            browser.close()
