"""A Jupyter server extension that serves the configured Orthanc under ``{base_url}workbench-orthanc/``.

The researcher's browser reaches the archive's viewer (Orthanc's web viewer plugin, Orthanc Explorer) through
JupyterLab itself: behind JupyterLab's login, with Orthanc's credentials added here on the server side (they
never reach the browser), and to an Orthanc the browser could not reach on its own (a private subnet on
SageMaker). Built on ``jupyter-server-proxy``'s handler; enabled by ``make install`` with
``jupyter server extension enable --sys-prefix workbench.jupyter.proxy``.
"""

from __future__ import annotations

import base64
import logging
from typing import Any
from urllib.parse import SplitResult, quote, urlsplit

from jupyter_server.utils import url_path_join
from jupyter_server_proxy.handlers import AddSlashHandler, ProxyHandler
from tornado import web

from workbench.config import orthanc_settings
from workbench.jupyter.base_url import PROXY_PREFIX

logger = logging.getLogger(__name__)

DROPPED_HEADERS = ("Cookie", "Authorization", "X-Xsrftoken", "Referer", "Origin")
"""Browser headers Orthanc has no business seeing (JupyterLab's session and token)."""


def _target() -> tuple[SplitResult, str | None]:
    """The configured Orthanc URL and its ``Authorization`` header value (``None`` without credentials)."""
    settings = orthanc_settings()
    if not settings.url:
        raise web.HTTPError(
            503,
            reason="workbench: error: no Orthanc configured; run 'workbench orthanc start' or set "
            "WORKBENCH_ORTHANC_URL, then restart JupyterLab",
        )
    auth = None
    if settings.username:
        token = base64.b64encode(f"{settings.username}:{settings.password or ''}".encode()).decode()
        auth = f"Basic {token}"
    return urlsplit(settings.url.rstrip("/")), auth


class OrthancProxyHandler(ProxyHandler):
    """Forwards ``{base_url}workbench-orthanc/<path>`` to ``<orthanc url>/<path>`` with the credentials."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("host_allowlist", lambda handler, host: True)  # the only host is the configured one
        super().__init__(*args, **kwargs)
        self.proxy_base = PROXY_PREFIX.rstrip("/")

    async def _forward(self, proxied_path: str) -> Any:
        target, _ = _target()
        port = target.port or (443 if target.scheme == "https" else 80)
        return await self.proxy(target.hostname, port, proxied_path)

    async def http_get(self, proxied_path: str) -> Any:
        return await self._forward(proxied_path)

    async def post(self, proxied_path: str) -> Any:
        return await self._forward(proxied_path)

    async def put(self, proxied_path: str) -> Any:
        return await self._forward(proxied_path)

    async def delete(self, proxied_path: str) -> Any:
        return await self._forward(proxied_path)

    async def head(self, proxied_path: str) -> Any:
        return await self._forward(proxied_path)

    async def patch(self, proxied_path: str) -> Any:
        return await self._forward(proxied_path)

    async def options(self, proxied_path: str) -> Any:
        return await self._forward(proxied_path)

    def _get_context_path(self, host: str, port: int) -> str:
        return str(url_path_join(self.base_url, self.proxy_base))

    def get_client_uri(self, protocol: str, host: str, port: int, proxied_path: str) -> str:
        target, _ = _target()
        scheme = target.scheme if protocol == "http" else ("wss" if target.scheme == "https" else "ws")
        path = quote(target.path + "/" + proxied_path.lstrip("/"), safe=":/?#[]@!$&'()*+,;=-._~")
        uri = f"{scheme}://{target.netloc.rsplit('@', 1)[-1]}{path}"
        return uri + ("?" + self.request.query if self.request.query else "")

    def proxy_request_headers(self) -> Any:
        headers = self.request.headers.copy()
        for name in DROPPED_HEADERS:
            if name in headers:
                del headers[name]
        target, auth = _target()
        headers["Host"] = target.netloc.rsplit("@", 1)[-1]
        if auth:
            headers["Authorization"] = auth
        return headers


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "workbench.jupyter.proxy"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Route ``{base_url}workbench-orthanc/...`` to :class:`OrthancProxyHandler`."""
    base_url = serverapp.web_app.settings["base_url"]
    prefix = url_path_join(base_url, PROXY_PREFIX.rstrip("/"))
    serverapp.web_app.add_handlers(
        ".*",
        [(prefix + "/(.*)", OrthancProxyHandler), (prefix, AddSlashHandler)],
    )
    logger.info("workbench: the configured Orthanc is served at %s/", prefix)


load_jupyter_server_extension = _load_jupyter_server_extension
