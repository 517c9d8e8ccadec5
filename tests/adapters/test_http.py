"""The machinery both HTTP transports share: retries, deadline, errors, hooks, the client.

Unit tests: an ``httpx.MockTransport`` is injected through ``client=``, and a recorded
fake sleep and clock stand in for time. Integration tests against a real server are in
test_proxy_transport.py and test_openai_transport.py.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from retort.adapters._http import DEFAULT_LIMITS, RetryPolicy
from retort.adapters._http_support import parse_retry_after
from retort.adapters.openai import OpenAITransport
from retort.adapters.proxy import ProxyTransport
from retort.core import (
    ChatReply,
    ChatRequest,
    ConfigurationError,
    Message,
    ProtocolError,
    Run,
    TransportConnectionError,
    TransportError,
    TransportStatusError,
    TransportTimeout,
    hookimpl,
    make_plugin_manager,
)

URL = "http://proxy.test"
REQUEST = ChatRequest(messages=[Message(role="user", content="Hi")])
Handler = Callable[[httpx.Request], Any]


class FakeTime:
    """A clock that only moves when the transport sleeps (or a handler says so)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


OPEN_CLIENTS: list[httpx.AsyncClient] = []


@pytest.fixture(autouse=True)
def close_clients() -> Iterator[None]:
    """Close the clients ``make`` injected: the caller owns an injected client."""
    yield
    while OPEN_CLIENTS:
        asyncio.run(OPEN_CLIENTS.pop().aclose())


def bare_plugins(*plugins: object) -> Any:
    return make_plugin_manager(defaults=[], autoload=False, plugins=plugins)


def make(
    handler: Handler,
    fake_time: FakeTime,
    *,
    kind: type[ProxyTransport] | type[OpenAITransport] = ProxyTransport,
    seed: int = 7,
    **options: Any,
) -> ProxyTransport | OpenAITransport:
    """A transport over ``handler`` with fake time."""
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    OPEN_CLIENTS.append(client)
    options.setdefault("plugins", bare_plugins())
    options.setdefault(
        "policy", RetryPolicy(rng=random.Random(seed), sleep=fake_time.sleep, clock=fake_time)
    )
    if kind is OpenAITransport:
        options.setdefault("model", "m")
    return kind(URL, client=client, **options)


async def send(transport: ProxyTransport | OpenAITransport, request: ChatRequest = REQUEST) -> Any:
    """Send once, then close the transport (``close_clients`` closes its client)."""
    try:
        return await transport.send(request)
    finally:
        await transport.aclose()


