"""The contract kits against the shipped doubles, the native agent and record/replay.

Each kit also runs against deliberately broken implementations, which it must reject
with a :class:`ContractViolation` naming the broken check: a kit that passes everything
checks nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from check_agent import CHECKS as AGENT_CHECKS
from check_agent import check_agent
from check_transport import CHECKS as TRANSPORT_CHECKS
from check_transport import ContractViolation, check_transport

from retort.adapters.native import NativeAgent
from retort.adapters.replay import RecordingTransport, ReplayTransport
from retort.core import (
    Agent,
    ChatReply,
    ChatRequest,
    Message,
    Reply,
    ToolCall,
    Transport,
    TransportStatusError,
    call_chain,
    current_run,
    get_plugin_manager,
    make_plugin_manager,
    stable_tool_call_ids,
)
from retort.plugins.testing import ScriptedAgent, ScriptedTransport

NO_HOOKS = tuple(name for name in TRANSPORT_CHECKS if name != "hooks")
# A manager with no plugins: a ScriptedTransport given it applies no hooks at all.
NO_PLUGINS = make_plugin_manager(defaults=(), autoload=False)


def _tool_reply(request: ChatRequest) -> ChatReply:
    # The same call twice: stable ids must still differ (the ordinal suffix).
    calls = [("lookup", {"query": "retort"})] * 2
    ids = stable_tool_call_ids(calls)
    return ChatReply(
        tool_calls=tuple(
            ToolCall(id=i, name=name, arguments=json.dumps(args))
            for i, (name, args) in zip(ids, calls, strict=True)
        ),
        finish_reason="tool_calls",
    )


def scripted(scenario: str, plugins: Any = None) -> ScriptedTransport:
    """The transport kit's scenarios, played by ScriptedTransport."""
    if scenario == "text":
        return ScriptedTransport(lambda request: "hello", plugins=plugins)
    if scenario == "tool_call":
        return ScriptedTransport(_tool_reply, plugins=plugins)
    if scenario == "error":
        return ScriptedTransport(
            lambda request: TransportStatusError("HTTP 500 from the scripted endpoint", status=500),
            plugins=plugins,
        )
    assert scenario == "slow"
    return ScriptedTransport(lambda request: "late", latency=30, plugins=plugins)


def hookless(scenario: str) -> ScriptedTransport:
    """The scenarios played by a ScriptedTransport that applies no hooks."""
    return scripted(scenario, NO_PLUGINS)


class HookedTransport(Transport):
    """A transport that applies the send/receive hooks around a hookless inner one, as
    HTTP transports do: the run's plugin manager, else the process default."""

    def __init__(self, inner: Transport, *, after_result: bool = True) -> None:
        self.inner = inner
        self.after_result = after_result

    async def send(self, request: ChatRequest) -> ChatReply:
        run = current_run()
        hook = (run.plugins if run is not None else get_plugin_manager()).hook
        request = await call_chain(hook.retort_before_send, "request", request, transport=self)
        reply = await self.inner.send(request)
        shaped = await call_chain(
            hook.retort_after_receive, "reply", reply, request=request, transport=self
        )
        return shaped if self.after_result else reply

    async def aclose(self) -> None:
        await self.inner.aclose()


# ------------------------------------------------------------------ transports that pass


def test_scripted_transport_passes_the_transport_kit() -> None:
    # ScriptedTransport applies the shaping hooks like a real transport: every check runs.
    assert check_transport(scripted) == TRANSPORT_CHECKS


def test_a_transport_applying_the_hooks_passes_every_check() -> None:
    assert check_transport(lambda s: HookedTransport(hookless(s))) == TRANSPORT_CHECKS


def test_recording_then_replaying_passes_the_transport_kit(tmp_path: Path) -> None:
    def recording(scenario: str) -> RecordingTransport:
        return RecordingTransport(scripted(scenario), tmp_path / f"{scenario}.jsonl")

    def replay(scenario: str) -> ReplayTransport:
        path = tmp_path / f"{scenario}.jsonl"
        if scenario == "error":
            path.touch()  # an empty cassette: every request misses
        return ReplayTransport(path)

    # The recorder calls no hooks itself, but the scripted transport it wraps does.
    assert check_transport(recording) == TRANSPORT_CHECKS
    assert not (tmp_path / "error.jsonl").exists()  # failures are not recorded
    # Offline answers are instant: there is no slow send to cancel.
    ran = check_transport(replay, skip={"hooks", "cancellation"})
    assert "cancellation" not in ran
    assert "round_trip" in ran


def test_skip_names_must_be_checks() -> None:
    with pytest.raises(ValueError, match="unknown checks in skip: \\['hook'\\]"):
        check_transport(scripted, skip={"hook"})
    with pytest.raises(ValueError, match="unknown checks"):
        check_agent(lambda replies: (ScriptedAgent(replies), list), skip={"nope"})


# ------------------------------------------------------------------ transports that fail


