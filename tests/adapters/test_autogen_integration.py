"""AutoGenAgent over TransportChatCompletionClient(ProxyTransport) against the real server.

One reference server on 127.0.0.1 serves the module; each test gives it a backend
(a ``ScriptedModel`` whose first replies are bad, a ``FunctionModel``...). Every async
test is bounded by ``asyncio.wait_for(..., 30)``, and an autouse guard makes any
connection to a non-loopback address and any tiktoken encoding lookup fail.
"""

from __future__ import annotations

import itertools
from functools import partial
from typing import Any

import pytest
from _support import Switch, bounded_run, install_offline_guard
from autogen_agentchat.agents import AssistantAgent
from pydantic import BaseModel

from retort.adapters.autogen import AutoGenAgent, TransportChatCompletionClient
from retort.adapters.proxy import (
    EchoModel,
    FunctionModel,
    ModelReply,
    ModelRequest,
    ModelToolCall,
    ProxyTransport,
    ScriptedModel,
    ServerHandle,
)
from retort.core import Expect, Run, ToolCall, consensus, solve, stable_tool_call_id

ADD_ID = stable_tool_call_id("add", {"a": 2, "b": 3})


_run = partial(bounded_run, timeout=30)


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing may reach past loopback or ask tiktoken for an encoding."""
    install_offline_guard(monkeypatch)


@pytest.fixture
def switch(shared: tuple[ServerHandle, Switch]) -> Switch:
    server, switch = shared
    switch.model = EchoModel()
    switch.requests.clear()
    server.reset_stats()
    return switch


@pytest.fixture
def server(shared: tuple[ServerHandle, Switch], switch: Switch) -> ServerHandle:
    return shared[0]


def _agent(server: ServerHandle, **options: Any) -> AutoGenAgent:
    transport = ProxyTransport(server.url, agent_prefix="coder", agent_id="m-1", retries=0)
    options.setdefault("system_message", "You are terse.")
    return AutoGenAgent(TransportChatCompletionClient(transport), **options)


async def _context(agent: AutoGenAgent) -> list[tuple[str, Any]]:
    """The whole AutoGen model context, from the assistant's saved state."""
    state = await agent.assistant.save_state()
    return [(m["type"], m["content"]) for m in state["llm_context"]["messages"]]


class FileSpec(BaseModel):
    path: str
    code: str


SOLVES = {
    "text": (Expect.text(regex=r"^(FIX|CREATE)$"), "I would say FIX, probably.", "FIX", "FIX"),
    "sections": (
        Expect.sections("THOUGHT", "ANSWER"),
        "=======THOUGHT\nsix times seven",
        "=======THOUGHT\nsix times seven\n=======ANSWER\n42",
        ("six times seven", "42"),
    ),
    "json": (
        Expect.json(list[FileSpec]),
        '[{"path": "a.py"}]',
        '[{"path": "a.py", "code": "x = 1"}]',
        [FileSpec(path="a.py", code="x = 1")],
    ),
}


@pytest.mark.parametrize("kind", SOLVES)
def test_feedback_fixes_a_bad_first_reply_and_the_context_forgets_it(
    kind: str, server: ServerHandle, switch: Switch
) -> None:
    expect, bad, good, value = SOLVES[kind]
    switch.model = ScriptedModel(rules=[{"reply": [bad, good]}])
    agent = _agent(server)

    async def main() -> tuple[Any, list[tuple[str, Any]]]:
        async with agent:
            solved = await solve(agent, "Solve the task.", expect)
            return solved, await _context(agent)

    solved, context = _run(main)
    assert solved.value == value
    assert len(solved.attempts) == 2
    # AutoGen's context: the task, the feedback, the good reply - the bad one is gone.
    assert [kind for kind, _ in context] == ["UserMessage", "UserMessage", "AssistantMessage"]
    assert context[0][1].startswith("Solve the task.")
    assert context[2][1] == good
    assert all(content != bad for _, content in context)
    # What the proxy saw on the second attempt holds no failed reply either.
    second = switch.requests[1]
    assert [m["role"] for m in second.messages] == ["system", "user", "user"]
    assert second.agent_id == "coder:m-1"


