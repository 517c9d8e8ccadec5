"""The native agent: turns, tool rounds, the cap, failures, reject/reset/fork/aclose."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

import retort.adapters.native as native_api
from retort.adapters.native import NativeAgent
from retort.core import (
    ChatReply,
    Expect,
    Message,
    Run,
    ToolCall,
    ToolRegistry,
    TransportStatusError,
    Usage,
    create_agent,
    make_plugin_manager,
    solve,
)
from retort.plugins.testing import ScriptedTransport


def calls(*specs: tuple[str, dict[str, Any]], content: str | None = None) -> ChatReply:
    """A reply calling tools: ``(name, arguments)`` pairs, ids c1, c2, ..."""
    return ChatReply(
        content=content,
        tool_calls=tuple(
            ToolCall(id=f"c{n}", name=name, arguments=json.dumps(args))
            for n, (name, args) in enumerate(specs, start=1)
        ),
        finish_reason="tool_calls",
        usage=Usage(prompt_tokens=10, completion_tokens=2),
    )


def text(content: str | None, prompt: int = 10, completion: int = 3) -> ChatReply:
    return ChatReply(
        content=content, usage=Usage(prompt_tokens=prompt, completion_tokens=completion)
    )


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def shape(messages: list[Message]) -> list[tuple[str, str | None]]:
    return [(m.role, m.content) for m in messages]


def test_the_public_names_are_pinned() -> None:
    assert native_api.__all__ == ["NativeAgent"]


def test_ask_sends_the_context_and_returns_the_reply() -> None:
    transport = ScriptedTransport([text("Hello!", prompt=7, completion=2)])
    agent = NativeAgent(transport, "You are terse.", model="m-1", temperature=0.3)
    reply = asyncio.run(agent.ask("Hi."))
    assert reply.text == "Hello!"
    assert reply.tool_calls == ()
    assert reply.usage == Usage(prompt_tokens=7, completion_tokens=2)
    assert shape(list(reply.messages)) == [("user", "Hi."), ("assistant", "Hello!")]
    assert reply.turn_id == agent.context.turns[-1].id
    (request,) = transport.history
    assert shape(request.messages) == [("system", "You are terse."), ("user", "Hi.")]
    assert (request.model, request.temperature, request.tools) == ("m-1", 0.3, None)
    assert agent.system_message == "You are terse."


def test_a_reply_without_content_is_empty_text() -> None:
    agent = NativeAgent(ScriptedTransport([text(None)]))
    reply = asyncio.run(agent.ask("Say nothing."))
    assert reply.text == ""
    assert shape(agent.context.messages()) == [("user", "Say nothing."), ("assistant", "")]


def test_tool_rounds_run_until_a_reply_without_calls() -> None:
    transport = ScriptedTransport([calls(("add", {"a": 2, "b": 3})), text("The sum is 5.")])
    agent = NativeAgent(transport, tools=[add])
    reply = asyncio.run(agent.ask("What is 2 + 3?"))
    assert reply.text == "The sum is 5."
    assert reply.usage == Usage(prompt_tokens=20, completion_tokens=5)  # both rounds
    assert [m.role for m in reply.messages] == ["user", "assistant", "tool", "assistant"]
    call_turn, result = reply.messages[1], reply.messages[2]
    assert (call_turn.content, call_turn.tool_calls[0].name) == (None, "add")
    assert (result.content, result.tool_call_id, result.name) == ("5", "c1", "add")
    first, second = transport.history
    assert first.tools == agent.tools.schemas()
    assert first.tools is not None
    assert first.tools[0]["function"]["name"] == "add"
    assert shape(second.messages)[-2:] == [("assistant", None), ("tool", "5")]
    assert second.messages[-2].tool_calls == call_turn.tool_calls


def test_calls_of_one_reply_run_in_order_and_failures_are_counted() -> None:
    order: list[str] = []
    registry = ToolRegistry()

    @registry.register
    async def slow(tag: str) -> str:
        await asyncio.sleep(0.01)
        order.append(tag)
        return tag

    @registry.register
    def fast(tag: str) -> str:
        order.append(tag)
        return tag

    @registry.register
    def broken() -> str:
        raise OSError("disk on fire")

    reply = calls(
        ("slow", {"tag": "first"}),
        ("fast", {"tag": "second"}),
        ("broken", {}),
        ("missing", {}),
        ("fast", {"tag": 1}),  # wrong type, validated before the call
    )
    transport = ScriptedTransport([reply, text("done")])
    agent = NativeAgent(transport, tools=registry)
    run = Run()

    async def main() -> None:
        with run.active():
            await agent.ask("Go.")

    asyncio.run(main())
    assert order == ["first", "second"]
    results = [m for m in transport.history[1].messages if m.role == "tool"]
    assert [m.tool_call_id for m in results] == ["c1", "c2", "c3", "c4", "c5"]
    assert results[2].content == "Error: OSError: disk on fire"
    assert results[3].content is not None
    assert results[3].content.startswith("Error: unknown tool 'missing'")
    assert (run.metrics.tool_calls, run.metrics.tool_call_failed) == (5, 3)


def test_tools_run_outside_a_run_without_counting() -> None:
    agent = NativeAgent(ScriptedTransport([calls(("add", {"a": 1, "b": 1})), "2"]), tools=[add])
    assert asyncio.run(agent.ask("1 + 1?")).text == "2"


def test_the_tool_round_cap_returns_the_last_reply_uncalled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    forever = calls(("add", {"a": 1, "b": 2}), content="Still thinking.")
    transport = ScriptedTransport(lambda request: forever)
    agent = NativeAgent(transport, tools=[add], max_tool_rounds=2, name="looper")
    with caplog.at_level(logging.WARNING, logger="retort.adapters.native"):
        reply = asyncio.run(agent.ask("Loop."))
    assert transport.calls == 3  # two rounds ran, the third reply was not executed
    assert reply.text == "Still thinking."
    assert reply.tool_calls == forever.tool_calls
    assert agent.capped_turns == 1
    assert "agent 'looper': the model still called add after 2 tool round(s)" in caplog.text
    last = agent.context.messages()[-1]
    assert (last.role, last.content, last.tool_calls) == ("assistant", "Still thinking.", ())
    assert [m.role for m in reply.messages].count("tool") == 2


def test_every_tool_call_sent_is_followed_by_its_results_after_a_cap() -> None:
    transport = ScriptedTransport([calls(("add", {"a": 1, "b": 2})), "next answer"])
    agent = NativeAgent(transport, tools=[add], max_tool_rounds=0)

    async def main() -> None:
        first = await agent.ask("Capped at once.")
        assert first.text == ""
        assert first.tool_calls
        await agent.ask("Next.")

    asyncio.run(main())
    sent = transport.history[1].messages
    assert all(not m.tool_calls for m in sent)  # no dangling call without results
    assert shape(sent) == [("user", "Capped at once."), ("assistant", ""), ("user", "Next.")]


@pytest.mark.parametrize(
    ("rounds", "error"),
    [(-1, ValueError), (True, TypeError), (1.5, TypeError)],
)
def test_max_tool_rounds_is_checked(rounds: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="max_tool_rounds"):
        NativeAgent(ScriptedTransport([]), max_tool_rounds=rounds)


def test_tools_are_a_registry_or_a_list() -> None:
    with pytest.raises(TypeError, match=r"got the single function .*wrap it in a list"):
        NativeAgent(ScriptedTransport([]), tools=add)  # type: ignore[arg-type]
    assert NativeAgent(ScriptedTransport([]), tools=[add]).tools.names == ("add",)
    assert len(NativeAgent(ScriptedTransport([])).tools) == 0


def test_the_agent_needs_a_transport_and_text() -> None:
    with pytest.raises(TypeError, match="needs a Transport, got str"):
        NativeAgent("http://x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="takes a str, got NoneType"):
        asyncio.run(NativeAgent(ScriptedTransport([])).ask(None))  # type: ignore[arg-type]


# ------------------------------------------------------------------ failures


def test_a_failed_ask_leaves_the_context_as_it_was() -> None:
    failure = TransportStatusError("HTTP 503 from the endpoint", status=503)
    transport = ScriptedTransport(["first", failure, "second"])
    agent = NativeAgent(transport, "System.")

    async def main() -> None:
        await agent.ask("One.")
        before = agent.context.snapshot()
        with pytest.raises(TransportStatusError):
            await agent.ask("Two.")
        assert agent.context.snapshot()["turns"] == before["turns"]
        await agent.ask("Two.")

    asyncio.run(main())
    assert shape(transport.history[2].messages) == [
        ("system", "System."),
        ("user", "One."),
        ("assistant", "first"),
        ("user", "Two."),  # sent once, not twice
    ]


def test_a_failure_after_a_tool_round_discards_the_whole_turn() -> None:
    failure = TransportStatusError("HTTP 500", status=500)
    transport = ScriptedTransport([calls(("add", {"a": 1, "b": 1})), failure])
    agent = NativeAgent(transport, tools=[add])
    with pytest.raises(TransportStatusError):
        asyncio.run(agent.ask("1 + 1?"))
    assert agent.context.messages() == []


def test_a_failed_feedback_ask_keeps_the_next_turn_feedback() -> None:
    failure = TransportStatusError("HTTP 429", status=429)
    transport = ScriptedTransport(["bad", failure, "good"])
    agent = NativeAgent(transport)

    async def main() -> None:
        await agent.reject(await agent.ask("Task."))
        with pytest.raises(TransportStatusError):
            await agent.ask("Feedback.")
        await agent.ask("Feedback.")

    asyncio.run(main())
    assert [turn.kind for turn in agent.context.turns] == ["task", "feedback"]


def test_a_cancelled_ask_leaves_the_context_as_it_was() -> None:
    transport = ScriptedTransport(["never"], latency=10)
    agent = NativeAgent(transport, "System.")

    async def main() -> None:
        task = asyncio.create_task(agent.ask("Slow."))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert shape(agent.context.messages()) == [("system", "System.")]


# ------------------------------------------------------------------ reject, reset, fork, close


def test_reject_drops_the_reply_and_its_tool_messages() -> None:
    transport = ScriptedTransport([calls(("add", {"a": 1, "b": 1})), "2", "3"])
    agent = NativeAgent(transport, tools=[add])

    async def main() -> None:
        await agent.reject(await agent.ask("Task."))
        await agent.ask("Feedback.")

    asyncio.run(main())
    assert shape(transport.history[2].messages) == [("user", "Task."), ("user", "Feedback.")]


def test_reject_refuses_replies_it_did_not_produce() -> None:
    mine = NativeAgent(ScriptedTransport(["a"]), name="mine")
    theirs = NativeAgent(ScriptedTransport(["b"]), name="theirs")

    async def main() -> None:
        reply = await theirs.ask("Theirs.")
        with pytest.raises(ValueError, match=r"'mine'\.reject: turn \d+ is not in this"):
            await mine.reject(reply)
        with pytest.raises(ValueError, match="the reply has no turn_id"):
            await mine.reject(reply.model_copy(update={"turn_id": None}))

    asyncio.run(main())


def test_reset_forgets_the_conversation_but_not_the_system_message() -> None:
    transport = ScriptedTransport(["a", "b"])
    agent = NativeAgent(transport, "System.")

    async def main() -> None:
        await agent.ask("One.")
        await agent.reset()
        await agent.ask("Two.")

    asyncio.run(main())
    assert shape(transport.history[1].messages) == [("system", "System."), ("user", "Two.")]


def test_fork_shares_the_transport_and_tools_but_not_the_conversation() -> None:
    registry = ToolRegistry([add])
    transport = ScriptedTransport(["a", "b"])
    agent = NativeAgent(
        transport,
        "System.",
        registry,
        name="solver",
        model="m",
        temperature=0.2,
        max_tool_rounds=3,
        budget=500,
    )

    async def main() -> NativeAgent:
        await agent.ask("Parent.")
        fork = agent.fork()
        await fork.ask("Fork.")
        await fork.aclose()
        return fork

    fork = asyncio.run(main())
    assert fork.transport is transport
    assert fork.tools is registry
    assert (fork.name, fork.model, fork.temperature, fork.max_tool_rounds) == (
        "solver",
        "m",
        0.2,
        3,
    )
    assert (fork.system_message, fork.context.budget) == ("System.", 500)
    assert fork.context.count_tokens is agent.context.count_tokens
    assert not fork.owns_transport
    assert fork.closed
    assert not transport.closed  # the fork does not own the transport
    assert shape(transport.history[1].messages) == [("system", "System."), ("user", "Fork.")]
    asyncio.run(agent.aclose())
    assert transport.closed


def test_aclose_is_idempotent_and_refuses_further_asks() -> None:
    transport = ScriptedTransport([])

    async def main() -> None:
        async with NativeAgent(transport) as agent:
            pass
        await agent.aclose()
        with pytest.raises(RuntimeError, match="NativeAgent 'native': ask\\(\\) after aclose"):
            await agent.ask("Hi.")

    asyncio.run(main())
    assert transport.closed


def test_an_agent_that_does_not_own_its_transport_leaves_it_open() -> None:
    transport = ScriptedTransport([])
    asyncio.run(NativeAgent(transport, owns_transport=False).aclose())
    assert not transport.closed


def test_the_budget_trims_what_is_sent() -> None:
    transport = ScriptedTransport(lambda request: "x" * 400)
    agent = NativeAgent(transport, budget=300)

    async def main() -> None:
        for n in range(6):
            await agent.ask(f"Question {n}.")

    asyncio.run(main())
    last = transport.history[-1].messages
    assert len(last) < len(agent.context.messages())
    assert (last[0].content, last[-1].content) == ("Question 0.", "Question 5.")


def test_solve_runs_tool_rounds_through_the_native_agent() -> None:
    transport = ScriptedTransport(
        [
            "no sections here",
            calls(("add", {"a": 2, "b": 3})),
            "=======ANSWER\n5",
        ]
    )

    async def main() -> Any:
        async with NativeAgent(transport, tools=[add]) as agent:
            return await solve(agent, "What is 2 + 3?", Expect.sections("ANSWER"))

    solved = asyncio.run(main())
    assert solved.value == "5"
    assert (solved.metrics.tool_calls, solved.metrics.tool_call_failed) == (1, 0)
    assert len(solved.attempts) == 2
    final = transport.history[-1].messages
    assert [m.role for m in final] == ["user", "user", "assistant", "tool"]


def test_repr_names_the_agent() -> None:
    agent = NativeAgent(ScriptedTransport([]), name="critic")
    assert repr(agent).startswith("NativeAgent(name='critic', transport=")


def test_the_plugin_registers_the_agent_as_native() -> None:
    pm = make_plugin_manager(defaults=["retort.adapters.native._plugin"], autoload=False)
    transport = ScriptedTransport(["hi"])
    agent = create_agent("native", transport, pm, system_message="S.", model="m")
    assert isinstance(agent, NativeAgent)
    assert (agent.model, agent.system_message, agent.transport) == ("m", "S.", transport)
