"""TransportChatCompletionClient: real AssistantAgents over a ScriptedTransport.

Request and result conversions in detail are in ``test_autogen_client_requests.py``.

Every test that runs the client goes through ``_run``, which bounds it with
``asyncio.wait_for(..., 10)``: a tool call AutoGen cannot match (no id) makes
``AssistantAgent.run`` wait forever, and that must fail the test, not block CI.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import partial
from typing import Any

import pytest
from _autogen_support import ADD
from _autogen_support import calls_reply as _calls_reply
from _autogen_support import scripted_client as _client
from _autogen_support import tool_call as _call
from _support import bounded_run
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import TaskResult
from autogen_agentchat.messages import (
    StructuredMessage,
    TextMessage,
    ThoughtEvent,
    ToolCallExecutionEvent,
    ToolCallRequestEvent,
    ToolCallSummaryMessage,
)
from autogen_agentchat.ui import Console
from autogen_core import CancellationToken, FunctionCall
from autogen_core.models import (
    CreateResult,
    LLMMessage,
    SystemMessage,
    UserMessage,
)
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from retort.adapters.autogen import TransportChatCompletionClient
from retort.adapters.autogen._client import DEFAULT_CONTEXT_WINDOW
from retort.adapters.proxy import ProxyTransport
from retort.core import (
    ChatReply,
    Message,
    ToolCall,
    TransportStatusError,
    stable_tool_call_id,
)
from retort.plugins.testing import ScriptedTransport

_run = partial(bounded_run, timeout=10)


async def _agent_run(client: TransportChatCompletionClient, task: str, **kwargs: Any) -> TaskResult:
    agent = AssistantAgent("assistant", model_client=client, **kwargs)
    try:
        return await agent.run(task=task)
    finally:
        await client.close()


# ---------------------------------------------------------------- agent runs


def test_text_reply_through_a_real_assistant_agent() -> None:
    client, transport = _client(["Hello from the model."])
    result = _run(lambda: _agent_run(client, "Say hello.", system_message="Be brief."))

    final = result.messages[-1]
    assert isinstance(final, TextMessage)
    assert final.content == "Hello from the model."
    (request,) = transport.history
    assert request.messages == [
        Message(role="system", content="Be brief."),
        Message(role="user", content="Say hello.", name="user"),
    ]
    assert request.tools is None
    assert request.response_format is None
    assert transport.closed  # close() closed the transport the client owns


def test_tool_round_without_reflection() -> None:
    call = _call()
    client, transport = _client([_calls_reply(call)])
    result = _run(lambda: _agent_run(client, "Add 1 and 2.", tools=[ADD]))

    request_event = next(m for m in result.messages if isinstance(m, ToolCallRequestEvent))
    assert request_event.content == [FunctionCall(id=call.id, name="add", arguments=call.arguments)]
    execution = next(m for m in result.messages if isinstance(m, ToolCallExecutionEvent))
    assert execution.content[0].call_id == call.id
    assert execution.content[0].content == "3"
    assert isinstance(result.messages[-1], ToolCallSummaryMessage)
    assert result.messages[-1].content == "3"
    (request,) = transport.history
    assert [t["function"]["name"] for t in request.tools or []] == ["add"]


def test_tool_round_with_reflection_sends_the_result_back() -> None:
    call = _call()
    client, transport = _client([_calls_reply(call), "The sum is 3."])
    result = _run(lambda: _agent_run(client, "Add 1 and 2.", tools=[ADD], reflect_on_tool_use=True))

    assert isinstance(result.messages[-1], TextMessage)
    assert result.messages[-1].content == "The sum is 3."
    first, second = transport.history
    assert first.tools is not None
    assert second.tools is None  # the reflection runs with tool_choice="none"
    assert second.messages[-2:] == [
        Message(role="assistant", content=None, tool_calls=(call,)),
        Message(role="tool", content="3", tool_call_id=call.id),
    ]


def test_missing_and_repeated_ids_get_stable_ids_and_the_agent_does_not_hang() -> None:
    same = ToolCall(id="", name="add", arguments='{"a": 1, "b": 2}')
    client, transport = _client([_calls_reply(same, same), "done"])
    result = _run(lambda: _agent_run(client, "Add twice.", tools=[ADD], reflect_on_tool_use=True))

    expected = [stable_tool_call_id("add", {"a": 1, "b": 2}, n) for n in (1, 2)]
    request_event = next(m for m in result.messages if isinstance(m, ToolCallRequestEvent))
    assert [c.id for c in request_event.content] == expected
    tool_messages = [m for m in transport.history[1].messages if m.role == "tool"]
    assert [m.tool_call_id for m in tool_messages] == expected


def test_tool_round_over_a_real_proxy_server(
    serve_app: Callable[[Any], AbstractContextManager[str]],
) -> None:
    # The proxy protocol's tool reply, decoded by ProxyTransport, reaches AutoGen as calls.
    bodies: list[dict[str, Any]] = []
    answers: list[Any] = [
        {"response_type": "tool", "tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 2}}]},
        "The sum is 3.",
    ]

    async def inference(request: Request) -> JSONResponse:
        bodies.append(await request.json())
        return JSONResponse(answers[len(bodies) - 1])

    app = Starlette(routes=[Route("/api/inference", inference, methods=["POST"])])
    with serve_app(app) as url:
        client = TransportChatCompletionClient(ProxyTransport(url, model="m", retries=0))
        result = _run(
            lambda: _agent_run(client, "Add 1 and 2.", tools=[ADD], reflect_on_tool_use=True)
        )

    assert result.messages[-1].content == "The sum is 3."  # type: ignore[union-attr]
    call_id = stable_tool_call_id("add", {"a": 1, "b": 2})
    request_event = next(m for m in result.messages if isinstance(m, ToolCallRequestEvent))
    assert [c.id for c in request_event.content] == [call_id]
    tool_message = bodies[1]["messages"][-1]
    assert tool_message == {"role": "tool", "content": "3", "tool_call_id": call_id}


class Answer(BaseModel):
    value: int


def test_structured_output_through_an_assistant_agent() -> None:
    client, transport = _client(['{"value": 42}'])
    result = _run(lambda: _agent_run(client, "Answer.", output_content_type=Answer))

    final = result.messages[-1]
    assert isinstance(final, StructuredMessage)
    assert final.content == Answer(value=42)
    assert transport.history[0].response_format["json_schema"]["name"] == "Answer"  # type: ignore[index]


# ---------------------------------------------------------------- thought


def test_reasoning_becomes_thought() -> None:
    client, _ = _client([ChatReply(content="42", reasoning="six times seven")])
    result = _run(lambda: _agent_run(client, "6 x 7?"))
    thoughts = [m.content for m in result.messages if isinstance(m, ThoughtEvent)]
    assert thoughts == ["six times seven"]
    assert result.messages[-1].content == "42"  # type: ignore[union-attr]


# ---------------------------------------------------------------- tokens, offline


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection attempt or tokenizer lookup fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the client tried to reach the network or load a tokenizer")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    tiktoken = pytest.importorskip("tiktoken")
    monkeypatch.setattr(tiktoken, "get_encoding", refuse)
    monkeypatch.setattr(tiktoken, "encoding_for_model", refuse)


@pytest.mark.usefixtures("no_network")
def test_token_counts_are_offline_estimates() -> None:
    client, _ = _client([], context_window=1_000)
    messages: list[LLMMessage] = [
        SystemMessage(content="s" * 40),
        UserMessage(content="u" * 400, source="user"),
    ]
    counted = client.count_tokens(messages)
    # approx_tokens: ceil(chars / 4) + 4 per message; the user's name ("user") counts too.
    assert counted == (40 // 4 + 4) + ((400 + 4) // 4 + 4)
    with_tools = client.count_tokens(messages, tools=[ADD])
    assert with_tools > counted
    assert client.remaining_tokens(messages) == 1_000 - counted
    assert client.remaining_tokens(messages * 20) == 0


@pytest.mark.usefixtures("no_network")
def test_a_full_tool_run_never_touches_the_network() -> None:
    client, _ = _client([_calls_reply(_call()), "3"])
    result = _run(lambda: _agent_run(client, "Add.", tools=[ADD], reflect_on_tool_use=True))
    assert result.messages[-1].content == "3"  # type: ignore[union-attr]


def test_default_context_window() -> None:
    client, _ = _client([])
    assert client.remaining_tokens([]) == DEFAULT_CONTEXT_WINDOW


# ---------------------------------------------------------------- streaming


def test_create_stream_yields_text_then_ends_with_the_result() -> None:
    client, _ = _client(["streamed text", _calls_reply(_call())])
    messages = [UserMessage(content="x", source="u")]

    async def collect(**kwargs: Any) -> list[Any]:
        return [chunk async for chunk in client.create_stream(messages, **kwargs)]

    text_chunks = _run(lambda: collect())
    assert text_chunks[:-1] == ["streamed text"]
    assert isinstance(text_chunks[-1], CreateResult)
    assert text_chunks[-1].content == "streamed text"
    call_chunks = _run(lambda: collect(tools=[ADD]))
    assert len(call_chunks) == 1
    assert isinstance(call_chunks[0].content, list)


def test_run_stream_through_console(capsys: pytest.CaptureFixture[str]) -> None:
    client, _ = _client([_calls_reply(_call()), "The sum is 3."])
    agent = AssistantAgent(
        "assistant",
        model_client=client,
        tools=[ADD],
        reflect_on_tool_use=True,
        model_client_stream=True,
    )

    async def main() -> TaskResult:
        try:
            return await Console(agent.run_stream(task="Add 1 and 2."))
        finally:
            await client.close()

    result = _run(main)
    assert result.messages[-1].content == "The sum is 3."  # type: ignore[union-attr]
    out = capsys.readouterr().out
    assert "Add 1 and 2." in out
    assert "The sum is 3." in out
    assert "FunctionExecutionResult(content='3'" in out


# ---------------------------------------------------------------- errors, cancellation, close


def test_transport_errors_propagate_typed_through_the_agent() -> None:
    error = TransportStatusError("HTTP 503 from http://127.0.0.1:1/api/inference", status=503)
    client, _ = _client([error])
    with pytest.raises(TransportStatusError, match="503"):
        _run(lambda: _agent_run(client, "x"))


def test_cancellation_token_cancels_the_request_in_flight() -> None:
    transport = ScriptedTransport(["too late"], latency=30)
    client = TransportChatCompletionClient(transport)
    token = CancellationToken()

    async def main() -> None:
        asyncio.get_running_loop().call_later(0.05, token.cancel)
        await client.create([UserMessage(content="x", source="u")], cancellation_token=token)

    with pytest.raises(asyncio.CancelledError):
        _run(main, timeout=5)
    assert transport.active == 0  # the send was cancelled, not left running


def test_cancelling_an_agent_run_stops_the_request() -> None:
    transport = ScriptedTransport(["too late"], latency=30)
    client = TransportChatCompletionClient(transport)
    agent = AssistantAgent("assistant", model_client=client)
    token = CancellationToken()

    async def main() -> TaskResult:
        asyncio.get_running_loop().call_later(0.05, token.cancel)
        return await agent.run(task="x", cancellation_token=token)

    with pytest.raises(asyncio.CancelledError):
        _run(main, timeout=5)
    assert transport.active == 0


def test_close_is_idempotent_and_respects_ownership() -> None:
    owned, owned_transport = _client(["x"])
    borrowed, borrowed_transport = _client(["x"], close_transport=False)

    async def main() -> None:
        await owned.close()
        await owned.close()
        async with borrowed:
            pass

    _run(main)
    assert owned_transport.closed
    assert not borrowed_transport.closed
    with pytest.raises(RuntimeError, match="after close"):
        _run(lambda: owned.create([UserMessage(content="x", source="u")]))
