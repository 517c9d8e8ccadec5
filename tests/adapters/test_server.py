"""The reference proxy server, through a real uvicorn on 127.0.0.1 and a real httpx client."""

from __future__ import annotations

import asyncio
import importlib
import json
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _support import Switch

from retort.adapters.proxy._app import ServerStats
from retort.adapters.proxy._faults import Faults
from retort.adapters.proxy._models import (
    EchoModel,
    FunctionModel,
    ModelReply,
    ModelRequest,
    ModelToolCall,
    ReplayModel,
)
from retort.adapters.proxy._scripted_model import Rule, ScriptedModel
from retort.adapters.proxy._server import ServerHandle, serve
from retort.adapters.proxy._wire import proxy_messages, request_key
from retort.core import stable_tool_call_id
from retort.core.errors import ConfigurationError
from retort.core.messages import ChatReply, ChatRequest, Message, ToolCall, Usage

DATA = Path(__file__).parent / "data"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_file_content",
            "description": "Read a file.",
            "parameters": {"type": "object", "properties": {"file_path": {"type": "string"}}},
        },
    }
]


def proxy_body(content: str = "hi", agent_id: str = "coder:1", **extra: Any) -> dict[str, Any]:
    messages = extra.pop("messages", [{"role": "user", "content": content}])
    body = {
        "model": "zai-org/GLM-4.6-FP8",
        "messages": messages,
        "run_id": "nocache-1",
        "temperature": 0.0,
        "agent_id": agent_id,
    }
    return {**body, **extra}


def chat_body(content: str = "hi", **extra: Any) -> dict[str, Any]:
    messages = extra.pop("messages", [{"role": "user", "content": content}])
    return {"model": "gpt-test", "messages": messages, **extra}


@pytest.fixture
def switch(shared: tuple[ServerHandle, Switch]) -> Iterator[Switch]:
    server, switch = shared
    switch.model = EchoModel()
    server.set_faults(None)
    server.reset_stats()
    yield switch
    server.set_faults(None)


@pytest.fixture
def server(shared: tuple[ServerHandle, Switch], switch: Switch) -> ServerHandle:
    return shared[0]


