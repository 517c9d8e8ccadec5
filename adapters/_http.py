"""What the HTTP transports share: pooled clients, retries, a deadline, error mapping.

:class:`HTTPTransport` is the base of :class:`~retort.adapters.proxy.ProxyTransport` and
:class:`~retort.adapters.openai.OpenAITransport`. A subclass says how a request becomes a
JSON body (``_body``) and how a 2xx response becomes a reply (``_decode``); everything
else lives here, with these policies:

- **Shared clients.** Each transport owns its ``httpx.AsyncClient`` objects, created on the
  first send (never one per request), with no cap on connections (the run's limiter is
  what bounds concurrency), and closed by :meth:`~HTTPTransport.aclose`. httpcore's pool
  does work quadratic in its connections on every request event, so under high
  concurrency one client becomes the bottleneck (measured: 1,000 requests at 64 in
  flight took 24x the ideal); a send therefore goes to the least busy of a few clients,
  and another is opened (sharing one SSL context, so it costs little) when every client
  has :data:`SHARD_SIZE` requests in flight, up to :data:`MAX_SHARDS`. Connections belong
  to an event loop, so the clients are per loop: closed when the loop that made them
  shuts down, and made again for a later loop (``solve_sync`` called twice). A client
  passed as ``client=`` belongs to the caller: it is used alone and never closed here
  (httpx's ``Client(transport=...)`` style of injection).
- **timeout** (default 180 s, as the original): the most one attempt may take in all -
  connect, send, wait and read - enforced by httpx per operation and by
  ``asyncio.timeout`` for the whole attempt.
- **deadline** (default 600 s): the most one ``send`` may take across every attempt and
  every back-off sleep. An attempt gets ``min(timeout, what is left)``; a back-off that
  would end past the deadline is not slept: the send fails at once with
  :class:`~retort.core.errors.TransportTimeout` naming the last failure.
- **retries** (default 4, so at most 5 attempts). Retried: statuses 408, 425, 429, 500,
  502, 503 and 504; connection failures, resets, truncated bodies and timeouts; a 2xx
  body that cannot be decoded where the protocol requires JSON (a proxy that cut it
  short - transient in practice). Not retried: other statuses (other 4xx, 3xx, 501...)
  and a 2xx body that decodes but breaks the protocol (an empty ``tool_calls`` list
  would come back the same at temperature 0).
- **Back-off**: full jitter, ``uniform(0, min(cap, base * 2**n))`` before retry ``n``
  (0, 1, ...), base 0.5 s and cap 30 s; when the server sends ``Retry-After`` (seconds
  or an HTTP date) that wait is used instead, capped at 60 s. :class:`RetryPolicy` holds
  these and the injectable random source, sleep and clock.
- **Hooks**: every request passes through ``retort_before_send`` and every decoded reply
  through ``retort_after_receive`` (:func:`~retort.core.plugins.call_chain`), using the
  transport's own ``plugins=`` manager, else the run in progress's, else the process
  default.
- **Metrics**: each retry adds one to ``current_run().metrics.transport_retries``.
- **Errors**: httpx exceptions are translated in one place, ``HTTPTransport._mapped``,
  into :class:`~retort.core.errors.TransportConnectionError`, ``TransportTimeout``,
  ``TransportStatusError`` or ``ProtocolError`` (``raise ... from exc``). Each names the
  status, the URL without credentials or query, a body excerpt, the attempts made and
  what to check. An API key never appears in a message, a ``repr`` or a log record.
- **Cancellation** propagates at once; the client stays usable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from abc import abstractmethod
from collections.abc import AsyncGenerator, Iterator, Mapping
from typing import Any, ClassVar, NoReturn

import httpx
import pluggy

from retort.adapters._http_support import (
    EXCERPT,
    RETRY_STATUSES,
    RetryPolicy,
    check_seconds,
    error_detail,
    parse_retry_after,
    safe_url,
    status_advice,
)
from retort.core.errors import (
    ConfigurationError,
    ProtocolError,
    TransportConnectionError,
    TransportError,
    TransportStatusError,
    TransportTimeout,
)
from retort.core.messages import ChatReply, ChatRequest
from retort.core.plugins import active_plugin_manager, call_chain
from retort.core.ports import Transport
from retort.core.run import current_run

__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_LIMITS",
    "DEFAULT_RETRIES",
    "DEFAULT_TIMEOUT",
    "RETRY_STATUSES",
    "BodyError",
    "HTTPTransport",
    "RetryPolicy",
]

logger = logging.getLogger("retort.adapters.http")

DEFAULT_TIMEOUT = 180.0
DEFAULT_RETRIES = 4
DEFAULT_DEADLINE = 600.0
# No cap on connections: a run's limiter bounds concurrency, and a cap here would only
# add a second queue whose pool timeout fails requests the limiter already let through.
DEFAULT_LIMITS = httpx.Limits(
    max_connections=None, max_keepalive_connections=32, keepalive_expiry=30.0
)
SHARD_SIZE = 8
"""Requests in flight on every client before another client is opened."""
MAX_SHARDS = 16
"""The most clients one transport opens in one event loop."""


class _Pool:
    """The clients of one transport in one event loop, and their requests in flight."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._ssl: ssl.SSLContext | None = None
        self.clients: list[httpx.AsyncClient] = []
        self.busy: list[int] = []

    def acquire(self) -> int:
        """The index of the client to send with (its count is raised)."""
        index = min(range(len(self.clients)), key=self.busy.__getitem__, default=-1)
        if index < 0 or (self.busy[index] >= SHARD_SIZE and len(self.clients) < MAX_SHARDS):
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            self.clients.append(
                httpx.AsyncClient(
                    limits=DEFAULT_LIMITS,
                    timeout=self._timeout,
                    follow_redirects=False,
                    verify=self._ssl,
                )
            )
            self.busy.append(0)
            index = len(self.clients) - 1
        self.busy[index] += 1
        return index

    def release(self, index: int) -> None:
        self.busy[index] -= 1

    @property
    def closed(self) -> bool:
        return any(client.is_closed for client in self.clients)

    async def aclose(self) -> None:
        clients, self.clients, self.busy = self.clients, [], []
        for client in clients:
            if not client.is_closed:
                await client.aclose()


