"""ProxyTransport: configuration, the exact request, every reply shape, a real server."""

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
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from retort.adapters._http import RetryPolicy
from retort.adapters.proxy import ProxyTransport
from retort.adapters.proxy._wire import proxy_messages
from retort.core import (
    ChatRequest,
    ConfigurationError,
    Message,
    ProtocolError,
    Run,
    ToolCall,
    TransportConnectionError,
    TransportStatusError,
    TransportTimeout,
    create_transport,
    make_plugin_manager,
    stable_tool_call_id,
)

ENV = ("SANDBOX_PROXY_URL", "RUN_ID", "AGENT_ID")
REQUEST = ChatRequest(
    messages=[
        Message(role="system", content="You are terse."),
        Message(role="user", content="Solve it."),
    ]
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def bare_plugins() -> Any:
    return make_plugin_manager(defaults=[], autoload=False)


def exchange(
    response: httpx.Response | None = None,
    request: ChatRequest = REQUEST,
    **options: Any,
) -> tuple[Any, httpx.Request]:
    """Send ``request`` to an in-memory proxy answering ``response``; return (reply, sent)."""
    sent: list[httpx.Request] = []

    def handler(http_request: httpx.Request) -> httpx.Response:
        sent.append(http_request)
        return response if response is not None else httpx.Response(200, json="ok")

    async def main() -> Any:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            options.setdefault("plugins", bare_plugins())
            options.setdefault("retries", 0)
            async with ProxyTransport(
                options.pop("base_url", "http://proxy.test"), client=client, **options
            ) as transport:
                return await transport.send(request)

    return asyncio.run(main()), sent[0]


def reply_to(body: Any, **headers: str) -> Any:
    """The reply to a 200 whose body is ``body`` as JSON, or as it is when headers are given."""
    if not headers:
        headers = {"content-type": "application/json"}
        body = json.dumps(body)
    return exchange(httpx.Response(200, content=body, headers=headers))[0]


# ------------------------------------------------------------------ configuration


def test_defaults_without_environment() -> None:
    transport = ProxyTransport()
    assert str(transport.url) == "http://sandbox_proxy/api/inference"
    assert transport.run_id == "nocache-1"
    assert transport.agent_id == "retort:local"
    assert transport.model == "zai-org/GLM-4.6-FP8"
    assert transport.temperature == 0.0
    assert (transport.timeout, transport.retries, transport.deadline) == (180.0, 4, 600.0)


def test_environment_is_read_when_the_transport_is_created(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SANDBOX_PROXY_URL", "http://10.0.0.5:8080/base")
    monkeypatch.setenv("RUN_ID", "run-42")
    monkeypatch.setenv("AGENT_ID", "m-3.4")
    transport = ProxyTransport(agent_prefix="test_generator")
    monkeypatch.setenv("RUN_ID", "changed-later")
    assert str(transport.url) == "http://10.0.0.5:8080/base/api/inference"
    assert transport.run_id == "run-42"
    assert transport.agent_id == "test_generator:m-3.4"


def test_arguments_override_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_PROXY_URL", "http://env-proxy")
    monkeypatch.setenv("RUN_ID", "env-run")
    monkeypatch.setenv("AGENT_ID", "env-agent")
    transport = ProxyTransport("http://arg-proxy", run_id="r", agent_id="a", agent_prefix="p")
    assert (str(transport.url), transport.run_id, transport.agent_id) == (
        "http://arg-proxy/api/inference",
        "r",
        "p:a",
    )


@pytest.mark.parametrize(
    ("base", "url"),
    [
        ("http://h", "http://h/api/inference"),
        ("http://h/", "http://h/api/inference"),
        ("http://h/prefix", "http://h/prefix/api/inference"),
        ("http://h/prefix/", "http://h/prefix/api/inference"),
        ("https://h:8443/a/b", "https://h:8443/a/b/api/inference"),
        ("  http://h  ", "http://h/api/inference"),
    ],
)
def test_the_base_path_is_kept(base: str, url: str) -> None:
    assert str(ProxyTransport(base).url) == url


@pytest.mark.parametrize(
    ("base", "says"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("ftp://h", "http:// or https://"),
        ("sandbox_proxy", "http:// or https://"),
        ("http://", "no host"),
        ("http:///path", "no host"),
    ],
)
def test_bad_urls_fail_fast_saying_what_to_set(base: str, says: str) -> None:
    with pytest.raises(ConfigurationError, match="SANDBOX_PROXY_URL") as caught:
        ProxyTransport(base)
    assert says in str(caught.value)


def test_an_empty_environment_url_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_PROXY_URL", "")
    with pytest.raises(ConfigurationError, match="SANDBOX_PROXY_URL"):
        ProxyTransport()


@pytest.mark.parametrize("options", [{"model": ""}, {"agent_prefix": ""}])
def test_empty_names_fail_fast(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match=next(iter(options))):
        ProxyTransport("http://h", **options)


def test_it_is_registered_as_proxy() -> None:
    pm = make_plugin_manager(defaults=["retort.adapters.proxy._plugin"], autoload=False)
    transport = create_transport("proxy", pm=pm, base_url="http://h/p", agent_prefix="x")
    assert isinstance(transport, ProxyTransport)
    assert str(transport.url) == "http://h/p/api/inference"


# ------------------------------------------------------------------ the request


def test_the_request_body_is_exactly_the_protocols() -> None:
    _, sent = exchange(run_id="run-1", agent_id="m-3.4", agent_prefix="test_generator")
    assert sent.method == "POST"
    assert str(sent.url) == "http://proxy.test/api/inference"
    assert json.loads(sent.content) == {
        "model": "zai-org/GLM-4.6-FP8",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Solve it."},
        ],
        "run_id": "run-1",
        "temperature": 0.0,
        "agent_id": "test_generator:m-3.4",
    }
    assert sent.headers["content-type"] == "application/json"
    assert "authorization" not in sent.headers


def test_an_api_key_is_sent_as_a_bearer_token() -> None:
    _, sent = exchange(api_key="k-1")
    assert sent.headers["authorization"] == "Bearer k-1"


def test_the_request_may_set_model_and_temperature() -> None:
    request = REQUEST.model_copy(
        update={"model": "moonshotai/Kimi-K2-Instruct", "temperature": 0.3}
    )
    _, sent = exchange(request=request, model="zai-org/GLM-4.5-FP8", temperature=0.9)
    body = json.loads(sent.content)
    assert (body["model"], body["temperature"]) == ("moonshotai/Kimi-K2-Instruct", 0.3)

    _, sent = exchange(model="zai-org/GLM-4.5-FP8", temperature=0.9)
    body = json.loads(sent.content)
    assert (body["model"], body["temperature"]) == ("zai-org/GLM-4.5-FP8", 0.9)


def test_tools_and_response_format_are_rendered_into_the_system_message() -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_file_content",
            "description": "Read a file.",
            "parameters": {"type": "object", "properties": {"file_path": {"type": "string"}}},
        },
    }
    request = REQUEST.model_copy(update={"tools": [tool], "response_format": "One word."})
    _, sent = exchange(request=request)
    body = json.loads(sent.content)
    assert set(body) == {"model", "messages", "run_id", "temperature", "agent_id"}
    assert body["messages"] == proxy_messages(request)
    system = body["messages"][0]["content"]
    assert system.startswith("You are terse.")
    assert "get_file_content" in system
    assert "One word." in system


