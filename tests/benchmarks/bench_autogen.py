"""Benchmarks of the AutoGen adapter (issue: AutoGen stock-client path and integration).

Per-call cost of one task over the same transport kind (``ProxyTransport``) and the same
reference server, which runs in a separate process and answers at once. Every variant
sends the same prompt (the task with the spec's format instructions) and gets the same
reply, so what differs is the client-side layers only:

- floor: ``ProxyTransport.send`` alone;
- bare ``AssistantAgent.run`` over ``TransportChatCompletionClient`` (context reset
  before each run, as a solve does): AutoGen's own cost, the baseline;
- retort: ``solve(AutoGenAgent(TransportChatCompletionClient(...)), task, spec)``;
  target: under 5% added on top of the bare ``AssistantAgent.run``;
- ``solve`` over ``NativeAgent`` (no framework);
- the stock ``OpenAIChatCompletionClient`` over the custom ``httpx2`` transport
  (``stock_proxy_client``): a bare ``AssistantAgent.run``, and a solve.

A second table splits retort's layer offline (a ``ScriptedTransport``, no HTTP): the
bare run, ``AutoGenAgent`` reset + ask, and the whole solve, in microseconds.

Variants are timed in interleaved rounds, their order rotated each round (so drift of a
shared machine hits them alike)
and each reports its best round's mean; every ratio is between figures of this run.
"""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _timing
from autogen_agentchat.agents import AssistantAgent
from autogen_core import CancellationToken

from retort.adapters.autogen import AutoGenAgent, TransportChatCompletionClient, stock_proxy_client
from retort.adapters.native import NativeAgent
from retort.adapters.proxy import ProxyTransport
from retort.core import ChatRequest, Expect, Message, make_plugin_manager, solve
from retort.core.plugins import DEFAULT_PLUGINS
from retort.plugins.testing import ScriptedTransport

SYSTEM = "You are terse."
TASK = "FIX or CREATE?"
SPEC = Expect.text(regex=r"^(FIX|CREATE)$")
PROMPT = SPEC.prompt(TASK)
# The server process: answers every request at once, prints its URL, stops when stdin closes.
SERVER = (
    "import sys\n"
    "from retort.adapters.proxy import FunctionModel, serve\n"
    "server = serve(FunctionModel(lambda request: 'FIX'), log_level='error')\n"
    "print(server.url, flush=True)\n"
    "sys.stdin.read()\n"
    "server.close()\n"
)

Call = Callable[[], Awaitable[object]]


async def _variants(url: str) -> tuple[dict[str, Call], Callable[[], Awaitable[None]]]:
    pm = make_plugin_manager(defaults=DEFAULT_PLUGINS, autoload=False)

    def proxy() -> ProxyTransport:
        return ProxyTransport(url, agent_prefix="bench", plugins=pm)

    floor = proxy()
    request = ChatRequest(
        messages=[Message(role="system", content=SYSTEM), Message(role="user", content=PROMPT)]
    )
    client = TransportChatCompletionClient(proxy())
    bare = AssistantAgent("assistant", model_client=client, system_message=SYSTEM)
    retort = AutoGenAgent(TransportChatCompletionClient(proxy()), system_message=SYSTEM)
    native = NativeAgent(proxy(), system_message=SYSTEM)
    stock = stock_proxy_client(transport=proxy())
    stock_bare = AssistantAgent("assistant", model_client=stock, system_message=SYSTEM)
    stock_agent = AutoGenAgent(stock_proxy_client(transport=proxy()), system_message=SYSTEM)
    token = CancellationToken()

    async def bare_run(assistant: AssistantAgent) -> object:
        await assistant.on_reset(token)
        return await assistant.run(task=PROMPT)

    async def solved(agent: AutoGenAgent | NativeAgent) -> object:
        result = await solve(agent, TASK, SPEC, plugins=pm)
        assert result.value == "FIX"
        return result

    async def close() -> None:
        await floor.aclose()
        await client.close()
        await stock.close()
        for agent in (retort, native, stock_agent):
            await agent.aclose()

    variants: dict[str, Call] = {
        "ProxyTransport.send (floor)": lambda: floor.send(request),
        "bare AssistantAgent.run, TransportChatCompletionClient": lambda: bare_run(bare),
        "retort solve, AutoGenAgent + TransportChatCompletionClient": lambda: solved(retort),
        "retort solve, NativeAgent": lambda: solved(native),
        "bare AssistantAgent.run, stock OpenAIChatCompletionClient": lambda: bare_run(stock_bare),
        "retort solve, AutoGenAgent + stock OpenAIChatCompletionClient": lambda: solved(
            stock_agent
        ),
    }
    return variants, close


