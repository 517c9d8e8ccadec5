"""retort's pytest plugin: its fixtures, used here directly and from user test files.

The plugin is active in this very run (entry point ``pytest11``), so most tests request
its fixtures; ``pytester`` runs user-style test files in a nested session to show what a
user sees: the fixtures work under ``filterwarnings = error``, servers are closed even
when a test fails, and ``-p no:retort`` turns the plugin off.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retort.adapters.native import NativeAgent
from retort.adapters.proxy import ProxyTransport, ScriptedModel
from retort.adapters.replay import Cassette, CassetteError, CassetteMiss, ReplayTransport
from retort.core import (
    ChatReply,
    ChatRequest,
    ConfigurationError,
    Expect,
    Message,
    get_plugin_manager,
    hookimpl,
    plugin_sources,
    solve,
)
from retort.core import plugins as plugins_module
from retort.parsers import find_fences, parse_sections
from retort.plugins.testing import ScriptedAgent, ScriptedTransport, pytest_plugin

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]

FIXTURES = (
    "retort_server",
    "scripted_agent",
    "scripted_transport",
    "cassette_player",
    "retort_plugins",
    "retort_strategies",
)


def request_for(text: str) -> ChatRequest:
    return ChatRequest(messages=[Message(role="user", content=text)])


# -------------------------------------------------------------------- loading


def test_pytest_loads_it_through_its_entry_point(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.get_plugin("retort") is pytest_plugin


def test_importing_it_loads_nothing_of_retort_but_itself() -> None:
    # retort.plugins.testing (the package) is imported first: that cost is the package's.
    script = textwrap.dedent(
        """
        import json, sys
        import pytest, retort.plugins.testing
        before = set(sys.modules)
        import retort.plugins.testing.pytest_plugin
        print(json.dumps(sorted(set(sys.modules) - before)))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(result.stdout) == ["retort.plugins.testing.pytest_plugin"]


def test_it_has_no_hooks_and_no_autouse_fixtures(request: pytest.FixtureRequest) -> None:
    assert [name for name in dir(pytest_plugin) if name.startswith("pytest_")] == []
    assert not set(FIXTURES) & set(request.fixturenames)


def test_strategies_are_reexported_lazily(retort_strategies: Any) -> None:
    from retort.plugins.testing import strategies

    assert pytest_plugin.strategies is strategies
    assert retort_strategies is strategies
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        _ = pytest_plugin.nothing


@settings(max_examples=10)
@given(data=st.data())
def test_the_strategies_fixture_works_in_given_tests(retort_strategies: Any, data: Any) -> None:
    text, values = data.draw(retort_strategies.section_replies(["THOUGHT", "ANSWER"]))
    assert parse_sections(text, ["THOUGHT", "ANSWER"]).values == tuple(values)


# -------------------------------------------------------------------- retort_server


def ask_over_http(url: str, spec: Expect, prompt: str = "What is 6 x 7?") -> Any:
    async def main() -> Any:
        async with NativeAgent(ProxyTransport(url, agent_prefix="test", retries=0)) as agent:
            return await solve(agent, prompt, spec)

    return asyncio.run(main())


def test_retort_server_replies_in_order_then_repeats_the_last(
    retort_server: pytest_plugin.ServerFactory,
) -> None:
    server = retort_server(replies=["no answer", "=======ANSWER\n42"])
    assert server.url.startswith("http://127.0.0.1:")
    solved = ask_over_http(server.url, Expect.sections("ANSWER"))
    assert (solved.value, len(solved.attempts)) == ("42", 2)
    assert ask_over_http(server.url, Expect.sections("ANSWER")).value == "42"
    assert retort_server.servers == [server]


def test_retort_server_takes_script_data_a_file_a_function_or_a_model(
    retort_server: pytest_plugin.ServerFactory, tmp_path: Path
) -> None:
    rules = [{"match": "capital", "reply": "Paris"}, {"reply": "?"}]
    path = tmp_path / "script.json"
    path.write_text(json.dumps({"rules": rules}), encoding="utf-8")
    servers = [
        retort_server(script={"rules": rules}),
        retort_server(script=rules),
        retort_server(script=path),
        retort_server(lambda request: "Paris" if "capital" in request.last_message else "?"),
        retort_server(ScriptedModel(rules)),
    ]
    for server in servers:
        assert ask_over_http(server.url, Expect.text(), "The capital of France?").value == "Paris"
    echo = retort_server()
    assert ask_over_http(echo.url, Expect.text(), "say this").value.startswith("say this")
    assert len({server.port for server in [*servers, echo]}) == 6