@pytest.fixture
def client(server: ServerHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def settled(server: ServerHandle) -> ServerStats:
    """The stats once no request is in flight: a client can see its answer (or a reset)
    a moment before the server's handler has finished its bookkeeping."""
    deadline = time.monotonic() + 2
    while server.stats.in_flight and time.monotonic() < deadline:
        time.sleep(0.005)
    return server.stats


# ---------------------------------------------------------------- routes and shapes


def test_health_stats_and_default_echo(client: httpx.Client, server: ServerHandle) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.post("/api/inference", json=proxy_body("echo me")).json() == "echo me"
    stats = client.get("/stats").json()
    assert stats["by_path"] == {"/health": 1, "/api/inference": 1, "/stats": 1}
    assert stats["by_status"] == {"200": 2}
    assert (stats["in_flight"], stats["peak"], stats["faults"]) == (0, 1, {})
    assert server.stats.requests == 3
    assert server.url.startswith("http://127.0.0.1:")


def test_proxy_text_and_tool_replies(client: httpx.Client, switch: Switch) -> None:
    switch.model = ScriptedModel(
        [
            {"match": "text", "reply": "plain"},
            {
                "match": "tool",
                "reply": {
                    "text": "reading",
                    "tool_calls": [{"name": "get_file_content", "arguments": {"file_path": "a"}}],
                },
            },
        ]
    )
    text = client.post("/api/inference", json=proxy_body("text please"))
    assert (text.status_code, text.headers["content-type"]) == (200, "application/json")
    assert text.json() == "plain"
    tool = client.post("/api/inference", json=proxy_body("a tool please")).json()
    assert tool == {
        "response_type": "tool",
        "tool_calls": [{"name": "get_file_content", "arguments": {"file_path": "a"}}],
        "content": "reading",
    }


@pytest.mark.parametrize(
    ("body", "missing", "invalid"),
    [
        ({"model": "m", "messages": []}, ["run_id", "temperature", "agent_id"], {}),
        (proxy_body(temperature="hot"), [], {"temperature": "expected a number, got str"}),
        (proxy_body(temperature=None), [], {"temperature": "expected a number, got NoneType"}),
        (proxy_body(messages=[{"content": "x"}]), [], {"messages[0]": "an object with"}),
    ],
)
def test_proxy_body_errors_are_422_naming_fields(
    client: httpx.Client, body: dict[str, Any], missing: list[str], invalid: dict[str, str]
) -> None:
    response = client.post("/api/inference", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["type"] == "invalid_request"
    assert error["missing"] == missing
    assert set(error["invalid"]) == set(invalid)
    for name, text in invalid.items():
        assert text in error["invalid"][name]
    for name in missing:
        assert name in error["message"]


def test_non_json_bodies_are_422(client: httpx.Client) -> None:
    for path in ("/api/inference", "/v1/chat/completions"):
        response = client.post(path, content=b"not json")
        assert response.status_code == 422
        assert "not JSON" in response.json()["error"]["message"]
        assert client.post(path, json=["a list"]).status_code == 422


def test_openai_completion_shape(client: httpx.Client, switch: Switch) -> None:
    switch.model = FunctionModel(
        lambda request: ModelReply(
            text="let me look",
            tool_calls=(
                ModelToolCall("get_file_content", {"file_path": "a.py"}),
                ModelToolCall("get_file_content", {"file_path": "a.py"}),
            ),
        )
    )
    body = client.post("/v1/chat/completions", json=chat_body("x" * 40, tools=TOOLS)).json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "gpt-test"
    assert isinstance(body["created"], int)
    (choice,) = body["choices"]
    assert (choice["index"], choice["finish_reason"]) == (0, "tool_calls")
    message = choice["message"]
    assert (message["role"], message["content"]) == ("assistant", "let me look")
    first, second = message["tool_calls"]
    assert first["id"] == stable_tool_call_id("get_file_content", {"file_path": "a.py"})
    assert second["id"] == stable_tool_call_id("get_file_content", {"file_path": "a.py"}, 2)
    assert first["type"] == "function"
    assert json.loads(first["function"]["arguments"]) == {"file_path": "a.py"}
    assert body["usage"]["prompt_tokens"] == 10  # 40 characters / 4
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 10
    request = switch.model.requests[0]
    assert (request.endpoint, request.agent_id, request.tools) == ("openai", None, tuple(TOOLS))


def test_openai_text_reply_and_user_as_agent_id(client: httpx.Client, switch: Switch) -> None:
    switch.model = ScriptedModel([{"agent": "coder:*", "reply": "hello coder"}])
    body = client.post("/v1/chat/completions", json=chat_body(user="coder:7")).json()
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "hello coder"}
    assert body["choices"][0]["finish_reason"] == "stop"


def test_openai_body_errors_are_422(client: httpx.Client) -> None:
    response = client.post("/v1/chat/completions", json={"messages": []})
    assert response.status_code == 422
    assert response.json()["error"]["missing"] == ["model"]
    response = client.post("/v1/chat/completions", json=chat_body(stream="yes"))
    assert response.json()["error"]["invalid"] == {"stream": "expected a boolean, got str"}
    assert client.post("/v1/chat/completions", json=chat_body(messages=[])).status_code == 422


def sse_events(response: httpx.Response) -> list[Any]:
    events = []
    for block in response.text.split("\n\n"):
        if block:
            assert block.startswith("data: ")
            data = block.removeprefix("data: ")
            events.append(data if data == "[DONE]" else json.loads(data))
    return events


def test_openai_streaming_sse(client: httpx.Client, switch: Switch) -> None:
    text = "a reply long enough to come in several chunks"
    switch.model = FunctionModel(
        lambda request: ModelReply(text=text, tool_calls=(ModelToolCall("f", {"x": 1}),))
    )
    body = chat_body(stream=True, stream_options={"include_usage": True})
    with client.stream("POST", "/v1/chat/completions", json=body) as response:
        response.read()
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert len({chunk["id"] for chunk in chunks}) == 1
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks if chunk["choices"]]
    assert deltas[0]["role"] == "assistant"
    assert "".join(d.get("content", "") for d in deltas) == text
    assert sum(1 for d in deltas if d.get("content")) > 1
    (call,) = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert (call["index"], call["function"]) == (0, {"name": "f", "arguments": '{"x": 1}'})
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "tool_calls"
    assert set(finishes[:-1]) == {None}
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["total_tokens"] > 0


# ---------------------------------------------------------------- scripted model