def sequence(*steps: Any) -> tuple[Handler, list[httpx.Request]]:
    """A handler answering from ``steps`` in order (the last one repeats): a response,
    an exception to raise, or a status code with a JSON reply text."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        step = steps[min(len(seen), len(steps)) - 1]
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, int):
            return httpx.Response(step, json="ok" if step == 200 else {"error": "busy"})
        assert isinstance(step, httpx.Response)
        return step

    return handler, seen


def ok(text: str = "ok") -> httpx.Response:
    return httpx.Response(200, json=text)


# ------------------------------------------------------------------ what is retried


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried(status: int, fake_time: FakeTime) -> None:
    handler, seen = sequence(status, ok())
    reply = asyncio.run(send(make(handler, fake_time)))
    assert reply.content == "ok"
    assert len(seen) == 2
    assert len(fake_time.sleeps) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 501, 505, 302])
def test_other_statuses_fail_at_once(status: int, fake_time: FakeTime) -> None:
    handler, seen = sequence(httpx.Response(status, text="nope: bad request body"))
    with pytest.raises(TransportStatusError) as caught:
        asyncio.run(send(make(handler, fake_time)))
    error = caught.value
    assert (error.status, error.attempts, error.url) == (status, 1, f"{URL}/api/inference")
    assert error.body_excerpt == "nope: bad request body"
    assert str(status) in str(error)
    assert f"{URL}/api/inference" in str(error)
    assert "(1 attempt)" in str(error)
    assert len(seen) == 1
    assert fake_time.sleeps == []


@pytest.mark.parametrize(
    ("exception", "error_type"),
    [
        (httpx.ConnectError("refused"), TransportConnectionError),
        (httpx.ConnectTimeout("slow connect"), TransportTimeout),
        (httpx.ReadTimeout("slow read"), TransportTimeout),
        (httpx.WriteTimeout("slow write"), TransportTimeout),
        (httpx.PoolTimeout("no connection"), TransportTimeout),
        (httpx.RemoteProtocolError("peer closed connection"), TransportConnectionError),
        (httpx.ReadError("reset by peer"), TransportConnectionError),
        (httpx.WriteError("broken pipe"), TransportConnectionError),
        (httpx.DecodingError("bad gzip"), TransportConnectionError),
    ],
)
def test_network_failures_are_retried_then_typed(
    exception: Exception, error_type: type[TransportError], fake_time: FakeTime
) -> None:
    handler, seen = sequence(exception, ok())
    assert asyncio.run(send(make(handler, fake_time))).content == "ok"
    assert len(seen) == 2

    handler, seen = sequence(exception)
    with pytest.raises(error_type) as caught:
        asyncio.run(send(make(handler, fake_time, retries=2)))
    assert caught.value.attempts == 3
    assert len(seen) == 3
    assert caught.value.__cause__ is exception
    assert "(3 attempts)" in str(caught.value)


def test_local_misuse_is_not_retried(fake_time: FakeTime) -> None:
    handler, seen = sequence(httpx.LocalProtocolError("illegal header"))
    with pytest.raises(TransportError) as caught:
        asyncio.run(send(make(handler, fake_time)))
    assert type(caught.value) is TransportError
    assert "LocalProtocolError" in str(caught.value)
    assert len(seen) == 1


def test_exhausted_retries_raise_the_last_failure(fake_time: FakeTime) -> None:
    handler, seen = sequence(503)
    with pytest.raises(TransportStatusError) as caught:
        asyncio.run(send(make(handler, fake_time, retries=3)))
    assert caught.value.attempts == 4
    assert len(seen) == 4
    assert len(fake_time.sleeps) == 3
    assert "busy" in str(caught.value)
    assert "(4 attempts)" in str(caught.value)


def test_zero_retries_means_one_attempt(fake_time: FakeTime) -> None:
    handler, seen = sequence(503)
    with pytest.raises(TransportStatusError):
        asyncio.run(send(make(handler, fake_time, retries=0)))
    assert len(seen) == 1


def test_a_truncated_json_body_on_200_is_retried(fake_time: FakeTime) -> None:
    cut = httpx.Response(200, content=b'"half a rep', headers={"content-type": "application/json"})
    handler, _ = sequence(cut, ok("whole"))
    assert asyncio.run(send(make(handler, fake_time))).content == "whole"

    handler, _ = sequence(cut)
    with pytest.raises(ProtocolError) as caught:
        asyncio.run(send(make(handler, fake_time, retries=1)))
    assert caught.value.attempts == 2
    assert caught.value.status == 200
    assert '"half a rep' in caught.value.body_excerpt


def test_a_body_that_breaks_the_protocol_is_not_retried(fake_time: FakeTime) -> None:
    bad = httpx.Response(200, json={"response_type": "tool", "tool_calls": []})
    handler, seen = sequence(bad)
    with pytest.raises(ProtocolError) as caught:
        asyncio.run(send(make(handler, fake_time)))
    assert caught.value.attempts == 1
    assert len(seen) == 1
    assert "empty list" in str(caught.value)


# ------------------------------------------------------------------ waits and the deadline


def test_backoff_is_full_jitter_within_the_exponential_bound(fake_time: FakeTime) -> None:
    handler, _ = sequence(500)
    policy = RetryPolicy(
        backoff_base=1.0,
        backoff_cap=8.0,
        rng=random.Random(42),
        sleep=fake_time.sleep,
        clock=fake_time,
    )
    with pytest.raises(TransportStatusError):
        asyncio.run(send(make(handler, fake_time, retries=6, policy=policy)))
    expected_rng = random.Random(42)
    bounds = [min(8.0, 2.0**n) for n in range(6)]
    assert fake_time.sleeps == [expected_rng.uniform(0, bound) for bound in bounds]
    assert all(0 <= wait <= bound for wait, bound in zip(fake_time.sleeps, bounds, strict=True))


def test_the_backoff_bound_does_not_overflow() -> None:
    policy = RetryPolicy(rng=random.Random(1))
    assert 0 <= policy.backoff(10_000) <= policy.backoff_cap


def test_retry_after_seconds_is_honoured(fake_time: FakeTime) -> None:
    busy = httpx.Response(429, headers={"retry-after": "7"}, json={"error": "slow down"})
    handler, _ = sequence(busy, ok())
    asyncio.run(send(make(handler, fake_time)))
    assert fake_time.sleeps == [7.0]


def test_retry_after_http_date_is_honoured(fake_time: FakeTime) -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    busy = httpx.Response(503, headers={"retry-after": when})
    handler, _ = sequence(busy, ok())
    asyncio.run(send(make(handler, fake_time)))
    assert 25 <= fake_time.sleeps[0] <= 30


def test_retry_after_is_capped(fake_time: FakeTime) -> None:
    busy = httpx.Response(503, headers={"retry-after": "3600"})
    handler, _ = sequence(busy, ok())
    asyncio.run(send(make(handler, fake_time, deadline=1000)))
    assert fake_time.sleeps == [60.0]

    policy = RetryPolicy(retry_after_cap=2.0, sleep=fake_time.sleep, clock=fake_time)
    handler, _ = sequence(busy, ok())
    asyncio.run(send(make(handler, fake_time, policy=policy)))
    assert fake_time.sleeps[-1] == 2.0


def test_a_status_error_carries_retry_after(fake_time: FakeTime) -> None:
    handler, _ = sequence(httpx.Response(429, headers={"retry-after": "3"}))
    with pytest.raises(TransportStatusError) as caught:
        asyncio.run(send(make(handler, fake_time, retries=0)))
    assert caught.value.retry_after == 3.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("5", 5.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("nan", None),
        ("inf", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_parse_retry_after_measures_a_date_from_now() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0


def test_a_wait_past_the_deadline_fails_at_once(fake_time: FakeTime) -> None:
    busy = httpx.Response(503, headers={"retry-after": "20"}, text="overloaded")
    handler, seen = sequence(busy, ok())
    with pytest.raises(TransportTimeout) as caught:
        asyncio.run(send(make(handler, fake_time, deadline=10)))
    error = caught.value
    assert len(seen) == 1
    assert fake_time.sleeps == []
    assert (error.status, error.attempts) == (503, 1)
    assert "deadline of 10 s" in str(error)
    assert "overloaded" in str(error)


def test_the_deadline_bounds_attempts_and_waits(fake_time: FakeTime) -> None:
    attempts: list[tuple[float, float]] = []  # (start, the attempt's timeout)

    def slow_failure(request: httpx.Request) -> httpx.Response:
        attempts.append((fake_time.now, request.extensions["timeout"]["read"]))
        fake_time.now += 4.0  # each attempt takes 4 s
        return httpx.Response(502)

    with pytest.raises(TransportTimeout) as caught:
        asyncio.run(send(make(slow_failure, fake_time, deadline=10, retries=50)))
    assert caught.value.attempts == len(attempts) >= 2
    assert all(start + timeout <= 10 for start, timeout in attempts)
    assert "deadline of 10 s" in str(caught.value)


def test_each_attempt_gets_what_is_left_of_the_deadline(fake_time: FakeTime) -> None:
    timeouts: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"]["read"])
        fake_time.now += 3.0
        return httpx.Response(500) if len(timeouts) < 3 else ok()

    policy = RetryPolicy(backoff_base=0.0, sleep=fake_time.sleep, clock=fake_time)
    asyncio.run(send(make(handler, fake_time, timeout=5, deadline=10, policy=policy)))
    assert timeouts == [5.0, 5.0, 4.0]


def test_a_real_attempt_timeout_is_enforced_whole() -> None:
    """A server that keeps the attempt busy past ``timeout`` is cut off by the transport,
    not only by httpx's per-operation timeouts."""

    async def stalls(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return ok()

    async def main() -> float:
        client = httpx.AsyncClient(transport=httpx.MockTransport(stalls))
        transport = ProxyTransport(
            URL, client=client, timeout=0.05, retries=0, plugins=bare_plugins()
        )
        started = time.monotonic()
        try:
            with pytest.raises(TransportTimeout) as caught:
                await transport.send(REQUEST)
            assert "timed out" in str(caught.value)
        finally:
            await client.aclose()
        return time.monotonic() - started

    assert asyncio.run(main()) < 2


# ------------------------------------------------------------------ metrics, logs


def test_retries_are_counted_in_the_run(fake_time: FakeTime) -> None:
    handler, _ = sequence(503, httpx.ReadError("reset"), ok())
    run = Run(plugins=bare_plugins())

    async def main() -> None:
        with run.active():
            await send(make(handler, fake_time))

    asyncio.run(main())
    assert run.metrics.transport_retries == 2


def test_retries_are_logged(fake_time: FakeTime, caplog: pytest.LogCaptureFixture) -> None:
    handler, _ = sequence(503, ok())
    with caplog.at_level(logging.INFO, logger="retort.adapters.http"):
        asyncio.run(send(make(handler, fake_time)))
    assert any("retrying" in record.getMessage() for record in caplog.records)


# ------------------------------------------------------------------ hooks


class Shouty:
    """Raises the temperature of every request and shouts every reply."""

    @hookimpl
    def retort_before_send(self, request: ChatRequest) -> ChatRequest:
        return request.model_copy(update={"temperature": 0.7})

    @hookimpl
    async def retort_after_receive(self, reply: ChatReply) -> ChatReply:
        await asyncio.sleep(0)
        return reply.model_copy(update={"content": (reply.content or "").upper()})


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content)


