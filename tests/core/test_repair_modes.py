"""Expect.json(repair=...): which JSON repairs a spec accepts, and feedback that names
the guesses. Through the public API, driven by the shipped scripted agent.

The parser is improved independently, so each test first checks, through
``parsers.repair``, that its input is still classified the way the test assumes.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from retort import parsers
from retort.core import (
    ConfigurationError,
    Expect,
    Run,
    SolveFailed,
    hookimpl,
    make_plugin_manager,
    solve,
    solve_sync,
)
from retort.core.plugins import DEFAULT_PLUGINS
from retort.plugins.testing import ScriptedAgent

INNER_QUOTE = '{"a": "say "hi" now"}'  # the inner quotes are guessed to be content
VALID = '{"a": "say \\"hi\\" now"}'


class Item(BaseModel):
    a: int


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def manager(*plugins: object) -> Any:
    return make_plugin_manager(defaults=DEFAULT_PLUGINS, autoload=False, plugins=plugins)


def guesses(text: str) -> tuple[parsers.Fix, ...]:
    guessed = parsers.repair(text).guessed
    assert guessed, f"expected {text!r} to need a guess"
    return guessed


def first_guess(text: str, kind: str) -> parsers.Fix:
    matching = [fix for fix in guesses(text) if fix.kind == kind]
    assert matching, f"no {kind} guess reading {text!r}"
    return matching[0]


# ------------------------------------------------------------------ full (the default)


def test_full_accepts_a_guessed_reply_and_records_the_guesses() -> None:
    guess = first_guess(INNER_QUOTE, "inner_quote")
    solved = solve_sync(ScriptedAgent([INNER_QUOTE]), "t", Expect.json(dict))
    assert Expect.json(dict).repair == "full"
    assert solved.value == {"a": 'say "hi" now'}
    [attempt] = solved.attempts
    assert (guess.kind, guess.position, guess.detail) in attempt.guessed
    assert set(attempt.guessed) <= set(attempt.fixes)
    assert attempt.to_dict()["guessed"] == [list(fix) for fix in attempt.guessed]
    assert solved.metrics.json_guessed == 1
    assert solved.metrics.as_dict()["json_guessed"] == 1


def test_valid_and_safely_repaired_json_records_no_guesses() -> None:
    assert not parsers.repair('{"a": 1,}').guessed
    solved = solve_sync(ScriptedAgent(['{"a": 1,}']), "t", Expect.json(dict))
    assert solved.attempts[0].fixes
    assert solved.attempts[0].guessed == ()
    assert solved.metrics.json_guessed == 0


# ------------------------------------------------------------------ safe


def test_safe_refuses_a_guess_naming_it_then_accepts_a_valid_retry() -> None:
    guess = first_guess(INNER_QUOTE, "inner_quote")
    agent = ScriptedAgent([INNER_QUOTE, VALID])
    solved = solve_sync(agent, "t", Expect.json(dict, repair="safe"))
    assert solved.value == {"a": 'say "hi" now'}
    first, second = solved.attempts
    assert first.failure is not None
    assert (first.failure.kind, first.failure.detail) == ("json", "guessed")
    assert first.failure.label == "json:guessed"
    feedback = agent.history[1]
    assert feedback == first.feedback
    assert feedback.startswith("Your JSON could only be read by guessing: ")
    assert f"at line 1, column {guess.position + 1} {guess.detail} (inner_quote)" in feedback
    assert "escape quotes inside strings" in feedback
    assert feedback.endswith(Expect.json(dict).instructions)  # the format comes last
    assert second.ok
    assert second.guessed == ()
    assert solved.metrics.feedback == {"json:guessed": 1}
    assert solved.metrics.json_guessed == 1


def test_the_feedback_gives_line_and_column_in_a_multi_line_reply() -> None:
    reply = '{\n  "x": 1,\n  "a": "say "hi" now"\n}'
    guess = first_guess(reply, "inner_quote")
    line_start = reply.rfind("\n", 0, guess.position) + 1
    line = reply.count("\n", 0, guess.position) + 1
    column = guess.position - line_start + 1
    agent = ScriptedAgent([reply, '{"a": 1}'])
    solve_sync(agent, "t", Expect.json(dict, repair="safe"))
    assert line == 3
    assert f"at line {line}, column {column} " in agent.history[1]


def test_safe_lists_a_few_guesses_then_counts_the_rest() -> None:
    reply = "{" + ", ".join(f'"k{i}": "say "hi{i}" now"' for i in range(8)) + "}"
    count = len(guesses(reply))
    assert count > 5
    agent = ScriptedAgent([reply, '{"a": 1}'])
    solve_sync(agent, "t", Expect.json(dict, repair="safe"))
    feedback = agent.history[1]
    assert feedback.count("(inner_quote)") == 5
    assert f"; and {count - 5} more." in feedback


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        ('{"a": 1,}', {"a": 1}),  # trailing comma
        ('```json\n{"a": 1}\n```', {"a": 1}),  # fence
        ("{'a': True, 'b': None}", {"a": True, "b": None}),  # Python literals
    ],
    ids=["trailing-comma", "fence", "python-literals"],
)
def test_safe_accepts_fixes_that_cannot_change_the_meaning(reply: str, value: Any) -> None:
    repaired = parsers.repair(reply)
    assert repaired.fixes
    assert repaired.safe
    solved = solve_sync(ScriptedAgent([reply]), "t", Expect.json(dict, repair="safe"))
    assert solved.value == value
    assert len(solved.attempts) == 1
    assert solved.attempts[0].fixes
    assert solved.attempts[0].guessed == ()


def test_safe_exhaustion_raises_solve_failed_carrying_every_attempt() -> None:
    truncated = '{"a": "hel'
    first_guess(truncated, "truncated_string")
    agent = ScriptedAgent([INNER_QUOTE, truncated])
    with pytest.raises(SolveFailed, match="could only be read by guessing") as caught:
        solve_sync(agent, "t", Expect.json(dict, repair="safe", attempts=2))
    attempts = caught.value.attempts
    assert [attempt.text for attempt in attempts] == [INNER_QUOTE, truncated]
    assert [a.failure.label for a in attempts if a.failure] == ["json:guessed"] * 2
    assert [attempt.feedback is not None for attempt in attempts] == [True, False]
    assert all(attempt.guessed for attempt in attempts)
    assert "truncated_string" in str(caught.value)


def test_safe_and_strict_do_not_try_the_repair_hooks() -> None:
    calls: list[str] = []

    class Fixer:
        @hookimpl
        def retort_repair_json(self, text: str, error: Any, expect: Any, agent: Any) -> str:
            calls.append(text)
            return '{"fixed": true}'

    for mode in ("safe", "strict"):
        with pytest.raises(SolveFailed) as caught:
            run(
                solve(
                    ScriptedAgent(["no json here"]),
                    "t",
                    Expect.json(dict, repair=mode, attempts=1),
                    plugins=manager(Fixer()),
                )
            )
        [attempt] = caught.value.attempts
        assert attempt.failure is not None
        assert attempt.failure.label == "json"
    assert calls == []
    solved = run(
        solve(ScriptedAgent(["no json here"]), "t", Expect.json(dict), plugins=manager(Fixer()))
    )
    assert solved.value == {"fixed": True}
    assert calls == ["no json here"]


# ------------------------------------------------------------------ strict


def test_strict_refuses_a_fenced_reply_and_accepts_plain_json() -> None:
    fenced = '```json\n{"a": 1}\n```'
    assert parsers.repair(fenced).safe
    assert parsers.repair(fenced).fixes
    agent = ScriptedAgent([fenced, '{"a": 1}'])
    solved = solve_sync(agent, "t", Expect.json(Item, repair="strict"))
    assert solved.value == Item(a=1)
    first, second = solved.attempts
    assert first.failure is not None
    assert first.failure.label == "json:not_strict"
    assert "not valid JSON as it stands" in agent.history[1]
    assert "(fence)" in agent.history[1]
    assert "at line 1, column 1 " in agent.history[1]
    assert "no code fence" in agent.history[1]
    assert second.ok
    assert second.fixes == ()
    assert solved.metrics.feedback == {"json:not_strict": 1}


def test_strict_accepts_valid_json_at_once() -> None:
    solved = solve_sync(ScriptedAgent([VALID]), "t", Expect.json(dict, repair="strict"))
    assert solved.value == {"a": 'say "hi" now'}
    assert solved.stage == "strict"


# ------------------------------------------------------------------ guesses behind a later failure


def test_a_type_failure_of_a_guessed_value_names_the_guesses() -> None:
    guess = first_guess('{"a": "say "hi" now"}', "inner_quote")
    spec = Expect.json(Item)
    agent = ScriptedAgent(['{"a": "say "hi" now"}', '{"a": 1}'])
    solved = solve_sync(agent, "t", spec)
    assert solved.value == Item(a=1)
    failure = solved.attempts[0].failure
    assert failure is not None
    assert failure.label == "type"
    feedback = agent.history[1]
    assert feedback.startswith("The JSON has the wrong structure.")
    note = f"your JSON could only be read by guessing: at line 1, column {guess.position + 1}"
    assert note in feedback
    assert "(inner_quote)" in feedback
    # one paragraph, just before the format instructions, which stay last
    assert feedback.endswith(f"\n\n{spec.instructions}")
    paragraph = feedback[: -len(spec.instructions)].rstrip().rsplit("\n\n", 1)[-1]
    assert paragraph.startswith("Note: your JSON could only be read by guessing")
    assert "guessing" not in failure.message  # the failure itself is unchanged


def test_a_validator_failure_of_a_guessed_value_names_the_guesses() -> None:
    def short(value: dict[str, str]) -> str | None:
        return "a is too long" if len(value["a"]) > 3 else None

    agent = ScriptedAgent([INNER_QUOTE, '{"a": "ok"}'])
    solve_sync(agent, "t", Expect.json(dict, validators=[short]))
    assert "a is too long" in agent.history[1]
    assert "could only be read by guessing" in agent.history[1]


def test_failures_of_values_read_without_guesses_say_nothing_of_guessing() -> None:
    agent = ScriptedAgent(['{"a": "x",}', '{"a": 1}'])
    solve_sync(agent, "t", Expect.json(Item))
    assert "guess" not in agent.history[1]


# ------------------------------------------------------------------ templates and configuration


def test_a_feedback_template_can_target_the_new_labels() -> None:
    spec = Expect.json(
        dict,
        repair="safe",
        feedback={"json:guessed": "GUESSED. {message}", "json": "PLAIN JSON. {message}"},
    )
    agent = ScriptedAgent([INNER_QUOTE, "not json at all", '{"a": 1}'])
    solve_sync(agent, "t", spec)
    assert agent.history[1].startswith("GUESSED. Your JSON could only be read by guessing")
    assert agent.history[2].startswith("PLAIN JSON. ")


def test_a_kind_template_also_covers_the_new_labels() -> None:
    spec = Expect.json(dict, repair="strict", feedback={"json": "JSON! {message}"})
    agent = ScriptedAgent(['{"a": 1,}', '{"a": 1}'])
    solve_sync(agent, "t", spec)
    assert agent.history[1].startswith("JSON! Your reply is not valid JSON as it stands")


def test_a_bad_repair_value_is_a_configuration_error_naming_the_valid_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"'full', 'safe', 'strict'.*'lenient'"):
        Expect.json(dict, repair="lenient")
    with pytest.raises(ConfigurationError, match="repair must be one of"):
        Expect.json(dict).but(repair="SAFE")


def test_repair_modes_other_than_full_are_for_json_and_exclude_the_llm_fixer() -> None:
    with pytest.raises(ConfigurationError, match="JSON"):
        Expect.text(repair="safe")
    with pytest.raises(ConfigurationError, match="llm_fix"):
        Expect.json(dict, repair="strict", llm_fix=True)
    assert Expect.text(repair="full").repair == "full"


def test_a_shared_run_counts_guessed_replies_across_solves() -> None:
    async def both() -> Run:
        async with Run(plugins=manager()) as the_run:
            await solve(ScriptedAgent([INNER_QUOTE]), "t", Expect.json(dict), run=the_run)
            await solve(ScriptedAgent(['{"a": 1}']), "t", Expect.json(dict), run=the_run)
        return the_run

    the_run = run(both())
    assert the_run.metrics.json_guessed == 1
    assert [bool(attempt.guessed) for attempt in the_run.attempts] == [True, False]