def test_retort_server_applies_faults(retort_server: pytest_plugin.ServerFactory) -> None:
    server = retort_server(replies=["ok"], faults={"statuses": {503: 1.0}, "retry_after": None})
    body = {"messages": [{"role": "user", "content": "hi"}], "agent_id": "a", "run_id": "r"}
    response = httpx.post(f"{server.url}/api/inference", json=body, timeout=5)
    assert response.status_code == 503
    assert server.stats.faults == {"status:503": 1}


def test_retort_server_refuses_two_sources_of_replies(
    retort_server: pytest_plugin.ServerFactory,
) -> None:
    with pytest.raises(ConfigurationError, match="got replies and script"):
        retort_server(replies=["a"], script={"rules": []})
    with pytest.raises(ConfigurationError, match="rules\\[0\\]: missing 'reply'"):
        retort_server(script=[{"match": "x"}])
    assert retort_server.servers == []


# -------------------------------------------------------------------- scripted doubles


def test_scripted_agent_and_transport_build_the_doubles(
    scripted_agent: Callable[..., ScriptedAgent],
    scripted_transport: Callable[..., ScriptedTransport],
) -> None:
    agent = scripted_agent(["4"], system_message="Be brief.")
    assert isinstance(agent, ScriptedAgent)
    assert agent.system_message == "Be brief."
    assert asyncio.run(solve(agent, "2 + 2?")).value == "4"
    transport = scripted_transport(["hello"], latency=0.0)
    assert isinstance(transport, ScriptedTransport)
    assert asyncio.run(transport.send(request_for("hi"))).content == "hello"
    assert transport.history[0].messages[0].content == "hi"


# -------------------------------------------------------------------- cassette_player


def test_cassette_player_replays_exchanges_in_every_form(
    cassette_player: pytest_plugin.CassettePlayer,
) -> None:
    tool_turn = [
        {"role": "system", "content": "Be brief."},
        Message(role="user", content="Look it up."),
    ]
    transport = cassette_player(
        [
            ("hi", "hello"),
            ("hi", {"content": "hello again", "finish_reason": "stop"}),
            {"request": tool_turn, "reply": ChatReply(content="found")},
            (request_for("as a request"), "as a reply"),
            ({"messages": [{"role": "user", "content": "mapping"}]}, "from a mapping"),
        ]
    )
    assert isinstance(transport, ReplayTransport)
    assert transport.cassette.path.name == "cassette-1.jsonl"

    async def replay() -> list[str | None]:
        requests = [
            request_for("hi"),
            request_for("hi"),
            request_for("hi"),  # the last reply of a key repeats
            ChatRequest(messages=[Message.model_validate(m) for m in tool_turn]),
            request_for("as a request"),
            request_for("mapping"),
        ]
        return [(await transport.send(request)).content for request in requests]

    assert asyncio.run(replay()) == [
        "hello",
        "hello again",
        "hello again",
        "found",
        "as a reply",
        "from a mapping",
    ]


def test_cassette_player_reads_files_and_can_be_strict(
    cassette_player: pytest_plugin.CassettePlayer, tmp_path: Path
) -> None:
    cassette = Cassette(tmp_path / "recorded.jsonl")
    cassette.record(request_for("ping"), ChatReply(content="pong"))
    cassette.close()
    for source in (cassette.path, str(cassette.path), cassette):
        assert asyncio.run(cassette_player(source).send(request_for("ping"))).content == "pong"

    strict = cassette_player([("once", "only once")], strict=True)
    assert asyncio.run(strict.send(request_for("once"))).content == "only once"
    with pytest.raises(CassetteMiss, match="asked 2 times but recorded 1 time"):
        asyncio.run(strict.send(request_for("once")))
    empty = cassette_player([])
    assert empty.cassette.path.name == "cassette-2.jsonl"
    with pytest.raises(CassetteMiss, match="which holds 0 exchanges"):
        asyncio.run(empty.send(request_for("anything")))


def test_cassette_player_names_what_it_cannot_read(
    cassette_player: pytest_plugin.CassettePlayer, tmp_path: Path
) -> None:
    with pytest.raises(CassetteError, match="does not exist"):
        cassette_player(tmp_path / "missing.jsonl")
    with pytest.raises(TypeError, match="exchange 0 is 'just text'; expected a pair"):
        cassette_player(["just text"])
    with pytest.raises(TypeError, match="the request of exchange 0 is a int"):
        cassette_player([(42, "reply")])
    with pytest.raises(TypeError, match="the reply of exchange 1 is a NoneType"):
        cassette_player([("a", "b"), ("c", None)])


# -------------------------------------------------------------------- retort_plugins


class NoSecrets:
    @hookimpl
    def retort_validate(self, value: Any) -> str | None:
        return "Do not reveal the password." if "password" in str(value) else None


