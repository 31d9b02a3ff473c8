"""The ``provider-sandbox`` command: serve the sandbox until SIGTERM or SIGINT.

Configuration comes from ``SANDBOX_*`` variables; ``--auto-approve`` is a shortcut for the
demo. Bad configuration stops the start with one line naming the variable.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from .app import create_app
from .config import ConfigError
from .server import SandboxServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="provider-sandbox", description="Offline emulator of the Strava API."
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default %(default)s)"
    )
    parser.add_argument("--port", type=int, default=8090, help="port (default %(default)s)")
    parser.add_argument(
        "--auto-approve",
        action="store_true",
        help="approve /oauth/authorize at once as the default athlete",
    )
    parser.add_argument("--log-level", default="INFO", help="logging level (default %(default)s)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the server; returns the process exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    overrides = {"auto_approve": True} if args.auto_approve else None
    try:
        app = create_app(overrides)
    except ConfigError as exc:
        print(f"provider-sandbox: invalid configuration: {exc}", file=sys.stderr)
        return 2
    try:
        server = SandboxServer(app, args.host, args.port)
    except OSError as exc:
        print(f"provider-sandbox: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    server.start()
    print(f"provider-sandbox listening on http://{args.host}:{server.port}", flush=True)
    stop.wait()
    server.stop()
    return 0
