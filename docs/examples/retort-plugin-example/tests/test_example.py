"""Tests of the example plugin, written with retort's pytest fixtures.

Run them with ``pytest`` in this folder once the package is installed
(``pip install -e '.[test]'``): the fixtures come from retort's pytest plugin, which
pytest loads by itself.
"""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel
from retort_plugin_example import EchoTransport, find_placeholders, no_placeholders
from retort_plugin_example import plugin as example_plugin

from retort.adapters.native import NativeAgent
from retort.adapters.proxy import ProxyTransport
from retort.core import ChatRequest, Expect, Message, create_transport, solve
from retort.plugins.testing.contract import check_transport

SKELETON = "def area(w, h):\n    # TODO: validate the sizes\n    return w * h  # FIXME\n"
FINISHED = "def area(w, h):\n    return w * h\n"


class FileSpec(BaseModel):
    file_name: str
    code: str


def test_the_validator_lists_every_placeholder_with_its_place() -> None:
    files = [FileSpec(file_name="a.py", code=FINISHED), FileSpec(file_name="b.py", code=SKELETON)]
    assert [(p.where, p.line) for p in find_placeholders(files)] == [
        ("[1].code", 2),
        ("[1].code", 3),
    ]
    message = no_placeholders(files)
    assert message is not None
    assert "2 placeholders" in message
    assert "[1].code line 2: '# TODO: validate the sizes'" in message
    assert no_placeholders(FINISHED) is None
    assert no_placeholders("a TODOLIST is not a marker") is None


def test_a_solve_of_a_code_spec_rejects_placeholders(scripted_agent, retort_plugins) -> None:
    retort_plugins(example_plugin)  # the default manager until the test ends
    agent = scripted_agent([SKELETON, FINISHED])
    solved = asyncio.run(solve(agent, "Write area().", Expect.text(tags={"code"})))
    assert solved.value == FINISHED.strip()
    assert len(solved.attempts) == 2
    assert "# TODO: validate the sizes" in agent.history[1]  # the feedback the model got


def test_specs_without_the_tag_are_left_alone(scripted_agent, retort_plugins) -> None:
    retort_plugins(example_plugin)
    agent = scripted_agent(["- TODO: buy milk"])
    assert asyncio.run(solve(agent, "My list?")).value == "- TODO: buy milk"


def test_echo_is_registered_by_name(retort_plugins) -> None:
    pm = retort_plugins(example_plugin)
    transport = create_transport("echo", pm, prefix="echo: ")
    request = ChatRequest(messages=[Message(role="user", content="hi")])
    assert asyncio.run(transport.send(request)).content == "echo: hi"


def test_echo_passes_the_transport_contract() -> None:
    # An echo cannot call tools, fail or hang: those checks need another endpoint.
    ran = check_transport(
        lambda scenario: EchoTransport(), skip={"tool_calls", "errors", "cancellation"}
    )
    assert ran == ("round_trip", "aclose", "hooks")


def test_over_http_against_the_reference_server(retort_server, retort_plugins) -> None:
    retort_plugins(example_plugin)
    server = retort_server(replies=[SKELETON, FINISHED])

    async def main() -> str:
        # The agent owns the transport: closing the agent closes its HTTP client.
        async with NativeAgent(ProxyTransport(server.url, agent_prefix="coder")) as agent:
            solved = await solve(agent, "Write area().", Expect.text(tags={"code"}))
        return solved.value

    assert asyncio.run(main()) == FINISHED.strip()
    assert server.stats.requests == 2


def test_a_recorded_reply_replays(cassette_player) -> None:
    transport = cassette_player([("Write area().", FINISHED)])
    request = ChatRequest(messages=[Message(role="user", content="Write area().")])
    assert asyncio.run(transport.send(request)).content == FINISHED


@pytest.mark.parametrize("text", ["XXX", "see FIXME below", "# TODO"])
def test_each_marker_is_found(text: str) -> None:
    assert no_placeholders(text) is not None
