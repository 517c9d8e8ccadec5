"""The contract kits against the real transports, talking to the reference server.

One reference server per scenario is started once for the module: ``text`` answers
"hello", ``tool_call`` answers the same ``lookup`` call twice (so the stable ids need
their ordinal suffix), ``error`` is a fault layer answering every request 500 (the
transports get ``retries=0``). ``slow`` is a loopback socket that listens and never
answers: the reference server would keep a delayed request running after its client
cancelled, and closing the server would then wait for it.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from check_agent import CHECKS as AGENT_CHECKS
from check_agent import check_agent
from check_transport import CHECKS as TRANSPORT_CHECKS
from check_transport import check_transport

from retort.adapters.native import NativeAgent
from retort.adapters.openai import OpenAITransport
from retort.adapters.proxy import (
    Faults,
    ModelReply,
    ModelRequest,
    ProxyTransport,
    ScriptedModel,
    serve,
)
from retort.adapters.replay import RecordingTransport, ReplayTransport
from retort.core import ChatRequest, Message, TransportTimeout

NO_HOOKS = tuple(name for name in TRANSPORT_CHECKS if name != "hooks")
LOOKUP = {"name": "lookup", "arguments": {"query": "retort"}}


@pytest.fixture(scope="module")
def urls() -> Iterator[dict[str, str]]:
    """The base URL of each scenario's endpoint."""
    with (
        serve(ScriptedModel(default="hello")) as text,
        serve(ScriptedModel(default={"tool_calls": [LOOKUP, LOOKUP]})) as tool_call,
        serve(ScriptedModel(default="never sent"), faults=Faults(statuses={500: 1.0})) as error,
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent,
    ):
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections complete in the kernel's backlog; none is answered
        yield {
            "text": text.url,
            "tool_call": tool_call.url,
            "error": error.url,
            "slow": f"http://127.0.0.1:{silent.getsockname()[1]}",
        }


def proxy(urls: dict[str, str], scenario: str) -> ProxyTransport:
    return ProxyTransport(urls[scenario], retries=0, agent_prefix="contract")


def test_proxy_transport_passes_the_transport_kit(urls: dict[str, str]) -> None:
    assert check_transport(lambda scenario: proxy(urls, scenario)) == TRANSPORT_CHECKS


def test_openai_transport_passes_the_transport_kit(urls: dict[str, str]) -> None:
    def factory(scenario: str) -> OpenAITransport:
        return OpenAITransport(urls[scenario], model="contract-model", retries=0)

    assert check_transport(factory) == TRANSPORT_CHECKS


def test_recording_and_replaying_a_proxy_transport_pass_the_transport_kit(
    urls: dict[str, str], tmp_path: Path
) -> None:
    def recording(scenario: str) -> RecordingTransport:
        return RecordingTransport(proxy(urls, scenario), tmp_path / f"{scenario}.jsonl")

    def replay(scenario: str) -> ReplayTransport:
        path = tmp_path / f"{scenario}.jsonl"
        if scenario == "error":
            path.touch()  # an empty cassette: every request misses
        return ReplayTransport(path)

    # The recorder adds no hooks of its own; the proxy transport inside applies them.
    assert check_transport(recording) == TRANSPORT_CHECKS
    assert not (tmp_path / "error.jsonl").exists()  # failures are not recorded
    assert (tmp_path / "tool_call.jsonl").stat().st_size > 0
    # Offline answers are instant and already went through the hooks when recorded.
    assert check_transport(replay, skip={"hooks", "cancellation"}) == tuple(
        name for name in NO_HOOKS if name != "cancellation"
    )


class Queues:
    """The agent kit's backend: each agent id answers its n-th request with its n-th
    queued reply, and records what every request held."""

    def __init__(self) -> None:
        self.replies: dict[str, list[str]] = {}
        self.seen: dict[str, list[list[dict[str, Any]]]] = {}

    def add(self, agent_id: str, replies: list[str]) -> None:
        self.replies[agent_id] = list(replies)
        self.seen[agent_id] = []

    async def reply(self, request: ModelRequest) -> ModelReply:
        key = request.agent_id or ""
        self.seen[key].append([dict(message) for message in request.messages])
        return ModelReply(text=self.replies[key].pop(0))


def test_native_agent_over_a_proxy_transport_passes_the_agent_kit() -> None:
    backend = Queues()
    count = iter(range(1_000))

    def factory(replies: list[str]) -> tuple[NativeAgent, Any]:
        transport = ProxyTransport(server.url, agent_prefix=f"kit{next(count)}", retries=0)
        backend.add(transport.agent_id, replies)
        agent = NativeAgent(transport, system_message="You are terse.")
        return agent, lambda: backend.seen[transport.agent_id]

    with serve(backend) as server:
        assert check_agent(factory) == AGENT_CHECKS
    # Every conversation reached the server over HTTP, system message first.
    assert all(call[0]["role"] == "system" for calls in backend.seen.values() for call in calls)


def test_the_slow_endpoint_never_answers(urls: dict[str, str]) -> None:
    async def main() -> None:
        async with ProxyTransport(urls["slow"], retries=0, timeout=0.3) as transport:
            await transport.send(ChatRequest(messages=[Message(role="user", content="Hi.")]))

    with pytest.raises(TransportTimeout, match="timed out"):
        asyncio.run(main())