class _Broken(Transport):
    """A transport over ScriptedTransport with one thing wrong."""

    def __init__(self, scenario: str, flaw: str) -> None:
        self.inner = scripted(scenario)
        self.scenario = scenario
        self.flaw = flaw
        self.closes = 0

    async def send(self, request: ChatRequest) -> ChatReply:
        if self.flaw == "foreign error" and self.scenario == "error":
            raise ConnectionError("connection refused")
        if self.flaw == "ignores cancel" and self.scenario == "slow":
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                return ChatReply(content="swallowed")
        reply = await self.inner.send(request)
        if self.flaw == "duplicate ids" and reply.tool_calls:
            same = reply.tool_calls[0].id
            calls = tuple(call.model_copy(update={"id": same}) for call in reply.tool_calls)
            return reply.model_copy(update={"tool_calls": calls})
        if self.flaw == "no finish reason" and reply.tool_calls:
            return reply.model_copy(update={"finish_reason": "stop"})
        if self.flaw == "empty text":
            return reply.model_copy(update={"content": ""})
        if self.flaw == "arguments not an object" and reply.tool_calls:
            calls = tuple(call.model_copy(update={"arguments": "[1]"}) for call in reply.tool_calls)
            return reply.model_copy(update={"tool_calls": calls})
        return reply

    async def aclose(self) -> None:
        self.closes += 1
        if self.flaw == "close twice fails" and self.closes > 1:
            raise RuntimeError("already closed")
        await self.inner.aclose()


@pytest.mark.parametrize(
    ("flaw", "check"),
    [
        ("empty text", "round_trip"),
        ("duplicate ids", "tool_calls"),
        ("no finish reason", "tool_calls"),
        ("arguments not an object", "tool_calls"),
        ("foreign error", "errors"),
        ("ignores cancel", "cancellation"),
        ("close twice fails", "aclose"),
    ],
)
def test_the_transport_kit_catches_a_broken_transport(flaw: str, check: str) -> None:
    with pytest.raises(ContractViolation) as caught:
        check_transport(lambda scenario: _Broken(scenario, flaw), skip={"hooks"})
    assert caught.value.check == check


def test_the_transport_kit_catches_hooks_that_are_not_applied() -> None:
    with pytest.raises(ContractViolation, match="once per send") as caught:
        check_transport(hookless, skip=set(NO_HOOKS))
    assert caught.value.check == "hooks"
    with pytest.raises(ContractViolation, match="not the reply retort_after_receive returned"):
        check_transport(
            lambda s: HookedTransport(hookless(s), after_result=False), skip=set(NO_HOOKS)
        )
    with pytest.raises(ContractViolation, match="found 2 and 2 calls"):
        # Hooks applied twice: by the wrapper and again by the transport it wraps.
        check_transport(lambda s: HookedTransport(scripted(s)), skip=set(NO_HOOKS))


def test_the_transport_kit_refuses_a_factory_that_returns_no_transport() -> None:
    with pytest.raises(ContractViolation, match="returned str, not a Transport"):
        check_transport(lambda scenario: "not a transport")  # type: ignore[arg-type, return-value]


def test_the_transport_kit_accepts_async_factories() -> None:
    async def factory(scenario: str) -> Transport:
        await asyncio.sleep(0)
        return scripted(scenario)

    assert check_transport(factory) == TRANSPORT_CHECKS


def test_the_kits_ship_in_the_library() -> None:
    """A third party imports the kits from retort; the modules here only re-export them."""
    import check_agent as agent_kit
    import check_transport as transport_kit

    from retort.plugins.testing import contract

    assert contract.__all__ == [
        "AGENT_CHECKS",
        "LOOKUP_TOOL",
        "SCENARIOS",
        "TRANSPORT_CHECKS",
        "AgentFactory",
        "ContractViolation",
        "Seen",
        "TransportFactory",
        "check_agent",
        "check_agent_async",
        "check_transport",
        "check_transport_async",
    ]
    assert transport_kit.check_transport is contract.check_transport
    assert transport_kit.CHECKS is contract.TRANSPORT_CHECKS
    assert agent_kit.check_agent is contract.check_agent
    assert agent_kit.CHECKS is contract.AGENT_CHECKS
    assert transport_kit.ContractViolation is agent_kit.ContractViolation
    assert contract.ContractViolation is ContractViolation
    assert issubclass(ContractViolation, AssertionError)
    assert contract.SCENARIOS == ("text", "tool_call", "error", "slow")
    assert contract.LOOKUP_TOOL["function"]["name"] == "lookup"


def test_the_async_kits_run_inside_a_running_loop() -> None:
    from retort.plugins.testing.contract import check_agent_async, check_transport_async

    async def main() -> tuple[tuple[str, ...], tuple[str, ...]]:
        return (
            await check_transport_async(scripted, skip={"cancellation"}),
            await check_agent_async(native, skip={"solve"}),
        )

    transports, agents = asyncio.run(main())
    assert transports == tuple(name for name in TRANSPORT_CHECKS if name != "cancellation")
    assert agents == AGENT_CHECKS[:-1]


# ------------------------------------------------------------------ agents that pass