def test_scripted_first_match_wins_by_agent_turn_and_regex(
    client: httpx.Client, switch: Switch
) -> None:
    switch.model = ScriptedModel(
        [
            {"agent": "tester:*", "turn": 1, "match": "(?i)^write", "reply": "tester turn 1"},
            {"agent": "tester:*", "turn": [2, 3], "reply": "tester later"},
            {"endpoint": "openai", "reply": "openai only"},
            {"model": "small-*", "reply": "small model"},
            {"reply": "catch-all"},
        ]
    )
    assistant = {"role": "assistant", "content": "ok"}

    def ask(content: str, agent: str = "tester:1", turns: int = 0, **extra: Any) -> Any:
        messages = [{"role": "user", "content": content}, assistant] * turns
        messages.append({"role": "user", "content": content})
        body = proxy_body(agent_id=agent, messages=messages, **extra)
        return client.post("/api/inference", json=body).json()

    assert ask("Write the tests") == "tester turn 1"
    assert ask("please write") == "catch-all"  # the regex is anchored
    assert ask("Write the tests", agent="coder:1") == "catch-all"
    assert ask("anything", turns=1) == "tester later"
    assert ask("anything", turns=2) == "tester later"
    assert ask("anything", turns=3) == "catch-all"
    assert ask("x", agent="z", model="small-1") == "small model"
    openai = client.post("/v1/chat/completions", json=chat_body()).json()
    assert openai["choices"][0]["message"]["content"] == "openai only"


def test_scripted_successive_replies_then_last_repeats(
    client: httpx.Client, switch: Switch
) -> None:
    switch.model = model = ScriptedModel([{"match": "count", "reply": ["one", "two"]}])
    replies = [client.post("/api/inference", json=proxy_body("count")).json() for _ in range(4)]
    assert replies == ["one", "two", "two", "two"]
    assert len(model.requests) == 4
    model.reset()
    assert client.post("/api/inference", json=proxy_body("count")).json() == "one"


def test_scripted_no_match_is_404_naming_agent_turn_and_message(
    client: httpx.Client, switch: Switch
) -> None:
    switch.model = ScriptedModel([{"agent": "other:*", "reply": "x"}])
    response = client.post("/api/inference", json=proxy_body("Solve " + "y" * 300, "coder:9"))
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["type"] == "no_reply"
    assert (error["agent_id"], error["turn"]) == ("coder:9", 1)
    assert error["last_message"].startswith("Solve yyy")
    assert len(error["last_message"]) <= 120
    assert "'coder:9'" in error["message"]
    assert "turn 1" in error["message"]


def test_scripted_status_reply_then_success(client: httpx.Client, switch: Switch) -> None:
    switch.model = ScriptedModel(
        [{"reply": [{"status": 503, "retry_after": 0.5, "text": "busy"}, "ok"]}]
    )
    first = client.post("/api/inference", json=proxy_body())
    assert (first.status_code, first.headers["retry-after"]) == (503, "0.5")
    assert first.json()["error"] == {"type": "scripted_status", "message": "busy"}
    assert client.post("/api/inference", json=proxy_body()).json() == "ok"