class _AddModel:
    """Calls ``add`` (a proxy ``response_type: "tool"`` reply), then reads its result."""

    async def reply(self, request: ModelRequest) -> ModelReply:
        last = request.messages[-1]
        if last.get("role") == "tool":
            return ModelReply(text=f"The sum is {last['content']}.")
        return ModelReply(text="Adding.", tool_calls=(ModelToolCall("add", {"a": 2, "b": 3}),))


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: the first.
        b: the second.
    """
    return a + b


def test_a_tool_round_reflecting_on_the_result(server: ServerHandle, switch: Switch) -> None:
    switch.model = _AddModel()
    agent = _agent(server, tools=[add], reflect_on_tool_use=True)

    async def main() -> Any:
        async with Run() as run, agent:
            return await agent.ask("What is 2 + 3?"), run.metrics

    reply, metrics = _run(main)
    assert reply.text == "The sum is 5."
    assert [m.role for m in reply.messages] == ["user", "assistant", "tool", "assistant"]
    assert reply.messages[1].tool_calls[0].id == ADD_ID
    assert metrics.tool_calls == 1
    first, second = switch.requests
    assert "## add" in first.messages[0]["content"]  # the tool, rendered for the proxy
    assistant_turn, tool_turn = second.messages[-2:]
    assert assistant_turn["role"] == "assistant"
    assert "Adding." in assistant_turn["content"]
    assert (tool_turn["role"], tool_turn["content"], tool_turn["tool_call_id"]) == (
        "tool",
        "5",
        ADD_ID,
    )


def test_a_tool_round_without_reflection_ends_on_the_calls(
    server: ServerHandle, switch: Switch
) -> None:
    switch.model = _AddModel()
    agent = _agent(server, tools=[add], reflect_on_tool_use=False, max_tool_iterations=1)

    async def main() -> Any:
        async with agent:
            return await agent.ask("What is 2 + 3?"), await _context(agent)

    reply, context = _run(main)
    assert reply.text == ""
    assert reply.tool_calls == (ToolCall(id=ADD_ID, name="add", arguments='{"a": 2, "b": 3}'),)
    assert [kind for kind, _ in context] == [
        "UserMessage",
        "AssistantMessage",
        "FunctionExecutionResultMessage",
    ]
    assert len(switch.requests) == 1


def test_fifty_forked_samples_under_limit_three(server: ServerHandle, switch: Switch) -> None:
    numbers = itertools.count(1)
    switch.model = FunctionModel(lambda request: ModelReply(f"answer {next(numbers)}", delay=0.05))
    client = TransportChatCompletionClient(ProxyTransport(server.url, agent_prefix="voter"))
    assistants: list[AssistantAgent] = []

    def make() -> AssistantAgent:
        assistant = AssistantAgent("voter", model_client=client, system_message="Answer.")
        assistants.append(assistant)
        return assistant

    agent = AutoGenAgent.wrap(make(), factory=make)

    async def main() -> Any:
        try:
            votes = await consensus(agent, "Which answer?", samples=50, limit=3)
            states = [await assistant.save_state() for assistant in assistants[1:]]
        finally:
            await agent.aclose()
            await client.close()
        return votes, [s["llm_context"]["messages"] for s in states]

    votes, contexts = _run(main)
    assert len(votes.samples) == 50
    assert not votes.failed
    assert server.stats.peak == 3
    # Each fork's context holds its own task and its own reply, nobody else's.
    assert len(contexts) == 50
    replies = []
    for messages in contexts:
        assert [m["type"] for m in messages] == ["UserMessage", "AssistantMessage"]
        assert messages[0]["content"] == "Which answer?"
        replies.append(messages[1]["content"])
    assert sorted(replies) == sorted(f"answer {n}" for n in range(1, 51))
    for request in switch.requests:
        assert [m["role"] for m in request.messages] == ["system", "user"]


def test_streaming_through_console(
    server: ServerHandle, switch: Switch, capsys: pytest.CaptureFixture[str]
) -> None:
    switch.model = _AddModel()
    agent = _agent(server, tools=[add], stream=True, console=True)

    async def main() -> Any:
        async with agent:
            return await agent.ask("What is 2 + 3?")

    reply = _run(main)
    assert reply.text == "The sum is 5."
    out = capsys.readouterr().out
    assert "What is 2 + 3?" in out
    assert "ToolCallRequestEvent" in out
    assert "The sum is 5." in out
