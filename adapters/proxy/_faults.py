"""The reference server's fault layer: seeded, reproducible network and server failures.

```python
faults = Faults(seed=0, statuses={429: 0.1, 503: 0.05}, retry_after=0.2, reset=0.05,
                truncate=0.05, delay=0.1, delay_seconds=0.3)
faults = Faults.parse('{"statuses": {"500": 1.0}}')   # JSON or YAML text (CLI, /admin/faults)
```

What each fault does to an inference request (``/api/inference``,
``/v1/chat/completions``; never ``/health``, ``/stats`` or ``/admin/*``):

- ``statuses`` - answer that status with a JSON error body instead of calling the
  model; 429 and 503 carry ``Retry-After: <retry_after>`` unless it is ``None``
  (fractional seconds are written as a decimal, e.g. ``0.2``).
- ``reset`` - drop the TCP connection without a response (an RST where the server can
  do it): httpx raises ``ReadError`` or ``RemoteProtocolError``. The model is not called.
- ``truncate`` - call the model, send the response headers with the full
  ``Content-Length`` and only the first half of the body, then close the connection:
  httpx raises ``RemoteProtocolError`` (incomplete body) - never a short, well-formed
  200, which the proxy protocol would read as plain reply text.
- ``non_json`` - a 200 whose body is an HTML error page (``text/html``), as a
  misconfigured gateway sends: broken JSON for OpenAI clients, and garbage reply text
  for the proxy protocol (where any non-JSON body is valid plain text).
- ``delay`` - wait ``delay_seconds`` first; drawn independently of the others.

Policies: the probabilities of ``statuses``, ``reset``, ``truncate`` and ``non_json``
are of mutually exclusive outcomes and must sum to at most 1. Every eligible request
draws exactly two numbers from one ``random.Random(seed)``, so a seed gives the same
faults for the same sequence of requests (in arrival order); ``seed=None`` is random.
``only_paths`` narrows the eligible paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
import socket
import struct
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeAlias

from retort.adapters.proxy._models import load_yaml
from retort.core.errors import ConfigurationError

__all__ = [
    "INFERENCE_PATHS",
    "FaultDecision",
    "FaultInjector",
    "FaultKind",
    "Faults",
    "TruncatingSend",
    "await_disconnect",
    "connection_transport",
    "drop_connection",
    "format_seconds",
    "read_body",
    "replaying_receive",
]

INFERENCE_PATHS = frozenset({"/api/inference", "/v1/chat/completions"})
"""The paths faults can apply to."""

ASGIMessage: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[ASGIMessage]]
Send: TypeAlias = Callable[[ASGIMessage], Awaitable[None]]

FaultKind: TypeAlias = Literal["status", "reset", "truncate", "non_json"]

# Real servers send Retry-After with these; clients honour it there.
_RETRY_AFTER_STATUSES = (429, 503)
_FIELDS = frozenset(
    {
        "seed",
        "statuses",
        "retry_after",
        "reset",
        "truncate",
        "non_json",
        "delay",
        "delay_seconds",
        "only_paths",
    }
)


def _probability(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"faults: {name} must be a probability (0..1), got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ConfigurationError(f"faults: {name} must be between 0 and 1, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Faults:
    """Which faults the server injects, and how often.

    Args:
        seed: seeds the fault RNG (``None``: not reproducible).
        statuses: status -> probability of answering it (statuses 400-599).
        retry_after: the ``Retry-After`` seconds of injected 429/503 (``None``: no
            header); a string is sent verbatim (e.g. an HTTP date).
        reset: probability of dropping the connection without a response.
        truncate: probability of cutting the body in half and closing the connection.
        non_json: probability of a 200 with an HTML page instead of the reply.
        delay: probability of waiting ``delay_seconds`` before answering.
        delay_seconds: how long a delay lasts.
        only_paths: restrict faults to these inference paths (``None``: both).

    Raises:
        ConfigurationError: a probability outside 0..1, exclusive probabilities summing
            over 1, a status outside 400-599, or an unknown path.
    """

    seed: int | None = 0
    statuses: Mapping[int, float] = field(default_factory=dict)
    retry_after: float | str | None = 1.0
    reset: float = 0.0
    truncate: float = 0.0
    non_json: float = 0.0
    delay: float = 0.0
    delay_seconds: float = 0.5
    only_paths: frozenset[str] | None = None

    def __post_init__(self) -> None:
        statuses: dict[int, float] = {}
        for status, chance in dict(self.statuses).items():
            try:
                code = int(status)
            except (TypeError, ValueError):
                raise ConfigurationError(
                    f"faults: statuses keys must be HTTP statuses, got {status!r}"
                ) from None
            if not 400 <= code <= 599:
                raise ConfigurationError(f"faults: statuses must be 400-599, got {code}")
            statuses[code] = _probability(f"statuses[{code}]", chance)
        object.__setattr__(self, "statuses", dict(sorted(statuses.items())))
        for name in ("reset", "truncate", "non_json", "delay"):
            object.__setattr__(self, name, _probability(name, getattr(self, name)))
        total = sum(statuses.values()) + self.reset + self.truncate + self.non_json
        if total > 1.0 + 1e-9:
            raise ConfigurationError(
                f"faults: statuses, reset, truncate and non_json are exclusive outcomes, so "
                f"their probabilities must sum to at most 1, got {total:g}"
            )
        if not (math.isfinite(self.delay_seconds) and self.delay_seconds >= 0):
            raise ConfigurationError(
                f"faults: delay_seconds must be >= 0, got {self.delay_seconds}"
            )
        if isinstance(self.retry_after, int | float) and not self.retry_after >= 0:
            raise ConfigurationError(f"faults: retry_after must be >= 0, got {self.retry_after}")
        if self.only_paths is not None:
            paths = frozenset(self.only_paths)
            unknown = sorted(paths - INFERENCE_PATHS)
            if unknown:
                raise ConfigurationError(
                    f"faults: only_paths may name {', '.join(sorted(INFERENCE_PATHS))}, "
                    f"got {', '.join(unknown)}"
                )
            object.__setattr__(self, "only_paths", paths)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Faults:
        """Faults from a mapping of the constructor's arguments (JSON-friendly:
        status keys may be strings, ``only_paths`` a list).

        Raises:
            ConfigurationError: an unknown key or a bad value.
        """
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"faults: expected a mapping, got {data!r:.80}")
        unknown = sorted(set(data) - _FIELDS)
        if unknown:
            raise ConfigurationError(
                f"faults: unknown key(s) {', '.join(map(repr, unknown))}; "
                f"known keys: {', '.join(sorted(_FIELDS))}"
            )
        values = dict(data)
        if values.get("statuses") is None:
            values.pop("statuses", None)
        elif not isinstance(values["statuses"], Mapping):
            raise ConfigurationError("faults: statuses must map statuses to probabilities")
        if values.get("only_paths") is not None:
            values["only_paths"] = frozenset(values["only_paths"])
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigurationError(f"faults: {exc}") from exc

    @classmethod
    def parse(cls, text: str) -> Faults:
        """Faults from JSON or YAML text holding the mapping form (empty text: none).

        Raises:
            ConfigurationError: the text is not a mapping of known keys.
            ImportError: YAML (not JSON) text without PyYAML, the ``server`` extra.
        """
        if not text.strip():
            return cls()
        try:
            data = json.loads(text)
        except ValueError:
            data = load_yaml(text, "the faults text")
        return cls.from_mapping(data or {})

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what ``GET /admin/faults`` shows and ``from_mapping`` reads)."""
        data = asdict(self)
        data["statuses"] = {str(code): chance for code, chance in self.statuses.items()}
        data["only_paths"] = None if self.only_paths is None else sorted(self.only_paths)
        return data

    def retry_after_header(self) -> str | None:
        """The ``Retry-After`` header value, or ``None`` for no header."""
        if self.retry_after is None or isinstance(self.retry_after, str):
            return self.retry_after
        return format_seconds(self.retry_after)


