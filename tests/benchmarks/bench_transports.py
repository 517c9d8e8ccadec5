"""Benchmarks of the HTTP transports against the reference server in another process.

The server runs in a child process (its own interpreter and GIL; TCP_NODELAY is set by
``serve()``), so client and server CPU do not share one lock. Every figure is compared
with a bare ``httpx.AsyncClient`` doing the same HTTP work in the same run.

1. Sequential calls, the server answering at once: ``ProxyTransport.send``,
   ``NativeAgent.ask`` and a full ``solve`` against a bare ``post`` of the same proxy body
   (shared, warm client; the JSON reply decoded). Target: ask within 1.10x of bare.
2. 1,000 concurrent solves, limit 64, the model taking 20 ms: wall time against the
   ideal ceil(1000 / 64) x 20 ms (target 1.10x) and against 1,000 bare posts under an
   ``asyncio.Semaphore(64)``, which shows retort's own overhead. A third row spreads the
   same solves and posts spread over 8 transports / clients: httpcore's pool work per
   request grows with the square of its open connections, which is what keeps a single
   client far from the ideal at this concurrency.
3. ``OpenAITransport.send`` sequentially against a bare post to ``/v1/chat/completions``.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _timing
import httpx

from retort.adapters.native import NativeAgent
from retort.adapters.openai import OpenAITransport
from retort.adapters.proxy import ProxyTransport
from retort.adapters.proxy._wire import proxy_messages
from retort.core import ChatRequest, Expect, Message, Run, make_plugin_manager, solve

# The child process: a model answering at once, or after the delay the model name
# carries ("delay:0.02"); it serves until its stdin closes.
SERVER = """
import sys
from retort.adapters.proxy import ModelReply, serve

class Model:
    async def reply(self, request):
        delay = float(request.model.partition("delay:")[2] or 0)
        return ModelReply(text="=======ANSWER\\n42", delay=delay)

with serve(Model(), log_level="error") as server:
    print(server.url, flush=True)
    sys.stdin.read()
"""

SPEC = Expect.sections("ANSWER")
TASK = "What is 6 x 7?"
REQUEST = ChatRequest(messages=[Message(role="user", content=SPEC.prompt(TASK))])
HEADERS = {"content-type": "application/json"}
SEQUENTIAL = 200  # calls per round; the rounds of each measure alternate with the others'
ROUNDS = 7
SOLVES, LIMIT, DELAY = 1_000, 64, 0.020
SPREAD = 8  # clients (or transports) the concurrent requests are spread over


@contextmanager
def server_process() -> Iterator[str]:
    """The reference server in a child process; yields its base URL."""
    child = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"the server process did not start (printed {url!r})")
        yield url
    finally:
        assert child.stdin is not None
        child.stdin.close()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def proxy_body(transport: ProxyTransport, request: ChatRequest, model: str) -> bytes:
    """The body ProxyTransport sends for ``request`` (the protocol's five fields)."""
    body = {
        "model": model,
        "messages": proxy_messages(request),
        "run_id": transport.run_id,
        "temperature": transport.temperature,
        "agent_id": transport.agent_id,
    }
    return json.dumps(body, ensure_ascii=False).encode()


async def per_call(calls: dict[str, Callable[[], Awaitable[Any]]]) -> dict[str, float]:
    """Seconds per call of each, best of ``ROUNDS`` rounds run in turn (after a warm-up)."""
    for call in calls.values():
        for _ in range(50):
            await call()
    best = dict.fromkeys(calls, math.inf)
    for _ in range(ROUNDS):
        for name, call in calls.items():
            start = time.perf_counter()
            for _ in range(SEQUENTIAL):
                await call()
            best[name] = min(best[name], (time.perf_counter() - start) / SEQUENTIAL)
    return best


async def sequential_proxy(url: str) -> dict[str, float]:
    plugins = make_plugin_manager(autoload=False)
    async with (
        ProxyTransport(url, plugins=plugins) as transport,
        httpx.AsyncClient() as client,
    ):
        agent = NativeAgent(transport, owns_transport=False)
        run = Run(plugins=plugins)
        body = proxy_body(transport, REQUEST, transport.model)
        target = f"{url}/api/inference"

        async def bare() -> None:
            response = await client.post(target, content=body, headers=HEADERS)
            response.json()

        async def ask() -> None:
            await agent.reset()
            await agent.ask(REQUEST.messages[0].content or "")

        async def solved() -> None:
            await solve(agent, TASK, SPEC, run=run)

        return await per_call(
            {
                "bare": bare,
                "send": lambda: transport.send(REQUEST),
                "ask": ask,
                "solve": solved,
            }
        )


async def sequential_openai(url: str) -> dict[str, float]:
    plugins = make_plugin_manager(autoload=False)
    async with (
        OpenAITransport(url, model="bench", plugins=plugins) as transport,
        httpx.AsyncClient() as client,
    ):
        body = json.dumps(
            {"model": "bench", "messages": [m.to_openai() for m in REQUEST.messages]}
        ).encode()
        target = f"{url}/v1/chat/completions"

        async def bare() -> None:
            response = await client.post(target, content=body, headers=HEADERS)
            response.json()

        return await per_call({"bare": bare, "send": lambda: transport.send(REQUEST)})


async def concurrent_solves(url: str, transports: int) -> tuple[float, int]:
    """Wall time of SOLVES solves in one Run(limit=LIMIT), their agents spread over
    ``transports`` ProxyTransports (one connection pool each); and the server's peak."""
    plugins = make_plugin_manager(autoload=False)
    model = f"delay:{DELAY}"
    pool = [ProxyTransport(url, model=model, plugins=plugins) for _ in range(transports)]
    run = Run(limit=LIMIT, plugins=plugins)

    async def one(n: int) -> None:
        agent = NativeAgent(pool[n % transports], owns_transport=False)
        await solve(agent, TASK, SPEC, run=run)

    try:
        await asyncio.gather(*(one(n) for n in range(LIMIT)))  # open the connections
        await _reset_stats(url)
        start = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(SOLVES)))
        wall = time.perf_counter() - start
    finally:
        for transport in pool:
            await transport.aclose()
    return wall, await _peak(url)


