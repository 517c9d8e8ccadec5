"""AutoGenAgent: retort's Agent port around real AssistantAgents, over a ScriptedTransport.

Every async test goes through ``_run``, which bounds it with ``asyncio.wait_for(..., 20)``:
an AssistantAgent that waits forever (a tool call it cannot match) must fail the test, not
block CI. Nothing here touches the network or a tokenizer.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from _support import bounded_run
from autogen_agentchat.agents import AssistantAgent
from autogen_core.model_context import (
    BufferedChatCompletionContext,
    ChatCompletionContext,
    HeadAndTailChatCompletionContext,
    TokenLimitedChatCompletionContext,
)
from pydantic import BaseModel

from retort.adapters.autogen import AutoGenAgent, TransportChatCompletionClient
from retort.core import (
    ChatReply,
    ChatRequest,
    ConfigurationError,
    Expect,
    Reply,
    Run,
    ToolCall,
    ToolRegistry,
    TransportStatusError,
    Usage,
    solve,
)
from retort.plugins.testing import ScriptedTransport

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contract"))
from check_agent import CHECKS, check_agent

SYSTEM = "You are terse."


_run = partial(bounded_run, timeout=20)


def _agent(replies: list[Any], **options: Any) -> tuple[AutoGenAgent, ScriptedTransport]:
    transport = ScriptedTransport(replies)
    options.setdefault("system_message", SYSTEM)
    return AutoGenAgent(TransportChatCompletionClient(transport), **options), transport


async def _context(agent: AutoGenAgent) -> list[tuple[str, Any]]:
    """The whole AutoGen model context, from the assistant's saved state."""
    state = await agent.assistant.save_state()
    return [(m["type"], m["content"]) for m in state["llm_context"]["messages"]]


def _seen(request: ChatRequest) -> list[tuple[str, str | None]]:
    return [(m.role, m.content) for m in request.messages if m.role != "system"]


def _call(name: str, arguments: str, call_id: str = "call-1") -> ChatReply:
    return ChatReply(
        tool_calls=(ToolCall(id=call_id, name=name, arguments=arguments),),
        finish_reason="tool_calls",
        usage=Usage(prompt_tokens=10, completion_tokens=3),
    )


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


# ---------------------------------------------------------------------- solves


def test_text_solve_feedback_fixes_it_and_the_failed_reply_leaves_the_context() -> None:
    agent, transport = _agent(["maybe", "YES"])

    async def go() -> tuple[Any, list[tuple[str, Any]]]:
        async with agent:
            solved = await solve(agent, "Is it done?", Expect.text(r"^(YES|NO)$"))
            return solved, await _context(agent)

    solved, context = _run(go)
    assert solved.value == "YES"
    assert len(solved.attempts) == 2
    feedback = solved.attempts[0].feedback
    assert context == [
        ("UserMessage", solved.attempts[0].prompt),
        ("UserMessage", feedback),
        ("AssistantMessage", "YES"),
    ]
    assert _seen(transport.history[1]) == [("user", solved.attempts[0].prompt), ("user", feedback)]
    assert transport.history[1].messages[0].content == SYSTEM


def test_sections_solve_rejects_every_failed_reply_and_the_feedback_before_it() -> None:
    good = "=======THOUGHT\nsix sevens\n=======ANSWER\n42"
    agent, transport = _agent(["no sections here", "=======ANSWER\n1\n=======ANSWER\n2", good])

    async def go() -> tuple[Any, list[tuple[str, Any]]]:
        async with agent:
            spec = Expect.sections("THOUGHT", "ANSWER")
            return await solve(agent, "What is 6 x 7?", spec), await _context(agent)

    solved, context = _run(go)
    assert solved.value == ("six sevens", "42")
    assert solved.metrics.markdown_failed == 2
    assert solved.metrics.too_many_sections == 1
    task, second_feedback = solved.attempts[0].prompt, solved.attempts[1].feedback
    assert context == [
        ("UserMessage", task),
        ("UserMessage", second_feedback),
        ("AssistantMessage", good),
    ]
    assert _seen(transport.history[2]) == [("user", task), ("user", second_feedback)]


