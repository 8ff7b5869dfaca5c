"""The viewer's proxy (workbench.jupyter.proxy) is enabled wherever the package is installed.

jupyter_server 2.x enables only extensions that a file in ``jupyter_server_config.d`` declares (``jupyter
server extension enable`` refuses others with "could not be found"): the package ships that file as a data
file (non-editable installs: SageMaker's ``on-start.sh``), and ``make install`` puts it into the editable
development environment the tests run in.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_ships_the_config_that_enables_the_proxy() -> None:
    data_files = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"][
        "data-files"
    ]
    (source,) = data_files["etc/jupyter/jupyter_server_config.d"]
    config = json.loads((ROOT / source).read_text(encoding="utf-8"))
    assert config == {"ServerApp": {"jpserver_extensions": {"workbench.jupyter.proxy": True}}}
    from workbench.jupyter import proxy

    assert proxy._jupyter_server_extension_points() == [{"module": "workbench.jupyter.proxy"}]


def test_the_installed_jupyter_server_loads_the_proxy() -> None:
    """What ``make lab`` starts: its extension list shows the proxy enabled and importable."""
    jupyter = Path(sys.executable).parent / "jupyter"
    listing = subprocess.run(
        [str(jupyter), "server", "extension", "list"], capture_output=True, text=True, timeout=120, check=True
    )
    text = listing.stdout + listing.stderr
    lines = [line for line in text.splitlines() if "workbench.jupyter.proxy" in line]
    assert any("enabled" in line for line in lines), text
    assert any("OK" in line for line in lines), text
