"""The ``workbench`` command.

Each subpackage adds its own subcommands through a ``register(subparsers)`` function in its ``cli`` module;
this module owns the entry point, the ``orthanc`` commands and the one rule of the command line: a user's
mistake (any :class:`~workbench.errors.WorkbenchError`) prints one line on stderr and exits with status 2,
without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from workbench import __version__, config
from workbench.errors import ConfigError, WorkbenchError

if TYPE_CHECKING:
    from workbench.imaging.local_server import LocalOrthanc

logger = logging.getLogger(__name__)

SUBCOMMAND_MODULES = (
    "workbench.imaging.cli",
    "workbench.imaging.demo.cli",
    "workbench.imaging.slides.cli",
    "workbench.summary.cli",
    "workbench.experiments.cli",
)
"""Modules whose ``register(subparsers)`` adds their commands."""


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Research workbench for clinical AI: Orthanc/DICOMweb archives as tables and volumes, "
        "MONAI on the archive, and Japanese discharge-summary prompt experiments.",
    )
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _register_orthanc(subparsers)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # urllib3 logs every retry as a warning; our own one-line error says what went wrong
    logging.getLogger("urllib3").setLevel(logging.DEBUG if args.verbose >= 2 else logging.ERROR)
    try:
        return int(args.func(args) or 0)
    except WorkbenchError as exc:
        print(f"workbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0


# -- workbench orthanc start|stop|status ------------------------------------------------------------------
def _register_orthanc(subparsers: argparse._SubParsersAction) -> None:
    orthanc = subparsers.add_parser("orthanc", help="run a local Orthanc as a managed background process")
    actions = orthanc.add_subparsers(dest="action", metavar="ACTION", required=True)

    start = actions.add_parser("start", help="start the local Orthanc and remember how to reach it")
    start.add_argument("--data-dir", help="storage, index and log folder (default: <data folder>/orthanc)")
    start.add_argument("--http-port", type=int, help="REST/DICOMweb port (default: a free one)")
    start.add_argument("--dicom-port", type=int, help="turn the DICOM listener on, on this port")
    start.add_argument(
        "--modality",
        action="append",
        metavar="NAME=AET@HOST:PORT",
        help="a DICOM peer allowed to store (repeatable; kept in the config). Without any, the listener "
        "refuses every C-STORE",
    )
    start.add_argument(
        "--postgres",
        metavar="DSN",
        help="keep the index in PostgreSQL: postgresql://user:password@host:port/database",
    )
    start.set_defaults(func=_orthanc_start)

    stop = actions.add_parser("stop", help="stop the local Orthanc and wait until it has exited")
    stop.add_argument("--data-dir")
    stop.set_defaults(func=_orthanc_stop)

    status = actions.add_parser("status", help="say whether the local Orthanc runs, where, and what it holds")
    status.add_argument("--data-dir")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_orthanc_status)


def _server(args: argparse.Namespace, **kwargs: Any) -> LocalOrthanc:
    from workbench.imaging.local_server import LocalOrthanc

    return LocalOrthanc(args.data_dir, password_file=config.config_dir() / "orthanc-password", **kwargs)


def _orthanc_start(args: argparse.Namespace) -> int:
    from workbench.imaging.local_server import Modality, postgres_settings

    postgres = postgres_settings(args.postgres) if args.postgres else None
    if args.modality is not None:
        modalities = [Modality.parse(text) for text in args.modality]
    else:  # the ones registered by an earlier start
        modalities = [Modality.parse(text) for text in config.orthanc_modalities()]
    names = [m.name for m in modalities]
    if len(set(names)) != len(names):
        raise ConfigError(f"--modality names must differ; got {', '.join(names)}")
    server = _server(
        args, http_port=args.http_port, dicom_port=args.dicom_port, postgres=postgres, modalities=modalities
    )
    if args.modality is not None and server.is_running():
        raise ConfigError(
            f"Orthanc is already running from {server.data_dir}; Orthanc reads its modalities only when it "
            "starts: run 'workbench orthanc stop', then start again with --modality"
        )
    server.start()
    state = server.state
    path = config.update_config(
        "orthanc",
        {
            "url": state.url,
            "username": state.username,
            "password_file": state.password_file,
            "data_dir": state.data_dir,
            "modalities": [str(m) for m in modalities],
        },
    )
    print(
        f"Orthanc running at {state.url} (PID {state.pid}); user {state.username!r}, "
        f"password in {state.password_file}"
    )
    if state.dicom_port:
        allowed = ", ".join(str(m) for m in modalities) or "none (register one with --modality)"
        print(
            f"DICOM listener: AET ORTHANC on port {state.dicom_port} (all interfaces); "
            f"C-STORE allowed from: {allowed}"
        )
    print(f"Settings written to {path}; workbench.imaging.connect() now reaches this server.")
    return 0


def _orthanc_stop(args: argparse.Namespace) -> int:
    if args.data_dir is None:
        args.data_dir = config.table("orthanc").get("data_dir")  # no password needed to stop or ask
    if _server(args).stop():
        print("Orthanc stopped.")
    else:
        print("No local Orthanc was running.")
    return 0


def _orthanc_status(args: argparse.Namespace) -> int:
    if args.data_dir is None:
        args.data_dir = config.table("orthanc").get("data_dir")  # no password needed to stop or ask
    info = _server(args).status()
    if args.json:
        print(json.dumps(info, indent=2, ensure_ascii=False))
    elif info["running"]:
        extra = f", {info['studies']} studies" if "studies" in info else f" ({info.get('error')})"
        print(f"running at {info['url']} (PID {info['pid']}, Orthanc {info.get('version', '?')}{extra})")
    else:
        print(f"not running (data folder {info['data_dir']})")
    return 0 if info["running"] else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