class FileSpec(BaseModel):
    file_name: str
    code: str


def _has_code(files: list[FileSpec]) -> str:
    empty = [spec.file_name for spec in files if not spec.code.strip()]
    return f"empty code in {', '.join(empty)}" if empty else "success"


def test_json_solve_with_a_validator() -> None:
    replies = [
        "Sure, I will write a.py now.",
        '[{"file_name": "a.py", "code": ""}]',
        '```json\n[{"file_name": "a.py", "code": "x = 1"}]\n```',
    ]
    agent, _ = _agent(replies)

    async def go() -> tuple[Any, list[tuple[str, Any]]]:
        async with agent:
            spec = Expect.json(list[FileSpec], validators=[_has_code])
            return await solve(agent, "Write a.py", spec), await _context(agent)

    solved, context = _run(go)
    assert solved.value == [FileSpec(file_name="a.py", code="x = 1")]
    assert [a.failure.kind for a in solved.attempts if a.failure] == ["json", "validator"]
    assert "empty code in a.py" in (solved.attempts[1].feedback or "")
    assert [kind for kind, _ in context] == ["UserMessage", "UserMessage", "AssistantMessage"]
    assert not {replies[0], replies[1]} & {content for _, content in context}


# ---------------------------------------------------------------------- tools


def test_tool_round_without_reflection_ends_on_the_calls() -> None:
    agent, transport = _agent(
        [_call("add", '{"a": 2, "b": "3"}')],
        tools=[add],
        reflect_on_tool_use=False,
        max_tool_iterations=1,  # AutoGen's default; with more, the model is asked again
    )

    async def go() -> tuple[Reply, Run]:
        async with Run() as run:
            return await agent.ask("2 + 3?"), run

    reply, run = _run(go)
    assert reply.text == ""
    assert reply.tool_calls == (ToolCall(id="call-1", name="add", arguments='{"a": 2, "b": "3"}'),)
    assert [(m.role, m.content) for m in reply.messages] == [
        ("user", "2 + 3?"),
        ("assistant", None),
        ("tool", "5"),
    ]
    assert reply.messages[2].tool_call_id == "call-1"
    assert reply.usage == Usage(prompt_tokens=10, completion_tokens=3)
    assert run.metrics.tool_calls == 1
    assert run.metrics.tool_call_failed == 0
    schema = transport.history[0].tools
    assert schema is not None
    assert schema[0]["function"]["name"] == "add"
    assert schema[0]["function"]["parameters"] == ToolRegistry([add])["add"].parameters


def test_tool_round_with_reflection_returns_the_text_and_counts_failures() -> None:
    final = ChatReply(content="5", usage=Usage(prompt_tokens=30, completion_tokens=1))
    replies = [_call("add", '{"a": 2, "c": 1}'), _call("add", '{"a": 2, "b": 3}', "call-2"), final]
    agent, transport = _agent(replies, tools=ToolRegistry([add]))

    async def go() -> tuple[Reply, Run]:
        async with Run() as run:
            return await agent.ask("2 + 3?"), run

    reply, run = _run(go)
    assert reply.text == "5"
    assert reply.tool_calls == ()
    assert run.metrics.tool_calls == 2
    assert run.metrics.tool_call_failed == 1
    roles = [m.role for m in reply.messages]
    assert roles == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    observation = reply.messages[2].content or ""
    assert observation.startswith("Error: bad arguments for add")  # retort's observation
    assert ("tool", "5") in _seen(transport.history[2])
    assert reply.usage == Usage(prompt_tokens=50, completion_tokens=7)  # the three requests