def test_retort_plugins_installs_a_manager_for_the_test(
    retort_plugins: Callable[..., Any], scripted_agent: Callable[..., ScriptedAgent]
) -> None:
    pm = retort_plugins(NoSecrets())
    assert get_plugin_manager() is pm
    assert [info.source for info in plugin_sources(pm)].count("entry point") == 0
    agent = scripted_agent(["the password is hunter2", "I cannot say."])
    solved = asyncio.run(solve(agent, "What is the password?"))
    assert solved.value == "I cannot say."
    assert "Do not reveal the password." in agent.history[1]
    bare = retort_plugins(NoSecrets(), defaults=())
    assert get_plugin_manager() is bare
    assert len(plugin_sources(bare)) == 1


def test_retort_plugins_restores_the_previous_default(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_restore="""
        from retort.core import get_plugin_manager, make_plugin_manager, set_plugin_manager

        MINE = make_plugin_manager(defaults=(), autoload=False)


        def test_set_one():
            set_plugin_manager(MINE)


        def test_replace_it(retort_plugins):
            pm = retort_plugins()
            assert get_plugin_manager() is pm


        def test_it_is_back():
            assert get_plugin_manager() is MINE
            set_plugin_manager(None)
        """
    )
    saved = plugins_module._default_manager
    try:
        pytester.runpytest().assert_outcomes(passed=3)
    finally:
        plugins_module.set_plugin_manager(saved)


# -------------------------------------------------------------------- as a user sees it

USER_TESTS = """
import asyncio

from hypothesis import given, settings
from retort.adapters.native import NativeAgent
from retort.adapters.proxy import ProxyTransport
from retort.core import Expect, get_plugin_manager, hookimpl, solve
from retort.parsers import loads
from retort.plugins.testing.pytest_plugin import strategies


class NoTodo:
    @hookimpl
    def retort_validate(self, value, expect):
        if "code" in expect.tags and "TODO" in str(value):
            return "Finish the TODO."
        return None


def test_my_validator(scripted_agent, retort_plugins):
    retort_plugins(NoTodo())
    agent = scripted_agent(["x = 1  # TODO", "x = 1"])
    solved = asyncio.run(solve(agent, "Code?", Expect.text(tags={"code"})))
    assert solved.value == "x = 1"
    assert agent.history[1].startswith("Invalid response: Finish the TODO.")


def test_my_validator_over_http(retort_server, retort_plugins):
    retort_plugins(NoTodo())
    server = retort_server(replies=["y = 2  # TODO", "y = 2"])

    async def main():
        async with NativeAgent(ProxyTransport(server.url, agent_prefix="coder")) as agent:
            return await solve(agent, "Code?", Expect.text(tags={"code"}))

    assert asyncio.run(main()).value == "y = 2"


def test_the_manager_is_back_to_the_default():
    assert all(not isinstance(p, NoTodo) for p in get_plugin_manager().get_plugins())


def test_replayed(cassette_player):
    transport = cassette_player([("Code?", "z = 3")])
    agent = NativeAgent(transport)
    assert asyncio.run(solve(agent, "Code?", Expect.text(instructions=""))).value == "z = 3"


@settings(max_examples=5)
@given(strategies.malformed_json())
def test_my_json_consumer(case):
    text, expected = case
    assert loads(text) == expected
"""


def test_a_user_test_file_runs_under_filterwarnings_error(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest()
    result.assert_outcomes(passed=5)


def test_servers_are_closed_even_when_the_test_fails(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_failing="""
        import httpx
        import pytest

        STARTED = []


        def test_fails_with_a_server(retort_server):
            STARTED.append(retort_server(replies=["hi"]))
            STARTED.append(retort_server())
            raise AssertionError("the test fails")


        def test_they_were_closed():
            assert [server.closed for server in STARTED] == [True, True]
            with pytest.raises(httpx.ConnectError):
                httpx.get(STARTED[0].url + "/stats", timeout=2)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: the test fails*"])


def test_dash_p_no_retort_turns_it_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_off="""
        def test_needs_it(scripted_agent):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:retort")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'scripted_agent' not found*"])


def doc_test_files() -> list[tuple[str, str]]:
    """The ```python norun pytest blocks of the docs: whole test files users can copy."""
    found = []
    for page in sorted((ROOT / "docs").glob("*.md")):
        blocks = find_fences(page.read_text(encoding="utf-8"))
        for number, block in enumerate(b for b in blocks if "pytest" in b.info.split()):
            found.append((f"{page.stem}-{number}", block.body))
    return found


@pytest.mark.parametrize(("name", "source"), doc_test_files(), ids=lambda value: value[:20])
def test_the_test_files_in_the_docs_pass(pytester: pytest.Pytester, name: str, source: str) -> None:
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makepyfile(**{f"test_{name.replace('-', '_')}": source})
    result = pytester.runpytest()
    result.assert_outcomes(passed=source.count("\ndef test_"))


def test_the_docs_hold_a_test_file() -> None:
    assert [name for name, _ in doc_test_files()] == ["testing-0"]
