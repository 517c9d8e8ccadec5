"""``retort serve``: the reference proxy server in the foreground, until Ctrl-C.

Policies:

- The model is ``--script FILE`` (scripted rules), ``--cassette FILE`` (replay) or, by
  default, the echo model (replies with the last message). ``--faults`` takes JSON or
  YAML text of a :class:`~retort.adapters.proxy.Faults` mapping, or a file holding it.
- The first line on stdout is the server's URL and nothing else, so a script can read
  it (``--port 0`` picks a free port); notes go to stderr.
- SIGINT (Ctrl-C) and SIGTERM stop it cleanly: requests in flight finish, the port is
  released, a one-line summary goes to stderr, the exit code is 0. ``--max-seconds``
  stops it after that long (for scripts and tests).
- It listens on loopback only unless ``--allow-remote``: the server has no
  authentication.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from retort.adapters.cli._errors import CLIError, UsageError
from retort.adapters.cli._options import PROXY_URL_ENV, non_negative_int, positive_float

__all__ = ["register", "stop_signals"]

_DEFAULT_PORT = 8000
_FAULT_FILES = (".json", ".yaml", ".yml")
_EXAMPLES = """\
examples:
  retort serve --script script.yaml --port 8000
  retort serve --cassette run.jsonl --faults '{"seed": 0, "statuses": {"503": 0.2}}'
  SANDBOX_PROXY_URL=http://127.0.0.1:8000 retort solve "Say hi"
"""


def register(subparsers: Any) -> None:
    """Add ``retort serve`` to the command's subparsers."""
    parser = subparsers.add_parser(
        "serve",
        help="run the reference proxy server (scripted, replay or echo model)",
        description="Run retort's reference inference-proxy server until Ctrl-C. It serves "
        "POST /api/inference (the proxy protocol), POST /v1/chat/completions, GET /health "
        "and GET /stats.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    model = parser.add_mutually_exclusive_group()
    model.add_argument("--script", metavar="FILE", help="answer from a scripted-model file")
    model.add_argument("--cassette", metavar="FILE", help="answer from a recorded cassette")
    parser.add_argument(
        "--faults",
        metavar="JSON|YAML|FILE",
        help="inject faults: a Faults mapping as JSON/YAML text, or a file holding it",
    )
    parser.add_argument("--host", default="127.0.0.1", help="the interface (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=non_negative_int,
        default=_DEFAULT_PORT,
        help=f"the port (default {_DEFAULT_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (the server has no authentication)",
    )
    parser.add_argument(
        "--max-seconds",
        type=positive_float,
        metavar="SECONDS",
        help="stop after this long (default: run until Ctrl-C)",
    )
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=("critical", "error", "warning", "info", "debug"),
        help="uvicorn's log level (default warning)",
    )
    parser.set_defaults(run=run)


def _faults_text(value: str | None) -> str | None:
    """The faults text: the value itself, or the file it names."""
    if value is None:
        return None
    path = Path(value)
    if path.suffix.lower() in _FAULT_FILES and not path.exists():
        raise UsageError(
            f"the faults file {path} does not exist",
            hint="pass an existing file, or the faults as JSON text: --faults '{\"reset\": 0.1}'",
        )
    try:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CLIError(f"cannot read the faults file {path}: {exc.strerror or exc}") from exc
    return value


@contextmanager
def stop_signals(stop: threading.Event) -> Iterator[None]:
    """Make SIGINT and SIGTERM set ``stop`` while the block runs (main thread only;
    elsewhere signals keep their handlers); the previous handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _model_name(args: argparse.Namespace) -> str:
    if args.script:
        return f"scripted ({args.script})"
    if args.cassette:
        return f"replay ({args.cassette})"
    return "echo"


def run(args: argparse.Namespace) -> int:
    """Run ``retort serve``; the exit code."""
    from retort.adapters.proxy import serve

    faults = _faults_text(args.faults)
    try:
        server = serve(
            script=args.script,
            cassette=args.cassette,
            faults=faults,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            allow_remote=args.allow_remote,
        )
    except OSError as exc:
        raise CLIError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}",
            hint="pick another --port, or --port 0 for a free one",
        ) from exc
    stop = threading.Event()
    with server, stop_signals(stop):
        print(server.url, flush=True)
        faults_note = "none" if faults is None else "on"
        print(
            f"retort serve: {_model_name(args)} model, faults {faults_note}; "
            f"export {PROXY_URL_ENV}={server.url} - Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        stop.wait(args.max_seconds)
        stats = server.stats
    print(
        f"retort serve: stopped after {stats.requests} request"
        f"{'s' * (stats.requests != 1)} (peak {stats.peak} at once)",
        file=sys.stderr,
    )
    return 0