def test_a_rejected_tool_turn_leaves_no_call_or_result_behind() -> None:
    replies = [_call("add", '{"a": 1, "b": 1}'), "three", "=======ANSWER\n2"]
    agent, transport = _agent(replies, tools=[add])

    async def go() -> tuple[Any, list[tuple[str, Any]]]:
        async with agent:
            solved = await solve(agent, "1 + 1?", Expect.sections("ANSWER"))
            return solved, await _context(agent)

    solved, context = _run(go)
    assert solved.value == "2"
    assert [kind for kind, _ in context] == ["UserMessage", "UserMessage", "AssistantMessage"]
    assert [m.role for m in transport.history[2].messages] == ["system", "user", "user"]


# ---------------------------------------------------------------------- the contract


def test_the_agent_contract_kit() -> None:
    def factory(replies: list[str]) -> tuple[AutoGenAgent, Callable[[], list[Any]]]:
        agent, transport = _agent(replies)
        return agent, lambda: [request.messages for request in transport.history]

    assert check_agent(factory) == CHECKS


def test_the_contract_kit_under_a_windowed_context() -> None:
    def factory(replies: list[str]) -> tuple[AutoGenAgent, Callable[[], list[Any]]]:
        agent, transport = _agent(replies, model_context=BufferedChatCompletionContext(10))
        return agent, lambda: [request.messages for request in transport.history]

    assert check_agent(factory) == CHECKS


# ---------------------------------------------------------------------- reject


def test_reject_under_a_small_buffered_context_keeps_the_hidden_history() -> None:
    replies = ["first answer", "bad", "worse", "=======ANSWER\nok"]
    agent, transport = _agent(replies, model_context=BufferedChatCompletionContext(buffer_size=2))

    async def go() -> tuple[Any, list[tuple[str, Any]]]:
        async with agent:
            await agent.ask("Earlier question.")
            spec = Expect.sections("ANSWER")
            solved = await solve(agent, "Now this.", spec, keep_context=True)
            return solved, await _context(agent)

    solved, context = _run(go)
    assert solved.value == "ok"
    # The window (2 messages) hid the first exchange from the model; the rejects must
    # not have lost it, as rebuilding the context from get_messages() would.
    assert context == [
        ("UserMessage", "Earlier question."),
        ("AssistantMessage", "first answer"),
        ("UserMessage", solved.attempts[0].prompt),
        ("UserMessage", solved.attempts[1].feedback),
        ("AssistantMessage", "=======ANSWER\nok"),
    ]
    assert _seen(transport.history[3]) == [
        ("user", solved.attempts[0].prompt),
        ("user", solved.attempts[1].feedback),
    ]


def test_reject_of_an_older_turn_shifts_the_later_ones() -> None:
    agent, _ = _agent(["a", "b", "c"], model_context=HeadAndTailChatCompletionContext(1, 2))

    async def go() -> list[tuple[str, Any]]:
        first = await agent.ask("one")
        second = await agent.ask("two")
        await agent.reject(first)
        await agent.reject(second)
        await agent.ask("three")
        return await _context(agent)

    assert _run(go) == [
        ("UserMessage", "one"),
        ("UserMessage", "two"),
        ("UserMessage", "three"),
        ("AssistantMessage", "c"),
    ]


def test_reject_refuses_foreign_removed_and_stale_turns() -> None:
    agent, _ = _agent(["a", "b", "c"])
    other, _ = _agent(["x"])

    async def go() -> None:
        foreign = await other.ask("other")
        with pytest.raises(ValueError, match="not in this agent's context"):
            await agent.reject(foreign)
        with pytest.raises(ValueError, match="not in this agent's context"):
            await agent.reject(Reply(text="no id"))
        reply = await agent.ask("one")
        await agent.reset()
        with pytest.raises(ValueError, match="not in this agent's context"):
            await agent.reject(reply)
        reply = await agent.ask("two")
        await agent.assistant.on_reset(_token())  # behind the agent's back
        await agent.ask("three")
        with pytest.raises(ValueError, match="changed outside this agent"):
            await agent.reject(reply)

    _run(go)


def _token() -> Any:
    from autogen_core import CancellationToken

    return CancellationToken()