def test_a_tool_call_turn_goes_as_readable_text() -> None:
    call = ToolCall(id="c1", name="ls", arguments='{"path": "."}')
    request = ChatRequest(
        messages=[
            Message(role="user", content="List."),
            Message(role="assistant", content=None, tool_calls=(call,)),
            Message(role="tool", content="a.py", tool_call_id="c1"),
        ]
    )
    _, sent = exchange(request=request)
    messages = json.loads(sent.content)["messages"]
    assert messages[1]["role"] == "assistant"
    assert messages[1]["content"].startswith("tool_calls: [")
    assert '"name": "ls"' in messages[1]["content"]
    assert messages[2] == {"role": "tool", "content": "a.py", "tool_call_id": "c1"}


def test_for_agent_shares_the_pool_and_changes_only_the_prefix() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json="ok")

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            base = ProxyTransport("http://h", agent_id="7", client=client, plugins=bare_plugins())
            child = base.for_agent("critic")
            await child.send(REQUEST)
            await child.aclose()
            await base.send(REQUEST)  # closing the child left the pool open
            await base.aclose()

    asyncio.run(main())
    assert [json.loads(r.content)["agent_id"] for r in sent] == ["critic:7", "retort:7"]


# ------------------------------------------------------------------ replies


def test_a_json_string_is_the_reply_text() -> None:
    reply = reply_to("=======THOUGHT\nI will read.\n=======ANSWER\n42")
    assert reply.content == "=======THOUGHT\nI will read.\n=======ANSWER\n42"
    assert (reply.finish_reason, reply.tool_calls) == ("stop", ())
    assert reply.usage.total_tokens == 0