def format_seconds(seconds: float) -> str:
    """Seconds for a ``Retry-After`` header: an integer when whole, else a short decimal."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:.3f}".rstrip("0")


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """The faults drawn for one request.

    Attributes:
        kind: the exclusive fault, or ``None``.
        status: the status of a ``"status"`` fault.
        delay: seconds to wait first (0 for none).
        retry_after: the ``Retry-After`` header of a 429 or 503 fault, if any.
    """

    kind: FaultKind | None = None
    status: int | None = None
    delay: float = 0.0
    retry_after: str | None = None


class FaultInjector:
    """Draws a :class:`FaultDecision` per request from one seeded RNG.

    The server replaces its injector as a whole when the faults change, so draws never
    mix two configurations. It is used from the server's event loop only.
    """

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = faults or Faults()
        self._rng = random.Random(self.faults.seed)
        self._outcomes: list[tuple[float, FaultKind, int | None]] = []
        edge = 0.0
        for status, chance in self.faults.statuses.items():
            edge += chance
            self._outcomes.append((edge, "status", status))
        for kind in ("reset", "truncate", "non_json"):
            edge += getattr(self.faults, kind)
            self._outcomes.append((edge, kind, None))

    def applies_to(self, path: str) -> bool:
        """Whether faults may hit ``path``."""
        paths = self.faults.only_paths or INFERENCE_PATHS
        return path in paths

    def decide(self, path: str) -> FaultDecision | None:
        """The faults for a request to ``path`` (``None`` when none apply)."""
        if not self.applies_to(path):
            return None
        # Two draws whatever the outcome, so one request never shifts the next one's.
        delay_draw, outcome_draw = self._rng.random(), self._rng.random()
        delay = self.faults.delay_seconds if delay_draw < self.faults.delay else 0.0
        for edge, kind, status in self._outcomes:
            if outcome_draw < edge:
                retry_after = None
                if status in _RETRY_AFTER_STATUSES:
                    retry_after = self.faults.retry_after_header()
                return FaultDecision(kind, status, delay, retry_after)
        return FaultDecision(None, None, delay) if delay else None


# The ASGI mechanics of the faults that break a connection (used by the app).

_DISCONNECT_WAIT = 5.0


def connection_transport(send: Send) -> asyncio.Transport | None:
    """The connection's transport behind the server's ``send``, when the server exposes it.

    ASGI gives an app no way to drop a connection, but uvicorn's ``send`` is a bound
    method of an object holding the asyncio transport; other servers get ``None`` and
    the fallbacks below.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    return transport if isinstance(transport, asyncio.Transport) else None


