"""``serve()``: the reference proxy server on uvicorn, in a background thread.

```python
from retort.adapters.proxy import Faults, ScriptedModel, serve

with serve(ScriptedModel.from_file("script.yaml"), faults=Faults(statuses={503: 0.2})) as server:
    ...  # point a transport at server.url ("http://127.0.0.1:<port>")
    assert server.stats.peak <= 3
```

From async code, start it off the event loop and close it the same way::

    server = await asyncio.to_thread(serve, model)   # starting blocks for ~20 ms
    async with server:
        ...

Policies:

- Each server runs its own uvicorn (HTTP/1.1 via h11, no lifespan, no websockets) and
  event loop in a daemon thread; two servers in one process share nothing.
- The listening socket is bound before the thread starts, so ``port=0`` picks a free
  port, a taken port fails at once (``OSError`` naming host and port), and ``.url`` is
  known when ``serve()`` returns - after the server accepts connections (bounded wait).
- Only loopback hosts are allowed unless ``allow_remote=True``: the server has no
  authentication and its ``/admin`` routes change its behaviour.
- ``close()`` stops accepting, lets requests in flight finish (a few seconds at most),
  joins the thread and releases the port; it is idempotent.
- Logging: uvicorn's loggers (``uvicorn.error``, ``uvicorn.access``) get ``log_level``;
  no handlers are installed (``log_level=None`` leaves them alone).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

try:
    import uvicorn
except ImportError as exc:  # pragma: no cover - exercised by a test that hides uvicorn
    raise ImportError(
        f"retort's reference proxy server needs the 'server' extra ({exc.name} is missing): "
        "pip install 'retort[server]'"
    ) from exc

from retort.adapters.proxy._app import ProxyServerApp, ServerState, ServerStats, create_app
from retort.adapters.proxy._faults import Faults
from retort.adapters.proxy._models import EchoModel, ModelBackend, ReplayModel
from retort.adapters.proxy._scripted_model import ScriptedModel
from retort.core.errors import ConfigurationError

__all__ = ["ServerHandle", "serve"]

_POLL = 0.005
_JOIN_TIMEOUT = 10.0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bind(host: str, port: int) -> socket.socket:
    # Numeric hosts and "localhost" only resolve locally: no DNS lookup leaves the machine.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    address = "127.0.0.1" if host == "localhost" else host
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only when
    # the listening socket says TCP, and without it every response waits ~40 ms (Nagle
    # holding the body behind the headers until the client's delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # Rebinding a port right after close() must not fail on TIME_WAIT connections.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        raise OSError(
            exc.errno,
            f"cannot bind the reference server to {host}:{port}: {exc.strerror}; "
            "pick another port, or port=0 for a free one",
        ) from exc
    return sock


def _backend(
    model: ModelBackend | None, script: str | Path | None, cassette: str | Path | None
) -> ModelBackend:
    options = (("model", model), ("script", script), ("cassette", cassette))
    given = [name for name, value in options if value is not None]
    if len(given) > 1:
        raise ConfigurationError(
            f"serve() takes one of model, script and cassette, got {' and '.join(given)}"
        )
    if script is not None:
        return ScriptedModel.from_file(script)
    if cassette is not None:
        return ReplayModel.from_file(cassette)
    return model if model is not None else EchoModel()


class ServerHandle:
    """A running reference server: its URL, counters, fault layer, and ``close()``.

    A context manager (``with``) and an async one (``async with``: closing runs in a
    worker thread, so the event loop is not blocked).

    Attributes:
        url: the base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash).
        host: the host it listens on.
        port: the port it listens on.
        app: the Starlette app (see :func:`create_app`).
    """

    def __init__(
        self,
        *,
        app: ProxyServerApp,
        server: uvicorn.Server,
        sock: socket.socket,
        host: str,
        port: int,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        url_host = f"[{host}]" if ":" in host else host
        self.url = f"http://{url_host}:{port}"
        self._state: ServerState = app.retort
        self._server = server
        self._sock = sock
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"retort-serve-{port}", daemon=True)
        self._lock = threading.Lock()
        self._closed = False

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # reported by _start(); a thread must not raise
            self._error = exc

    def _start(self, timeout: float) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                self._sock.close()
                raise RuntimeError(
                    f"the reference server on {self.url} stopped while starting: "
                    f"{self._error!r}; see the 'uvicorn.error' log"
                ) from self._error
            if time.monotonic() > deadline:
                self.close()
                raise TimeoutError(
                    f"the reference server on {self.url} did not start within {timeout} s"
                )
            time.sleep(_POLL)

    @property
    def stats(self) -> ServerStats:
        """A snapshot of the counters: in flight, peak, totals by path and status, faults."""
        return self._state.stats

    @property
    def faults(self) -> Faults:
        """The fault layer in force."""
        return self._state.faults

    @property
    def model(self) -> ModelBackend:
        """The backend answering inference requests."""
        return self._state.model

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def set_faults(self, faults: Faults | Mapping[str, Any] | str | None) -> Faults:
        """Replace the fault layer (``None`` turns faults off); returns the new one.

        Accepts a :class:`Faults`, its mapping form or JSON/YAML text of it.
        """
        return self._state.set_faults(faults)

    def reset_stats(self) -> None:
        """Zero the counters (``peak`` restarts from the requests in flight now)."""
        self._state.reset_stats()

    def close(self) -> None:
        """Stop the server, join its thread and release the port. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(_JOIN_TIMEOUT)
        if self._thread.is_alive():
            # Requests still running after the graceful wait: cancel them.
            self._server.force_exit = True
            self._thread.join(_JOIN_TIMEOUT)
        self._sock.close()

    async def aclose(self) -> None:
        """:meth:`close` in a worker thread, for async code."""
        await asyncio.to_thread(self.close)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> ServerHandle:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "running"
        return f"<ServerHandle {self.url} {state} model={type(self.model).__name__}>"


