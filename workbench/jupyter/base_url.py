"""The Jupyter server's base URL as a kernel sees it, for links the browser follows (the viewer)."""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)

PROXY_PREFIX = "workbench-orthanc/"
"""Where the Jupyter server extension :mod:`workbench.jupyter.proxy` serves the configured Orthanc."""


def jupyter_base_url() -> str:
    """The base URL path of the Jupyter server running this kernel (``/`` by default), ending in ``/``.

    ``WORKBENCH_JUPYTER_BASE_URL`` wins; then ``JUPYTERHUB_SERVICE_PREFIX``; then the running Jupyter server
    that started this kernel (its process is the kernel's parent); then ``/``.
    """
    from workbench.config import EnvVar, env_value

    base = (
        env_value(EnvVar.JUPYTER_BASE_URL) or os.environ.get("JUPYTERHUB_SERVICE_PREFIX") or parent_server()
    )
    base = base or "/"
    if not base.startswith("/"):
        base = "/" + base
    return base if base.endswith("/") else base + "/"


def parent_server() -> str | None:
    try:
        from jupyter_server.serverapp import list_running_servers
    except ImportError:  # no Jupyter server installed: not under JupyterLab
        return None
    parent = os.getppid()
    for server in list_running_servers():
        if server.get("pid") == parent:
            return str(server.get("base_url") or "/")
    return None


def proxied_path(path: str) -> str:
    """An Orthanc path (``web-viewer/app/viewer.html?series=...``) as the browser reaches it via Jupyter."""
    return jupyter_base_url() + PROXY_PREFIX + path.lstrip("/")