# ---------------------------------------------------------------------- failures, reset, fork


def test_a_failed_run_leaves_the_context_as_it_was() -> None:
    error = TransportStatusError("HTTP 503 from the scripted endpoint", status=503)
    agent, transport = _agent(["one", error, "two"])

    async def go() -> list[tuple[str, Any]]:
        await agent.ask("first")
        with pytest.raises(TransportStatusError):
            await agent.ask("lost")
        await agent.ask("second")
        return await _context(agent)

    assert _run(go) == [
        ("UserMessage", "first"),
        ("AssistantMessage", "one"),
        ("UserMessage", "second"),
        ("AssistantMessage", "two"),
    ]
    assert _seen(transport.history[2]) == [
        ("user", "first"),
        ("assistant", "one"),
        ("user", "second"),
    ]


def test_reset_empties_the_model_context() -> None:
    agent, transport = _agent(["one", "two"])

    async def go() -> list[tuple[str, Any]]:
        await agent.ask("first")
        await agent.reset()
        await agent.ask("fresh")
        return await _context(agent)

    assert _run(go) == [("UserMessage", "fresh"), ("AssistantMessage", "two")]
    assert transport.history[1].messages[0].content == SYSTEM


def test_forks_share_client_and_tools_but_not_the_conversation() -> None:
    agent, transport = _agent(
        ["parent", "fork", "parent again"],
        tools=[add],
        model_context=BufferedChatCompletionContext(buffer_size=4),
    )

    async def go() -> tuple[AutoGenAgent, list[tuple[str, Any]], list[tuple[str, Any]]]:
        await agent.ask("p1")
        fork = agent.fork()
        await fork.ask("f1")
        await agent.ask("p2")
        await fork.aclose()
        return fork, await _context(agent), await _context(fork)

    fork, parent_context, fork_context = _run(go)
    assert fork.assistant is not agent.assistant
    assert fork.assistant.model_context is not agent.assistant.model_context
    assert isinstance(fork.assistant.model_context, BufferedChatCompletionContext)
    assert fork.tools is agent.tools
    assert fork_context == [("UserMessage", "f1"), ("AssistantMessage", "fork")]
    assert [c for _, c in parent_context] == ["p1", "parent", "p2", "parent again"]
    assert transport.history[1].tools == transport.history[0].tools
    assert transport.history[1].messages[0].content == SYSTEM
    assert not transport.closed  # closing the fork leaves the shared client open
    _run(agent.aclose)
    assert transport.closed
    assert agent.closed


def test_a_context_factory_makes_each_agent_its_own_context() -> None:
    made: list[ChatCompletionContext] = []

    def new_context() -> ChatCompletionContext:
        made.append(BufferedChatCompletionContext(3))
        return made[-1]

    agent, _ = _agent(["x"], model_context=new_context)
    fork = agent.fork()
    assert [agent.assistant.model_context, fork.assistant.model_context] == made


def test_the_given_context_is_used_and_forks_get_a_fresh_copy() -> None:
    context = BufferedChatCompletionContext(buffer_size=5)
    agent, _ = _agent(["x"], model_context=context)
    fork = agent.fork()
    assert agent.assistant.model_context is context
    copy = fork.assistant.model_context
    assert isinstance(copy, BufferedChatCompletionContext)
    assert copy is not context
    assert copy.dump_component() == context.dump_component()


def test_a_context_that_cannot_be_copied_asks_for_a_factory() -> None:
    transport = ScriptedTransport(["x"])
    client = TransportChatCompletionClient(transport)
    context = TokenLimitedChatCompletionContext(client, token_limit=1000)
    with pytest.raises(ConfigurationError, match="model_context=a callable"):
        AutoGenAgent(client, model_context=context)


# ---------------------------------------------------------------------- wrap