def test_hooks_shape_requests_and_replies(fake_time: FakeTime) -> None:
    handler, seen = sequence(ok("quiet"))
    transport = make(handler, fake_time, plugins=bare_plugins(Shouty()))
    assert asyncio.run(send(transport)).content == "QUIET"
    assert body_of(seen[0])["temperature"] == 0.7


def test_hooks_come_from_the_run_when_the_transport_has_none(fake_time: FakeTime) -> None:
    handler, _ = sequence(ok("quiet"))
    transport = make(handler, fake_time, plugins=None)
    run = Run(plugins=bare_plugins(Shouty()))

    async def main() -> Any:
        with run.active():
            return await send(transport)

    assert asyncio.run(main()).content == "QUIET"


def test_the_transports_own_plugins_win_over_the_runs(fake_time: FakeTime) -> None:
    handler, _ = sequence(ok("quiet"))
    transport = make(handler, fake_time, plugins=bare_plugins())
    run = Run(plugins=bare_plugins(Shouty()))

    async def main() -> Any:
        with run.active():
            return await send(transport)

    assert asyncio.run(main()).content == "quiet"


@pytest.mark.parametrize("kind", [ProxyTransport, OpenAITransport])
def test_hooks_see_the_transport(kind: Any, fake_time: FakeTime) -> None:
    seen_transports: list[object] = []

    class Spy:
        @hookimpl
        def retort_before_send(self, transport: object) -> None:
            seen_transports.append(transport)

        @hookimpl
        def retort_after_receive(self, request: ChatRequest, transport: object) -> None:
            seen_transports.append(transport)

    completion = {"choices": [{"message": {"content": "x"}, "finish_reason": "stop"}]}
    handler, _ = sequence(httpx.Response(200, json="x" if kind is ProxyTransport else completion))
    transport = make(handler, fake_time, kind=kind, plugins=bare_plugins(Spy()))
    asyncio.run(send(transport))
    assert seen_transports == [transport, transport]


