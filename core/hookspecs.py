"""Every hook of retort (pluggy project ``"retort"``).

Plugins implement hooks with :data:`hookimpl` (``from retort.core import hookimpl``); the
built-ins do the same and are listed in :data:`retort.core.plugins.DEFAULT_PLUGINS`.
docs/hooks.md documents each hook with its signature and an example; a test keeps the two
in step.

pluggy is synchronous. Hooks marked *may be async* below may return an awaitable: retort
awaits it. Hooks marked ``firstresult`` stop at the first implementation that returns a
value other than ``None``; those must answer synchronously.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from retort.core.errors import JSONParseError
    from retort.core.expect import Expect, Failure
    from retort.core.messages import ChatReply, ChatRequest, Reply
    from retort.core.ports import Agent, Transport
    from retort.core.run import Attempt, Run

__all__ = ["PROJECT", "hookimpl", "hookspec"]

PROJECT = "retort"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -------------------------------------------------------------------- registration


@hookspec
def retort_register_transports(register: Callable[[str, Callable[..., Transport]], None]) -> None:
    """Register transport factories by name.

    Args:
        register: call ``register(name, factory)`` once per transport; ``factory(**options)``
            builds it. Names are unique across plugins: a second registration of a name
            raises :class:`~retort.core.errors.ConfigurationError` naming both plugins.

    Returns:
        Nothing; return values are ignored.
    """


@hookspec
def retort_register_agents(register: Callable[[str, Callable[..., Agent]], None]) -> None:
    """Register agent factories by name (``"native"``, ``"autogen"``, ...).

    Args:
        register: call ``register(name, factory)`` once per agent kind;
            ``factory(transport, **options)`` builds an agent over a transport.

    Returns:
        Nothing; return values are ignored.
    """


# -------------------------------------------------------------------- validation


@hookspec
def retort_validate(value: Any, reply: Reply, expect: Expect) -> str | Awaitable[str | None] | None:
    """Check a parsed, typed value after the spec's own validators passed. May be async.

    Every implementation runs, in pluggy's call order; the first error found is the one
    sent back to the model.

    Args:
        value: the value parsed from the reply and fitted to the spec's type.
        reply: the reply it came from (``reply.text`` is the raw text).
        expect: the spec being solved; ``expect.tags`` lets a validator opt in to some
            specs only.

    Returns:
        An error message (sent to the model as feedback) to reject the value, or ``None``
        to accept it.
    """


@hookspec
def retort_repair_json(
    text: str, error: JSONParseError, expect: Expect, agent: Agent | None
) -> str | Awaitable[str | None] | None:
    """Repair JSON that :func:`retort.parsers.loads` could not. May be async.

    Called one implementation at a time until one returns text that strict ``json.loads``
    accepts; text that does not parse is ignored and the next implementation is tried.
    The built-in LLM fixer (``retort.plugins.llm_fix``) answers only when the spec sets
    ``llm_fix=True``, and makes one bounded call on a fork of the agent.

    Args:
        text: the reply text (fences included) that failed to parse.
        error: the parse error, with position and stage.
        expect: the spec being solved.
        agent: the agent that produced the text, or ``None`` outside a solve.

    Returns:
        Repaired JSON text, or ``None`` to pass.
    """


# -------------------------------------------------------------------- transport shaping


@hookspec
def retort_before_send(
    request: ChatRequest, transport: Transport
) -> ChatRequest | Awaitable[ChatRequest | None] | None:
    """Reshape a request before a transport sends it (the neutral form of an httpx
    request hook). May be async.

    Implementations run in turn, each seeing the request as the previous one left it.

    Args:
        request: the request about to be sent.
        transport: the transport sending it.

    Returns:
        A replacement request, or ``None`` to keep it as it is.
    """


@hookspec
def retort_after_receive(
    reply: ChatReply, request: ChatRequest, transport: Transport
) -> ChatReply | Awaitable[ChatReply | None] | None:
    """Reshape a reply right after a transport decoded it. May be async.

    Implementations run in turn, each seeing the reply as the previous one left it.

    Args:
        reply: the decoded reply.
        request: the request it answers.
        transport: the transport that received it.

    Returns:
        A replacement reply, or ``None`` to keep it as it is.
    """


# -------------------------------------------------------------------- feedback


@hookspec(firstresult=True)
def retort_feedback(failure: Failure, expect: Expect) -> str | None:
    """Word the feedback message for a failed attempt. ``firstresult``; synchronous.

    The built-in wording (``retort.plugins.feedback``) is registered ``trylast``, so a
    plugin that returns text overrides it for the failures it cares about.

    Args:
        failure: what went wrong: ``failure.kind`` (``"empty"``, ``"regex"``,
            ``"sections"``, ``"json"``, ``"type"``, ``"validator"``), ``failure.message``
            and the exception behind it, if any.
        expect: the spec being solved (its format instructions are ``expect.instructions``).

    Returns:
        The feedback message; or ``None`` to let the next plugin word it. (An empty or
        ``"None"`` answer also ends the chain - pluggy stops at the first non-``None`` -
        and the built-in wording is used instead.)
    """


# -------------------------------------------------------------------- events


@hookspec
def retort_run_start(run: Run) -> None:
    """A run started: a ``solve`` or ``consensus`` call that made its own run, or a
    :class:`~retort.core.run.Run` entered as a context manager.

    Args:
        run: the run: its limiter, metrics and attempts.
    """


@hookspec
def retort_attempt(attempt: Attempt, run: Run) -> None:
    """An attempt finished, passed or failed. Metrics, logging and tracing listen here.

    Args:
        attempt: the attempt record (reply, failure, feedback, repair stage, usage, timing).
        run: the run it belongs to.
    """


@hookspec
def retort_run_end(run: Run, error: BaseException | None) -> None:
    """A run ended (the counterpart of ``retort_run_start``).

    Args:
        run: the run, with its final metrics.
        error: the exception that ended it (``SolveFailed``, ``TransportError``,
            cancellation), or ``None`` when it succeeded.
    """
