"""Shared fixtures of the adapter tests: real HTTP servers on 127.0.0.1.

- :func:`free_port` - a port nothing listens on (bound, then released).
- :func:`run_app` - serve an ASGI app with uvicorn in a background thread on a free
  loopback port; yields the base URL; stops the server on exit.
- ``serve_app`` fixture (session scope) - :func:`run_app` itself, for module-scoped
  fixtures: ``with serve_app(app) as url: yield url``.
- ``closed_url`` fixture - the base URL of a port nothing listens on (connection refused).
- ``shared`` fixture (module scope) - one reference server per test module, serving a
  :class:`_support.Switch` whose model each module's tests set.

This folder is put on ``sys.path`` (pytest's importlib mode adds none) so the tests can
``from _support import ...``.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from _support import Switch  # noqa: E402 - needs the path above

from retort.adapters.proxy import ServerHandle, serve  # noqa: E402


def free_port() -> int:
    """A loopback port that was free a moment ago (bound to port 0, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def run_app(app: Any, *, startup_timeout: float = 10.0) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 in a background thread; yield ``http://127.0.0.1:PORT``.

    The listening socket is bound before the server starts (port 0), so there is no
    race for the port. On exit the server stops; requests still running get one second.
    """
    import uvicorn  # the server extra; imported here so collecting tests does not need it

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        ws="none",
        access_log=False,
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.005)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def closed_url() -> str:
    """The base URL of a loopback port nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def serve_app() -> Callable[..., AbstractContextManager[str]]:
    """:func:`run_app`, for fixtures: ``with serve_app(app) as base_url: ...``."""
    return run_app


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[ServerHandle, Switch]]:
    """One reference server for the module; tests swap ``Switch.model``."""
    switch = Switch()
    with serve(switch) as server:
        yield server, switch
