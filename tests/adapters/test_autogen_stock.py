"""The stock-client path: AutoGen's OpenAIChatCompletionClient over retort's transports.

Real ``AssistantAgent`` runs against the real reference server on 127.0.0.1, through the
custom ``httpx2`` transport (proxy protocol) and through the SDK's own HTTP client
(``/v1/chat/completions``). The transport's refusals and conversions are checked with
a ``ScriptedTransport`` inside it (no server needed). Every async test is bounded by
``asyncio.wait_for(..., 30)``; an autouse guard makes any non-loopback connection and
any tiktoken encoding lookup fail, so passing tests prove neither happens.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import AsyncGenerator, AsyncIterator
from functools import partial
from typing import Any, TypeVar

import httpx2
import openai
import pytest
import tiktoken
from _support import OfflineAttempt, Switch, bounded_run, install_offline_guard
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.messages import ModelClientStreamingChunkEvent
from autogen_agentchat.ui import Console
from autogen_core.models import UserMessage
from autogen_core.tools import FunctionTool
from autogen_ext.models.openai import OpenAIChatCompletionClient

import retort.adapters.autogen as autogen_api
from retort.adapters.autogen import (
    RetortHTTPTransport,
    proxy_http_client,
    stock_openai_client,
    stock_proxy_client,
)
from retort.adapters.autogen._stock import PLACEHOLDER_API_KEY
from retort.adapters.proxy import (
    ModelReply,
    ModelRequest,
    ModelToolCall,
    ProxyTransport,
    ServerHandle,
)
from retort.core import (
    ChatReply,
    ConfigurationError,
    ToolCall,
    TransportConnectionError,
    TransportStatusError,
    stable_tool_call_id,
)
from retort.core.messages import Usage
from retort.plugins.testing import ScriptedTransport

T = TypeVar("T")
URL = "http://retort.invalid/v1/chat/completions"
ADD_ID = stable_tool_call_id("add", {"a": 2, "b": 3})


_run = partial(bounded_run, timeout=30)


@contextlib.asynccontextmanager
async def _closing(client: OpenAIChatCompletionClient) -> AsyncIterator[OpenAIChatCompletionClient]:
    """The stock client is no async context manager: close it on the way out."""
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing may reach past loopback or ask tiktoken for an encoding."""
    install_offline_guard(monkeypatch)


@pytest.fixture
def switch(shared: tuple[ServerHandle, Switch]) -> Switch:
    switch = shared[1]
    switch.model = _AddModel()
    switch.requests.clear()
    return switch


@pytest.fixture
def url(shared: tuple[ServerHandle, Switch], switch: Switch) -> str:
    return str(shared[0].url)


class _AddModel:
    """Calls ``add`` when asked to add, answers the tool result, else says hello."""

    async def reply(self, request: ModelRequest) -> ModelReply:
        last = request.messages[-1]
        if last.get("role") == "tool":
            return ModelReply(text=f"The sum is {last['content']}.")
        if "add" in request.last_message:
            return ModelReply(tool_calls=(ModelToolCall("add", {"a": 2, "b": 3}),))
        return ModelReply(text="Hello from the server.")


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


ADD = FunctionTool(add, description="Add two integers.")


def _kinds(messages: Any) -> list[str]:
    return [type(m).__name__ for m in messages]


# ---------------------------------------------------------------- the public names


def test_public_names() -> None:
    assert autogen_api.__all__ == [
        "SUPPORTED",
        "AutoGenAgent",
        "AutoGenVersionWarning",
        "RetortHTTPTransport",
        "TransportChatCompletionClient",
        "autogen_versions",
        "check_autogen_version",
        "proxy_http_client",
        "solve_task",
        "stock_openai_client",
        "stock_proxy_client",
    ]
    for name in autogen_api.__all__:
        assert getattr(autogen_api, name) is not None


# ---------------------------------------------------------------- proxy protocol, real server


def test_text_reply_through_the_proxy_protocol(url: str, switch: Switch) -> None:
    async def main() -> Any:
        client = stock_proxy_client(
            "zai-org/GLM-4.6-FP8", base_url=url, agent_prefix="coder", agent_id="m-3", run_id="r-1"
        )
        assistant = AssistantAgent("coder", model_client=client, system_message="Be terse.")
        try:
            return await assistant.run(task="Say hello.")
        finally:
            await client.close()

    result = _run(main)
    assert _kinds(result.messages) == ["TextMessage", "TextMessage"]
    assert result.messages[-1].content == "Hello from the server."
    [request] = switch.requests
    assert request.endpoint == "proxy"
    assert (request.model, request.agent_id, request.run_id) == (
        "zai-org/GLM-4.6-FP8",
        "coder:m-3",
        "r-1",
    )
    assert request.temperature == 0.0
    assert [(m["role"], m["content"]) for m in request.messages] == [
        ("system", "Be terse."),
        ("user", "Say hello."),
    ]