def test_a_wrapped_assistant_solves_forks_and_keeps_its_client_open() -> None:
    transport = ScriptedTransport(["nope", "=======ANSWER\n7", "=======ANSWER\n8"])
    client = TransportChatCompletionClient(transport)
    assistant = AssistantAgent(
        "coder",
        model_client=client,
        system_message=SYSTEM,
        model_context=BufferedChatCompletionContext(6),
    )
    agent = AutoGenAgent.wrap(assistant)

    async def go() -> tuple[Any, Any]:
        async with agent:
            first = await solve(agent, "Seven?", Expect.sections("ANSWER"))
            second = await solve(agent, "Eight?", Expect.sections("ANSWER"), fresh=True)
            return first.value, second.value

    assert _run(go) == ("7", "8")
    assert agent.assistant is assistant
    assert agent.name == "coder"
    assert transport.history[2].messages[0].content == SYSTEM
    assert not transport.closed  # a wrapped assistant's client is the caller's


def test_wrap_refuses_settings_it_would_ignore() -> None:
    client = TransportChatCompletionClient(ScriptedTransport(["x"]))
    assistant = AssistantAgent("a", model_client=client)
    with pytest.raises(ConfigurationError, match="system_message, reflect_on_tool_use"):
        AutoGenAgent(assistant=assistant, system_message="x", reflect_on_tool_use=False)
    with pytest.raises(ConfigurationError, match="owns_client=True"):
        AutoGenAgent(assistant=assistant, owns_client=True)
    with pytest.raises(ConfigurationError, match="factory= is for a wrapped assistant"):
        AutoGenAgent(client, factory=lambda: assistant)
    with pytest.raises(TypeError, match="ChatCompletionClient or a retort Transport"):
        AutoGenAgent("not a client")  # type: ignore[arg-type]


def test_a_subclassed_assistant_needs_a_factory_to_fork() -> None:
    class Custom(AssistantAgent):
        pass

    client = TransportChatCompletionClient(ScriptedTransport(["x"]))
    agent = AutoGenAgent.wrap(Custom("custom", model_client=client))
    with pytest.raises(ConfigurationError, match="pass factory="):
        agent.fork()
    made = AutoGenAgent.wrap(
        Custom("custom", model_client=client),
        factory=lambda: Custom("custom", model_client=client),
    ).fork()
    assert isinstance(made.assistant, Custom)


# ---------------------------------------------------------------------- streaming, closing


def test_streaming_through_the_console(capsys: pytest.CaptureFixture[str]) -> None:
    agent, _ = _agent(["streamed answer"], stream=True, console=True)
    reply = _run(lambda: agent.ask("Say it."))
    out = capsys.readouterr().out
    assert reply.text == "streamed answer"
    assert "Say it." in out
    assert "streamed answer" in out
    assert agent.last_result is not None
    assert agent.last_result.messages[-1].source == "assistant"


def test_a_transport_is_wrapped_and_owned() -> None:
    transport = ScriptedTransport(["hi"])
    agent = AutoGenAgent(transport, system_message=SYSTEM)

    async def go() -> Reply:
        async with agent:
            return await agent.ask("hello")

    assert _run(go).text == "hi"
    assert transport.closed
    with pytest.raises(RuntimeError, match="after aclose"):
        _run(lambda: agent.ask("again"))
    with pytest.raises(TypeError, match="takes a str"):
        _run(lambda: AutoGenAgent(ScriptedTransport([])).ask(None))  # type: ignore[arg-type]


def test_owns_client_false_leaves_the_transport_open() -> None:
    transport = ScriptedTransport([])
    _run(AutoGenAgent(transport, owns_client=False).aclose)
    assert not transport.closed


def test_a_missing_autogen_raises_an_import_error_naming_the_extra() -> None:
    code = (
        "import sys; sys.modules['autogen_agentchat'] = None\n"
        "import retort.adapters.autogen as m\n"
        "print(m.autogen_versions()['autogen-core'])\n"
        "try:\n    m.AutoGenAgent\n"
        "except ImportError as exc:\n    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "pip install 'retort[autogen]'" in done.stdout
    assert "0.7" in done.stdout.splitlines()[0]
