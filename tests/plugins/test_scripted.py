"""The scripted test doubles: queues, callables, exceptions, latency, forks, reject/reset."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from retort.adapters.native import NativeAgent
from retort.core import (
    Expect,
    Run,
    Transport,
    get_plugin_manager,
    hookimpl,
    make_plugin_manager,
    set_plugin_manager,
    solve,
)
from retort.core.errors import RetortError, TransportError
from retort.core.messages import ChatReply, ChatRequest, Message, Reply, ToolCall, Usage
from retort.plugins.testing._scripted import ScriptedAgent, ScriptedTransport, ScriptExhausted


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def request(text: str) -> ChatRequest:
    return ChatRequest(messages=[Message(role="user", content=text)])


def send_all(transport: ScriptedTransport, *texts: str) -> list[ChatReply]:
    async def go() -> list[ChatReply]:
        return [await transport.send(request(text)) for text in texts]

    return run(go())


def ask_all(agent: ScriptedAgent, *messages: str) -> list[Reply]:
    async def go() -> list[Reply]:
        return [await agent.ask(message) for message in messages]

    return run(go())


def contents(agent: ScriptedAgent) -> list[str | None]:
    return [message.content for message in agent.context.messages()]


# ---------------------------------------------------------------- transport


def test_transport_answers_in_order_and_keeps_history() -> None:
    canned = ChatReply(content=None, tool_calls=(ToolCall(id="c1", name="f"),))
    transport = ScriptedTransport(["one", canned, "three"])
    replies = send_all(transport, "a", "b", "c")
    assert [reply.content for reply in replies] == ["one", None, "three"]
    assert replies[1] is canned
    assert [r.messages[0].content for r in transport.history] == ["a", "b", "c"]
    assert transport.calls == 3
    assert transport.remaining == 0


def test_transport_history_is_a_copy_of_the_request() -> None:
    transport = ScriptedTransport(["ok"])
    sent = request("a")
    run(transport.send(sent))
    sent.messages.append(Message(role="assistant", content="later"))
    assert len(transport.history[0].messages) == 1


def test_transport_string_replies_report_approximate_usage() -> None:
    (reply,) = send_all(ScriptedTransport(["x" * 40]), "y" * 8)
    assert reply.usage == Usage(prompt_tokens=2 + 4, completion_tokens=10 + 4)
    assert reply.finish_reason == "stop"


def test_transport_callables_sync_and_async_see_the_request() -> None:
    async def later(req: ChatRequest) -> str:
        await asyncio.sleep(0)
        return f"async {req.messages[-1].content}"

    transport = ScriptedTransport([lambda req: f"sync {req.messages[-1].content}", later])
    replies = send_all(transport, "a", "b")
    assert [reply.content for reply in replies] == ["sync a", "async b"]


def test_transport_single_callable_answers_every_request() -> None:
    transport = ScriptedTransport(lambda req: ChatReply(content=str(len(req.messages))))
    replies = send_all(transport, *"abcde")
    assert [reply.content for reply in replies] == ["1"] * 5
    assert transport.remaining is None
    assert transport.calls == 5


def test_transport_raises_scripted_exceptions_instances_and_classes() -> None:
    boom = TransportError("HTTP 503", status=503)
    transport = ScriptedTransport([boom, TimeoutError, lambda req: ValueError("from callable")])
    with pytest.raises(TransportError) as caught:
        send_all(transport, "a")
    assert caught.value is boom
    with pytest.raises(TimeoutError, match="scripted TimeoutError from ScriptedTransport"):
        send_all(transport, "b")
    with pytest.raises(ValueError, match="from callable"):
        send_all(transport, "c")
    assert transport.active == 0


def test_transport_exhaustion_names_the_count_and_the_request() -> None:
    transport = ScriptedTransport(["1", "2", "3"])
    send_all(transport, "a", "b", "c")
    with pytest.raises(ScriptExhausted) as caught:
        send_all(transport, "the fourth question")
    assert str(caught.value) == (
        "ScriptedTransport: all 3 scripted replies were used; request 4 was: 'the fourth question'"
    )
    assert (caught.value.scripted, caught.value.request) == (3, 4)
    assert isinstance(caught.value, RetortError)


def test_transport_lazy_iterables_are_consumed_on_demand() -> None:
    produced: list[int] = []

    def replies() -> Any:
        for n in range(2):
            produced.append(n)
            yield f"reply {n}"

    transport = ScriptedTransport(replies())
    assert produced == []
    assert send_all(transport, "a")[0].content == "reply 0"
    assert produced == [0]
    with pytest.raises(ScriptExhausted, match="all 2 scripted replies"):
        send_all(transport, "b", "c")


@pytest.mark.parametrize("bad", ["a single reply", ChatReply(content="x"), ValueError("x")])
def test_a_single_reply_must_be_wrapped_in_a_list(bad: Any) -> None:
    with pytest.raises(TypeError, match="wrap it in a list"):
        ScriptedTransport(bad)


def test_transport_refuses_a_spec_that_is_not_a_reply() -> None:
    with pytest.raises(TypeError, match="reply 1 is a int"):
        send_all(ScriptedTransport([42]), "a")  # type: ignore[list-item]


def test_transport_refuses_requests_after_aclose() -> None:
    async def go() -> None:
        async with ScriptedTransport(["unused"]) as transport:
            pass
        assert transport.closed
        await transport.aclose()
        with pytest.raises(RuntimeError, match="after aclose"):
            await transport.send(request("a"))

    run(go())


def test_transport_latency_overlaps_concurrent_requests() -> None:
    async def go(limit: asyncio.Semaphore | None) -> ScriptedTransport:
        transport = ScriptedTransport(lambda req: "ok", latency=0.01)

        async def one(n: int) -> ChatReply:
            if limit is None:
                return await transport.send(request(str(n)))
            async with limit:
                return await transport.send(request(str(n)))

        await asyncio.gather(*(one(n) for n in range(8)))
        return transport

    assert run(go(None)).peak == 8
    limited = run(go(asyncio.Semaphore(3)))
    assert (limited.peak, limited.active, limited.calls) == (3, 0, 8)


def test_transport_cancellation_during_latency_leaves_active_correct() -> None:
    async def go() -> ScriptedTransport:
        transport = ScriptedTransport(["slow", "next"], latency=lambda: 10.0)
        task = asyncio.create_task(transport.send(request("a")))
        await asyncio.sleep(0)
        assert transport.active == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return transport

    transport = run(go())
    assert (transport.active, transport.peak, transport.remaining) == (0, 1, 1)


def test_latency_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="latency"):
        ScriptedTransport(["x"], latency=-1)
    with pytest.raises(ValueError, match="latency callable returned -1"):
        send_all(ScriptedTransport(["x"], latency=lambda: -1), "a")


# ---------------------------------------------------------------- transport: hooks


class Shaper:
    """Marks requests (temperature) and replies (a suffix); records what it saw."""

    def __init__(self, mark: str = "shaped") -> None:
        self.mark = mark
        self.seen: list[tuple[str, Any]] = []

    @hookimpl
    def retort_before_send(self, request: ChatRequest, transport: Transport) -> ChatRequest:
        self.seen.append(("before", transport))
        return request.model_copy(update={"temperature": 0.5, "model": self.mark})

    @hookimpl
    async def retort_after_receive(
        self, reply: ChatReply, request: ChatRequest, transport: Transport
    ) -> ChatReply:
        await asyncio.sleep(0)  # async implementations are awaited
        self.seen.append(("after", request.model))
        return reply.model_copy(update={"content": f"{reply.content} [{self.mark}]"})


def manager(*plugins: object) -> Any:
    return make_plugin_manager(defaults=(), autoload=False, plugins=plugins)


def test_transport_applies_its_own_managers_hooks_around_the_script() -> None:
    shaper = Shaper()
    transport = ScriptedTransport(
        [lambda req: f"model {req.model}, temperature {req.temperature}"], plugins=manager(shaper)
    )
    sent = request("a")
    (reply,) = send_all(transport, "a")
    # The script (and history) see the request as retort_before_send left it...
    assert reply.content == "model shaped, temperature 0.5 [shaped]"
    assert (transport.history[0].model, transport.history[0].temperature) == ("shaped", 0.5)
    assert sent.temperature is None
    # ...each hook runs once, with the transport itself, and after_receive sees the
    # reshaped request.
    assert shaper.seen == [("before", transport), ("after", "shaped")]


def test_transport_without_plugins_uses_the_runs_manager() -> None:
    in_run = Shaper("run")

    async def go() -> ChatReply:
        with Run(plugins=manager(in_run)).active():
            return await ScriptedTransport(["hi"]).send(request("a"))

    assert run(go()).content == "hi [run]"
    assert [kind for kind, _ in in_run.seen] == ["before", "after"]


def test_transport_own_plugins_win_over_the_runs() -> None:
    own, in_run = Shaper("own"), Shaper("run")

    async def go() -> ChatReply:
        with Run(plugins=manager(in_run)).active():
            return await ScriptedTransport(["hi"], plugins=manager(own)).send(request("a"))

    assert run(go()).content == "hi [own]"
    assert in_run.seen == []


def test_transport_outside_a_run_uses_the_process_default_manager() -> None:
    default = Shaper("default")
    previous = get_plugin_manager()
    set_plugin_manager(manager(default))
    try:
        (reply,) = send_all(ScriptedTransport(["hi"]), "a")
    finally:
        set_plugin_manager(previous)
    assert reply.content == "hi [default]"


def test_transport_with_a_manager_without_plugins_applies_no_hooks() -> None:
    canned = ChatReply(content="as scripted")
    transport = ScriptedTransport([canned], plugins=manager())
    sent = request("a")
    reply = run(transport.send(sent))
    assert reply is canned
    assert transport.history == [sent]


def test_a_failing_before_send_hook_sends_nothing() -> None:
    class Refuse:
        @hookimpl
        def retort_before_send(self, request: ChatRequest) -> ChatRequest:
            raise TransportError("refused by policy")

    transport = ScriptedTransport(["unused"], plugins=manager(Refuse()))
    with pytest.raises(TransportError, match="refused by policy"):
        send_all(transport, "a")
    assert (transport.calls, transport.remaining, transport.history) == (0, 1, [])


def test_a_scripted_failure_skips_after_receive() -> None:
    shaper = Shaper()
    transport = ScriptedTransport([TransportError("down")], plugins=manager(shaper))
    with pytest.raises(TransportError, match="down"):
        send_all(transport, "a")
    assert [kind for kind, _ in shaper.seen] == ["before"]


def test_a_native_agent_in_a_solve_gets_the_solves_hooks() -> None:
    """The hooks reach a scripted endpoint through a real agent and solve's run."""
    shaper = Shaper()
    transport = ScriptedTransport(["=======ANSWER\n42"])
    agent = NativeAgent(transport)
    solved = run(solve(agent, "6 x 7?", Expect.sections("ANSWER"), plugins=manager(shaper)))
    # The after_receive mark lands in the answer's section: the reply really was reshaped.
    assert solved.value == "42 [shaped]"
    assert transport.history[0].temperature == 0.5