def test_a_twice_encoded_string_is_unwrapped_once_more_and_no_further() -> None:
    assert reply_to(json.dumps("hello")).content == "hello"
    assert reply_to(json.dumps(json.dumps("hello"))).content == '"hello"'


def test_a_string_holding_json_stays_text() -> None:
    text = '{"response_type": "tool", "tool_calls": [{"name": "ls", "arguments": {}}]}'
    reply = reply_to(text)
    assert reply.content == text
    assert reply.tool_calls == ()
    assert reply_to("[1, 2]").content == "[1, 2]"


def test_a_tool_reply_becomes_tool_calls_with_stable_unique_ids() -> None:
    args = {"file_path": "a.py"}
    reply = reply_to(
        {
            "response_type": "tool",
            "tool_calls": [
                {"name": "get_file_content", "arguments": args},
                {"name": "get_file_content", "arguments": args},
                {"name": "run", "arguments": "plain text"},
                {"name": "count", "arguments": 3},
                {"name": "pair", "arguments": [1, 2]},
            ],
        }
    )
    assert reply.finish_reason == "tool_calls"
    assert reply.content is None
    first, second, plain, number, pair = reply.tool_calls
    assert first.id == stable_tool_call_id("get_file_content", args)
    assert second.id == stable_tool_call_id("get_file_content", args, 2)
    assert json.loads(first.arguments) == args
    assert first.name == "get_file_content"
    assert json.loads(plain.arguments) == {"input": "plain text"}
    assert json.loads(number.arguments) == {"input": 3}
    assert json.loads(pair.arguments) == [1, 2]


def test_a_tool_reply_keeps_content_thought_and_usage() -> None:
    reply = reply_to(
        {
            "response_type": "tool",
            "tool_calls": [{"name": "ls", "arguments": {}}],
            "content": "Listing.",
            "thought": "I should look first.",
            "usage": {"prompt_tokens": 12, "completion_tokens": 3},
        }
    )
    assert (reply.content, reply.reasoning) == ("Listing.", "I should look first.")
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (12, 3)


def test_unreadable_usage_counts_as_not_reported() -> None:
    reply = reply_to(
        {
            "response_type": "tool",
            "tool_calls": [{"name": "ls"}],
            "usage": {"prompt_tokens": "many", "completion_tokens": -1},
        }
    )
    assert reply.usage.total_tokens == 0


@pytest.mark.parametrize(
    "tool_calls",
    [[], None, "ls", [{"arguments": {}}], [{"name": ""}], [42], {"name": "ls"}],
    ids=["empty", "null", "string", "no-name", "blank-name", "number", "object"],
)
def test_a_malformed_tool_reply_is_a_protocol_error(tool_calls: Any) -> None:
    body = {"response_type": "tool", "tool_calls": tool_calls}
    with pytest.raises(ProtocolError) as caught:
        exchange(httpx.Response(200, json=body), retries=3)
    assert caught.value.attempts == 1
    assert caught.value.status == 200
    assert "tool" in str(caught.value)


def test_a_tool_reply_without_tool_calls_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        exchange(httpx.Response(200, json={"response_type": "tool"}))


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (42, "42"),
        (1.5, "1.5"),
        (True, "true"),
        (None, "null"),
        ([1, "a"], '[1,"a"]'),
        ({"answer": "é", "n": [1, 2]}, '{"answer":"é","n":[1,2]}'),
        ({"response_type": "text", "content": "hi"}, '{"response_type":"text","content":"hi"}'),
    ],
)
def test_other_json_values_are_their_compact_json_text(body: Any, text: str) -> None:
    assert reply_to(body).content == text


def test_a_plain_text_body_is_the_reply_text() -> None:
    reply = reply_to("Just words, not JSON.", **{"content-type": "text/plain; charset=utf-8"})
    assert reply.content == "Just words, not JSON."
    assert reply_to("no header at all", **{"x-nothing": "1"}).content == "no header at all"


def test_a_body_declared_json_that_is_not_is_a_protocol_error() -> None:
    bad = httpx.Response(200, content=b"Just words", headers={"content-type": "application/json"})
    with pytest.raises(ProtocolError, match="not JSON"):
        exchange(bad)


def test_an_empty_body_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="empty body"):
        exchange(httpx.Response(200, content=b""))


# ------------------------------------------------------------------ a real server


