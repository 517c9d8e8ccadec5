"""The Transport contract kit: ``check_transport(factory)`` checks any transport.

```python
from retort.plugins.testing.contract import check_transport

def factory(scenario: str) -> Transport:
    return MyTransport(url=SERVER_URLS[scenario])

check_transport(factory)                      # raises ContractViolation on a breach
check_transport(factory, skip={"hooks"})      # a transport that applies no hooks
```

The factory contract: ``factory(scenario)`` returns a *fresh* transport (or an awaitable
of one, so a factory may start a server) wired to an endpoint that behaves like this
(:data:`SCENARIOS`):

- ``"text"``: answers every request with non-empty text and no tool calls.
- ``"tool_call"``: answers every request with one or more tool calls. The kit offers one
  tool, ``lookup(query: str)`` (:data:`LOOKUP_TOOL`); calls of it are natural, but any
  name is accepted.
- ``"error"``: fails every request, e.g. an HTTP 500 (with retries turned off or few, so
  the kit does not wait for a backoff), a refused connection, an unreachable host.
- ``"slow"``: takes at least 5 seconds to answer (or never answers).

The checks, by name (pass names in ``skip`` to leave checks out; the return value lists
the ones that ran, so a test can pin them):

- ``round_trip``: a reply is a ``ChatReply`` with text, no tool calls, finish reason
  ``stop`` and non-negative usage; a conversation holding an assistant tool-call turn
  (content ``None``) and its tool result is sent and answered too; three concurrent sends
  all succeed.
- ``tool_calls``: calls have non-empty ids, unique within the reply, a name, arguments
  that are JSON text of an object; the finish reason is ``tool_calls``.
- ``errors``: a failing request raises a ``TransportError`` (or a subclass) with a
  message - nothing else.
- ``cancellation``: cancelling a slow send raises ``CancelledError`` within a second, and
  the transport then closes cleanly and promptly.
- ``aclose``: ``async with`` works, and ``aclose()`` is idempotent, used or not.
- ``hooks``: with a plugin manager holding a probe plugin (installed both as the process
  default and as the active run's manager, so the transport finds it whichever way it
  looks), ``retort_before_send`` and ``retort_after_receive`` each run once per send;
  ``after_receive`` sees the request as ``before_send`` reshaped it and its returned reply
  is what ``send`` returns. A transport given its own ``plugins=`` manager ignores the
  probe: build the transports under test without one.

The kit depends only on retort's public API and the standard library (no pytest), so a
third party calls it from their own tests, whatever their test runner.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from retort.core import (
    ChatReply,
    ChatRequest,
    Message,
    Run,
    ToolCall,
    Transport,
    TransportError,
    Usage,
    get_plugin_manager,
    hookimpl,
    make_plugin_manager,
    set_plugin_manager,
)
from retort.plugins.testing._contract_base import ContractViolation, run_check

__all__ = [
    "LOOKUP_TOOL",
    "SCENARIOS",
    "TRANSPORT_CHECKS",
    "TransportFactory",
    "check_transport",
    "check_transport_async",
]

TransportFactory = Callable[[str], "Transport | Awaitable[Transport]"]

TRANSPORT_CHECKS = ("round_trip", "tool_calls", "errors", "cancellation", "aclose", "hooks")
"""Every check of the transport kit, in the order it runs them."""

SCENARIOS = ("text", "tool_call", "error", "slow")
"""The scenarios a transport factory is asked for (see the module docstring)."""

LOOKUP_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look a word up in the dictionary.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "the word"}},
            "required": ["query"],
        },
    },
}

# How long one scenario may take before the kit calls the transport hung.
_SCENARIO_TIMEOUT = 30.0
# "Promptly": the most a cancelled send or a close after it may take.
_PROMPT = 1.0
_HOOK_TEMPERATURE = 0.25


def _user(text: str) -> ChatRequest:
    return ChatRequest(messages=[Message(role="user", content=text)])


def _tool_history() -> ChatRequest:
    call = ToolCall(id="call-1", name="lookup", arguments='{"query": "retort"}')
    return ChatRequest(
        messages=[
            Message(role="system", content="You answer briefly."),
            Message(role="user", content="What is a retort?"),
            Message(role="assistant", content=None, tool_calls=(call,)),
            Message(role="tool", content="a witty reply", tool_call_id="call-1", name="lookup"),
            Message(role="user", content="Say it in one sentence."),
        ]
    )


async def _make(factory: TransportFactory, scenario: str, check: str) -> Transport:
    made = factory(scenario)
    transport = await made if inspect.isawaitable(made) else made
    if not isinstance(transport, Transport):
        raise ContractViolation(
            check, f"factory({scenario!r}) returned {type(transport).__name__}, not a Transport"
        )
    return transport


async def _send(transport: Transport, request: ChatRequest, check: str) -> ChatReply:
    try:
        async with asyncio.timeout(_SCENARIO_TIMEOUT):
            reply = await transport.send(request)
    except TimeoutError:
        raise ContractViolation(
            check, f"send() did not finish within {_SCENARIO_TIMEOUT:g} s"
        ) from None
    if not isinstance(reply, ChatReply):
        raise ContractViolation(check, f"send() returned {type(reply).__name__}, not ChatReply")
    return reply


def _expect_text(reply: ChatReply, check: str, what: str) -> None:
    if not isinstance(reply.content, str) or not reply.content.strip():
        raise ContractViolation(check, f"{what}: expected reply text, found {reply.content!r}")
    if reply.tool_calls:
        raise ContractViolation(check, f"{what}: expected no tool calls, found {reply.tool_calls}")
    if reply.finish_reason != "stop":
        raise ContractViolation(
            check, f"{what}: expected finish_reason 'stop', found {reply.finish_reason!r}"
        )
    usage = reply.usage
    if not isinstance(usage, Usage) or min(usage.prompt_tokens, usage.completion_tokens) < 0:
        raise ContractViolation(check, f"{what}: expected non-negative usage, found {usage!r}")


async def _round_trip(factory: TransportFactory) -> None:
    transport = await _make(factory, "text", "round_trip")
    try:
        _expect_text(
            await _send(transport, _user("Say hello."), "round_trip"),
            "round_trip",
            "a plain request",
        )
        reply = await _send(transport, _tool_history(), "round_trip")
        _expect_text(reply, "round_trip", "a conversation with a tool-call turn")
        replies = await asyncio.gather(
            *(_send(transport, _user(f"Say hello {n}."), "round_trip") for n in range(3))
        )
        for reply in replies:
            _expect_text(reply, "round_trip", "concurrent sends")
    finally:
        await transport.aclose()


async def _tool_calls(factory: TransportFactory) -> None:
    transport = await _make(factory, "tool_call", "tool_calls")
    request = ChatRequest(
        messages=[Message(role="user", content="Look up the word 'retort'.")],
        tools=[LOOKUP_TOOL],
    )
    try:
        reply = await _send(transport, request, "tool_calls")
    finally:
        await transport.aclose()
    if not reply.tool_calls:
        raise ContractViolation("tool_calls", f"expected tool calls, found none in {reply!r}")
    if reply.finish_reason != "tool_calls":
        raise ContractViolation(
            "tool_calls", f"expected finish_reason 'tool_calls', found {reply.finish_reason!r}"
        )
    ids = [call.id for call in reply.tool_calls]
    if not all(isinstance(i, str) and i for i in ids) or len(set(ids)) != len(ids):
        raise ContractViolation("tool_calls", f"expected non-empty unique ids, found {ids}")
    for call in reply.tool_calls:
        if not call.name:
            raise ContractViolation("tool_calls", f"a tool call has no name: {call!r}")
        try:
            arguments = json.loads(call.arguments)
        except (TypeError, ValueError):
            arguments = None
        if not isinstance(arguments, dict):
            raise ContractViolation(
                "tool_calls",
                f"call {call.name!r}: expected arguments as JSON text of an object, found "
                f"{call.arguments!r}",
            )


async def _errors(factory: TransportFactory) -> None:
    transport = await _make(factory, "error", "errors")
    try:
        async with asyncio.timeout(_SCENARIO_TIMEOUT):
            reply = await transport.send(_user("This request fails."))
    except TransportError as exc:
        if not str(exc).strip():
            raise ContractViolation("errors", f"{type(exc).__name__} has no message") from exc
        return
    except TimeoutError:
        raise ContractViolation(
            "errors", f"the failing request did not fail within {_SCENARIO_TIMEOUT:g} s"
        ) from None
    except Exception as exc:
        raise ContractViolation(
            "errors",
            f"expected a TransportError, found {type(exc).__name__}: {exc}; translate foreign "
            "errors at the transport's boundary",
        ) from exc
    finally:
        await transport.aclose()
    raise ContractViolation("errors", f"expected a TransportError, found a reply: {reply!r}")


async def _cancellation(factory: TransportFactory) -> None:
    transport = await _make(factory, "slow", "cancellation")
    try:
        await _cancel_slow_send(transport)
    finally:
        close = asyncio.create_task(transport.aclose())
        done, _ = await asyncio.wait({close}, timeout=_PROMPT)
        if not done:
            close.cancel()
    if not done:
        raise ContractViolation("cancellation", f"aclose() after a cancel took over {_PROMPT:g} s")
    close.result()


async def _cancel_slow_send(transport: Transport) -> None:
    task = asyncio.create_task(transport.send(_user("Take your time.")))
    await asyncio.sleep(0.2)
    if task.done():
        task.result()  # an error surfaces as itself
        raise ContractViolation("cancellation", "the 'slow' scenario answered at once")
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=_PROMPT)
    if not done:
        raise ContractViolation(
            "cancellation", f"a cancelled send was still running after {_PROMPT:g} s"
        )
    if not task.cancelled():
        raise ContractViolation(
            "cancellation",
            f"expected CancelledError from a cancelled send, found {task.exception()!r}",
        )


async def _aclose(factory: TransportFactory) -> None:
    unused = await _make(factory, "text", "aclose")
    await unused.aclose()
    await unused.aclose()
    transport = await _make(factory, "text", "aclose")
    async with transport as entered:
        if entered is not transport:
            raise ContractViolation("aclose", "async with did not return the transport itself")
        _expect_text(
            await _send(transport, _user("Say hello."), "aclose"), "aclose", "inside async with"
        )
    await transport.aclose()  # already closed by __aexit__: must be a no-op


class _Probe:
    """A plugin recording the hook calls and leaving a mark on the request and reply."""

    def __init__(self) -> None:
        self.before: list[ChatRequest] = []
        self.after: list[tuple[ChatReply, ChatRequest]] = []
        self.shaped: list[ChatRequest] = []
        self.marked: list[ChatReply] = []

    @hookimpl
    def retort_before_send(self, request: ChatRequest, transport: Transport) -> ChatRequest:
        self.before.append(request)
        shaped = request.model_copy(update={"temperature": _HOOK_TEMPERATURE})
        self.shaped.append(shaped)
        return shaped

    @hookimpl
    def retort_after_receive(
        self, reply: ChatReply, request: ChatRequest, transport: Transport
    ) -> ChatReply:
        self.after.append((reply, request))
        marked = reply.model_copy(update={"content": f"{reply.content or ''} [after_receive]"})
        self.marked.append(marked)
        return marked


async def _hooks(factory: TransportFactory) -> None:
    probe = _Probe()
    manager = make_plugin_manager(defaults=(), autoload=False, plugins=[probe])
    previous = get_plugin_manager()
    set_plugin_manager(manager)
    try:
        with Run(plugins=manager).active():
            transport = await _make(factory, "text", "hooks")
            try:
                reply = await _send(transport, _user("Say hello."), "hooks")
            finally:
                await transport.aclose()
    finally:
        set_plugin_manager(previous)
    if len(probe.before) != 1 or len(probe.after) != 1:
        raise ContractViolation(
            "hooks",
            f"expected retort_before_send and retort_after_receive once per send, found "
            f"{len(probe.before)} and {len(probe.after)} calls; call them with "
            "retort.core.call_chain around every send",
        )
    seen = probe.after[0][1]
    if seen.temperature != _HOOK_TEMPERATURE:
        raise ContractViolation(
            "hooks",
            "retort_after_receive did not see the request as retort_before_send returned it "
            f"(temperature {seen.temperature!r}, expected {_HOOK_TEMPERATURE})",
        )
    if reply.content != probe.marked[0].content:
        raise ContractViolation(
            "hooks",
            f"send() returned {reply.content!r}, not the reply retort_after_receive "
            f"returned ({probe.marked[0].content!r})",
        )


_RUNNERS: dict[str, Callable[[TransportFactory], Awaitable[None]]] = {
    "round_trip": _round_trip,
    "tool_calls": _tool_calls,
    "errors": _errors,
    "cancellation": _cancellation,
    "aclose": _aclose,
    "hooks": _hooks,
}


async def check_transport_async(
    factory: TransportFactory, *, skip: Collection[str] = ()
) -> tuple[str, ...]:
    """:func:`check_transport` for a caller already inside an event loop."""
    unknown = sorted(set(skip) - set(TRANSPORT_CHECKS))
    if unknown:
        raise ValueError(
            f"unknown checks in skip: {unknown}; the checks are {list(TRANSPORT_CHECKS)}"
        )
    ran = []
    for name in TRANSPORT_CHECKS:
        if name not in skip:
            await run_check(name, _RUNNERS[name], factory)
            ran.append(name)
    return tuple(ran)


def check_transport(factory: TransportFactory, *, skip: Collection[str] = ()) -> tuple[str, ...]:
    """Check a transport against the Transport contract (see the module docstring).

    Args:
        factory: ``factory(scenario) -> Transport`` (or an awaitable of one), for the
            scenarios ``"text"``, ``"tool_call"``, ``"error"`` and ``"slow"``.
        skip: names of checks to leave out (:data:`TRANSPORT_CHECKS`); their scenarios are not
            requested when no remaining check needs them.

    Returns:
        The names of the checks that ran, in order.

    Raises:
        ContractViolation: a check failed; the message names it and says what was
            expected and what was found.
        ValueError: ``skip`` names an unknown check.
    """
    return asyncio.run(check_transport_async(factory, skip=skip))