async def concurrent_bare(url: str, clients: int) -> tuple[float, int]:
    """Wall time of SOLVES bare posts under a Semaphore(LIMIT), spread over ``clients``."""
    transport = ProxyTransport(url)
    body = proxy_body(transport, REQUEST, f"delay:{DELAY}")
    pool = [httpx.AsyncClient(limits=httpx.Limits(max_connections=None)) for _ in range(clients)]
    busy = [0] * clients
    semaphore = asyncio.Semaphore(LIMIT)
    target = f"{url}/api/inference"

    async def one() -> None:
        async with semaphore:
            index = min(range(clients), key=busy.__getitem__)  # the least busy client
            busy[index] += 1
            try:
                response = await pool[index].post(target, content=body, headers=HEADERS)
                response.json()
            finally:
                busy[index] -= 1

    try:
        await asyncio.gather(*(one() for _ in range(LIMIT)))  # open the connections
        await _reset_stats(url)
        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(SOLVES)))
        wall = time.perf_counter() - start
    finally:
        for client in pool:
            await client.aclose()
    return wall, await _peak(url)


def best_rounds(
    runs: dict[str, Callable[[], Coroutine[Any, Any, tuple[float, int]]]], *, rounds: int
) -> dict[str, tuple[float, int]]:
    """The fastest of ``rounds`` rounds (wall time, server peak) of each, run in turn."""
    best = dict.fromkeys(runs, (math.inf, 0))
    for _ in range(rounds):
        for name, make in runs.items():
            best[name] = min(best[name], asyncio.run(make()))
    return best


async def _reset_stats(url: str) -> None:
    async with httpx.AsyncClient() as client:
        (await client.post(f"{url}/admin/reset")).raise_for_status()


async def _peak(url: str) -> int:
    async with httpx.AsyncClient() as client:
        return int((await client.get(f"{url}/stats")).json()["peak"])


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f}"


def _ratio_row(name: str, value: float, base: float, target: float | None) -> list[str]:
    ratio = value / base
    if target is None:
        return [name, f"{ratio:.3f}x", "", ""]
    return [name, f"{ratio:.3f}x", f"<= {target:.2f}x", _timing.verdict(ratio <= target)]