# ------------------------------------------------------------------ secrets


SECRET = "sk-test-0123456789abcdef-SECRET"


@pytest.mark.parametrize("kind", [ProxyTransport, OpenAITransport])
@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError(f"refused {URL}"),
        httpx.Response(401, json={"error": {"message": f"bad key {SECRET}"}}),
        httpx.Response(500, text=f"echo: authorization: Bearer {SECRET}"),
        httpx.Response(200, content=b"{", headers={"content-type": "application/json"}),
    ],
    ids=["connect", "401-echo", "500-echo", "bad-body"],
)
def test_an_api_key_never_leaks(
    kind: Any, failure: Any, fake_time: FakeTime, caplog: pytest.LogCaptureFixture
) -> None:
    handler, seen = sequence(failure)
    transport = make(handler, fake_time, kind=kind, api_key=SECRET, retries=1)
    assert SECRET not in repr(transport)
    assert SECRET not in str(transport)
    with caplog.at_level(logging.DEBUG), pytest.raises(TransportError) as caught:
        asyncio.run(send(transport))
    error = caught.value
    assert seen[0].headers["authorization"] == f"Bearer {SECRET}"  # it was sent, though
    for text in (str(error), repr(error), error.body_excerpt, str(error.url), repr(transport)):
        assert SECRET not in text
    assert all(SECRET not in record.getMessage() for record in caplog.records)
    assert caplog.records  # the retry was logged, without the key