# ---------------------------------------------------------------- agent: replies


def test_agent_answers_in_order_with_turns_in_its_context() -> None:
    agent = ScriptedAgent(["first", "second"], system_message="sys")
    one, two = ask_all(agent, "q1", "q2")
    assert (one.text, two.text) == ("first", "second")
    assert agent.history == ["q1", "q2"]
    assert contents(agent) == ["sys", "q1", "first", "q2", "second"]
    assert [m.content for m in one.messages] == ["q1", "first"]
    assert one.turn_id == agent.context.turns[0].id
    assert two.turn_id == agent.context.turns[1].id
    assert agent.system_message == "sys"


def test_agent_reply_usage_is_estimated_from_the_context() -> None:
    agent = ScriptedAgent(["x" * 40], system_message="s" * 8)
    (reply,) = ask_all(agent, "q" * 4)
    assert reply.usage == Usage(prompt_tokens=(2 + 4) + (1 + 4), completion_tokens=10 + 4)


def test_agent_usage_counts_the_budgeted_window() -> None:
    agent = ScriptedAgent(["a1", "a2", "a3"], budget=1, count_tokens=lambda m: 1)
    replies = ask_all(agent, "t1", "t2", "t3")
    # Over budget, the window keeps only the task and the whole last turn (its prompt so far).
    assert [reply.usage.prompt_tokens for reply in replies] == [1, 2, 2]


