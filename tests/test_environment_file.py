"""environment.yml (SageMaker, conda workstations) installs what ``make install`` installs: the same packages
with the same specifiers as pyproject.toml's dependencies and extras, torch at the Makefile's pin, and the
conda counterparts of the Makefile's Debian packages that a notebook machine needs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
MAKE_EXTRAS = ("all", "dev")  # the Makefile: pip install -e ".[all,dev]"

CONDA_FOR_DEBIAN = {"fonts-noto-cjk": "font-ttf-noto-cjk", "nodejs": "nodejs"}
"""Debian packages of the Makefile and their conda-forge counterparts in environment.yml."""
SERVER_ONLY = {
    "orthanc", "orthanc-dicomweb", "orthanc-gdcm", "orthanc-wsi", "orthanc-webviewer", "orthanc-postgresql",
    "postgresql", "dcmtk", "dicom3tools",
}
"""Debian packages for the local archive and its tests (a DICOM peer, a validator): on SageMaker the archive
is a remote Orthanc."""
TEST_ONLY = {"chromium"}
"""Debian packages only the tests use (tests/browser drives JupyterLab in Debian's chromium); a notebook
machine has its own browser."""


def _environment() -> tuple[list[str], list[str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    (pip,) = [d["pip"] for d in env["dependencies"] if isinstance(d, dict)]
    return conda, pip


def _pyproject_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    wanted, requirements = list(MAKE_EXTRAS), list(project["dependencies"])
    while wanted:
        for line in extras[wanted.pop()]:
            requirement = Requirement(line)
            if canonicalize_name(requirement.name) == "workbench":
                wanted.extend(requirement.extras)  # all = workbench[summary,eval,...]
            else:
                requirements.append(line)
    return [Requirement(line) for line in requirements]


def _key(requirement: Requirement) -> tuple[str, frozenset[str], str]:
    return canonicalize_name(requirement.name), frozenset(requirement.extras), str(requirement.specifier)


def test_make_installs_every_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    (all_extra,) = [Requirement(r) for r in project["optional-dependencies"]["all"]]
    assert set(all_extra.extras) | {"all", "dev"} == set(project["optional-dependencies"])
    assert 'install -q -e ".[all,dev]"' in (ROOT / "Makefile").read_text(encoding="utf-8")


def test_pip_section_names_the_packages_of_pyproject() -> None:
    _, pip = _environment()
    listed = [Requirement(line) for line in pip if not line.startswith("-")]
    pinned_torch = [r for r in listed if r.name == "torch" and str(r.specifier).startswith("==")]
    listed = [r for r in listed if r not in pinned_torch]
    assert {_key(r) for r in listed} == {_key(r) for r in _pyproject_requirements()}
    assert len(listed) == len({_key(r) for r in listed}), "a package is listed twice"
    assert "-e ." in pip, "environment.yml does not install the workbench itself"


def test_torch_is_the_makefiles_cpu_pin() -> None:
    _, pip = _environment()
    make_spec = re.search(r"^TORCH_SPEC \?= (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE).group(1)
    (pinned,) = [Requirement(line) for line in pip if line.startswith("torch==")]
    (made,) = Requirement(make_spec).specifier
    version = Version(str(pinned.specifier)[2:])
    assert version.public == Version(made.version).public and version.local == "cpu"
    cpu_index = "--extra-index-url https://download.pytorch.org/whl/cpu"
    assert cpu_index in pip and pip.index(cpu_index) < pip.index(f"torch=={version}")


def test_conda_packages_match_the_makefiles_debian_packages() -> None:
    conda, _ = _environment()
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")  # continued lines
    apt = re.search(r"^APT_PACKAGES := (.+)$", makefile, re.MULTILINE).group(1).split()
    expected = set(CONDA_FOR_DEBIAN) | SERVER_ONLY | TEST_ONLY
    assert set(apt) == expected, "a new Debian package: add its conda counterpart"
    names = {re.split(r"[=<>\s]", d)[0] for d in conda}
    assert names == {"python", "pip", *CONDA_FOR_DEBIAN.values()}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    (python,) = [d for d in conda if d.startswith("python=")]
    assert Version(python.split("=")[1]) in Requirement(f"python{project['requires-python']}").specifier