@pytest.mark.parametrize("name", ["server_script.yaml", "server_script.json"])
def test_scripted_from_file(client: httpx.Client, switch: Switch, name: str) -> None:
    switch.model = ScriptedModel.from_file(DATA / name)
    agent = "test_generator:m-3.4"
    first = proxy_body("Please WRITE THE TESTS", agent)
    assert client.post("/api/inference", json=first).json().startswith("=======THOUGHT\n")
    second = proxy_body(
        agent_id=agent,
        messages=[*first["messages"], {"role": "assistant", "content": "..."}],
    )
    assert client.post("/api/inference", json=second).json() == {
        "response_type": "tool",
        "tool_calls": [{"name": "get_file_content", "arguments": {"file_path": "a.py"}}],
    }
    counts = [client.post("/api/inference", json=proxy_body("count")).json() for _ in range(4)]
    assert counts == ["one", "two", "three", "three"]
    other = client.post("/api/inference", json=proxy_body("nothing"))
    assert other.json() == "I have no scripted reply for this."


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([{"agnet": "x", "reply": "r"}], "rules[0]: unknown key(s) 'agnet'"),
        ([{"match": "x"}], "rules[0]: missing 'reply'"),
        ([{"reply": "a"}, {"match": "(", "reply": "r"}], "rules[1]: 'match' is not a valid regex"),
        ([{"turn": 0, "reply": "r"}], "'turn' counts from 1"),
        ([{"turn": "2", "reply": "r"}], "'turn' must be an integer"),
        ([{"reply": []}], "rules[0].reply: an empty list"),
        ([{"reply": {"txt": "x"}}], "unknown key(s) 'txt'"),
        ([{"reply": {"tool_calls": [{"arguments": {}}]}}], "tool_calls[0] must be a mapping"),
        ([{"reply": {"delay": -1}}], "delay must be seconds >= 0"),
        ([{"reply": {"status": 302}}], "status must be 200 or an error status"),
        ([{"endpoint": "grpc", "reply": "r"}], "'endpoint' must be 'proxy' or 'openai'"),
    ],
)
def test_scripted_rules_are_validated_up_front(rules: list[Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        ScriptedModel(rules)
    assert message in str(caught.value)


def test_scripted_files_are_validated(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [{reply: x}]\nextra: 1\n")
    with pytest.raises(ConfigurationError, match=r"bad.yaml: unknown key\(s\) 'extra'"):
        ScriptedModel.from_file(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ConfigurationError, match=r"broken\.json is not valid JSON"):
        ScriptedModel.from_file(broken)
    with pytest.raises(ConfigurationError, match="cannot read"):
        ScriptedModel.from_file(tmp_path / "missing.yaml")
    rules_only = tmp_path / "list.yaml"
    rules_only.write_text("- reply: just a list of rules\n")
    assert ScriptedModel.from_file(rules_only).rules[0].replies == (
        ModelReply(text="just a list of rules"),
    )
    assert isinstance(ScriptedModel([Rule(replies=(ModelReply("r"),))]).rules[0], Rule)


# ---------------------------------------------------------------- replay and function models


def write_cassette(path: Path, entries: list[tuple[ChatRequest, ChatReply]]) -> None:
    lines = [""]  # a blank line, which readers skip
    for request, reply in entries:
        record = {
            "version": 1,
            "key": request_key(request),
            "request": request.model_dump(mode="json"),
            "reply": reply.model_dump(mode="json"),
            "recorded_at": "2026-01-01T00:00:00Z",
        }
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_replay_answers_both_endpoints_from_a_cassette(
    client: httpx.Client, switch: Switch, tmp_path: Path
) -> None:
    plain = ChatRequest(
        messages=[Message(role="system", content="s"), Message(role="user", content="q")]
    )
    call = ToolCall(id="call-1", name="get_file_content", arguments='{"file_path": "a.py"}')
    with_tools = ChatRequest(
        messages=[
            Message(role="user", content="read it"),
            Message(role="assistant", tool_calls=(call,)),
            Message(role="tool", content="print(1)", tool_call_id="call-1"),
        ],
        tools=TOOLS,
    )
    cassette = tmp_path / "run.jsonl"
    write_cassette(
        cassette,
        [
            (plain, ChatReply(content="first", usage=Usage(prompt_tokens=7, completion_tokens=2))),
            (plain, ChatReply(content="second")),
            (with_tools, ChatReply(tool_calls=(call,), finish_reason="tool_calls")),
        ],
    )
    switch.model = ReplayModel.from_file(cassette)

    proxied = proxy_body(messages=proxy_messages(plain))
    assert client.post("/api/inference", json=proxied).json() == "first"
    openai = client.post(
        "/v1/chat/completions", json=chat_body(messages=[m.to_openai() for m in plain.messages])
    ).json()
    assert openai["choices"][0]["message"]["content"] == "second"  # successive, by key
    assert client.post("/api/inference", json=proxied).json() == "second"  # the last repeats

    wire = [m.to_openai() for m in with_tools.messages]
    reply = client.post("/v1/chat/completions", json=chat_body(messages=wire, tools=TOOLS)).json()
    assert reply["choices"][0]["message"]["tool_calls"] == [call.to_openai()]
    assert reply["choices"][0]["finish_reason"] == "tool_calls"
    tool = client.post("/api/inference", json=proxy_body(messages=proxy_messages(with_tools)))
    assert tool.json()["tool_calls"] == [
        {"name": "get_file_content", "arguments": {"file_path": "a.py"}}
    ]

    missing = client.post("/api/inference", json=proxy_body("never recorded"))
    assert missing.status_code == 404
    error = missing.json()["error"]
    assert error["key"] in error["message"]
    assert error["last_message"] == "never recorded"
    assert str(cassette) in error["message"]


def test_replay_reads_what_the_recording_transport_writes(
    client: httpx.Client, switch: Switch, tmp_path: Path
) -> None:
    from retort.adapters.replay import Cassette

    request = ChatRequest(messages=[Message(role="user", content="recorded")], tools=TOOLS)
    cassette = Cassette(tmp_path / "recorded.jsonl")
    cassette.record(request, ChatReply(content="from the recorder"))
    cassette.close()
    switch.model = ReplayModel.from_file(tmp_path / "recorded.jsonl")
    body = proxy_body(messages=proxy_messages(request))
    assert client.post("/api/inference", json=body).json() == "from the recorder"


def test_replay_cassette_errors_name_the_line(tmp_path: Path) -> None:
    cassette = tmp_path / "bad.jsonl"
    cassette.write_text('{"key": "k", "reply": {"content": "ok"}, "extra": 1}\n\nnot json\n')
    with pytest.raises(ConfigurationError, match=r"bad.jsonl, line 3: not JSON"):
        ReplayModel.from_file(cassette)
    cassette.write_text('{"key": "k", "reply": {"content": 3}}\n')
    with pytest.raises(ConfigurationError, match="line 1: 'reply' must be a ChatReply"):
        ReplayModel.from_file(cassette)
    cassette.write_text('{"reply": {"content": "x"}}\n')
    with pytest.raises(ConfigurationError, match="line 1: no 'key'"):
        ReplayModel.from_file(cassette)


def test_function_models_sync_async_and_failing(client: httpx.Client, switch: Switch) -> None:
    switch.model = FunctionModel(lambda request: f"turn {request.turn}: {request.last_message}")
    assert client.post("/api/inference", json=proxy_body("hello")).json() == "turn 1: hello"

    async def tools(request: ModelRequest) -> dict[str, Any]:
        await asyncio.sleep(0)
        return {"tool_calls": [{"name": "f", "arguments": "not json"}]}

    switch.model = FunctionModel(tools)
    chat = client.post("/v1/chat/completions", json=chat_body()).json()
    assert chat["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == "not json"
    assert client.post("/api/inference", json=proxy_body()).json()["tool_calls"] == [
        {"name": "f", "arguments": "not json"}
    ]

    def broken(request: ModelRequest) -> str:
        raise ValueError("no model today")

    switch.model = FunctionModel(broken)
    response = client.post("/api/inference", json=proxy_body())
    assert response.status_code == 500
    assert (
        response.json()["error"]["message"] == "the model backend raised ValueError: no model today"
    )
    switch.model = FunctionModel(lambda request: 42)
    response = client.post("/api/inference", json=proxy_body())
    assert response.status_code == 500
    assert (
        "expected a string, a mapping with text/tool_calls" in response.json()["error"]["message"]
    )


# ---------------------------------------------------------------- faults


def test_status_faults_carry_retry_after_on_429_and_503(
    client: httpx.Client, server: ServerHandle
) -> None:
    for status, header in ((429, "0.25"), (503, "0.25"), (500, None)):
        server.set_faults(Faults(statuses={status: 1.0}, retry_after=0.25))
        response = client.post("/api/inference", json=proxy_body())
        assert response.status_code == status
        assert response.headers.get("retry-after") == header
        assert response.json()["error"]["type"] == "injected_fault"
    server.set_faults(Faults(statuses={503: 1.0}, retry_after=2))
    assert client.post("/v1/chat/completions", json=chat_body()).headers["retry-after"] == "2"
    assert server.stats.faults == {"status:429": 1, "status:503": 2, "status:500": 1}


def test_reset_drops_the_connection(client: httpx.Client, server: ServerHandle) -> None:
    server.set_faults({"reset": 1.0})
    for path, body in (("/api/inference", proxy_body()), ("/v1/chat/completions", chat_body())):
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            client.post(path, json=body)
    server.set_faults(None)
    assert client.post("/api/inference", json=proxy_body("back")).json() == "back"
    stats = server.stats
    assert stats.faults == {"reset": 2}
    assert stats.by_status == {200: 1}  # a reset sends no status
    assert settled(server).in_flight == 0


def test_truncate_sends_half_a_body_then_closes(client: httpx.Client, server: ServerHandle) -> None:
    server.set_faults({"truncate": 1.0})
    with pytest.raises(httpx.RemoteProtocolError, match=r"complete message body"):
        client.post("/api/inference", json=proxy_body("some reply text"))
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/v1/chat/completions", json=chat_body())
    stream = client.stream("POST", "/v1/chat/completions", json=chat_body(stream=True))
    with pytest.raises(httpx.RemoteProtocolError, match=r"incomplete chunked read"), stream as r:
        r.read()
    assert server.stats.faults == {"truncate": 3}


def test_non_json_is_an_html_page_with_status_200(
    client: httpx.Client, server: ServerHandle
) -> None:
    server.set_faults({"non_json": 1.0})
    for path, body in (("/api/inference", proxy_body()), ("/v1/chat/completions", chat_body())):
        response = client.post(path, json=body)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        with pytest.raises(json.JSONDecodeError):
            response.json()
        assert "502 Bad Gateway" in response.text


def test_delay_fault_and_health_never_faulted(client: httpx.Client, server: ServerHandle) -> None:
    server.set_faults({"delay": 1.0, "delay_seconds": 0.2, "reset": 1.0})
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/stats").status_code == 200
    server.set_faults({"delay": 1.0, "delay_seconds": 0.2})
    start = time.perf_counter()
    assert client.post("/api/inference", json=proxy_body("slow")).json() == "slow"
    assert time.perf_counter() - start >= 0.2
    assert server.stats.faults == {"delay": 1}


def test_only_paths_narrows_faults(client: httpx.Client, server: ServerHandle) -> None:
    server.set_faults({"statuses": {"500": 1.0}, "only_paths": ["/v1/chat/completions"]})
    assert client.post("/api/inference", json=proxy_body()).status_code == 200
    assert client.post("/v1/chat/completions", json=chat_body()).status_code == 500


def status_sequence(client: httpx.Client, count: int) -> list[int]:
    return [client.post("/api/inference", json=proxy_body()).status_code for _ in range(count)]


def test_responses_are_not_held_back_by_nagle(client: httpx.Client) -> None:
    # Without TCP_NODELAY on accepted connections each response waits for the client's
    # delayed ACK (~40 ms); the median of a few requests stays far below that.
    timings = []
    for _ in range(9):
        start = time.perf_counter()
        client.post("/api/inference", json=proxy_body())
        timings.append(time.perf_counter() - start)
    assert sorted(timings)[4] < 0.02


def test_seeded_faults_are_reproducible(client: httpx.Client, server: ServerHandle) -> None:
    faults = Faults(seed=7, statuses={500: 0.3, 429: 0.2}, retry_after=None)
    server.set_faults(faults)
    first = status_sequence(client, 40)
    server.set_faults(faults)
    assert status_sequence(client, 40) == first
    assert {200, 429, 500} <= set(first)
    server.set_faults(Faults(seed=8, statuses={500: 0.3, 429: 0.2}))
    assert status_sequence(client, 40) != first


def test_admin_faults_switch_the_running_server(client: httpx.Client) -> None:
    response = client.post("/admin/faults", json={"statuses": {"503": 1.0}, "retry_after": 0.1})
    assert response.json()["faults"]["statuses"] == {"503": 1.0}
    assert client.post("/api/inference", json=proxy_body()).status_code == 503
    assert client.get("/admin/faults").json()["faults"]["retry_after"] == 0.1
    bad = client.post("/admin/faults", json={"reset": 2})
    assert bad.status_code == 422
    assert "reset must be between 0 and 1" in bad.json()["error"]["message"]
    unknown = client.post("/admin/faults", json={"resets": 0.1})
    assert "unknown key(s) 'resets'" in unknown.json()["error"]["message"]
    assert client.post("/api/inference", json=proxy_body()).status_code == 503  # unchanged
    client.post("/admin/faults", json={})
    assert client.post("/api/inference", json=proxy_body()).status_code == 200
    assert client.post("/admin/reset").json()["requests"] == 0
    assert client.get("/stats").json()["by_path"] == {"/stats": 1}


def test_faults_validation_and_text_forms() -> None:
    with pytest.raises(ConfigurationError, match=r"sum to at most 1, got 1\.2"):
        Faults(statuses={500: 0.5}, reset=0.4, truncate=0.3)
    with pytest.raises(ConfigurationError, match="statuses must be 400-599, got 200"):
        Faults(statuses={200: 0.1})
    with pytest.raises(ConfigurationError, match="only_paths may name"):
        Faults(only_paths=frozenset({"/health"}))
    parsed = Faults.parse("statuses: {503: 0.5}\nreset: 0.1\nretry_after: null\n")
    assert (parsed.statuses, parsed.reset, parsed.retry_after) == ({503: 0.5}, 0.1, None)
    assert Faults.from_mapping(json.loads(json.dumps(parsed.to_dict()))) == parsed
    assert Faults.parse("") == Faults()


# ---------------------------------------------------------------- concurrency and lifecycle


async def fire(url: str, count: int, limit: int | None = None) -> list[Any]:
    semaphore = asyncio.Semaphore(limit or count)

    async def one(client: httpx.AsyncClient, index: int) -> Any:
        async with semaphore:
            response = await client.post("/api/inference", json=proxy_body(f"r{index}"))
            return response.json()

    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        return await asyncio.gather(*(one(client, i) for i in range(count)))


def test_peak_counts_concurrent_requests(server: ServerHandle, switch: Switch) -> None:
    switch.model = ScriptedModel([], default={"text": "slow", "delay": 0.15})
    assert asyncio.run(fire(server.url, 8)) == ["slow"] * 8
    assert (settled(server).peak, settled(server).in_flight) == (8, 0)
    server.reset_stats()
    asyncio.run(fire(server.url, 7, limit=3))
    assert server.stats.peak == 3
    assert server.stats.by_path == {"/api/inference": 7}


def test_two_servers_do_not_interfere() -> None:
    with (
        serve(FunctionModel(lambda r: "one")) as one,
        serve(faults={"statuses": {"500": 1.0}}) as two,
    ):
        assert one.port != two.port
        assert httpx.post(f"{one.url}/api/inference", json=proxy_body()).json() == "one"
        assert httpx.post(f"{two.url}/api/inference", json=proxy_body()).status_code == 500
        assert (one.stats.requests, two.stats.requests) == (1, 1)
        assert one.stats.faults == {}
        assert two.stats.faults == {"status:500": 1}


def test_close_is_idempotent_and_releases_the_port() -> None:
    server = serve()
    port = server.port
    assert httpx.get(f"{server.url}/health").status_code == 200
    server.close()
    server.close()
    assert server.closed
    assert "closed" in repr(server)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/health")
    with serve(port=port) as again:
        assert httpx.get(f"{again.url}/health").json() == {"status": "ok"}


def test_serve_options(tmp_path: Path) -> None:
    with serve(script=DATA / "server_script.yaml", faults='{"non_json": 0.0}') as server:
        assert isinstance(server.model, ScriptedModel)
        response = httpx.post(f"{server.url}/api/inference", json=proxy_body("count"))
        assert response.json() == "one"
    cassette = tmp_path / "c.jsonl"
    write_cassette(
        cassette,
        [(ChatRequest(messages=[Message(role="user", content="q")]), ChatReply(content="a"))],
    )
    with serve(cassette=cassette) as server:
        assert httpx.post(f"{server.url}/api/inference", json=proxy_body("q")).json() == "a"


def test_serve_refuses_bad_configurations() -> None:
    with pytest.raises(ConfigurationError, match="one of model, script and cassette"):
        serve(EchoModel(), script="x.yaml")
    with pytest.raises(ConfigurationError, match=r"not a loopback address.*allow_remote=True"):
        serve(host="0.0.0.0")
    with pytest.raises(ConfigurationError, match="must have 'async def reply"):
        serve(object())  # type: ignore[arg-type]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot bind the reference server to 127.0.0.1:{port}"):
            serve(port=port)


def test_async_use_does_not_block_the_loop() -> None:
    async def main() -> Any:
        server = await asyncio.to_thread(serve, FunctionModel(lambda r: "async"))
        async with server, httpx.AsyncClient(base_url=server.url) as client:
            response = await client.post("/api/inference", json=proxy_body())
        assert server.closed
        return response.json()

    assert asyncio.run(main()) == "async"


def test_missing_server_extra_names_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("retort.adapters.proxy._server", "retort.adapters.proxy._app"):
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "starlette.applications", None)
    with pytest.raises(ImportError, match=r"pip install 'retort\[server\]'"):
        importlib.import_module("retort.adapters.proxy._server")
    monkeypatch.setitem(sys.modules, "yaml", None)
    script = tmp_path / "s.yaml"
    script.write_text("rules: []\n")
    with pytest.raises(ImportError, match=r"PyYAML.*pip install 'retort\[server\]'"):
        ScriptedModel.from_file(script)