async def read_body(receive: Receive) -> bytes:
    """The whole request body (read before a fault, so the connection is in a clean state)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def await_disconnect(receive: Receive) -> None:
    """Wait (bounded) until the server has seen the connection go, so it logs nothing."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_DISCONNECT_WAIT):
            while (await receive())["type"] != "http.disconnect":
                pass


def replaying_receive(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` giving ``body`` once, then the connection's own events."""
    given = False

    async def replay() -> ASGIMessage:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def drop_connection(receive: Receive, send: Send) -> None:
    """Drop the connection without a response: an RST under uvicorn."""
    transport = connection_transport(send)
    if transport is None:
        # Start a response that can never complete: servers close such a connection.
        headers = [(b"content-length", b"1")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Linger 0 makes close() send an RST, as a crashed peer or a proxy's kill does.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    await await_disconnect(receive)


class TruncatingSend:
    """A ``send`` that forwards the headers and half of the first body chunk, then closes
    the connection (when it can) and drops the rest."""

    def __init__(self, send: Send, transport: asyncio.Transport | None) -> None:
        self._send = send
        self._transport = transport
        self._start: ASGIMessage | None = None
        self.cut = False

    async def __call__(self, message: ASGIMessage) -> None:
        if self.cut:
            return
        if message["type"] == "http.response.start":
            self._start = message
            return
        body = message.get("body", b"")
        if self._start is not None:
            await self._send(self._start)
            self._start = None
        if not body and message.get("more_body"):
            await self._send(message)
            return
        cut = {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
        await self._send(cut)
        self.cut = True
        if self._transport is not None:
            # close(), not abort(): the half body already written must reach the client.
            self._transport.close()
