"""The solve loop, through the public API, driven by the shipped scripted agent."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from pydantic import BaseModel

from retort.core import (
    ConfigurationError,
    Expect,
    Run,
    SolveFailed,
    TransportError,
    hookimpl,
    make_plugin_manager,
    solve,
    solve_sync,
)
from retort.core.plugins import DEFAULT_PLUGINS
from retort.plugins.testing import ScriptedAgent

TWO = Expect.sections("THOUGHT", "ANSWER")
GOOD = "=======THOUGHT\nthink\n=======ANSWER\n42"


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def manager(*plugins: object) -> Any:
    """A manager with the built-ins and the given plugins, and no entry points."""
    return make_plugin_manager(defaults=DEFAULT_PLUGINS, autoload=False, plugins=plugins)


class FileSpec(BaseModel):
    file_name: str
    code: str


# ------------------------------------------------------------------ basics


def test_text_solve_first_attempt() -> None:
    agent = ScriptedAgent(["  hello  "])
    solved = run(solve(agent, "Say hello"))
    assert solved.value == "hello"
    assert solved.text == "  hello  "
    assert len(solved.attempts) == 1
    assert solved.attempts[0].ok
    assert solved.metrics.attempts == 1
    assert solved.metrics.solved == 1
    assert agent.history == ["Say hello"]


def test_task_is_sent_with_the_format_instructions() -> None:
    agent = ScriptedAgent([GOOD])
    solved = run(solve(agent, "Solve it", TWO))
    assert solved.value == ("think", "42")
    assert agent.history[0].startswith("Solve it\n\n\n")
    assert "=======THOUGHT" in agent.history[0]
    assert "=======ANSWER" in agent.history[0]


@pytest.mark.parametrize("task", [None, "", "   ", 42])
def test_a_missing_task_is_a_configuration_error(task: Any) -> None:
    with pytest.raises(ConfigurationError, match="task"):
        run(solve(ScriptedAgent(["x"]), task))


def test_solve_sync_runs_its_own_loop_and_refuses_inside_one() -> None:
    assert solve_sync(ScriptedAgent(["ok"]), "task").value == "ok"

    async def inside() -> None:
        solve_sync(ScriptedAgent(["ok"]), "task")

    with pytest.raises(ConfigurationError, match="await solve"):
        run(inside())


# ------------------------------------------------------------------ feedback per kind


def test_section_failures_get_precise_feedback_and_are_counted() -> None:
    replies = [
        "=======THOUGHT\nonly a thought",
        "=======THOUGHT\na\n=======THOUGHT\nb\n=======ANSWER\n1",
        GOOD,
    ]
    agent = ScriptedAgent(replies)
    solved = run(solve(agent, "task", TWO))
    first, second, third = solved.attempts
    assert first.failure is not None
    assert first.failure.label == "sections:missing"
    assert "ANSWER" in (first.feedback or "")
    assert second.failure is not None
    assert second.failure.label == "sections:duplicated"
    assert "THOUGHT appears 2 times" in (second.feedback or "")
    assert third.ok
    assert third.feedback is None
    assert agent.history[1] == first.feedback
    assert agent.history[2] == second.feedback
    metrics = solved.metrics
    assert (metrics.markdown_failed, metrics.too_many_sections) == (2, 1)
    assert metrics.feedback == {"sections:missing": 1, "sections:duplicated": 1}


def test_empty_and_regex_failures() -> None:
    agent = ScriptedAgent(["   ", "maybe", "CREATE"])
    solved = run(solve(agent, "FIX or CREATE?", Expect.text(regex=r"^(FIX|CREATE)$")))
    assert solved.value == "CREATE"
    assert [a.failure.kind for a in solved.attempts[:2] if a.failure] == ["empty", "regex"]
    assert "empty" in agent.history[1]
    assert "(FIX|CREATE)" in agent.history[2]


def test_json_is_repaired_and_the_stage_recorded() -> None:
    reply = 'Here you go:\n```json\n[{"file_name": "a.py", "code": "x = 1",},]\n```'
    solved = run(solve(ScriptedAgent([reply]), "task", Expect.json(list[FileSpec])))
    assert solved.value == [FileSpec(file_name="a.py", code="x = 1")]
    assert solved.stage == "repaired"
    assert any(kind == "trailing_comma" for kind, _, _ in solved.attempts[0].fixes)
    assert solved.metrics.repairs == {"repaired": 1}


def test_python_literals_count_as_json_literal_used() -> None:
    solved = run(solve(ScriptedAgent(["{'ok': True, 'v': None}"]), "t", Expect.json(dict)))
    assert solved.value == {"ok": True, "v": None}
    assert solved.stage == "python"
    assert solved.metrics.json_literal_used == 1


def test_type_errors_name_the_field_path() -> None:
    replies = ['[{"file_name": "a.py"}]', '[{"file_name": "a.py", "code": "pass"}]']
    agent = ScriptedAgent(replies)
    solved = run(solve(agent, "task", Expect.json(list[FileSpec])))
    failure = solved.attempts[0].failure
    assert failure is not None
    assert failure.kind == "type"
    assert "[0].code" in agent.history[1]
    assert solved.value[0].code == "pass"


def test_unrepairable_json_gets_json_feedback_with_position() -> None:
    agent = ScriptedAgent(["I cannot do that.", '{"a": 1}'])
    solved = run(solve(agent, "task", Expect.json(dict)))
    failure = solved.attempts[0].failure
    assert failure is not None
    assert failure.kind == "json"
    assert agent.history[1].startswith("Invalid JSON: ")
    assert "line 1" in agent.history[1]


# ------------------------------------------------------------------ validators


def _reject_odd(value: int) -> str | None:
    return "the number must be even" if value % 2 else None


def _raise_on_negative(value: int) -> None:
    if value < 0:
        raise ValueError("the number must not be negative")


async def _async_not_six(value: int) -> bool:
    await asyncio.sleep(0)
    return value != 6


def test_spec_validators_in_every_style() -> None:
    spec = Expect.json(int, validators=[_reject_odd, _raise_on_negative, _async_not_six])
    agent = ScriptedAgent(["3", "-2", "6", "8"])
    solved = run(solve(agent, "task", spec.but(attempts=4)))
    assert solved.value == 8
    messages = [a.failure.message for a in solved.attempts if a.failure]
    assert messages == [
        "the number must be even",
        "the number must not be negative",
        "the value was rejected by _async_not_six",
    ]
    assert agent.history[1].startswith("Invalid response: the number must be even")


def test_success_string_of_the_original_is_accepted() -> None:
    spec = Expect.text(validators=[lambda value: "success"])
    assert run(solve(ScriptedAgent(["x"]), "t", spec)).value == "x"


def test_plugin_validators_run_after_the_spec_validators() -> None:
    seen: list[str] = []

    class NoSecrets:
        @hookimpl
        def retort_validate(self, value: Any, reply: Any, expect: Expect) -> str | None:
            seen.append(value)
            return "do not reveal the secret" if "secret" in value else None

    spec = Expect.text(validators=[lambda v: None if v != "bad" else "spec says bad"])
    agent = ScriptedAgent(["bad", "the secret", "fine"])
    solved = run(solve(agent, "t", spec, plugins=manager(NoSecrets())))
    assert solved.value == "fine"
    assert seen == ["the secret", "fine"]  # the spec's validator rejected "bad" first
    assert "do not reveal the secret" in agent.history[2]


# ------------------------------------------------------------------ feedback wording


def test_feedback_templates_of_the_spec_come_first() -> None:
    spec = TWO.but(feedback={"sections:missing": "MISSING -> {message}"})
    agent = ScriptedAgent(["=======THOUGHT\nx", GOOD])
    run(solve(agent, "t", spec))
    assert agent.history[1].startswith("MISSING -> Missing section ANSWER")


def test_feedback_hooks_override_the_builtin_but_never_say_none() -> None:
    class Terse:
        @hookimpl
        def retort_feedback(self, failure: Any, expect: Expect) -> str | None:
            return "Try again." if failure.kind == "empty" else None

    class Broken:
        @hookimpl(tryfirst=True)
        def retort_feedback(self, failure: Any, expect: Expect) -> str | None:
            return "None" if failure.kind == "regex" else None

    agent = ScriptedAgent(["", "nope", "YES"])
    spec = Expect.text(regex="^YES$")
    run(solve(agent, "t", spec, plugins=manager(Terse(), Broken())))
    assert agent.history[1] == "Try again."
    assert agent.history[2] not in ("None", "")
    assert "^YES$" in agent.history[2]


# ------------------------------------------------------------------ context handling


def test_failed_replies_are_rejected_so_the_context_does_not_grow() -> None:
    sizes: list[list[str]] = []

    def reply(message: str, agent: ScriptedAgent) -> str:
        sizes.append([m.content or "" for m in agent.context.messages()])
        return GOOD if len(sizes) == 5 else "no sections here"

    agent = ScriptedAgent(reply, system_message="You are terse.")
    solved = run(solve(agent, "the task", TWO.but(attempts=5)))
    assert solved.value == ("think", "42")
    task = agent.history[0]
    assert sizes[0] == ["You are terse.", task]
    for number in range(1, 5):  # attempt n+1 sees the task and only the latest feedback
        assert sizes[number] == ["You are terse.", task, agent.history[number]]
    assert [m.content for m in agent.context.messages()] == [
        "You are terse.",
        task,
        agent.history[4],
        GOOD,
    ]


def test_keep_failed_leaves_failures_in_the_context() -> None:
    agent = ScriptedAgent(["bad", "YES"])
    run(solve(agent, "t", Expect.text(regex="YES", keep_failed=True)))
    assert [m.content for m in agent.context.messages()][1] == "bad"
    assert len(agent.context.messages()) == 4


def test_context_is_reset_by_default_and_kept_on_request() -> None:
    agent = ScriptedAgent(["one", "two", "three"])
    run(solve(agent, "first"))
    run(solve(agent, "second"))
    assert [m.content for m in agent.context.messages()] == ["second", "two"]
    run(solve(agent, "third", keep_context=True))
    assert [m.content for m in agent.context.messages()] == ["second", "two", "third", "three"]


def test_fresh_solves_on_a_fork_and_leaves_the_agent_alone() -> None:
    agent = ScriptedAgent(["original", "forked"], system_message="sys")
    run(solve(agent, "on the agent"))
    solved = run(solve(agent, "on a fork", fresh=True))
    assert solved.value == "forked"
    assert [m.content for m in agent.context.messages()] == ["sys", "on the agent", "original"]
    [fork] = agent.forks
    assert fork.history == ["on a fork"]
    assert fork.closed


# ------------------------------------------------------------------ failure


def test_exhaustion_raises_solve_failed_with_every_attempt() -> None:
    agent = ScriptedAgent(["a", "b", "c"])
    with pytest.raises(SolveFailed) as caught:
        run(solve(agent, "t", Expect.text(regex="^z$")))
    error = caught.value
    assert len(error.attempts) == 3
    assert [a.text for a in error.attempts] == ["a", "b", "c"]
    assert all(a.failure is not None for a in error.attempts)
    assert [a.feedback is not None for a in error.attempts] == [True, True, False]
    assert "3 attempts" in str(error)
    assert "^z$" in str(error)


def test_transport_errors_surface_typed_and_are_recorded() -> None:
    agent = ScriptedAgent(["bad", TransportError("HTTP 503 from http://x", status=503)])
    spec = Expect.text(regex="good")
    the_run = Run(plugins=manager())
    with pytest.raises(TransportError, match="503"):
        run(solve(agent, "t", spec, run=the_run))
    assert [a.error for a in the_run.attempts] == [None, "TransportError: HTTP 503 from http://x"]
    assert the_run.metrics.attempts == 2


def test_run_and_limit_together_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="Run"):
        run(solve(ScriptedAgent(["x"]), "t", run=Run(plugins=manager()), limit=3))


# ------------------------------------------------------------------ JSON repair hooks


def test_repair_hooks_run_until_one_gives_strict_json() -> None:
    calls: list[str] = []

    class Bad:
        @hookimpl(tryfirst=True)
        def retort_repair_json(self, text: str, error: Any, expect: Any, agent: Any) -> str:
            calls.append("bad")
            return "still {not json"

    class Good:
        @hookimpl
        async def retort_repair_json(self, text: str, error: Any, expect: Any, agent: Any) -> str:
            calls.append("good")
            return json.dumps({"fixed": text})

    solved = run(
        solve(
            ScriptedAgent(["no json here"]), "t", Expect.json(dict), plugins=manager(Bad(), Good())
        )
    )
    assert solved.value == {"fixed": "no json here"}
    assert solved.stage == "hook"
    assert calls == ["bad", "good"]
    assert solved.metrics.json_llm_used == 0  # only the built-in LLM fixer counts there


def test_the_llm_fixer_is_opt_in_and_makes_one_call_on_a_fork() -> None:
    agent = ScriptedAgent(["Sorry, no.", '{"fixed": true}'])
    the_run = Run(plugins=manager())
    solved = run(solve(agent, "t", Expect.json(dict, llm_fix=True), run=the_run))
    assert solved.value == {"fixed": True}
    assert solved.stage == "llm"
    [fixer] = agent.forks
    assert len(fixer.history) == 1
    assert "Sorry, no." in fixer.history[0]
    assert len(agent.history) == 1  # the solve's own conversation saw no fix request

    plain = ScriptedAgent(["Sorry, no.", '{"a": 1}'])
    solved = run(solve(plain, "t", Expect.json(dict), plugins=manager()))
    assert solved.attempts[0].failure is not None
    assert plain.forks == []


# ------------------------------------------------------------------ concurrency


def test_one_limiter_is_shared_by_every_call_of_a_run() -> None:
    async def main() -> tuple[int, int]:
        agents = [ScriptedAgent(["x"], latency=0.02) for _ in range(6)]
        the_run = Run(limit=2, plugins=manager())
        await asyncio.gather(*(solve(a, "t", run=the_run) for a in agents))
        return the_run.limiter.peak, the_run.limiter.active

    assert run(main()) == (2, 0)


def test_two_solves_never_share_one_conversation() -> None:
    async def main() -> list[str]:
        agent = ScriptedAgent(["bad", "A", "B"], latency=0.01)
        spec = Expect.text(regex="^[AB]$")
        await asyncio.gather(solve(agent, "first", spec), solve(agent, "second", spec))
        return agent.history

    history = run(main())
    assert history[0].startswith("first\n")
    assert history[2].startswith("second\n")  # the second solve waited for the first one's retry


def test_cancellation_releases_the_slot_and_records_the_attempt() -> None:
    async def main() -> Run:
        the_run = Run(limit=1, plugins=manager())
        agent = ScriptedAgent(["late"], latency=10)
        task = asyncio.create_task(solve(agent, "t", run=the_run))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert agent.context.messages() == []
        return the_run

    the_run = run(main())
    assert the_run.limiter.active == 0
    assert the_run.attempts[0].error == "CancelledError: "


# ------------------------------------------------------------------ events


def test_run_and_attempt_events_reach_plugins() -> None:
    events: list[tuple[str, Any]] = []

    class Listener:
        @hookimpl
        def retort_run_start(self, run: Run) -> None:
            events.append(("start", run.id))

        @hookimpl
        def retort_attempt(self, attempt: Any, run: Run) -> None:
            events.append(("attempt", attempt.ok))

        @hookimpl
        def retort_run_end(self, run: Run, error: BaseException | None) -> None:
            events.append(("end", error))

    run(solve(ScriptedAgent(["", "x"]), "t", plugins=manager(Listener())))
    assert [name for name, _ in events] == ["start", "attempt", "attempt", "end"]
    assert [value for name, value in events if name == "attempt"] == [False, True]
    assert events[-1] == ("end", None)


def test_usage_is_summed_into_the_metrics() -> None:
    solved = run(solve(ScriptedAgent(["", "answer"]), "a task"))
    assert solved.usage.completion_tokens > 0
    assert solved.metrics.prompt_tokens == solved.usage.prompt_tokens
    assert solved.metrics.tokens == solved.usage.total_tokens
    assert solved.metrics.as_dict()["attempts"] == 2


def test_plugin_validators_reject_with_false_or_value_error() -> None:
    class Strict:
        @hookimpl
        def retort_validate(self, value: Any, reply: Any, expect: Expect) -> Any:
            if value == "raise":
                raise ValueError("no raising allowed")
            return value != "false"

    agent = ScriptedAgent(["false", "raise", "fine"])
    solved = run(solve(agent, "t", plugins=manager(Strict())))
    assert solved.value == "fine"
    failures = [a.failure for a in solved.attempts if a.failure is not None]
    assert [f.message for f in failures] == [
        "a plugin validator rejected it",
        "no raising allowed",
    ]
    assert all(f.detail == "plugin" for f in failures)


def test_a_run_made_by_the_caller_fires_its_events_once() -> None:
    events: list[str] = []

    class Listener:
        @hookimpl
        def retort_run_start(self, run: Run) -> None:
            events.append("start")

        @hookimpl
        def retort_run_end(self, run: Run, error: BaseException | None) -> None:
            events.append(f"end:{type(error).__name__ if error else None}")

    async def main() -> None:
        async with Run(limit=1, plugins=manager(Listener())) as shared:
            await solve(ScriptedAgent(["a"]), "t", run=shared)
            await solve(ScriptedAgent(["b"]), "t", run=shared)

    run(main())
    assert events == ["start", "end:None"]


def test_spec_collections_are_normalised() -> None:
    spec = Expect.text(tags=["code", "code", "py"], validators=[str.strip])
    assert spec.tags == frozenset({"code", "py"})
    assert isinstance(spec.validators, tuple)
    with pytest.raises(ConfigurationError, match="tags"):
        Expect.text(tags="code")