def main() -> None:
    with server_process() as url:
        proxy = asyncio.run(sequential_proxy(url))
        openai = asyncio.run(sequential_openai(url))
        # One client is so slow at this concurrency that two rounds tell enough.
        best = best_rounds(
            {"retort": lambda: concurrent_solves(url, 1), "bare": lambda: concurrent_bare(url, 1)},
            rounds=2,
        )
        best |= best_rounds(
            {
                "retort spread": lambda: concurrent_solves(url, SPREAD),
                "bare spread": lambda: concurrent_bare(url, SPREAD),
            },
            rounds=5,
        )
    (wall, peak), (bare_wall, bare_peak) = best["retort"], best["bare"]
    (spread_wall, spread_peak), (sharded_wall, sharded_peak) = (
        best["retort spread"],
        best["bare spread"],
    )

    _timing.table(
        f"proxy protocol, sequential, server answering at once (best of {ROUNDS} x "
        f"{SEQUENTIAL} calls)",
        ["measure", "ms/call", "target", "verdict"],
        [
            ["bare httpx post + json()", _ms(proxy["bare"]), "", ""],
            ["ProxyTransport.send", _ms(proxy["send"]), "", ""],
            ["NativeAgent.ask (reset + ask)", _ms(proxy["ask"]), "", ""],
            ["solve() (one attempt, sections)", _ms(proxy["solve"]), "", ""],
            _ratio_row("ratio send / bare", proxy["send"], proxy["bare"], None),
            _ratio_row("ratio ask / bare", proxy["ask"], proxy["bare"], 1.10),
            _ratio_row("ratio solve / bare", proxy["solve"], proxy["bare"], None),
        ],
    )
    _timing.table(
        f"OpenAI-compatible, sequential (best of {ROUNDS} x {SEQUENTIAL} calls)",
        ["measure", "ms/call", "target", "verdict"],
        [
            ["bare httpx post + json()", _ms(openai["bare"]), "", ""],
            ["OpenAITransport.send", _ms(openai["send"]), "", ""],
            _ratio_row("ratio send / bare", openai["send"], openai["bare"], 1.10),
        ],
    )
    ideal = math.ceil(SOLVES / LIMIT) * DELAY
    reach = "reached" if bare_wall <= ideal * 1.10 else "out of reach for bare httpx too"
    _timing.table(
        f"{SOLVES} concurrent solves, limit {LIMIT}, model delay {DELAY * 1000:.0f} ms "
        f"(ideal {ideal:.3f} s: {reach})",
        ["measure", "value", "target", "verdict"],
        [
            ["retort: solves in one Run(limit) (s)", f"{wall:.3f}", "", ""],
            ["bare httpx: posts under Semaphore(limit) (s)", f"{bare_wall:.3f}", "", ""],
            [f"retort, agents over {SPREAD} transports (s)", f"{spread_wall:.3f}", "", ""],
            [f"bare httpx over {SPREAD} clients (s)", f"{sharded_wall:.3f}", "", ""],
            ["ideal ceil(n/limit) x delay (s)", f"{ideal:.3f}", "", ""],
            _ratio_row("ratio retort / ideal", wall, ideal, 1.10),
            _ratio_row("ratio retort / bare httpx (own overhead)", wall, bare_wall, 1.10),
            _ratio_row("ratio bare httpx / ideal", bare_wall, ideal, None),
            _ratio_row(f"ratio retort over {SPREAD} / ideal", spread_wall, ideal, None),
            _ratio_row(
                f"ratio retort over {SPREAD} / bare over {SPREAD}", spread_wall, sharded_wall, None
            ),
            _ratio_row(f"ratio bare httpx over {SPREAD} / ideal", sharded_wall, ideal, None),
            [
                "server peak: retort / bare / retort spread / bare spread",
                f"{peak} / {bare_peak} / {spread_peak} / {sharded_peak}",
                f"== {LIMIT}",
                _timing.verdict(peak == LIMIT),
            ],
        ],
    )


if __name__ == "__main__":
    main()