Seen = Callable[[], list[list[Message]]]


def native(replies: list[str]) -> tuple[NativeAgent, Seen]:
    transport = ScriptedTransport(replies)
    agent = NativeAgent(transport, system_message="You are terse.")
    return agent, lambda: [request.messages for request in transport.history]


def scripted_agent(replies: list[str]) -> tuple[ScriptedAgent, Seen]:
    seen: list[list[Message]] = []

    def answer(message: str, agent: ScriptedAgent) -> str:
        seen.append(agent.context.window())  # what a backend would receive
        return replies.pop(0)

    return ScriptedAgent(answer, system_message="You are terse."), lambda: seen


def test_native_agent_passes_the_agent_kit() -> None:
    assert check_agent(native) == AGENT_CHECKS


def test_scripted_agent_passes_the_agent_kit() -> None:
    assert check_agent(scripted_agent) == AGENT_CHECKS


def test_native_agent_over_replay_passes_the_agent_kit(tmp_path: Path) -> None:
    """Record the kit's conversations through a native agent, then replay them offline."""
    count = iter(range(1_000))
    paths: list[Path] = []

    def recording(replies: list[str]) -> tuple[NativeAgent, Seen]:
        paths.append(tmp_path / f"{next(count)}.jsonl")
        inner = ScriptedTransport(replies)
        agent = NativeAgent(RecordingTransport(inner, paths[-1]))
        return agent, lambda: [request.messages for request in inner.history]

    def replaying(replies: list[str]) -> tuple[NativeAgent, Seen]:
        path = paths.pop(0)
        path.touch()  # a factory call that sent nothing recorded nothing
        transport = ReplayTransport(path, strict=True)
        return NativeAgent(transport), lambda: [request.messages for request in transport.history]

    check_agent(recording)
    assert check_agent(replaying) == AGENT_CHECKS


# ------------------------------------------------------------------ agents that fail


class _Flawed(NativeAgent):
    flaw = ""

    async def reject(self, reply: Reply) -> None:
        if self.flaw == "reject does nothing":
            return
        if self.flaw == "reject drops the task" and reply.turn_id is not None:
            self.context.discard(reply.turn_id)
            return
        if self.flaw == "reject keeps feedback prompts":
            for turn in self.context.turns:
                if turn.id == reply.turn_id:
                    turn.kind = "task"  # so the reject keeps the feedback prompt
        if self.flaw == "reject ignores foreign replies":
            with contextlib.suppress(ValueError):
                await super().reject(reply)
            return
        await super().reject(reply)

    async def reset(self) -> None:
        if self.flaw != "reset does nothing":
            await super().reset()

    def fork(self) -> NativeAgent:
        if self.flaw == "fork returns self":
            return self
        if self.flaw == "fork owns the transport":
            twin = super().fork()
            twin.owns_transport = True
            return twin
        if self.flaw == "fork forgets the system message":
            return NativeAgent(self.transport, owns_transport=False)
        return super().fork()

    async def aclose(self) -> None:
        if self.flaw == "close twice fails" and self.closed:
            raise RuntimeError("already closed")
        await super().aclose()


@pytest.mark.parametrize(
    ("flaw", "check"),
    [
        ("reject does nothing", "reject"),
        ("reject drops the task", "reject"),
        ("reject ignores foreign replies", "reject"),
        ("reject keeps feedback prompts", "feedback"),
        ("reset does nothing", "reset"),
        ("fork returns self", "fork"),
        ("fork owns the transport", "fork"),
        ("fork forgets the system message", "fork"),
        ("close twice fails", "aclose"),
    ],
)
def test_the_agent_kit_catches_a_broken_agent(flaw: str, check: str) -> None:
    def factory(replies: list[str]) -> tuple[Agent, Seen]:
        transport = ScriptedTransport(replies)
        agent = _Flawed(transport, system_message="You are terse.")
        agent.flaw = flaw
        return agent, lambda: [request.messages for request in transport.history]

    with pytest.raises(ContractViolation) as caught:
        check_agent(factory)
    assert caught.value.check == check


def test_the_agent_kit_catches_a_reply_of_the_wrong_shape() -> None:
    class NoTurnId(NativeAgent):
        async def ask(self, message: str) -> Reply:
            reply = await super().ask(message)
            return reply.model_copy(update={"turn_id": None})

    def factory(replies: list[str]) -> tuple[Agent, Seen]:
        transport = ScriptedTransport(replies)
        return NoTurnId(transport), lambda: [r.messages for r in transport.history]

    with pytest.raises(ContractViolation, match=r"\[ask\] a reply has no turn_id"):
        check_agent(factory)


def test_the_agent_kit_reads_mappings_from_seen() -> None:
    def factory(replies: list[str]) -> tuple[Agent, Callable[[], list[list[dict[str, Any]]]]]:
        agent, seen = native(replies)
        return agent, lambda: [[m.model_dump() for m in call] for call in seen()]

    assert check_agent(factory, skip={"solve"}) == AGENT_CHECKS[:-1]