def serve(
    model: ModelBackend | None = None,
    *,
    script: str | Path | None = None,
    cassette: str | Path | None = None,
    faults: Faults | Mapping[str, Any] | str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    log_level: str | None = "warning",
    allow_remote: bool = False,
    startup_timeout: float = 10.0,
) -> ServerHandle:
    """Start the reference proxy server in a background thread; return when it accepts.

    Args:
        model: the backend (:class:`ScriptedModel`, :class:`ReplayModel`,
            :class:`FunctionModel`, or any object with ``async reply(request)``).
            Without ``model``, ``script`` or ``cassette``: :class:`EchoModel`.
        script: a scripted-model file (YAML, or JSON for ``*.json``).
        cassette: a record/replay cassette to answer from.
        faults: the fault layer: :class:`Faults`, its mapping form, or JSON/YAML text.
        host: the interface to listen on; loopback unless ``allow_remote``.
        port: the port; 0 picks a free one.
        log_level: the level for uvicorn's loggers, or ``None`` to leave them alone.
        allow_remote: allow a non-loopback ``host`` (the server has no authentication).
        startup_timeout: seconds to wait for the server to accept connections.

    Returns:
        The running server's handle; close it (or use it as a context manager).

    Raises:
        ConfigurationError: conflicting model options, a non-loopback host without
            ``allow_remote``, a bad script, cassette or faults.
        OSError: the port cannot be bound.
        RuntimeError: the server stopped while starting.
        TimeoutError: it did not accept connections within ``startup_timeout``.
    """
    backend = _backend(model, script, cassette)
    if not allow_remote and not _is_loopback(host):
        raise ConfigurationError(
            f"host {host!r} is not a loopback address; the reference server has no "
            "authentication, so pass allow_remote=True to listen on it deliberately"
        )
    app = create_app(backend, faults)
    sock = _bind(host, port)
    config = uvicorn.Config(
        app,
        http="h11",
        ws="none",
        lifespan="off",
        loop="asyncio",
        log_config=None,
        log_level=log_level,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    handle = ServerHandle(
        app=app, server=uvicorn.Server(config), sock=sock, host=host, port=sock.getsockname()[1]
    )
    handle._start(startup_timeout)
    return handle
