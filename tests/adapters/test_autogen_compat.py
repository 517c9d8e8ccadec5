"""solve_task (the original's drop-in) over real AssistantAgents, and the AutoGen version guard.

Every async test goes through ``_run`` (``asyncio.wait_for(..., 20)``) so a hang fails.
"""

from __future__ import annotations

import asyncio
import warnings
from functools import partial
from typing import Any, Union

import pytest
from _support import bounded_run
from autogen_agentchat.agents import AssistantAgent

from retort.adapters.autogen import (
    SUPPORTED,
    AutoGenAgent,
    AutoGenVersionWarning,
    TransportChatCompletionClient,
    _version,
    autogen_versions,
    check_autogen_version,
    solve_task,
)
from retort.adapters.autogen._compat import section_names
from retort.core import ConfigurationError, SolveFailed, TransportStatusError
from retort.plugins.testing import ScriptedAgent, ScriptedTransport

TWO = """Respond in this format:
=======THOUGHT
<<your thought>>
=======TOOL_CALL
<<one tool call as JSON>>"""

THREE = """=========ANALYSIS
<<analysis>>
=========SOLUTION
<<solution>>
=========CODE
<<code>>"""


_run = partial(bounded_run, timeout=20)


def _agent(replies: list[Any]) -> tuple[AutoGenAgent, ScriptedTransport]:
    transport = ScriptedTransport(replies)
    client = TransportChatCompletionClient(transport)
    return AutoGenAgent(client, system_message="You write code."), transport


def _solve(replies: list[Any], *args: Any, **kwargs: Any) -> tuple[Any, ScriptedTransport]:
    agent, transport = _agent(replies)

    async def go() -> Any:
        async with agent:
            return await solve_task(agent, *args, **kwargs)

    return _run(go), transport


# ---------------------------------------------------------------------- return types


def test_two_sections_and_the_original_first_message() -> None:
    good = '=======THOUGHT\nlook first\n=======TOOL_CALL\n{"name": "ls"}'
    value, transport = _solve(["just prose", good], "Fix it.", TWO, return_type=tuple[str, str])
    assert value == ("look first", '{"name": "ls"}')
    assert transport.history[0].messages[-1].content == "Fix it.\n\n\n" + TWO
    assert "section" in (transport.history[1].messages[-1].content or "").lower()


def test_three_sections_with_longer_markers() -> None:
    good = "=========ANALYSIS\na\n=========SOLUTION\nb\n=========CODE\nc"
    value, _ = _solve([good], "Solve.", THREE, return_type=tuple[str, str, str])
    assert value == ("a", "b", "c")


def test_str_with_one_header_is_that_section() -> None:
    value, _ = _solve(["=======TEST_CASES\ndef test(): pass"], "Tests.", "=======TEST_CASES\n...")
    assert value == "def test(): pass"


def test_str_with_several_headers_merges_them() -> None:
    good = '=======THOUGHT\nlook\n=======TOOL_CALL\n{"name": "ls"}'
    value, _ = _solve([good], "Fix it.", TWO)
    assert value == 'look\n{"name": "ls"}'


def test_str_without_headers_is_plain_text_with_a_regex() -> None:
    value, transport = _solve(["Maybe.", "FIX"], "Fix or create?", regex=r"^(FIX|CREATE)$")
    assert value == "FIX"
    assert transport.history[0].messages[-1].content.startswith("Fix or create?")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("=======TOOL_CALL\nls", "ls"),
        ("=======THOUGHT\nt\n=======TOOL_CALL\nls", ("t", "ls")),
    ],
)
def test_union_accepts_both_sections_or_only_the_last(reply: str, expected: Any) -> None:
    return_type = Union[tuple[str, str], str]  # noqa: UP007 - the original's spelling
    value, _ = _solve([reply], "Next step?", TWO, return_type=return_type)
    assert value == expected
    value, _ = _solve([reply], "Next step?", TWO, return_type=tuple[str, str] | str)
    assert value == expected


def test_json_with_post_process_func() -> None:
    def check(files: list[dict[str, Any]]) -> str:
        return "success" if all(f.get("code") for f in files) else "a file has no code"

    replies = ['[{"file_name": "a.py", "code": ""}]', '[{"file_name": "a.py", "code": "x = 1"}]']
    value, transport = _solve(
        replies,
        "Write a.py",
        "Reply with a JSON list of {file_name, code}.",
        is_json=True,
        post_process_func=check,
        return_type=list[dict[str, Any]],
    )
    assert value == [{"file_name": "a.py", "code": "x = 1"}]
    assert "a file has no code" in (transport.history[1].messages[-1].content or "")


def test_json_default_return_type_is_any_value() -> None:
    value, _ = _solve(['{"ok": true}'], "Status?", is_json=True)
    assert value == {"ok": True}


# ---------------------------------------------------------------------- outcomes


def test_exhaustion_returns_none_or_raises_on_request() -> None:
    value, transport = _solve(
        ["a", "b"], "Fix it.", TWO, max_attempts=2, return_type=tuple[str, str]
    )
    assert value is None
    assert len(transport.history) == 2
    with pytest.raises(SolveFailed) as caught:
        _solve(
            ["a"], "Fix it.", TWO, max_attempts=1, return_type=tuple[str, str], raise_errors=True
        )
    assert len(caught.value.attempts) == 1