class BodyError(Exception):
    """A 2xx body a decoder could not turn into a reply (raised by ``_decode``).

    Args:
        message: what was expected and what was found.
        retryable: whether another attempt may get a good body (a truncated or
            undecodable body: yes; a body that breaks the protocol: no).
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class _AttemptFailed(Exception):
    """One attempt's failure, until the loop knows whether it is the last.

    Raised by the mapping boundary ``from`` the foreign exception; the loop raises the
    typed error built by :meth:`error` ``from`` the same cause.
    """

    def __init__(
        self,
        kind: type[TransportError],
        summary: str,
        *,
        retryable: bool,
        advice: str,
        status: int | None = None,
        excerpt: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(summary)
        self.kind = kind
        self.summary = summary
        self.retryable = retryable
        self.advice = advice
        self.status = status
        self.excerpt = excerpt
        self.retry_after = retry_after

    def error(self, url: str, attempts: int, prefix: str = "") -> TransportError:
        tries = f"{attempts} attempt" + ("s" if attempts != 1 else "")
        message = f"{prefix}{self.summary} ({tries}); {self.advice}"
        details: dict[str, Any] = {
            "status": self.status,
            "url": url,
            "body_excerpt": self.excerpt,
            "attempts": attempts,
        }
        if self.kind is TransportStatusError:
            return TransportStatusError(message, retry_after=self.retry_after, **details)
        return self.kind(message, **details)


class HTTPTransport(Transport):
    """Base of the transports that POST one JSON body per request.

    Subclasses implement :meth:`_body` and :meth:`_decode` and may refine :meth:`_advice`;
    the module docstring gives the policies.

    Args:
        url: the full URL requests are posted to (validated by the subclass).
        timeout: seconds one attempt may take in all.
        retries: how many times a failed attempt is repeated.
        deadline: seconds one send may take across attempts and waits.
        api_key: sent as ``authorization: Bearer ...``; never shown or logged.
        client: an ``httpx.AsyncClient`` to use; the caller keeps ownership.
        plugins: the plugin manager whose hooks shape requests and replies.
        policy: back-off, ``Retry-After`` cap, retried statuses, random source, sleep, clock.

    Raises:
        ConfigurationError: a number is out of range.
    """

    #: What the error messages call the server ("the proxy", "the server").
    server_name: ClassVar[str] = "the server"

    def __init__(
        self,
        url: httpx.URL,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        deadline: float = DEFAULT_DEADLINE,
        api_key: str | None = None,
        client: httpx.AsyncClient | None = None,
        plugins: pluggy.PluginManager | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        check_seconds("timeout", timeout)
        check_seconds("deadline", deadline)
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigurationError(f"retries must be an integer >= 0, got {retries!r}")
        self.url = url
        self.timeout = float(timeout)
        self.retries = retries
        self.deadline = float(deadline)
        self.policy = policy if policy is not None else RetryPolicy()
        self._plugins = plugins
        self._client = client
        self._owns_client = client is None
        self._pool: _Pool | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._guard: AsyncGenerator[None, None] | None = None
        self._source: HTTPTransport | None = None
        self._closed = False
        self._safe_url = safe_url(url)
        self._secrets = [s for s in (api_key, url.password) if s]
        self._headers = {"content-type": "application/json"}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"

    # ---------------------------------------------------------------- for subclasses

    @abstractmethod
    def _body(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body that carries ``request``."""

    @abstractmethod
    def _decode(self, response: httpx.Response) -> ChatReply:
        """The reply in a 2xx response.

        Raises:
            BodyError: the body is not a reply (``retryable`` says if another try may help).
        """

    def _advice(self, kind: str, status: int | None = None) -> str:
        """What to check after a failure of ``kind`` (``connect``, ``timeout``,
        ``status``, ``protocol``) - one sentence for the error message."""
        if kind == "connect":
            return f"is {self.server_name} running at {self._safe_url}?"
        if kind == "timeout":
            return f"{self.server_name} is slow or stuck: raise timeout= or deadline=, or check it"
        if kind == "status":
            return status_advice(status, self.server_name)
        return f"{self.server_name} does not speak the expected protocol; check it"

    # ---------------------------------------------------------------- the port

    async def send(self, request: ChatRequest) -> ChatReply:
        """Send ``request`` and return the reply; see the module docstring for the policies.

        Raises:
            TransportConnectionError: could not connect, or the connection broke,
                on every attempt.
            TransportTimeout: attempts timed out, or the deadline passed.
            TransportStatusError: an error status (not retried, or still there after
                the retries).
            ProtocolError: a 2xx body that is not a reply.
            TransportError: the transport is closed.
        """
        pool = await self._current_pool()
        plugins = self._plugin_manager()
        request = await call_chain(
            plugins.hook.retort_before_send, "request", request, transport=self
        )
        content = json.dumps(self._body(request), ensure_ascii=False).encode("utf-8")
        if not isinstance(pool, _Pool):  # an injected client, used alone
            reply = await self._exchange(pool, content)
        else:
            index = pool.acquire()
            try:
                reply = await self._exchange(pool.clients[index], content)
            finally:
                pool.release(index)
        return await call_chain(
            plugins.hook.retort_after_receive, "reply", reply, request=request, transport=self
        )

    async def aclose(self) -> None:
        """Close the client this transport created (an injected one stays open).

        Safe to call more than once; sending afterwards raises ``TransportError``.
        """
        if self._closed:
            return
        self._closed = True
        self._client = None
        pool, self._pool = self._pool, None
        guard, self._guard = self._guard, None
        if pool is not None:
            await pool.aclose()
        if guard is not None:
            await guard.aclose()

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    def __repr__(self) -> str:
        fields = "".join(f" {key}={value!r}" for key, value in self._repr_fields().items())
        return f"<{type(self).__name__} url={self._safe_url!r}{fields}>"

    def _repr_fields(self) -> Mapping[str, object]:
        return {"timeout": self.timeout, "retries": self.retries, "deadline": self.deadline}

    # ---------------------------------------------------------------- machinery

    async def _current_pool(self) -> _Pool | httpx.AsyncClient:
        """The clients to send with, in the running event loop (or the injected client).

        httpx connections belong to the event loop that opened them, so owned clients
        are made per loop: the first send in a loop makes a pool and ties its closing to
        the loop's end (``asyncio.run`` closes async generators before it closes the
        loop, and a small guard generator closes the pool then), and a later loop - say
        ``solve_sync`` called again - gets a new one. An injected client is the caller's.
        """
        if self._closed:
            raise self._closed_error()
        if self._source is not None:
            return await self._source._current_pool()
        if not self._owns_client:
            client = self._client
            if client is None or client.is_closed:
                raise self._closed_error()
            return client
        loop = asyncio.get_running_loop()
        pool = self._pool
        if pool is None or pool.closed or self._client_loop is not loop:
            pool = self._pool = _Pool(self.timeout)
            self._client_loop = loop
            self._guard = _closing_with_loop(pool)
            await anext(self._guard)
        return pool

    def _closed_error(self) -> TransportError:
        return TransportError(
            f"{type(self).__name__} for {self._safe_url} is closed (aclose() was called, "
            "or its client was closed); create a new transport",
            url=self._safe_url,
            attempts=0,
        )

    def _share_pool(self, source: HTTPTransport) -> None:
        """Send with ``source``'s client from now on; closing ``self`` leaves it open."""
        self._source = source

    def _plugin_manager(self) -> pluggy.PluginManager:
        return active_plugin_manager(self._plugins)

    async def _exchange(self, client: httpx.AsyncClient, content: bytes) -> ChatReply:
        """The retry loop: attempts, waits, the deadline."""
        policy = self.policy
        started = policy.clock()
        attempt = 0
        refused: _AttemptFailed | None = None  # the first attempt that could not connect
        while True:
            attempt += 1
            left = self.deadline - (policy.clock() - started)
            try:
                return await self._attempt(client, content, max(0.0, min(self.timeout, left)))
            except _AttemptFailed as failed:
                if refused is None and failed.kind is TransportConnectionError:
                    refused = failed
                if not failed.retryable or attempt > self.retries:
                    self._raise(_explained(failed, refused), attempt)
                wait = policy.wait(attempt - 1, failed.retry_after)
                left = self.deadline - (policy.clock() - started)
                if wait >= left:
                    prefix = f"gave up within the deadline of {self.deadline:g} s: "
                    failed.kind = TransportTimeout
                    self._raise(_explained(failed, refused), attempt, prefix)
                self._count_retry(failed, attempt, wait)
            await policy.sleep(wait)

    async def _attempt(
        self, client: httpx.AsyncClient, content: bytes, seconds: float
    ) -> ChatReply:
        with self._mapped():
            async with asyncio.timeout(seconds):
                response = await client.post(
                    self.url, content=content, headers=self._headers, timeout=seconds
                )
        if not response.is_success:
            raise self._status_failure(response)
        try:
            return self._decode(response)
        except BodyError as exc:
            raise _AttemptFailed(
                ProtocolError,
                f"POST {self._safe_url} answered {response.status_code} with a body that is "
                f"not a reply: {self._redact(str(exc))}; body starts {self._excerpt(response)!r}",
                retryable=exc.retryable,
                advice=self._advice("protocol"),
                status=response.status_code,
                excerpt=self._excerpt(response),
            ) from exc

    @contextlib.contextmanager
    def _mapped(self) -> Iterator[None]:
        """The one boundary where httpx's exceptions become retort's."""
        url = self._safe_url
        try:
            yield
        except (httpx.TimeoutException, TimeoutError) as exc:
            what = type(exc).__name__ if isinstance(exc, httpx.TimeoutException) else "timeout"
            raise self._failure(
                TransportTimeout, f"POST {url} timed out ({what})", "timeout"
            ) from exc
        except httpx.ConnectError as exc:
            raise self._failure(
                TransportConnectionError, f"cannot connect to {url}: {exc}", "connect"
            ) from exc
        except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.DecodingError) as exc:
            # Resets, truncated or corrupted bodies: the connection broke mid-exchange.
            raise self._failure(
                TransportConnectionError,
                f"the connection to {url} broke: {type(exc).__name__}: {exc}",
                "connect",
            ) from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _AttemptFailed(
                TransportError,
                f"POST {url} failed: {type(exc).__name__}: {self._redact(str(exc))}",
                retryable=False,
                advice="check the transport's URL and client settings",
            ) from exc

    def _failure(self, kind: type[TransportError], summary: str, advice: str) -> _AttemptFailed:
        return _AttemptFailed(
            kind, self._redact(summary), retryable=True, advice=self._advice(advice)
        )

    def _status_failure(self, response: httpx.Response) -> _AttemptFailed:
        status = response.status_code
        detail = error_detail(response)
        summary = f"POST {self._safe_url} answered {status} {response.reason_phrase}".rstrip()
        if detail:
            summary += f": {self._redact(detail)[:EXCERPT]}"
        return _AttemptFailed(
            TransportStatusError,
            summary,
            retryable=status in self.policy.statuses,
            advice=self._advice("status", status),
            status=status,
            excerpt=self._excerpt(response),
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )

    def _raise(self, failed: _AttemptFailed, attempts: int, prefix: str = "") -> NoReturn:
        raise failed.error(self._safe_url, attempts, prefix) from failed.__cause__

    def _count_retry(self, failed: _AttemptFailed, attempt: int, wait: float) -> None:
        run = current_run()
        if run is not None:
            run.metrics.transport_retries += 1
        logger.info(
            "retrying in %.2f s (attempt %d of %d failed): %s",
            wait,
            attempt,
            self.retries + 1,
            failed.summary,
        )

    def _excerpt(self, response: httpx.Response) -> str:
        return self._redact(response.text[:EXCERPT])

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _explained(last: _AttemptFailed, refused: _AttemptFailed | None) -> _AttemptFailed:
    """The failure to report: the last one, but when it is a timeout - say an attempt cut
    short by the deadline - after an attempt could not connect, the connection failure is
    what the user must fix, so its summary and advice are added."""
    if refused is None or refused is last or last.kind is not TransportTimeout:
        return last
    last.summary = f"{last.summary}, after an earlier attempt failed: {refused.summary}"
    last.advice = refused.advice
    return last


async def _closing_with_loop(pool: _Pool) -> AsyncGenerator[None, None]:
    """Waits at its ``yield`` for good; when the event loop that started it shuts down,
    asyncio closes it, and with it the pool's clients, inside that loop."""
    try:
        yield
    finally:
        await pool.aclose()