def test_credentials_in_the_url_never_leak(fake_time: FakeTime) -> None:
    handler, _ = sequence(httpx.ConnectError("refused"))
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    OPEN_CLIENTS.append(client)
    policy = RetryPolicy(sleep=fake_time.sleep, clock=fake_time)
    transport = ProxyTransport(
        f"http://user:{SECRET}@proxy.test/p?token={SECRET}",
        client=client,
        retries=0,
        policy=policy,
        plugins=bare_plugins(),
    )
    assert SECRET not in repr(transport)
    with pytest.raises(TransportConnectionError) as caught:
        asyncio.run(send(transport))
    assert SECRET not in str(caught.value)
    assert SECRET not in str(caught.value.url)
    assert caught.value.url == "http://proxy.test/p/api/inference"


# ------------------------------------------------------------------ the client's life


@pytest.fixture
def counted_clients(monkeypatch: pytest.MonkeyPatch) -> list[httpx.AsyncClient]:
    """Every AsyncClient a transport builds for itself, answering ``"ok"`` in memory."""
    made: list[httpx.AsyncClient] = []
    real = httpx.AsyncClient

    def factory(**kwargs: Any) -> httpx.AsyncClient:
        assert kwargs["limits"] is DEFAULT_LIMITS
        client = real(transport=httpx.MockTransport(lambda request: ok()), **kwargs)
        made.append(client)
        return client

    monkeypatch.setattr("retort.adapters._http.httpx.AsyncClient", factory)
    return made


def test_clients_are_made_lazily_reused_and_closed(
    counted_clients: list[httpx.AsyncClient],
) -> None:
    transport = ProxyTransport(URL, plugins=bare_plugins())
    assert counted_clients == []

    async def main() -> None:
        for _ in range(5):  # one at a time: one client, reused
            await transport.send(REQUEST)
        assert len(counted_clients) == 1
        await asyncio.gather(*(transport.send(REQUEST) for _ in range(20)))
        await transport.aclose()
        await transport.aclose()  # idempotent

    asyncio.run(main())
    # 20 in flight at 8 per client (SHARD_SIZE): at most 3 clients, all closed
    assert 1 <= len(counted_clients) <= 3
    assert all(client.is_closed for client in counted_clients)
    assert transport.closed


def test_concurrency_spreads_over_a_bounded_number_of_clients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """httpcore's pool slows down quadratically with its connections: many requests in
    flight go to several clients, SHARD_SIZE each, at most MAX_SHARDS of them."""
    from retort.adapters._http import MAX_SHARDS, SHARD_SIZE

    made: list[httpx.AsyncClient] = []
    in_flight: dict[int, int] = {}
    peak: dict[int, int] = {}
    real = httpx.AsyncClient

    def factory(**kwargs: Any) -> httpx.AsyncClient:
        number = len(made)

        async def slow(request: httpx.Request) -> httpx.Response:
            in_flight[number] = in_flight.get(number, 0) + 1
            peak[number] = max(peak.get(number, 0), in_flight[number])
            await asyncio.sleep(0.01)
            in_flight[number] -= 1
            return ok()

        client = real(transport=httpx.MockTransport(slow), **kwargs)
        made.append(client)
        return client

    monkeypatch.setattr("retort.adapters._http.httpx.AsyncClient", factory)
    transport = ProxyTransport(URL, plugins=bare_plugins())

    async def main() -> None:
        await asyncio.gather(*(transport.send(REQUEST) for _ in range(SHARD_SIZE * 4)))
        assert len(made) == 4  # 32 in flight: four clients of eight
        assert all(count == SHARD_SIZE for count in peak.values())
        await asyncio.gather(*(transport.send(REQUEST) for _ in range(SHARD_SIZE * 40)))
        await transport.aclose()

    asyncio.run(main())
    assert len(made) == MAX_SHARDS
    assert all(client.is_closed for client in made)


