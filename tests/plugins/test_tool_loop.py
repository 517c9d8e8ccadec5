"""The THOUGHT / TOOL_CALL tool loop, driven by scripted agents."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from retort.core import (
    ConfigurationError,
    Expect,
    Run,
    ToolRegistry,
    TransportError,
)
from retort.plugins.testing import ScriptedAgent
from retort.plugins.tool_loop import STEP_SPEC, ToolLoopResult, run_tool_loop
from retort.plugins.workspace import Workspace


def step(call: Any, thought: str = "thinking") -> str:
    text = call if isinstance(call, str) else json.dumps(call)
    return f"=======THOUGHT\n{thought}\n=======TOOL_CALL\n{text}"


def call(name: str, **arguments: Any) -> str:
    return step({"name": name, "arguments": arguments}, f"use {name}")


def done(answer: str = "42") -> str:
    return call("finish", answer=answer)


def add(a: int, b: int) -> int:
    """Add two numbers.

    Args:
        a: the first number.
        b: the second number.
    """
    return a + b


def explode(reason: str) -> str:
    """Fail on purpose.

    Args:
        reason: why.
    """
    raise RuntimeError(reason)


def loop(agent: ScriptedAgent, tools: Any = (add, explode), **options: Any) -> ToolLoopResult:
    return asyncio.run(run_tool_loop(agent, "Compute 2 + 3.", tools, **options))


# ---------------------------------------------------------------- the happy path


def test_steps_run_tools_and_finish_with_the_finish_arguments() -> None:
    agent = ScriptedAgent([call("add", a=2, b=3), done("5")])
    result = loop(agent)
    assert result.finished
    assert result.reason == "finished"
    assert result.result == {"answer": "5"}
    assert result.error is None
    first, last = result.steps
    assert (first.number, first.thought, first.call.name) == (1, "use add", "add")
    assert json.loads(first.call.arguments) == {"a": 2, "b": 3}
    assert first.ok
    assert first.results[0].content == "5"
    assert first.observation == "OBSERVATION from add:\n5"
    assert len(first.attempts) == 1
    assert first.attempts[0].ok
    assert last.call.name == "finish"
    assert last.observation == ""
    assert result.tool_calls == 2
    assert result.metrics.tool_calls == 2
    assert result.metrics.tool_call_failed == 0


def test_the_prompt_holds_the_task_the_tool_docs_and_the_format() -> None:
    agent = ScriptedAgent([done()])
    loop(agent)
    prompt = agent.history[0]
    assert prompt.startswith("Compute 2 + 3.\n\nWork in steps.")
    assert (
        "### add\nAdd two numbers.\nParameters:\n- a (int, required): the first number." in prompt
    )
    assert "### finish\nFinish the task." in prompt
    assert "call the `finish` tool" in prompt
    assert prompt.endswith(STEP_SPEC.instructions)
    assert '=======TOOL_CALL\n{"name": "<tool name>", "arguments"' in prompt


def test_observations_are_the_next_message_and_the_context_is_kept() -> None:
    agent = ScriptedAgent([call("add", a=1, b=1), call("add", a=2, b=2), done()])
    loop(agent)
    assert agent.history[1].startswith("OBSERVATION from add:\n2\n\n\n")
    assert agent.history[2].startswith("OBSERVATION from add:\n4")
    contents = [message.content for message in agent.context.messages()]
    assert contents == [
        agent.history[0],
        call("add", a=1, b=1),
        agent.history[1],
        call("add", a=2, b=2),
        agent.history[2],
        done(),
    ]


def test_the_first_step_resets_the_agent_unless_keep_context() -> None:
    agent = ScriptedAgent(["earlier answer", done(), "again", done()])
    asyncio.run(agent.ask("earlier question"))
    loop(agent)
    assert agent.context.messages()[0].content == agent.history[1]
    asyncio.run(agent.ask("another question"))
    loop(agent, keep_context=True)
    contents = [m.content for m in agent.context.messages()]
    assert len(contents) == 6
    assert contents[2:5] == ["another question", "again", agent.history[3]]


def test_python_call_syntax_and_fenced_json_are_read() -> None:
    fenced = step('```json\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n```')
    agent = ScriptedAgent([step("add(a=4, b=5)"), fenced, step('finish(answer="9")')])
    result = loop(agent)
    assert [s.results[0].content for s in result.steps] == ["9", "3", "9"]
    assert result.result == {"answer": "9"}


def test_several_calls_run_in_order_and_stop_at_a_finish() -> None:
    calls = [
        {"name": "add", "arguments": {"a": 1, "b": 2}},
        {"name": "add", "arguments": {"a": 1, "b": 2}},
        {"name": "finish", "arguments": {"answer": "3"}},
        {"name": "explode", "arguments": {"reason": "never runs"}},
    ]
    agent = ScriptedAgent([step(calls)])
    result = loop(agent)
    (only,) = result.steps
    assert [r.name for r in only.results] == ["add", "add", "finish"]
    assert len({c.id for c in only.calls}) == 4  # ids unique within the reply
    assert result.metrics.tool_calls == 3


def test_several_observations_are_joined_in_one_message() -> None:
    calls = [{"name": "add", "arguments": {"a": 1, "b": 2}}, {"name": "nope", "arguments": {}}]
    agent = ScriptedAgent([step(calls), done()])
    result = loop(agent)
    assert result.steps[0].observation == (
        "OBSERVATION from add:\n3\n\n"
        "OBSERVATION from nope:\nError: unknown tool 'nope'; available: add, explode, finish"
    )
    assert not result.steps[0].ok


# ---------------------------------------------------------------- failures become observations


@pytest.mark.parametrize(
    ("reply", "fragment"),
    [
        (call("subtract", a=1, b=2), "Error: unknown tool 'subtract'; available: add, explode"),
        (call("add", a="two", b=2), "Error: bad arguments for add"),
        (call("add", a=1), "b"),
        (call("explode", reason="boom"), "Error: RuntimeError: boom"),
        (call("finish"), "Error: bad arguments for finish"),
        (step('{"name": "add", "arguments": [1, 2]}'), "Error: "),
    ],
    ids=["unknown", "wrong-type", "missing", "raises", "finish-without-answer", "list-args"],
)
def test_failed_calls_are_observations_and_the_loop_goes_on(reply: str, fragment: str) -> None:
    agent = ScriptedAgent([reply, done()])
    result = loop(agent)
    assert result.finished
    failed = result.steps[0]
    assert not failed.ok
    assert fragment in failed.observation
    assert agent.history[1].startswith("OBSERVATION from ")
    assert result.metrics.tool_call_failed == 1
    assert result.metrics.tool_calls == 2


def test_a_bad_format_gets_feedback_within_the_step() -> None:
    agent = ScriptedAgent(["=======THOUGHT\nno call", call("add", a=1, b=1), done()])
    result = loop(agent)
    first = result.steps[0]
    assert len(first.attempts) == 2
    assert first.attempts[0].failure is not None
    assert "Missing section TOOL_CALL" in agent.history[1]
    assert result.metrics.feedback["sections:missing"] == 1
    # The failed reply and its feedback are gone from the conversation.
    assert "no call" not in str([m.content for m in agent.context.messages()])


@pytest.mark.parametrize(
    "section",
    ["just prose, no call", "[]", '{"arguments": {"a": 1}}', "42", "{" * 5000],
    ids=["prose", "empty-list", "no-name", "scalar", "deep"],
)
def test_an_unreadable_tool_call_gets_feedback_not_an_observation(section: str) -> None:
    agent = ScriptedAgent([step(section), done()])
    result = loop(agent)
    assert result.finished
    assert len(result.steps) == 1
    assert "The TOOL_CALL section holds no tool call I can run" in agent.history[1]
    assert result.metrics.feedback["validator"] == 1
    assert result.metrics.tool_calls == 1


def test_long_observations_are_cut_with_a_note() -> None:
    def dump() -> str:
        """Return a lot of text."""
        return "x" * 500

    agent = ScriptedAgent([call("dump"), done()])
    result = loop(agent, [dump], max_observation=100)
    observation = result.steps[0].observation
    assert observation.endswith(
        "x" * 100 + "\n[observation cut: it has 500 characters; the first 100 are shown]"
    )


# ---------------------------------------------------------------- how a loop ends unfinished


def test_the_step_cap_ends_the_loop_with_a_result() -> None:
    agent = ScriptedAgent([call("add", a=1, b=1)] * 4)
    result = loop(agent, max_steps=4)
    assert not result.finished
    assert result.reason == "max_steps"
    assert result.result is None
    assert len(result.steps) == 4
    assert agent.calls == 4
    assert "left" not in agent.history[1]
    assert agent.history[2].startswith("OBSERVATION from add:\n2\n\nOnly 2 steps are left")
    assert "Only 1 step is left: call `finish`" in agent.history[3]
    assert "left" not in result.steps[-1].observation


def test_a_step_without_a_valid_reply_ends_the_loop_with_the_failure() -> None:
    agent = ScriptedAgent([call("add", a=1, b=1), "nonsense", "more nonsense"])
    result = loop(agent, expect=STEP_SPEC.but(attempts=2))
    assert not result.finished
    assert result.reason == "no_valid_reply"
    assert len(result.steps) == 1
    assert result.error is not None
    assert [a.text for a in result.error.attempts] == ["nonsense", "more nonsense"]


def test_transport_errors_propagate() -> None:
    agent = ScriptedAgent([call("add", a=1, b=1), TransportError("endpoint down")])
    with pytest.raises(TransportError, match="endpoint down"):
        loop(agent)


# ---------------------------------------------------------------- finish and the registry


def test_a_custom_finish_tool_validates_the_result() -> None:
    def submit(files: list[str], summary: str) -> str:
        """Submit the work.

        Args:
            files: the files changed.
            summary: what changed.
        """
        if not files:
            raise ValueError("list at least one file")
        return "submitted"

    agent = ScriptedAgent(
        [
            call("submit", files=[], summary="nothing"),
            call("submit", files=["a.py"], summary="fixed"),
        ]
    )
    result = loop(agent, [add, submit], finish="submit")
    assert result.finished
    assert result.result == {"files": ["a.py"], "summary": "fixed"}
    assert "Error: ValueError: list at least one file" in result.steps[0].observation
    assert "### finish" not in agent.history[0]
    assert "call the `submit` tool" in agent.history[0]


def test_the_built_in_finish_can_have_another_name() -> None:
    agent = ScriptedAgent([call("done", answer="ok")])
    result = loop(agent, finish="done")
    assert result.result == {"answer": "ok"}


def test_the_callers_registry_is_not_modified() -> None:
    registry = ToolRegistry([add])
    loop(ScriptedAgent([done()]), registry)
    assert registry.names == ("add",)


def test_a_shared_run_collects_the_metrics() -> None:
    agent = ScriptedAgent([call("add", a=1, b=1), done(), call("nope"), done()])

    async def go() -> Run:
        async with Run(limit=1) as run:
            await run_tool_loop(agent, "one", [add], run=run)
            await run_tool_loop(agent, "two", [add], run=run)
        return run

    run = asyncio.run(go())
    assert run.metrics.tool_calls == 4
    assert run.metrics.tool_call_failed == 1
    assert run.metrics.solved == 4


def test_a_last_only_spec_accepts_just_the_tool_call() -> None:
    spec = Expect.sections("THOUGHT", "TOOL_CALL", last_only=True)
    agent = ScriptedAgent(
        ['=======TOOL_CALL\n{"name": "add", "arguments": {"a": 1, "b": 1}}', done()]
    )
    result = loop(agent, expect=spec)
    assert result.steps[0].thought == ""
    assert result.steps[0].results[0].content == "2"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_steps": 0}, "max_steps must be 1 or more"),
        ({"max_observation": 0}, "max_observation must be 1 or more"),
        ({"expect": Expect.text()}, "a sections spec with a TOOL_CALL section"),
        ({"expect": Expect.sections("THOUGHT", "ANSWER")}, "with a TOOL_CALL section"),
        (
            {"expect": Expect.sections("TOOL_CALL", "THOUGHT", last_only=True)},
            "TOOL_CALL section must be the last one",
        ),
    ],
)
def test_configuration_mistakes_raise(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        loop(ScriptedAgent([]), **options)


def test_bad_task_or_tools_raise() -> None:
    with pytest.raises(ConfigurationError, match="task must be a non-empty string"):
        asyncio.run(run_tool_loop(ScriptedAgent([]), "  ", [add]))
    with pytest.raises(ConfigurationError, match="tools must be a ToolRegistry"):
        asyncio.run(run_tool_loop(ScriptedAgent([]), "task", add))


def test_a_custom_spec_type_is_refused_when_a_step_is_read() -> None:
    spec = Expect.sections("THOUGHT", "TOOL_CALL", type=dict)
    with pytest.raises(ConfigurationError, match="do not set a custom type"):
        loop(ScriptedAgent([done()]), expect=spec)


# ---------------------------------------------------------------- with a workspace


def test_an_agent_edits_a_workspace_through_the_loop(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("def f():\n    return 1\n")
    workspace = Workspace(tmp_path)
    agent = ScriptedAgent(
        [
            call("read_file", path="app.py"),
            call("read_file", path="../etc/passwd"),
            call("save_file", path="app.py", content="def f(:\n"),
            call("save_file", path="app.py", content="def f():\n    return 2\n"),
            done("f returns 2"),
        ]
    )
    result = asyncio.run(run_tool_loop(agent, "Make f return 2.", workspace.registry()))
    assert result.finished
    observations = [s.observation for s in result.steps]
    assert observations[0].startswith("OBSERVATION from read_file:\napp.py (lines 1-2 of 2)")
    assert "'..' is not allowed" in observations[1]
    assert "app.py was not saved: it is not valid Python" in observations[2]
    assert observations[3] == "OBSERVATION from save_file:\nupdated app.py (2 lines, 22 bytes)"
    assert (tmp_path / "app.py").read_text() == "def f():\n    return 2\n"
    assert result.metrics.tool_call_failed == 2
