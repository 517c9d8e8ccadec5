"""Record and replay: the cassette format, RecordingTransport and ReplayTransport."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import retort.adapters.replay as replay_api
from retort.adapters.native import NativeAgent
from retort.adapters.proxy._wire import request_key
from retort.adapters.replay import (
    VERSION,
    Cassette,
    CassetteError,
    CassetteMiss,
    RecordingTransport,
    ReplayTransport,
)
from retort.core import (
    ChatReply,
    ChatRequest,
    ConfigurationError,
    Message,
    ToolCall,
    TransportError,
    TransportStatusError,
    Usage,
    create_transport,
    make_plugin_manager,
    solve,
    stable_tool_call_id,
)
from retort.plugins.testing import ReplySpec, ScriptedTransport


def ask(text: str, **fields: Any) -> ChatRequest:
    return ChatRequest(messages=[Message(role="user", content=text)], **fields)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def record(path: Path, *exchanges: tuple[ChatRequest, str | ChatReply]) -> None:
    inner = ScriptedTransport([reply for _, reply in exchanges])
    async with RecordingTransport(inner, path) as recorder:
        for request, _ in exchanges:
            await recorder.send(request)


def test_the_public_names_are_pinned() -> None:
    assert sorted(replay_api.__all__) == [
        "Cassette",
        "CassetteError",
        "CassetteMiss",
        "Exchange",
        "RecordingTransport",
        "ReplayTransport",
        "VERSION",
    ]
    assert issubclass(CassetteMiss, TransportError)
    assert issubclass(CassetteError, ConfigurationError)


# ------------------------------------------------------------------ the line format


def test_each_exchange_is_one_line_in_the_shared_format(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    first = ask("What is 6 x 7?", model="m", temperature=0.0)
    reply = ChatReply(content="42", usage=Usage(prompt_tokens=3, completion_tokens=1))
    asyncio.run(record(path, (first, reply), (ask("And 7 x 8?"), "56")))
    written = lines(path)
    assert len(written) == 2
    assert set(written[0]) == {"version", "key", "request", "reply", "recorded_at"}
    assert written[0]["version"] == VERSION == 1
    assert written[0]["key"] == request_key(first)
    assert written[0]["request"] == first.model_dump(mode="json")
    assert written[0]["reply"] == reply.model_dump(mode="json")
    recorded = datetime.fromisoformat(written[0]["recorded_at"])
    assert recorded.utcoffset() is not None
    assert abs((datetime.now(UTC) - recorded).total_seconds()) < 60
    assert written[1]["reply"]["content"] == "56"


def test_newlines_and_unicode_stay_inside_one_line(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    text = 'line one\nline two\r\n\u2028 café ☕ "quoted"'
    asyncio.run(record(path, (ask(text), text)))
    assert path.read_bytes().count(b"\n") == 1
    assert "café" in path.read_text(encoding="utf-8")  # readable, not \u-escaped

    async def replay() -> ChatReply:
        return await ReplayTransport(path).send(ask(text))

    assert asyncio.run(replay()).content == text


def test_loading_tolerates_blank_lines_unknown_keys_and_a_missing_version(tmp_path: Path) -> None:
    request = ask("hi")
    reply = ChatReply(content="hello").model_dump(mode="json")
    path = tmp_path / "hand.jsonl"
    path.write_text(
        "\n   \n"
        + json.dumps({"key": request_key(request), "reply": reply, "note": "by hand"})
        + "\n\n",
        encoding="utf-8",
    )
    (exchange,) = Cassette(path).exchanges()
    assert (exchange.line, exchange.request, exchange.recorded_at) == (3, None, None)

    async def replay() -> ChatReply:
        return await ReplayTransport(path).send(request)

    assert asyncio.run(replay()).content == "hello"


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "a JSON list, not an object"),
        ('{"reply": {"content": "x"}}', "no 'key' string"),
        ('{"key": "abc"}', "no 'reply'"),
        ('{"key": "abc", "reply": {"finish_reason": "bogus"}}', "invalid ChatReply: finish_reason"),
        ('{"key": "abc", "reply": {}, "request": {"messages": 3}}', "invalid ChatRequest"),
        ('{"version": 2, "key": "abc", "reply": {}}', "format version 2"),
    ],
)
def test_a_corrupt_line_names_the_file_and_the_line(tmp_path: Path, line: str, found: str) -> None:
    path = tmp_path / "bad.jsonl"
    good = json.dumps({"version": 1, "key": "k", "reply": {"content": "ok"}})
    path.write_text(f"{good}\n\n{line}\n", encoding="utf-8")
    with pytest.raises(CassetteError) as caught:
        ReplayTransport(path)
    assert caught.value.line == 3
    assert caught.value.path == path
    assert str(caught.value).startswith(f"{path}, line 3: expected a recorded exchange")
    assert found in str(caught.value)


def test_a_cassette_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    path = tmp_path / "binary.jsonl"
    path.write_bytes(b"\xff\xfe\x00junk\n")
    with pytest.raises(CassetteError, match="not UTF-8"):
        Cassette(path).exchanges()


def test_a_missing_cassette_is_refused_at_once(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match="does not exist; record one with RecordingTransport"):
        ReplayTransport(tmp_path / "nope.jsonl")
    assert Cassette(tmp_path / "nope.jsonl").exchanges() == []


# ------------------------------------------------------------------ replay


def test_replay_answers_offline_and_keeps_history(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    asyncio.run(record(path, (ask("a"), "reply a"), (ask("b"), "reply b")))

    async def main() -> tuple[list[str | None], ReplayTransport]:
        async with ReplayTransport(path) as transport:
            got = [(await transport.send(ask(text))).content for text in ("b", "a")]
        return got, transport

    got, transport = asyncio.run(main())
    assert got == ["reply b", "reply a"]
    assert [request.messages[0].content for request in transport.history] == ["b", "a"]


def test_model_and_temperature_do_not_count_but_tools_do(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    asyncio.run(record(path, (ask("hi", model="big", temperature=0.0), "hello")))
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]

    async def main() -> ChatReply:
        transport = ReplayTransport(path)
        reply = await transport.send(ask("hi", model="small", temperature=0.7))
        with pytest.raises(CassetteMiss):
            await transport.send(ask("hi", tools=tools))
        return reply

    assert asyncio.run(main()).content == "hello"


def test_a_key_recorded_several_times_replays_in_order_then_repeats(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    asyncio.run(record(path, (ask("again?"), "one"), (ask("again?"), "two")))

    async def main(strict: bool) -> list[str | None]:
        transport = ReplayTransport(path, strict=strict)
        return [(await transport.send(ask("again?"))).content for _ in range(3)]

    assert asyncio.run(main(strict=False)) == ["one", "two", "two"]
    with pytest.raises(CassetteMiss, match="was asked 3 times but recorded 2 times") as caught:
        asyncio.run(main(strict=True))
    assert (caught.value.asked, caught.value.recorded) == (3, 2)


def test_a_miss_names_the_key_the_last_message_and_the_cassette(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    asyncio.run(record(path, (ask("known"), "yes")))
    request = ChatRequest(
        messages=[
            Message(role="user", content="known"),
            Message(role="assistant", content="yes"),
            Message(role="user", content="an unrecorded question " * 10),
        ]
    )

    async def main() -> None:
        await ReplayTransport(path).send(request)

    with pytest.raises(CassetteMiss) as caught:
        asyncio.run(main())
    miss = caught.value
    message = str(miss)
    assert miss.key == request_key(request)
    assert miss.key in message
    assert str(path) in message
    assert "last message user: 'an unrecorded question an unrecorded" in message
    assert "holds 1 exchange;" in message
    assert (miss.role, miss.path, miss.asked, miss.recorded) == ("user", path, 1, 0)


def test_a_miss_surfaces_typed_through_solve(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.touch()

    async def main() -> None:
        async with NativeAgent(ReplayTransport(path)) as agent:
            await solve(agent, "Not recorded.")

    with pytest.raises(CassetteMiss, match="Not recorded"):
        asyncio.run(main())


def test_replayed_replies_are_copies(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    call = ToolCall(id="c1", name="f", arguments="{}")
    asyncio.run(record(path, (ask("x"), ChatReply(content="x", tool_calls=(call,)))))

    async def main() -> ChatReply:
        transport = ReplayTransport(path)
        first = await transport.send(ask("x"))
        first.content = "changed by the caller"
        return await transport.send(ask("x"))

    assert asyncio.run(main()).content == "x"


def test_replay_refuses_requests_after_aclose(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.touch()

    async def main() -> None:
        transport = ReplayTransport(path)
        await transport.aclose()
        await transport.aclose()
        await transport.send(ask("x"))

    with pytest.raises(RuntimeError, match="after aclose"):
        asyncio.run(main())


# ------------------------------------------------------------------ recording


def test_failed_and_cancelled_requests_are_not_recorded(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    failure = TransportStatusError("HTTP 503", status=503)
    delays = iter([0.0, 5.0, 0.0])  # the second request hangs until it is cancelled
    inner = ScriptedTransport([failure, "slow", "ok"], latency=lambda: next(delays))

    async def main() -> None:
        async with RecordingTransport(inner, path) as recorder:
            with pytest.raises(TransportStatusError):
                await recorder.send(ask("fails"))
            task = asyncio.create_task(recorder.send(ask("cancelled")))
            await asyncio.sleep(0.05)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await recorder.send(ask("works"))

    asyncio.run(main())
    assert [line["request"]["messages"][0]["content"] for line in lines(path)] == ["works"]


def test_concurrent_sends_write_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    inner = ScriptedTransport(
        lambda request: (request.messages[0].content or "") * 2_000, latency=0.001
    )

    async def main() -> None:
        async with RecordingTransport(inner, path) as recorder:
            await asyncio.gather(*(recorder.send(ask(f"q{n}-")) for n in range(40)))

    asyncio.run(main())
    written = lines(path)
    assert len(written) == 40
    for line in written:
        question = line["request"]["messages"][0]["content"]
        assert line["reply"]["content"] == question * 2_000


def test_threads_sharing_a_cassette_or_a_path_never_interleave_lines(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    shared = Cassette(path)
    other = Cassette(path)  # a second object on the same file: O_APPEND keeps lines whole
    big = "x" * 200_000

    def write(cassette: Cassette, worker: int) -> None:
        for n in range(5):
            cassette.record(ask(f"{worker}-{n}"), ChatReply(content=big))

    threads = [
        threading.Thread(target=write, args=(shared if n % 2 else other, n)) for n in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    shared.close()
    other.close()
    exchanges = Cassette(path).exchanges()
    assert len(exchanges) == 30
    assert {exchange.reply.content for exchange in exchanges} == {big}


def test_aclose_closes_the_inner_transport_and_the_file(tmp_path: Path) -> None:
    async def main(close_inner: bool) -> tuple[ScriptedTransport, RecordingTransport]:
        inner = ScriptedTransport(["a"])
        recorder = RecordingTransport(inner, tmp_path / "run.jsonl", close_inner=close_inner)
        await recorder.send(ask("a"))
        await recorder.aclose()
        await recorder.aclose()
        return inner, recorder

    inner, recorder = asyncio.run(main(close_inner=True))
    assert inner.closed
    assert not recorder.cassette.is_open
    inner, _ = asyncio.run(main(close_inner=False))
    assert not inner.closed

    async def after_close() -> None:
        await recorder.send(ask("a"))

    with pytest.raises(RuntimeError, match="RecordingTransport: send\\(\\) after aclose"):
        asyncio.run(after_close())


def test_a_closed_cassette_reopens_for_the_next_record(tmp_path: Path) -> None:
    cassette = Cassette(tmp_path / "deep" / "dir" / "run.jsonl")
    cassette.record(ask("1"), ChatReply(content="1"))
    states = [cassette.is_open]
    cassette.close()
    cassette.close()
    states.append(cassette.is_open)
    cassette.record(ask("2"), ChatReply(content="2"))
    cassette.close()
    assert states == [True, False]
    assert [e.reply.content for e in cassette.exchanges()] == ["1", "2"]
    assert repr(cassette) == f"Cassette({str(cassette.path)!r})"


def test_fsync_makes_each_line_durable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    monkeypatch.setattr(os, "fsync", synced.append)
    cassette = Cassette(tmp_path / "run.jsonl", fsync=True)
    cassette.record(ask("1"), ChatReply(content="1"))
    cassette.record(ask("2"), ChatReply(content="2"))
    cassette.close()
    assert len(synced) == 2
    Cassette(tmp_path / "other.jsonl").record(ask("3"), ChatReply(content="3"))
    assert len(synced) == 2


def test_an_unwritable_cassette_raises_a_cassette_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory", encoding="utf-8")

    async def main() -> None:
        async with RecordingTransport(ScriptedTransport(["x"]), blocker / "run.jsonl") as rec:
            await rec.send(ask("x"))

    with pytest.raises(CassetteError, match=r"cannot write to the cassette .*check the path"):
        asyncio.run(main())


def test_recording_wraps_transports_only(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="wraps a Transport, got str"):
        RecordingTransport("http://x", tmp_path / "run.jsonl")  # type: ignore[arg-type]


def test_an_agent_recorded_with_tools_replays_offline(tmp_path: Path) -> None:
    """Record a native agent's tool round, then replay the same conversation."""
    path = tmp_path / "agent.jsonl"
    call = ToolCall(id="c1", name="double", arguments='{"n": 21}')

    def double(n: int) -> int:
        return 2 * n

    async def conversation(transport: Any) -> str:
        async with NativeAgent(transport, "Be brief.", [double]) as agent:
            return (await agent.ask("Double 21.")).text

    scripted: list[ReplySpec] = [ChatReply(tool_calls=(call,), finish_reason="tool_calls"), "42"]
    recorded = asyncio.run(conversation(RecordingTransport(ScriptedTransport(scripted), path)))
    replayed = asyncio.run(conversation(ReplayTransport(path, strict=True)))
    assert recorded == replayed == "42"
    assert len(lines(path)) == 2