def test_a_tool_round_with_a_real_function_tool(url: str, switch: Switch) -> None:
    async def main() -> Any:
        client = stock_proxy_client(base_url=url, agent_prefix="coder", agent_id="m-3")
        assistant = AssistantAgent(
            "coder", model_client=client, tools=[ADD], reflect_on_tool_use=True
        )
        try:
            return await assistant.run(task="Please add 2 and 3.")
        finally:
            await client.close()

    result = _run(main)
    assert _kinds(result.messages) == [
        "TextMessage",
        "ToolCallRequestEvent",
        "ToolCallExecutionEvent",
        "TextMessage",
    ]
    [call] = result.messages[1].content
    # The proxy's response_type "tool" reply, with the protocol's stable id.
    assert (call.id, call.name, json.loads(call.arguments)) == (ADD_ID, "add", {"a": 2, "b": 3})
    assert result.messages[-1].content == "The sum is 5."
    first, second = switch.requests
    assert "## add" in first.messages[0]["content"]  # the tools, rendered for the proxy
    assistant_turn, tool_turn = second.messages[-2:]
    assert assistant_turn["role"] == "assistant"
    assert assistant_turn["content"].startswith("tool_calls: ")
    assert (tool_turn["role"], tool_turn["content"], tool_turn["tool_call_id"]) == (
        "tool",
        "5",
        ADD_ID,
    )