def test_agent_callables_of_both_arities_sync_and_async() -> None:
    async def later(message: str, agent: ScriptedAgent) -> str:
        await asyncio.sleep(0)
        return f"{message} with {len(agent.context)} messages"

    def one_arg(message: str) -> str:
        return message.upper()

    agent = ScriptedAgent([one_arg, later, lambda *args: str(len(args))])
    replies = ask_all(agent, "hello", "second", "third")
    # The callable sees the context with the prompt already in it.
    assert [r.text for r in replies] == ["HELLO", "second with 3 messages", "2"]


def test_agent_single_callable_answers_every_message() -> None:
    seen: list[ScriptedAgent] = []

    def answer(message: str, agent: ScriptedAgent) -> Reply:
        seen.append(agent)
        return Reply(text=message[::-1])

    agent = ScriptedAgent(answer)
    assert [r.text for r in ask_all(agent, "abc", "xyz")] == ["cba", "zyx"]
    assert seen == [agent, agent]


def test_agent_accepts_reply_and_chat_reply_specs() -> None:
    call = ToolCall(id="c1", name="read", arguments='{"path": "a.py"}')
    usage = Usage(prompt_tokens=7, completion_tokens=3)
    agent = ScriptedAgent(
        [
            ChatReply(content=None, tool_calls=(call,), finish_reason="tool_calls"),
            Reply(text="fixed usage", usage=usage),
        ]
    )
    called, fixed = ask_all(agent, "q1", "q2")
    assert (called.text, called.tool_calls) == ("", (call,))
    assert called.messages[1] == Message(role="assistant", tool_calls=(call,))
    assert called.usage.completion_tokens > 0
    assert fixed.usage == usage