def test_transport_errors_raise_typed_instead_of_returning_none() -> None:
    error = TransportStatusError("HTTP 429 from the scripted endpoint", status=429)
    with pytest.raises(TransportStatusError):
        _solve([error], "Fix it.")


def test_return_types_that_do_not_fit_the_format_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="expects 3 sections, but response_format names 2"):
        _solve([], "Fix it.", TWO, return_type=tuple[str, str, str])
    with pytest.raises(ConfigurationError, match="not supported without is_json"):
        _solve([], "Fix it.", TWO, return_type=list[str])
    with pytest.raises(TypeError, match="retort Agent or an AutoGen AssistantAgent"):
        _run(lambda: solve_task("agent", "task"))  # type: ignore[arg-type]


def test_is_parallel_uses_a_fork_and_disable_reset_keeps_the_conversation() -> None:
    agent, transport = _agent(["first", "forked", "second"])

    async def go() -> list[Any]:
        async with agent:
            return [
                await solve_task(agent, "One."),
                await solve_task(agent, "Aside.", is_parallel=True),
                await solve_task(agent, "Two.", disable_reset=True),
            ]

    assert _run(go) == ["first", "forked", "second"]
    assert [m.content for m in transport.history[1].messages[1:]] == ["Aside."]
    assert [m.content for m in transport.history[2].messages[1:]] == ["One.", "first", "Two."]


def test_a_plain_assistant_agent_is_wrapped_once_and_reused() -> None:
    transport = ScriptedTransport(["one", "two", "three", "four"], latency=0.01)
    assistant = AssistantAgent("coder", model_client=TransportChatCompletionClient(transport))

    async def go() -> list[Any]:
        first = await solve_task(assistant, "First.")
        second = await solve_task(assistant, "Second.", disable_reset=True)
        # One wrapper per assistant: one lock, so two calls never share the conversation.
        both = await asyncio.gather(solve_task(assistant, "A."), solve_task(assistant, "B."))
        return [first, second, *both]

    assert _run(go) == ["one", "two", "three", "four"]
    assert [m.content for m in transport.history[1].messages[1:]] == ["First.", "one", "Second."]
    assert transport.peak == 1


def test_any_retort_agent_works() -> None:
    agent = ScriptedAgent(["=======ANSWER\n42"])
    assert _run(lambda: solve_task(agent, "6 x 7?", "=======ANSWER\n<<n>>")) == "42"


def test_section_names_reads_the_headers_in_order() -> None:
    assert section_names(TWO) == ("THOUGHT", "TOOL_CALL")
    assert section_names("=== tool call ===\n====== Thought\r\n=======THOUGHT") == (
        "TOOL_CALL",
        "THOUGHT",
    )
    assert section_names("no headers == here\n==\n") == ()


# ---------------------------------------------------------------------- version guard


def test_the_installed_autogen_is_in_range_and_does_not_warn() -> None:
    versions = autogen_versions()
    assert set(versions) == {"autogen-agentchat", "autogen-core", "autogen-ext"}
    assert versions["autogen-agentchat"] is not None
    assert check_autogen_version() == []  # filterwarnings=error: a warning would fail here
    assert SUPPORTED == ">=0.7.5,<0.8"


def _installed(monkeypatch: pytest.MonkeyPatch, agentchat: str | None) -> None:
    real = _version._installed_version
    monkeypatch.setattr(
        _version,
        "_installed_version",
        lambda name: agentchat if name == "autogen-agentchat" else real(name),
    )
    monkeypatch.setattr(_version, "_warned", False)


@pytest.mark.parametrize("version", ["0.8.0", "0.7.4", "1.0", "0.4.9.post1", "unknown"])
def test_versions_outside_the_range_warn_once(
    monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    _installed(monkeypatch, version)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        problems = check_autogen_version()
        again = check_autogen_version()
    assert problems == again
    assert len(problems) == 1
    assert f"autogen-agentchat {version} is installed" in problems[0]
    assert SUPPORTED in problems[0]
    assert [w.category for w in caught] == [AutoGenVersionWarning]
    assert issubclass(AutoGenVersionWarning, RuntimeWarning)


@pytest.mark.parametrize("version", ["0.7.5", "0.7.6", "0.7.10", "0.7.6rc1"])
def test_versions_inside_the_range_pass(monkeypatch: pytest.MonkeyPatch, version: str) -> None:
    _installed(monkeypatch, version)
    assert check_autogen_version() == []


def test_a_missing_package_is_reported_without_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    _installed(monkeypatch, None)
    problems = check_autogen_version()  # filterwarnings=error: no warning may be emitted
    assert problems == ["autogen-agentchat is not installed: pip install 'retort[autogen]'"]
    assert autogen_versions()["autogen-agentchat"] is None


def test_warn_false_only_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    _installed(monkeypatch, "0.9.0")
    assert len(check_autogen_version(warn=False)) == 1
