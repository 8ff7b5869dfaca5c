"""The managed local Orthanc: ``LocalOrthanc`` and ``workbench orthanc start|stop|status``.

Every test has its own config and data folders (the autouse ``isolated_folders`` fixture), so each starts
its own server on free ports and must leave no process behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from workbench import config
from workbench.cli import main
from workbench.imaging.local_server import LocalOrthanc, _alive, free_port
from workbench.imaging.rest import OrthancClient

pytestmark = pytest.mark.orthanc


def _wait_gone(pid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


@pytest.fixture
def cli_server(capsys: pytest.CaptureFixture[str]) -> Iterator[dict[str, object]]:
    """``workbench orthanc start`` in this test's folders; stopped (and checked gone) afterwards."""
    assert main(["orthanc", "start"]) == 0
    out = capsys.readouterr().out
    state = json.loads((config.data_dir() / "orthanc" / "server.json").read_text())
    yield {"out": out, **state}
    main(["orthanc", "stop"])
    if not _wait_gone(int(state["pid"])):  # never leave a server behind, even when a test failed
        os.kill(int(state["pid"]), signal.SIGKILL)


def test_start_writes_settings_that_connect_with_no_arguments(cli_server: dict[str, object]) -> None:
    assert f"Orthanc running at {cli_server['url']}" in str(cli_server["out"])
    settings = config.orthanc_settings()
    assert settings.url == cli_server["url"] and settings.username == "workbench" and settings.password
    password_file = Path(str(cli_server["password_file"]))
    assert password_file.parent == config.config_dir()
    assert password_file.stat().st_mode & 0o777 == 0o600
    assert config.config_path().stat().st_mode & 0o777 == 0o600
    assert OrthancClient.from_settings().system()["Name"] == "workbench"
    from workbench.imaging import connect

    assert connect().studies().empty


def test_anonymous_and_wrong_password_requests_are_refused(cli_server: dict[str, object]) -> None:
    url = str(cli_server["url"])
    assert requests.get(f"{url}/system", timeout=10).status_code == 401
    assert requests.get(f"{url}/system", auth=("workbench", "wrong"), timeout=10).status_code == 401
    assert requests.get(f"{url}/dicom-web/studies", timeout=10).status_code == 401
    settings = config.orthanc_settings()
    assert requests.get(f"{url}/system", auth=(settings.username, settings.password), timeout=10).ok