def test_agent_reply_messages_script_tool_rounds_into_the_context() -> None:
    call = ToolCall(id="c1", name="read")
    rounds = (
        Message(role="assistant", tool_calls=(call,)),
        Message(role="tool", content="file text", tool_call_id="c1"),
        Message(role="assistant", content="done"),
    )
    agent = ScriptedAgent([Reply(text="done", messages=rounds)])
    (reply,) = ask_all(agent, "task")
    assert reply.messages == (Message(role="user", content="task"), *rounds)
    assert contents(agent) == ["task", None, "file text", "done"]
    run(agent.reject(reply))
    assert contents(agent) == ["task"]


def test_agent_raises_scripted_exceptions_and_leaves_context_unchanged() -> None:
    boom = TransportError("HTTP 429", status=429)

    def fails(message: str) -> str:
        raise KeyError(message)

    agent = ScriptedAgent(["ok", boom, ConnectionError, fails, lambda m: RuntimeError(m)])
    ask_all(agent, "q1")
    before = agent.context.messages()
    for error in (TransportError, ConnectionError, KeyError, RuntimeError):
        with pytest.raises(error):
            ask_all(agent, "again")
        assert agent.context.messages() == before
    assert agent.history == ["q1"] + ["again"] * 4
    assert agent.active == 0


def test_agent_exhaustion_is_a_script_exhausted_error() -> None:
    agent = ScriptedAgent(["only"])
    ask_all(agent, "q1")
    with pytest.raises(ScriptExhausted) as caught:
        ask_all(agent, "q2")
    assert str(caught.value) == (
        "ScriptedAgent: all 1 scripted reply was used; request 2 was: 'q2'"
    )
    assert [m.content for m in agent.context.messages()] == ["q1", "only"]


def test_agent_refuses_a_non_string_message_and_a_bad_spec() -> None:
    agent = ScriptedAgent([3.5])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="takes a str"):
        ask_all(agent, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="reply 1 is a float"):
        ask_all(agent, "q")
    assert agent.context.turns == ()


# ---------------------------------------------------------------- agent: concurrency


def test_agent_latency_overlaps_and_a_semaphore_bounds_the_family() -> None:
    async def go(limit: asyncio.Semaphore | None) -> ScriptedAgent:
        agent = ScriptedAgent(lambda message: f"re: {message}", latency=0.01)

        async def one(n: int) -> Reply:
            sample = agent.fork()
            if limit is None:
                return await sample.ask(f"q{n}")
            async with limit:
                return await sample.ask(f"q{n}")

        replies = await asyncio.gather(*(one(n) for n in range(6)))
        assert sorted(r.text for r in replies) == sorted(f"re: q{n}" for n in range(6))
        return agent

    free = run(go(None))
    assert (free.peak, free.calls) == (6, 6)
    limited = run(go(asyncio.Semaphore(3)))
    assert (limited.peak, limited.active, limited.calls) == (3, 0, 6)