def test_each_event_loop_gets_its_own_client_closed_when_the_loop_ends(
    counted_clients: list[httpx.AsyncClient],
) -> None:
    """``solve_sync`` twice on one agent: two ``asyncio.run`` loops, one transport."""
    transport = ProxyTransport(URL, plugins=bare_plugins())
    assert asyncio.run(transport.send(REQUEST)).content == "ok"
    assert len(counted_clients) == 1
    assert counted_clients[0].is_closed  # closed as its loop shut down, without aclose()
    assert asyncio.run(transport.send(REQUEST)).content == "ok"
    assert len(counted_clients) == 2
    asyncio.run(transport.aclose())
    assert counted_clients[1].is_closed


def test_a_derived_transport_sends_through_its_sources_pool(
    counted_clients: list[httpx.AsyncClient],
) -> None:
    async def main() -> None:
        source = ProxyTransport(URL, plugins=bare_plugins())
        derived = source.for_agent("critic")
        await derived.send(REQUEST)
        await source.send(REQUEST)
        await derived.aclose()
        await source.send(REQUEST)
        await source.aclose()
        with pytest.raises(TransportError, match="is closed"):
            await source.for_agent("late").send(REQUEST)

    asyncio.run(main())
    assert len(counted_clients) == 1


def test_sending_after_aclose_says_it_is_closed(counted_clients: list[httpx.AsyncClient]) -> None:
    async def main() -> None:
        async with ProxyTransport(URL, plugins=bare_plugins()) as transport:
            await transport.send(REQUEST)
        with pytest.raises(TransportError, match="is closed"):
            await transport.send(REQUEST)

    asyncio.run(main())


def test_an_injected_client_is_not_closed() -> None:
    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: ok())) as client:
            transport = ProxyTransport(URL, client=client, plugins=bare_plugins())
            await transport.send(REQUEST)
            await transport.aclose()
            assert not client.is_closed
            with pytest.raises(TransportError, match="is closed"):
                await transport.send(REQUEST)

    asyncio.run(main())


def test_a_transport_whose_injected_client_was_closed_says_so() -> None:
    async def main() -> None:
        client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: ok()))
        transport = ProxyTransport(URL, client=client, plugins=bare_plugins())
        await client.aclose()
        with pytest.raises(TransportError, match="is closed"):
            await transport.send(REQUEST)

    asyncio.run(main())


def test_cancellation_propagates_and_leaves_the_client_usable() -> None:
    release = asyncio.Event()
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            await release.wait()  # never set: the first send hangs until cancelled
        return ok("second")

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            transport = ProxyTransport(URL, client=client, plugins=bare_plugins())
            task = asyncio.create_task(transport.send(REQUEST))
            await asyncio.sleep(0.01)
            started = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert time.monotonic() - started < 0.5
            assert (await transport.send(REQUEST)).content == "second"
            await transport.aclose()

    asyncio.run(main())


def test_cancellation_during_a_backoff_wait_propagates() -> None:
    async def main() -> None:
        async with httpx.AsyncClient(
            transport=httpx.MockTransport(
                lambda r: httpx.Response(503, headers={"retry-after": "30"})
            )
        ) as client:
            transport = ProxyTransport(URL, client=client, plugins=bare_plugins())
            task = asyncio.create_task(transport.send(REQUEST))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    "options",
    [
        {"timeout": 0},
        {"timeout": -1},
        {"timeout": float("inf")},
        {"deadline": float("nan")},
        {"deadline": 0},
        {"retries": -1},
        {"retries": 1.5},
        {"retries": True},
    ],
)
def test_numbers_out_of_range_fail_fast(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match=next(iter(options))):
        ProxyTransport(URL, **options)
    with pytest.raises(ConfigurationError, match=next(iter(options))):
        OpenAITransport(URL, **options)


def test_a_deadline_cut_after_a_refused_connection_still_says_how_to_connect() -> None:
    """The last attempt timed out only because the deadline cut it short; what the user
    must fix is the connection, so the error keeps that failure and its advice."""
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("Connection refused", request=request)
        await asyncio.sleep(5)
        return ok()

    async def main() -> None:
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        transport = ProxyTransport(
            "http://proxy.test",
            client=client,
            deadline=0.3,
            plugins=bare_plugins(),
            policy=RetryPolicy(backoff_base=0.001, rng=random.Random(0)),
        )
        try:
            with pytest.raises(TransportTimeout) as caught:
                await transport.send(REQUEST)
        finally:
            await client.aclose()
        message = str(caught.value)
        assert "timed out" in message
        assert "cannot connect to http://proxy.test/api/inference" in message
        assert "SANDBOX_PROXY_URL" in message

    asyncio.run(main())