async def _measure(url: str, calls: int, rounds: int) -> dict[str, float]:
    variants, close = await _variants(url)
    best = dict.fromkeys(variants, float("inf"))
    try:
        for call in variants.values():  # warm up: connections, caches, lazy imports
            for _ in range(20):
                await call()
        gc.disable()
        order = list(variants.items())
        for _ in range(rounds):
            # Rotated each round, so no variant always runs right after another.
            order = order[1:] + order[:1]
            for name, call in order:
                start = time.perf_counter()
                for _ in range(calls):
                    await call()
                best[name] = min(best[name], (time.perf_counter() - start) / calls)
            gc.collect()
    finally:
        gc.enable()
        await close()
    return best


async def _offline(calls: int, rounds: int) -> dict[str, float]:
    """retort's layer with no HTTP: what each step adds to a bare run, in seconds per call."""
    pm = make_plugin_manager(defaults=DEFAULT_PLUGINS, autoload=False)

    def client() -> TransportChatCompletionClient:
        return TransportChatCompletionClient(ScriptedTransport(lambda request: "FIX"))

    bare = AssistantAgent("assistant", model_client=client(), system_message=SYSTEM)
    agent = AutoGenAgent(client(), system_message=SYSTEM)
    token = CancellationToken()

    async def bare_run() -> object:
        await bare.on_reset(token)
        return await bare.run(task=PROMPT)

    async def ask() -> object:
        await agent.reset()
        return await agent.ask(PROMPT)

    variants: dict[str, Call] = {
        "bare AssistantAgent.run": bare_run,
        "AutoGenAgent reset + ask": ask,
        "retort solve (AutoGenAgent)": lambda: solve(agent, TASK, SPEC, plugins=pm),
    }
    best = dict.fromkeys(variants, float("inf"))
    for call in variants.values():
        for _ in range(50):
            await call()
    for _ in range(rounds):
        for name, call in variants.items():
            start = time.perf_counter()
            for _ in range(calls):
                await call()
            best[name] = min(best[name], (time.perf_counter() - start) / calls)
    await agent.aclose()
    return best


def main() -> None:
    calls, rounds = 100, 7
    with subprocess.Popen(
        [sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as server:
        assert server.stdout is not None
        assert server.stdin is not None
        url = server.stdout.readline().strip()
        try:
            best = asyncio.run(_measure(url, calls, rounds))
        finally:
            server.stdin.close()
            server.wait(timeout=30)

    names = list(best)
    floor, bare, retort, native, stock_bare, stock = (best[name] for name in names)
    _timing.table(
        f"per call, reference server in another process answering at once "
        f"(best of {rounds} rounds x {calls} calls)",
        ["variant", "ms/call", "vs bare AssistantAgent.run"],
        [[name, f"{best[name] * 1000:.3f}", f"{best[name] / bare:.3f}x"] for name in names],
    )
    added = retort / bare - 1
    _timing.table(
        "ratios (same run)",
        ["measure", "value", "target", "verdict"],
        [
            [
                "retort layer: AutoGenAgent solve / bare AssistantAgent.run",
                f"{retort / bare:.3f}x (+{added * 100:.1f}%)",
                "< 1.05x",
                _timing.verdict(added < 0.05),
            ],
            ["AutoGenAgent solve / NativeAgent solve", f"{retort / native:.3f}x", "", ""],
            [
                "stock client run / TransportChatCompletionClient run",
                f"{stock_bare / bare:.3f}x",
                "",
                "",
            ],
            ["stock-client solve / AutoGenAgent solve", f"{stock / retort:.3f}x", "", ""],
            ["bare AssistantAgent.run / ProxyTransport.send", f"{bare / floor:.3f}x", "", ""],
            ["NativeAgent solve / ProxyTransport.send", f"{native / floor:.3f}x", "", ""],
        ],
    )

    offline = asyncio.run(_offline(500, 5))
    base = offline["bare AssistantAgent.run"]
    _timing.table(
        "offline split of retort's layer (ScriptedTransport, no HTTP; best of 5 x 500)",
        ["step", "us/call", "added to the bare run (us)"],
        [[name, f"{t * 1e6:.1f}", f"{(t - base) * 1e6:.1f}"] for name, t in offline.items()],
    )


if __name__ == "__main__":
    main()