def test_agent_gather_on_one_agent_keeps_each_reply_in_its_own_turn() -> None:
    async def go() -> ScriptedAgent:
        agent = ScriptedAgent(lambda message: f"re: {message}", latency=0.01)
        await asyncio.gather(*(agent.ask(f"q{n}") for n in range(4)))
        return agent

    agent = run(go())
    assert agent.peak == 4
    for turn in agent.context.turns:
        assert [m.content for m in turn.messages] == [f"re: {turn.prompt.content}"]


def test_agent_cancellation_during_latency_leaves_active_zero_and_context_clean() -> None:
    async def go() -> ScriptedAgent:
        agent = ScriptedAgent(["never", "next"], system_message="sys", latency=10.0)
        task = asyncio.create_task(agent.ask("q"))
        await asyncio.sleep(0)
        assert agent.active == 1
        assert len(agent.context) == 2
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return agent

    agent = run(go())
    assert (agent.active, agent.remaining) == (0, 1)
    assert contents(agent) == ["sys"]


# ---------------------------------------------------------------- agent: fork, reject, reset


def test_fork_shares_the_script_and_counter_but_not_context_or_history() -> None:
    agent = ScriptedAgent(["r1", "r2", "r3"], system_message="sys", latency=0.0, budget=99)
    ask_all(agent, "parent")
    first, second = agent.fork(), agent.fork()
    grandchild = first.fork()
    assert agent.forks == [first, second]
    assert first.forks == [grandchild]
    assert first.context.messages() == [Message(role="system", content="sys")]
    assert first.context.budget == 99
    assert ask_all(second, "a")[0].text == "r2"
    assert ask_all(grandchild, "b")[0].text == "r3"
    assert (agent.history, first.history, second.history) == (["parent"], [], ["a"])
    assert agent.calls == grandchild.calls == 3
    with pytest.raises(ScriptExhausted, match="request 4"):
        ask_all(first, "c")


def test_five_forked_samples_consume_five_replies_in_order() -> None:
    agent = ScriptedAgent([f"sample {n}" for n in range(5)])

    async def go() -> list[Reply]:
        return list(await asyncio.gather(*(agent.fork().ask("solve") for _ in range(5))))

    assert [r.text for r in run(go())] == [f"sample {n}" for n in range(5)]
    assert agent.remaining == 0


def test_reject_follows_the_context_rule() -> None:
    agent = ScriptedAgent(["bad 1", "bad 2", "good"], system_message="sys")

    async def go() -> None:
        first = await agent.ask("task")
        await agent.reject(first)
        assert contents(agent) == ["sys", "task"]
        second = await agent.ask("fix it")
        assert contents(agent) == ["sys", "task", "fix it", "bad 2"]
        await agent.reject(second)
        assert contents(agent) == ["sys", "task"]
        third = await agent.ask("fix it again")
        assert agent.context.turns[-1].kind == "feedback"
        assert third.text == "good"

    run(go())
    assert contents(agent) == ["sys", "task", "fix it again", "good"]


def test_reject_of_another_agents_reply_or_a_gone_turn_is_a_value_error() -> None:
    agent = ScriptedAgent(["a", "b", "c"])
    sibling = agent.fork()

    async def go() -> None:
        mine = await agent.ask("task")
        theirs = await sibling.ask("task")
        with pytest.raises(ValueError, match="another agent"):
            await agent.reject(theirs)
        with pytest.raises(ValueError, match="no turn_id"):
            await agent.reject(Reply(text="made up"))
        assert [m.content for m in agent.context.messages()] == ["task", "a"]
        await agent.reset()
        with pytest.raises(ValueError, match="not in this agent's context"):
            await agent.reject(mine)

    run(go())


def test_reset_empties_the_context_but_keeps_system_message_and_history() -> None:
    agent = ScriptedAgent(["one", "two"], system_message="sys")
    ask_all(agent, "q1")
    run(agent.reset())
    assert contents(agent) == ["sys"]
    assert agent.history == ["q1"]
    ask_all(agent, "q2")
    assert contents(agent) == ["sys", "q2", "two"]
    assert agent.context.turns[0].kind == "task"


def test_agent_refuses_asks_after_aclose_and_has_a_lock() -> None:
    async def go() -> None:
        async with ScriptedAgent(["x"]) as agent:
            assert isinstance(agent.lock, asyncio.Lock)
        with pytest.raises(RuntimeError, match="after aclose"):
            await agent.ask("q")
        assert agent.remaining == 1

    run(go())