def test_the_reference_server_replays_a_recorded_cassette(tmp_path: Path) -> None:
    """The line format is shared: the reference server answers from the same file."""
    from retort.adapters.openai import OpenAITransport
    from retort.adapters.proxy import ProxyTransport, serve

    path = tmp_path / "agent.jsonl"
    # Stable ids, as the proxy transport computes them: the proxy protocol carries no
    # ids, so the next request's tool-call turn only keys the same with the same ids.
    arguments = {"n": 21}
    call = ToolCall(
        id=stable_tool_call_id("double", arguments),
        name="double",
        arguments=json.dumps(arguments),
    )

    def double(n: int) -> int:
        return 2 * n

    async def conversation(transport: Any) -> list[str]:
        async with NativeAgent(transport, "Be brief.", [double]) as agent:
            return [(await agent.ask(question)).text for question in ("Double 21.", "Thanks.")]

    scripted: list[ReplySpec] = [
        ChatReply(tool_calls=(call,), finish_reason="tool_calls"),
        "42",
        "welcome",
    ]
    recorded = asyncio.run(conversation(RecordingTransport(ScriptedTransport(scripted), path)))
    with serve(cassette=path) as server:
        over_proxy = asyncio.run(conversation(ProxyTransport(server.url, retries=0)))
        over_openai = asyncio.run(
            conversation(OpenAITransport(f"{server.url}/v1", model="any", retries=0))
        )
    assert recorded == over_proxy == over_openai == ["42", "welcome"]


def test_the_plugin_registers_replay_and_recording(tmp_path: Path) -> None:
    pm = make_plugin_manager(defaults=["retort.adapters.replay._plugin"], autoload=False)
    path = tmp_path / "run.jsonl"
    inner = ScriptedTransport(["hello"])
    recorder = create_transport("recording", pm, inner=inner, cassette=path)
    assert isinstance(recorder, RecordingTransport)
    assert recorder.inner is inner
    asyncio.run(record(path, (ask("hi"), "hello")))
    replay = create_transport("replay", pm, cassette=path, strict=True)
    assert isinstance(replay, ReplayTransport)
    assert replay.strict
