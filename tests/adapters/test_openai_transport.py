"""OpenAITransport: the URL rule, the request body, decoding completions, a real server."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from retort.adapters._http import RetryPolicy
from retort.adapters.openai import OpenAITransport
from retort.core import (
    ChatRequest,
    ConfigurationError,
    Message,
    ProtocolError,
    Run,
    ToolCall,
    TransportConnectionError,
    TransportStatusError,
    create_transport,
    make_plugin_manager,
    stable_tool_call_id,
)

REQUEST = ChatRequest(
    messages=[
        Message(role="system", content="You are terse."),
        Message(role="user", content="Solve it."),
    ]
)


def bare_plugins() -> Any:
    return make_plugin_manager(defaults=[], autoload=False)


def completion(
    message: dict[str, Any] | None = None, finish_reason: str | None = "stop", **extra: Any
) -> dict[str, Any]:
    choice = {"index": 0, "message": message or {"role": "assistant", "content": "hi"}}
    choice["finish_reason"] = finish_reason
    return {"id": "c-1", "object": "chat.completion", "choices": [choice], **extra}


def exchange(
    response: httpx.Response | None = None, request: ChatRequest = REQUEST, **options: Any
) -> tuple[Any, httpx.Request]:
    """Send ``request`` to an in-memory server answering ``response``; return (reply, sent)."""
    sent: list[httpx.Request] = []

    def handler(http_request: httpx.Request) -> httpx.Response:
        sent.append(http_request)
        return response if response is not None else httpx.Response(200, json=completion())

    async def main() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            options.setdefault("plugins", bare_plugins())
            options.setdefault("retries", 0)
            options.setdefault("model", "qwen")
            base_url = options.pop("base_url", "http://llm.test/v1")
            async with OpenAITransport(base_url, client=client, **options) as transport:
                return await transport.send(request)

    return asyncio.run(main()), sent[0]


def reply_to(message: dict[str, Any], finish_reason: str | None = "stop", **extra: Any) -> Any:
    return exchange(httpx.Response(200, json=completion(message, finish_reason, **extra)))[0]


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("http://h:8000", "http://h:8000/v1/chat/completions"),
        ("http://h:8000/", "http://h:8000/v1/chat/completions"),
        ("http://h:8000/v1", "http://h:8000/v1/chat/completions"),
        ("http://h:8000/v1/", "http://h:8000/v1/chat/completions"),
        ("https://h/openai", "https://h/openai/chat/completions"),
        ("https://h/api/v2", "https://h/api/v2/chat/completions"),
        ("http://h/v1/chat/completions", "http://h/v1/chat/completions"),
    ],
)
def test_the_url_rule(base: str, url: str) -> None:
    assert str(OpenAITransport(base).url) == url


@pytest.mark.parametrize("base", ["", "localhost:8000", "ws://h", "http://"])
def test_bad_urls_fail_fast(base: str) -> None:
    with pytest.raises(ConfigurationError, match="base_url"):
        OpenAITransport(base)


def test_extra_body_may_not_replace_what_the_request_says() -> None:
    with pytest.raises(ConfigurationError, match="messages, model"):
        OpenAITransport("http://h", extra_body={"model": "x", "messages": [], "top_p": 1})


def test_a_model_is_needed() -> None:
    with pytest.raises(ConfigurationError, match="needs a model"):
        exchange(model=None)
    _, sent = exchange(request=REQUEST.model_copy(update={"model": "from-request"}), model=None)
    assert json.loads(sent.content)["model"] == "from-request"


def test_it_is_registered_as_openai() -> None:
    pm = make_plugin_manager(defaults=["retort.adapters.openai._plugin"], autoload=False)
    transport = create_transport("openai", pm=pm, base_url="http://h:8000", model="m")
    assert isinstance(transport, OpenAITransport)
    assert str(transport.url) == "http://h:8000/v1/chat/completions"


def test_repr_names_url_and_model() -> None:
    transport = OpenAITransport("http://h:8000", "sk-hidden", model="qwen")
    assert repr(transport).startswith(
        "<OpenAITransport url='http://h:8000/v1/chat/completions' model='qwen'"
    )
    assert "sk-hidden" not in repr(transport)


# ------------------------------------------------------------------ the request


def test_the_request_body() -> None:
    _, sent = exchange()
    assert str(sent.url) == "http://llm.test/v1/chat/completions"
    assert json.loads(sent.content) == {
        "model": "qwen",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Solve it."},
        ],
    }
    assert sent.headers["content-type"] == "application/json"
    assert "authorization" not in sent.headers


def test_an_api_key_is_sent_as_a_bearer_token() -> None:
    _, sent = exchange(api_key="sk-1")
    assert sent.headers["authorization"] == "Bearer sk-1"


def test_temperature_from_the_request_or_the_transport() -> None:
    _, sent = exchange(temperature=0.2)
    assert json.loads(sent.content)["temperature"] == 0.2
    request = REQUEST.model_copy(update={"temperature": 0.0})
    _, sent = exchange(request=request, temperature=0.2)
    assert json.loads(sent.content)["temperature"] == 0.0


def test_a_tool_call_turn_keeps_null_content() -> None:
    call = ToolCall(id="call_1", name="ls", arguments='{"path": "."}')
    request = ChatRequest(
        messages=[
            Message(role="user", content="List."),
            Message(role="assistant", content=None, tool_calls=(call,)),
            Message(role="tool", content="a.py", tool_call_id="call_1"),
        ]
    )
    _, sent = exchange(request=request)
    messages = json.loads(sent.content)["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "ls", "arguments": '{"path": "."}'},
            }
        ],
    }
    assert messages[2] == {"role": "tool", "content": "a.py", "tool_call_id": "call_1"}


TOOL = {
    "type": "function",
    "function": {"name": "ls", "parameters": {"type": "object", "properties": {}}},
}


def test_tools_and_tool_choice_go_natively() -> None:
    request = REQUEST.model_copy(update={"tools": [TOOL]})
    _, sent = exchange(request=request, tool_choice="required")
    body = json.loads(sent.content)
    assert body["tools"] == [TOOL]
    assert body["tool_choice"] == "required"
    assert body["messages"][0]["content"] == "You are terse."
    _, sent = exchange(tool_choice="required")  # no tools: no tool_choice either
    assert "tool_choice" not in json.loads(sent.content)


def test_a_response_format_object_goes_natively() -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}
    _, sent = exchange(request=REQUEST.model_copy(update={"response_format": schema}))
    body = json.loads(sent.content)
    assert body["response_format"] == schema
    assert body["messages"][0]["content"] == "You are terse."


def test_a_response_format_text_is_appended_to_the_system_message() -> None:
    _, sent = exchange(request=REQUEST.model_copy(update={"response_format": "One word."}))
    body = json.loads(sent.content)
    assert "response_format" not in body
    assert body["messages"][0]["content"] == "You are terse.\n\n# Response format\nOne word."
    lone = ChatRequest(messages=[Message(role="user", content="x")], response_format="JSON.")
    _, sent = exchange(request=lone)
    assert json.loads(sent.content)["messages"][0] == {
        "role": "system",
        "content": "# Response format\nJSON.",
    }


def test_extra_body_is_added() -> None:
    _, sent = exchange(extra_body={"max_tokens": 64, "seed": 1})
    body = json.loads(sent.content)
    assert (body["max_tokens"], body["seed"]) == (64, 1)


# ------------------------------------------------------------------ replies


def test_content_usage_and_finish_reason() -> None:
    reply = reply_to(
        {"role": "assistant", "content": "42"},
        usage={"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
    )
    assert (reply.content, reply.finish_reason, reply.tool_calls) == ("42", "stop", ())
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (9, 2)


@pytest.mark.parametrize(
    ("given", "mapped"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("tool_calls", "tool_calls"),
        ("function_call", "tool_calls"),
        ("content_filter", "content_filter"),
        ("eos", "unknown"),
        (None, "unknown"),
    ],
)
def test_finish_reasons_are_mapped(given: str | None, mapped: str) -> None:
    assert reply_to({"content": "x"}, given).finish_reason == mapped


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning"])
def test_reasoning_is_read(key: str) -> None:
    assert reply_to({"content": "x", key: "because"}).reasoning == "because"


def test_tool_calls_keep_provider_ids_and_get_stable_ones_when_missing() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "ls", "arguments": "{}"}},
            {"type": "function", "function": {"name": "cat", "arguments": '{"path": "a.py"}'}},
        ],
    }
    reply = reply_to(message, "tool_calls")
    assert reply.content is None
    first, second = reply.tool_calls
    assert (first.id, first.name, first.arguments) == ("call_a", "ls", "{}")
    assert second.id == stable_tool_call_id("cat", {"path": "a.py"})
    assert json.loads(second.arguments) == {"path": "a.py"}


def test_a_legacy_function_call_becomes_a_tool_call() -> None:
    message = {"content": None, "function_call": {"name": "ls", "arguments": '{"p": 1}'}}
    reply = reply_to(message, "function_call")
    assert [(c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [("ls", {"p": 1})]
    assert reply.finish_reason == "tool_calls"


def test_content_parts_are_joined() -> None:
    parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}, {"type": "image"}]
    assert reply_to({"content": parts}).content == "ab"


@pytest.mark.parametrize(
    "body",
    [
        {"choices": []},
        {"object": "list"},
        [1, 2],
        {"choices": [{"finish_reason": "stop"}]},
        completion({"tool_calls": [{"type": "function", "function": {"arguments": "{}"}}]}),
    ],
    ids=["no-choices", "no-key", "not-object", "no-message", "nameless-call"],
)
def test_a_completion_that_breaks_the_protocol_is_not_retried(body: Any) -> None:
    with pytest.raises(ProtocolError) as caught:
        exchange(httpx.Response(200, json=body), retries=3)
    assert caught.value.attempts == 1


def test_a_body_that_is_not_json_is_retried_then_a_protocol_error() -> None:
    html = httpx.Response(200, text="<html>Bad gateway</html>")
    with pytest.raises(ProtocolError, match="not JSON") as caught:
        exchange(html, retries=1, policy=_instant())
    assert caught.value.attempts == 2
    assert "<html>" in caught.value.body_excerpt


def _instant() -> RetryPolicy:
    async def no_wait(seconds: float) -> None:
        return None

    return RetryPolicy(sleep=no_wait)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"error": {"message": "The model `x` does not exist", "type": "invalid"}}, "does not"),
        ({"error": "quota exceeded"}, "quota exceeded"),
        ({"detail": "Not authenticated"}, "Not authenticated"),
        ({"message": "bad things"}, "bad things"),
    ],
)
def test_error_bodies_put_their_message_in_the_error(body: Any, says: str) -> None:
    with pytest.raises(TransportStatusError) as caught:
        exchange(httpx.Response(404, json=body), retries=3)
    assert says in str(caught.value)
    assert caught.value.status == 404
    assert caught.value.attempts == 1


# ------------------------------------------------------------------ a real server


def _server_app() -> Starlette:
    """A small OpenAI-compatible double: echo, tool calls, throttling once."""
    hits = {"n": 0}

    async def completions(request: Request) -> Response:
        body = await request.json()
        if body["model"] == "throttled":
            hits["n"] += 1
            if hits["n"] == 1:
                headers = {"retry-after": "0.2"}
                error = {"error": {"message": "rate limited"}}
                return JSONResponse(error, status_code=429, headers=headers)
        if body.get("tools"):
            name = body["tools"][0]["function"]["name"]
            function = {"name": name, "arguments": "{}"}
            call = {"id": "call_9", "type": "function", "function": function}
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
            return JSONResponse(completion(message, "tool_calls"))
        text = f"{body['model']} heard {body['messages'][-1]['content']}"
        usage = {"prompt_tokens": 5, "completion_tokens": 3}
        return JSONResponse(completion({"content": text}, "stop", usage=usage))

    return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])


@pytest.fixture(scope="module")
def server_url(serve_app: Any) -> Iterator[str]:
    with serve_app(_server_app()) as url:
        yield url


def real_send(base_url: str, request: ChatRequest = REQUEST, **options: Any) -> Any:
    async def main() -> Any:
        options.setdefault("plugins", bare_plugins())
        async with OpenAITransport(base_url, **options) as transport:
            return await transport.send(request)

    return asyncio.run(main())


def test_a_real_round_trip(server_url: str) -> None:
    reply = real_send(server_url, model="qwen")
    assert reply.content == "qwen heard Solve it."
    assert reply.usage.total_tokens == 8
    tools = REQUEST.model_copy(update={"tools": [TOOL]})
    reply = real_send(f"{server_url}/v1", tools, model="qwen")
    assert [(c.id, c.name) for c in reply.tool_calls] == [("call_9", "ls")]


def test_a_real_429_with_retry_after(server_url: str) -> None:
    started = time.monotonic()
    assert real_send(server_url, model="throttled").content == "throttled heard Solve it."
    assert time.monotonic() - started >= 0.2


def test_a_real_connection_refused(closed_url: str) -> None:
    with pytest.raises(TransportConnectionError) as caught:
        real_send(closed_url, model="m", retries=0)
    assert closed_url in str(caught.value)


def test_the_reference_server_with_faults_every_failure_retried_and_counted() -> None:
    from retort.adapters.proxy import Faults, ScriptedModel, serve

    model = ScriptedModel(rules=[{"endpoint": "openai", "reply": "fine"}])
    faults = Faults(seed=5, statuses={502: 0.2}, non_json=0.2, reset=0.1, truncate=0.1)
    run = Run(plugins=bare_plugins())
    policy = RetryPolicy(backoff_base=0.01, rng=random.Random(0))

    async def main(url: str) -> list[Any]:
        with run.active():
            async with OpenAITransport(url, model="m", retries=10, policy=policy) as transport:
                return await asyncio.gather(*(transport.send(REQUEST) for _ in range(30)))

    with serve(model, faults=faults) as server:
        replies = asyncio.run(main(server.url))
        stats = server.stats
    assert [reply.content for reply in replies] == ["fine"] * 30
    assert stats.faults.get("non_json", 0) > 0
    assert run.metrics.transport_retries == stats.requests - 30