def test_streaming_through_console(
    url: str, switch: Switch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def main() -> Any:
        client = stock_proxy_client(base_url=url, agent_prefix="coder")
        assistant = AssistantAgent(
            "coder",
            model_client=client,
            tools=[ADD],
            model_client_stream=True,
            reflect_on_tool_use=True,
        )
        try:
            stream = assistant.run_stream(task="Please add 2 and 3.")
            return await Console(_tee(stream, seen))
        finally:
            await client.close()

    seen: list[Any] = []
    result = _run(main)
    assert result.messages[1].content[0].id == ADD_ID
    assert result.messages[-1].content == "The sum is 5."
    chunks = [m for m in seen if isinstance(m, ModelClientStreamingChunkEvent)]
    assert "".join(c.content for c in chunks) == "The sum is 5."
    assert "The sum is 5." in capsys.readouterr().out


async def _tee(stream: AsyncIterator[T], seen: list[Any]) -> AsyncGenerator[T, None]:
    """``stream`` as it is, recording each item into ``seen``."""
    async for item in stream:
        seen.append(item)
        yield item


def test_json_output_is_rendered_for_the_proxy(url: str, switch: Switch) -> None:
    async def main() -> Any:
        async with _closing(stock_proxy_client(base_url=url)) as client:
            return await client.create(
                [UserMessage(content="JSON?", source="user")], json_output=True
            )

    result = _run(main)
    assert result.content == "Hello from the server."
    system = switch.requests[0].messages[0]
    assert system == {
        "role": "system",
        "content": "# Response format\nReply with a JSON object only.",
    }


def test_transport_errors_propagate_typed_through_the_stock_client(
    url: str, switch: Switch
) -> None:
    switch.model = _Status(400)

    async def main() -> Any:
        client = stock_proxy_client(base_url=url, retries=0)
        assistant = AssistantAgent("coder", model_client=client)
        try:
            return await assistant.run(task="Say hello.")
        finally:
            await client.close()

    with pytest.raises(TransportStatusError, match="400") as caught:
        _run(main)
    assert caught.value.status == 400
    assert len(switch.requests) == 1  # the SDK did not retry on top of the transport


def test_connection_failures_propagate_typed(closed_url: str) -> None:
    async def main() -> Any:
        async with _closing(stock_proxy_client(base_url=closed_url, retries=0)) as client:
            return await client.create([UserMessage(content="hi", source="user")])

    with pytest.raises(TransportConnectionError, match="is the proxy running"):
        _run(main)


class _Status:
    def __init__(self, status: int) -> None:
        self.status = status

    async def reply(self, request: ModelRequest) -> ModelReply:
        return ModelReply(status=self.status, text="scripted refusal")


def test_proxy_http_client_for_a_stock_client_you_build(url: str, switch: Switch) -> None:
    async def main() -> Any:
        http_client = proxy_http_client(url, agent_prefix="reviewer", agent_id="m-1")
        # http_client is an AsyncOpenAI argument AutoGen passes through (not in its TypedDict).
        client = OpenAIChatCompletionClient(  # type: ignore[call-arg]
            http_client=http_client,
            model="zai-org/GLM-4.6-FP8",
            base_url="http://retort.invalid/v1",
            api_key="unused",
            model_info={
                "vision": False,
                "function_calling": True,
                "json_output": True,
                "family": "unknown",
                "structured_output": False,
            },
        )
        try:
            return await client.create([UserMessage(content="hi", source="user")])
        finally:
            await client.close()
            assert http_client.is_closed

    assert _run(main).content == "Hello from the server."
    assert switch.requests[0].agent_id == "reviewer:m-1"


# ---------------------------------------------------------------- OpenAI-compatible, real server


def test_stock_openai_client_against_chat_completions(
    url: str, switch: Switch, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-be-read")

    async def main() -> Any:
        client = stock_openai_client(f"{url}/v1", model="local-model")
        key = client.dump_component().config["api_key"].get_secret_value()
        text = AssistantAgent("coder", model_client=client)
        tools = AssistantAgent("coder", model_client=client, tools=[ADD], reflect_on_tool_use=True)
        try:
            return (
                key,
                await text.run(task="Say hello."),
                await tools.run(task="Please add 2 and 3."),
            )
        finally:
            await client.close()

    key, text, tools = _run(main)
    assert key == PLACEHOLDER_API_KEY
    assert text.messages[-1].content == "Hello from the server."
    assert tools.messages[1].content[0].id == ADD_ID
    assert tools.messages[-1].content == "The sum is 5."
    assert {r.endpoint for r in switch.requests} == {"openai"}
    assert switch.requests[1].tools is not None  # tools go natively on this endpoint


def test_the_stock_client_count_tokens_would_need_tiktoken() -> None:
    # Why the docs steer token-limited contexts to TransportChatCompletionClient: the
    # stock client's count_tokens asks tiktoken (here, the guard) for an encoding.
    client = stock_proxy_client(transport=ScriptedTransport([]))
    with pytest.raises(OfflineAttempt):
        client.count_tokens([UserMessage(content="hi", source="user")])
    _run(client.close)


# ---------------------------------------------------------------- the transport, unit level


def _post(transport: RetortHTTPTransport, body: Any, **options: Any) -> httpx2.Response:
    async def main() -> httpx2.Response:
        async with httpx2.AsyncClient(transport=transport) as client:
            response = await client.post(options.pop("url", URL), json=body, **options)
            await response.aread()
            return response

    return _run(main)


def _body(**extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": "hi"}], **extra}


def test_completion_shape_ids_and_usage() -> None:
    calls = (
        ToolCall(id="", name="add", arguments='{"a": 2, "b": 3}'),
        ToolCall(id="", name="add", arguments='{"a": 2, "b": 3}'),
    )
    reply = ChatReply(
        content="Adding.",
        tool_calls=calls,
        finish_reason="tool_calls",
        usage=Usage(prompt_tokens=7, completion_tokens=2),
    )
    scripted = ScriptedTransport([reply])
    response = _post(RetortHTTPTransport(scripted), _body(temperature=0.5))
    completion = response.json()
    assert completion["object"] == "chat.completion"
    assert completion["model"] == "m"
    [choice] = completion["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Adding."
    ids = [c["id"] for c in choice["message"]["tool_calls"]]
    # No ids from the transport: the protocol's stable ids, the repeat with its ordinal.
    assert ids == [ADD_ID, stable_tool_call_id("add", {"a": 2, "b": 3}, 2)]
    assert completion["usage"] == {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
    assert scripted.history[0].temperature == 0.5


def test_tool_choice_none_sends_no_tools_and_returns_calls_as_text() -> None:
    tools = [{"type": "function", "function": {"name": "add", "parameters": {}}}]
    call = ToolCall(id="c1", name="add", arguments='{"a": 1}')
    scripted = ScriptedTransport([ChatReply(tool_calls=(call,), finish_reason="tool_calls")])
    response = _post(RetortHTTPTransport(scripted), _body(tools=tools, tool_choice="none"))
    [choice] = response.json()["choices"]
    assert scripted.history[0].tools is None
    assert "tool_calls" not in choice["message"]
    assert choice["finish_reason"] == "stop"
    assert json.loads(choice["message"]["content"]) == [{"name": "add", "arguments": {"a": 1}}]


def test_a_named_tool_choice_sends_only_that_tool() -> None:
    tools = [
        {"type": "function", "function": {"name": name, "parameters": {}}} for name in ("a", "b")
    ]
    scripted = ScriptedTransport(["ok"])
    choice = {"type": "function", "function": {"name": "b"}}
    _post(RetortHTTPTransport(scripted), _body(tools=tools, tool_choice=choice))
    assert [t["function"]["name"] for t in scripted.history[0].tools or []] == ["b"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (_body(n=2), 400, "n=2 asks for several choices"),
        ({"model": "m", "messages": []}, 400, "non-empty 'messages'"),
        (_body(tool_choice={"type": "function", "function": {"name": "x"}}), 400, "tool_choice"),
        (_body(messages=[{"content": "no role"}]), 400, "cannot be read"),
        (_body(temperature="hot"), 400, "temperature must be a number"),
        (_body(tools={"name": "add"}), 400, "tools must be a list"),
        (_body(messages=[{"role": "developer", "content": "x"}]), 400, "cannot be read"),
    ],
)
def test_bodies_it_cannot_carry_are_openai_errors(body: Any, status: int, message: str) -> None:
    scripted = ScriptedTransport([])
    response = _post(RetortHTTPTransport(scripted), body)
    assert response.status_code == status
    assert message in response.json()["error"]["message"]
    assert scripted.history == []


def test_other_paths_are_404_and_non_json_is_400() -> None:
    transport = RetortHTTPTransport(ScriptedTransport([]))
    missing = _post(transport, _body(), url="http://retort.invalid/v1/embeddings")
    assert missing.status_code == 404
    assert "chat/completions only" in missing.text

    async def garbled() -> httpx2.Response:
        async with httpx2.AsyncClient(transport=RetortHTTPTransport(ScriptedTransport([]))) as c:
            return await c.post(URL, content=b"{not json")

    assert _run(garbled).status_code == 400


def test_the_sdk_raises_its_own_errors_for_refused_requests() -> None:
    async def main() -> Any:
        http_client = httpx2.AsyncClient(transport=RetortHTTPTransport(ScriptedTransport([])))
        async with openai.AsyncOpenAI(
            api_key="unused", base_url="http://retort.invalid/v1", http_client=http_client
        ) as sdk:
            return await sdk.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}], n=3
            )

    with pytest.raises(openai.BadRequestError, match="n=3 asks for several choices"):
        _run(main)


def test_streaming_with_usage_and_reasoning() -> None:
    reply = ChatReply(
        content="Forty-two.",
        reasoning="six times seven",
        usage=Usage(prompt_tokens=5, completion_tokens=3),
    )

    async def main() -> list[Any]:
        async with _closing(stock_proxy_client(transport=ScriptedTransport([reply]))) as client:
            stream = client.create_stream(
                [UserMessage(content="6 x 7?", source="user")], include_usage=True
            )
            return [item async for item in stream]

    *chunks, result = _run(main)
    assert "".join(chunks) == "<think>six times seven</think>Forty-two."
    assert result.content == "Forty-two."
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (5, 3)


def test_closing_the_stock_client_closes_the_transport(url: str) -> None:
    proxy = ProxyTransport(url)

    async def main() -> None:
        client = stock_proxy_client(transport=proxy)
        await client.close()

    _run(main)
    assert proxy.closed


def test_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="transport= was given together with base_url"):
        stock_proxy_client(transport=ScriptedTransport([]), base_url="http://127.0.0.1:1")
    with pytest.raises(ConfigurationError, match="may not set api_key"):
        stock_proxy_client(transport=ScriptedTransport([]), client_options={"api_key": "k"})
    with pytest.raises(ConfigurationError, match="http:// or https://"):
        stock_openai_client("ftp://127.0.0.1/v1", model="m")
    with pytest.raises(ConfigurationError, match="SANDBOX_PROXY_URL"):
        proxy_http_client("")
    with pytest.raises(TypeError, match="needs a retort Transport"):
        RetortHTTPTransport(object())  # type: ignore[arg-type]


def test_a_closed_transport_refuses_requests() -> None:
    scripted = ScriptedTransport(["unused"])
    transport = RetortHTTPTransport(scripted)

    async def main() -> None:
        await transport.aclose()
        await transport.aclose()  # idempotent
        request = httpx2.Request("POST", URL, json=_body())
        await transport.handle_async_request(request)

    with pytest.raises(RuntimeError, match="after aclose"):
        _run(main)
    assert scripted.closed


def test_the_offline_guard_refuses_other_hosts() -> None:
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): the guard must refuse it before any packet.
    with socket.socket() as sock, pytest.raises(OfflineAttempt):
        sock.connect(("192.0.2.1", 80))
    with pytest.raises(OfflineAttempt):
        tiktoken.get_encoding("cl100k_base")