def _proxy_app() -> Starlette:
    """A small proxy double: echoes, tool replies, throttling, failures, slowness."""
    hits: dict[str, int] = {}

    async def inference(request: Request) -> Response:
        body = await request.json()
        assert set(body) == {"model", "messages", "run_id", "temperature", "agent_id"}
        mode = request.path_params["mode"]
        hits[mode] = hits.get(mode, 0) + 1
        if mode == "echo":
            return JSONResponse(f"{body['agent_id']} heard {body['messages'][-1]['content']}")
        if mode == "tool":
            call = {"name": "get_file_content", "arguments": {"file_path": "a.py"}}
            return JSONResponse({"response_type": "tool", "tool_calls": [call]})
        if mode == "text":
            return PlainTextResponse("plain words")
        if mode in ("throttle", "unavailable") and hits[mode] == 1:
            status = 429 if mode == "throttle" else 503
            return JSONResponse(
                {"detail": "busy"}, status_code=status, headers={"retry-after": "0.2"}
            )
        if mode == "slow":
            await asyncio.sleep(1.0)
        return JSONResponse(f"{mode} after {hits[mode]}")

    return Starlette(routes=[Route("/{mode}/api/inference", inference, methods=["POST"])])


@pytest.fixture(scope="module")
def proxy_url(serve_app: Any) -> Iterator[str]:
    with serve_app(_proxy_app()) as url:
        yield url


def real_send(base_url: str, **options: Any) -> Any:
    async def main() -> Any:
        options.setdefault("plugins", bare_plugins())
        async with ProxyTransport(base_url, **options) as transport:
            return await transport.send(REQUEST)

    return asyncio.run(main())


def test_a_real_round_trip(proxy_url: str) -> None:
    reply = real_send(f"{proxy_url}/echo", agent_prefix="coder", agent_id="9")
    assert reply.content == "coder:9 heard Solve it."
    reply = real_send(f"{proxy_url}/tool")
    assert [call.name for call in reply.tool_calls] == ["get_file_content"]
    assert real_send(f"{proxy_url}/text").content == "plain words"


@pytest.mark.parametrize("mode", ["throttle", "unavailable"])
def test_a_real_retry_after_is_honoured(proxy_url: str, mode: str) -> None:
    started = time.monotonic()
    reply = real_send(f"{proxy_url}/{mode}")
    assert reply.content == f"{mode} after 2"
    assert time.monotonic() - started >= 0.2


def test_one_transport_across_event_loops_without_aclose(proxy_url: str) -> None:
    """What ``solve_sync`` called twice does; an unclosed socket would fail the test."""
    transport = ProxyTransport(f"{proxy_url}/echo", plugins=bare_plugins())
    for _ in range(2):
        assert asyncio.run(transport.send(REQUEST)).content == "retort:local heard Solve it."


def test_a_real_connection_refused(closed_url: str) -> None:
    with pytest.raises(TransportConnectionError) as caught:
        real_send(closed_url, retries=1)
    error = caught.value
    assert error.attempts == 2
    assert error.url == f"{closed_url}/api/inference"
    assert closed_url in str(error)
    assert "SANDBOX_PROXY_URL" in str(error)


def test_a_real_read_timeout(proxy_url: str) -> None:
    started = time.monotonic()
    with pytest.raises(TransportTimeout) as caught:
        real_send(f"{proxy_url}/slow", timeout=0.2, retries=0)
    assert time.monotonic() - started < 0.9
    assert "timed out" in str(caught.value)
    assert caught.value.attempts == 1


def test_a_real_error_status_is_typed(proxy_url: str) -> None:
    with pytest.raises(TransportStatusError) as caught:
        real_send(f"{proxy_url}/missing/path", retries=0)
    assert caught.value.status == 404
    assert "SANDBOX_PROXY_URL" in str(caught.value)


# ------------------------------------------------------------------ the reference server


def test_the_reference_server_with_faults_every_failure_retried_and_counted() -> None:
    from retort.adapters.proxy import Faults, ScriptedModel, serve

    model = ScriptedModel(rules=[{"agent": "coder:*", "reply": "=======ANSWER\n42"}])
    faults = Faults(
        seed=3, statuses={503: 0.15, 429: 0.1}, retry_after=0.01, reset=0.1, truncate=0.1
    )
    run = Run(plugins=bare_plugins())
    policy = RetryPolicy(backoff_base=0.01, rng=random.Random(0))

    async def main(url: str) -> list[Any]:
        with run.active():
            async with ProxyTransport(
                url, agent_prefix="coder", retries=10, policy=policy
            ) as transport:
                return await asyncio.gather(*(transport.send(REQUEST) for _ in range(40)))

    with serve(model, faults=faults) as server:
        replies = asyncio.run(main(server.url))
        stats = server.stats
    assert [reply.content for reply in replies] == ["=======ANSWER\n42"] * 40
    assert sum(stats.faults.values()) > 0
    assert run.metrics.transport_retries == stats.requests - 40