def test_status_and_a_second_start(cli_server: dict[str, object], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["orthanc", "status"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"running at {cli_server['url']} (PID {cli_server['pid']}") and "0 studies" in out
    assert main(["orthanc", "start"]) == 0  # a no-op: the same server
    assert f"PID {cli_server['pid']}" in capsys.readouterr().out
    assert main(["orthanc", "status", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["running"] and info["pid"] == cli_server["pid"] and info["version"].startswith("1.")
    assert config.orthanc_settings().password not in json.dumps(info)


def test_stop_leaves_no_process_behind(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["orthanc", "start", "--dicom-port", str(free_port())]) == 0
    state = json.loads((config.data_dir() / "orthanc" / "server.json").read_text())
    assert "DICOM listener" in capsys.readouterr().out
    assert main(["orthanc", "stop"]) == 0
    assert capsys.readouterr().out.strip() == "Orthanc stopped."
    assert not _alive(state["pid"])
    assert not (config.data_dir() / "orthanc" / "server.json").exists()
    with socket.socket() as sock:  # the port is free again (no listener; TIME_WAIT of our requests is fine)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", state["http_port"]))
    assert main(["orthanc", "status"]) == 1
    assert capsys.readouterr().out.startswith("not running")
    assert main(["orthanc", "stop"]) == 0
    assert "No local Orthanc was running" in capsys.readouterr().out


def test_a_crashed_server_leaves_a_stale_state_that_is_cleaned(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["orthanc", "start"]) == 0
    state_file = config.data_dir() / "orthanc" / "server.json"
    pid = json.loads(state_file.read_text())["pid"]
    os.kill(pid, signal.SIGKILL)  # a crash: no chance to clean up
    assert _wait_gone(pid)
    capsys.readouterr()
    assert main(["orthanc", "status"]) == 1
    assert capsys.readouterr().out.startswith("not running")
    assert not state_file.exists()
    assert main(["orthanc", "start"]) == 0  # and a new one starts in the same folder
    new_pid = json.loads(state_file.read_text())["pid"]
    assert new_pid != pid and _alive(new_pid)
    assert main(["orthanc", "stop"]) == 0
    assert _wait_gone(new_pid)


def test_a_pid_file_naming_another_program_is_not_trusted(capsys: pytest.CaptureFixture[str]) -> None:
    folder = config.data_dir() / "orthanc"
    folder.mkdir(parents=True)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        (folder / "server.json").write_text(
            json.dumps(
                {
                    "pid": sleeper.pid,
                    "url": "http://127.0.0.1:1",
                    "http_port": 1,
                    "dicom_port": None,
                    "username": "workbench",
                    "password_file": str(folder / "orthanc-password"),
                    "data_dir": str(folder),
                    "config_file": str(folder / "orthanc.json"),
                    "log_file": str(folder / "orthanc.log"),
                    "started_at": 0.0,
                }
            )
        )
        assert main(["orthanc", "stop"]) == 0
        assert "No local Orthanc was running" in capsys.readouterr().out
        assert sleeper.poll() is None, "stop must not kill a process that is not our Orthanc"
        assert not (folder / "server.json").exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_taken_port_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert main(["orthanc", "start", "--http-port", str(port)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("workbench: error:") and str(port) in err and "\n" not in err
    assert not (config.data_dir() / "orthanc" / "server.json").exists()


def test_an_orthanc_binary_that_is_not_there_gives_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WORKBENCH_ORTHANC_BINARY", str(tmp_path / "no-such-orthanc"))
    try:
        assert main(["orthanc", "start"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("workbench: error:") and "\n" not in err
        assert "no-such-orthanc" in err and "apt-get install" in err
    finally:
        main(["orthanc", "stop"])


def test_no_orthanc_installed_says_how_to_install_or_go_remote(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from workbench.imaging import local_server

    # The machine has Orthanc; hide every place find_binary looks.
    monkeypatch.delenv("WORKBENCH_ORTHANC_BINARY", raising=False)
    monkeypatch.setattr(local_server.shutil, "which", lambda _name: None)
    real_is_file = Path.is_file
    monkeypatch.setattr(Path, "is_file", lambda self: False if self.name == "Orthanc" else real_is_file(self))
    assert main(["orthanc", "start"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("workbench: error: the Orthanc binary is not installed") and "\n" not in err
    assert "apt-get install -y orthanc" in err and "WORKBENCH_ORTHANC_URL" in err


def test_context_manager_starts_and_stops(tmp_path: Path) -> None:
    with LocalOrthanc(tmp_path / "orthanc") as server:
        pid = server.state.pid
        assert server.client().system()["Version"].startswith("1.")
        assert server.status()["running"]
        if Path("/usr/share/orthanc/plugins/libOrthancWebViewer.so").exists():  # Debian orthanc-webviewer
            assert "web-viewer" in server.client().get_json("/plugins")
    assert _wait_gone(pid, timeout=1.0)
    assert not server.is_running()


def test_the_dicom_listener_is_closed_to_unregistered_peers(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import shutil

    from pydicom.data import get_testdata_file

    assert shutil.which("storescu"), "dcmtk is not installed: apt-get install dcmtk (make test does)"
    dicom_port, peer_port = free_port(), free_port()
    modality = f"scanner=WB-SCANNER@127.0.0.1:{peer_port}"
    assert main(["orthanc", "start", "--dicom-port", str(dicom_port), "--modality", modality]) == 0
    state = json.loads((config.data_dir() / "orthanc" / "server.json").read_text())
    try:
        assert f"C-STORE allowed from: {modality}" in capsys.readouterr().out
        assert config.orthanc_modalities() == (modality,)  # kept for the next start
        orthanc_config = json.loads(Path(state["config_file"]).read_text())
        assert orthanc_config["DicomAlwaysAllowStore"] is False
        assert orthanc_config["DicomCheckCalledAet"] is True
        assert orthanc_config["DicomCheckModalityHost"] is True
        assert orthanc_config["DicomModalities"] == {"scanner": ["WB-SCANNER", "127.0.0.1", peer_port]}
        source = get_testdata_file("CT_small.dcm", download=False)

        def store(aet: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [
                    "storescu",
                    "-R",
                    "-nh",
                    "-aet",
                    aet,
                    "-aec",
                    "ORTHANC",
                    "127.0.0.1",
                    str(dicom_port),
                    source,
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )

        refused = store("ANYONE")
        assert refused.returncode != 0 and "Store Failed" in refused.stderr
        client = OrthancClient(state["url"], "workbench", config.orthanc_settings().password)
        assert client.get_json("/statistics")["CountInstances"] == 0
        accepted = store("WB-SCANNER")
        assert accepted.returncode == 0, accepted.stderr
        assert client.get_json("/statistics")["CountInstances"] == 1
    finally:
        main(["orthanc", "stop"])
        _wait_gone(int(state["pid"]))
    capsys.readouterr()
    assert main(["orthanc", "start", "--dicom-port", str(free_port())]) == 0  # the registered peer is kept
    try:
        assert f"C-STORE allowed from: {modality}" in capsys.readouterr().out
        # a running Orthanc cannot take new modalities: say so instead of pretending
        assert main(["orthanc", "start", "--modality", f"other=OTHER@127.0.0.1:{peer_port}"]) == 2
        assert "already running" in capsys.readouterr().err
        assert config.orthanc_modalities() == (modality,)
    finally:
        main(["orthanc", "stop"])


@pytest.mark.parametrize(
    ("modality", "message"),
    [
        (",", "modality ',' is not of the form NAME=AET@HOST:PORT"),
        ("ct=SCANNER@10.0.0.5", "is not of the form NAME=AET@HOST:PORT"),
        ("ct=SCANNER@10.0.0.5:70000", "port 70000 is not between 1 and 65535"),
        ("ct=A-TITLE-LONGER-THAN-16@10.0.0.5:104", "must be 1-16 printable ASCII characters"),
    ],
)
def test_a_malformed_modality_is_one_line(
    modality: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["orthanc", "start", "--dicom-port", str(free_port()), "--modality", modality]) == 2
    err = capsys.readouterr().err
    assert err.startswith("workbench: error: ") and err.count("\n") == 1 and message in err, err
    assert not (config.data_dir() / "orthanc" / "server.json").exists()


def test_config_storage_and_index_are_private_from_the_start(tmp_path: Path) -> None:
    import stat

    with LocalOrthanc(tmp_path / "orthanc", dicom_port=free_port()) as server:
        server.client().upload([_ct_small()], progress=False)
        folder = server.data_dir
        assert folder.stat().st_mode & 0o777 == 0o700
        for path in [folder, *folder.rglob("*")]:
            want = 0o700 if path.is_dir() else 0o600
            assert stat.S_IMODE(path.stat().st_mode) == want, path
        assert any((folder / "storage").rglob("*")) and any((folder / "index").iterdir())


def test_orthanc_config_is_private_from_creation_not_by_a_later_chmod(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old code wrote orthanc.json (it holds the password) with the umask's 0644 and chmod-ed it after."""
    chmodded: list[str] = []
    monkeypatch.setattr(os, "chmod", lambda path, *_a, **_k: chmodded.append(str(path)))
    old_mask = os.umask(0o022)
    try:
        with LocalOrthanc(tmp_path / "orthanc") as server:
            assert server.client().system()
            assert server.config_file.stat().st_mode & 0o777 == 0o600
            assert server.log_file.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old_mask)
    assert str(tmp_path / "orthanc" / "orthanc.json") not in chmodded


def _ct_small() -> str:
    from pydicom.data import get_testdata_file

    return str(get_testdata_file("CT_small.dcm", download=False))
def test_start_loads_the_wsi_plugin_when_installed(cli_server: dict[str, object]) -> None:
    plugins = OrthancClient.from_settings().get_json("/plugins")
    assert {"dicom-web", "wsi"} <= set(plugins)


def test_a_missing_optional_plugin_is_left_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.imaging import local_server

    monkeypatch.setitem(local_server.OPTIONAL_PLUGINS, "wsi", "libNotInstalledWSI.so")
    with LocalOrthanc(tmp_path / "orthanc") as server:
        plugins = server.client().get_json("/plugins")
    assert "dicom-web" in plugins and "wsi" not in plugins
