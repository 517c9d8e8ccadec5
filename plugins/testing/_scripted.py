"""Scripted test doubles: an agent and a transport that answer from a queue of replies.

```python
transport = ScriptedTransport(["first reply", TransportError("boom"), lambda request: "third"])
agent = ScriptedAgent(["=======ANSWER\\n42"], system_message="You are terse.", latency=0.01)
reply = await agent.ask("What is 6 x 7?")
agent.history            # ["What is 6 x 7?"]
agent.context.messages() # system, the question, the scripted answer
```

Policies:

- A script is a list (or any iterable, consumed lazily, so a generator may be endless)
  of reply specs, or one callable that answers every request. A spec is a ``str``, a
  reply object (``ChatReply`` for the transport; ``Reply`` or ``ChatReply`` for the
  agent), an exception instance or class (raised; a class is instantiated with a short
  message), or a callable that returns one of those, sync or async.
- Replies are taken in *arrival* order: the n-th call gets the n-th spec even when
  latencies let a later call finish first. A call cancelled during its latency has used
  its spec. Running out raises :class:`ScriptExhausted`, naming how many were scripted.
- ``latency`` (seconds, or a callable returning seconds) is awaited with
  ``asyncio.sleep`` before answering; every call yields to the event loop at least once,
  like a real transport, so ``asyncio.gather`` of N calls really overlaps.
- ``calls``/``active``/``peak`` count calls, calls in flight and the most in flight at
  once; forks of an agent share one counter and one script, so samples forked from one
  agent consume the script in order and a limiter's effect shows in ``peak``.
- A failed ask (a scripted exception, exhaustion, a cancellation) leaves the agent's
  context as it was. Usage is estimated with the context's token counter (the
  transport's with :func:`~retort.core.context.approx_tokens`) unless a scripted reply
  object sets its own ``usage``.
- ``ScriptedTransport`` applies the shaping hooks like a real transport: each request
  goes through ``retort_before_send`` before the script sees it (so ``history`` and
  callables get the reshaped request, as an endpoint would), and each reply through
  ``retort_after_receive``. The hooks come from the ``plugins=`` manager, else the run in
  progress's, else the process default; pass a manager without plugins
  (``make_plugin_manager(defaults=(), autoload=False)``) for a transport that applies
  none.
- After ``aclose()`` a double refuses further calls with ``RuntimeError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Any, NoReturn, TypeAlias

import pluggy
from pydantic import BaseModel

from retort.core.context import Context, approx_tokens
from retort.core.errors import RetortError
from retort.core.messages import ChatReply, ChatRequest, Message, Reply, ToolCall, Usage
from retort.core.plugins import active_plugin_manager, call_chain
from retort.core.ports import Agent, Transport

__all__ = ["AgentReplySpec", "ReplySpec", "ScriptExhausted", "ScriptedAgent", "ScriptedTransport"]

ReplySpec: TypeAlias = (
    str | ChatReply | BaseException | type[BaseException] | Callable[[ChatRequest], Any]
)
"""What a :class:`ScriptedTransport` script holds."""

AgentReplySpec: TypeAlias = (
    str | Reply | ChatReply | BaseException | type[BaseException] | Callable[..., Any]
)
"""What a :class:`ScriptedAgent` script holds."""

Latency: TypeAlias = float | Callable[[], float]

_EXCERPT = 200


class ScriptExhausted(RetortError):
    """A scripted double was called once more than it had replies for.

    Attributes:
        scripted: how many replies the script held.
        request: the 1-based number of the call that found the script empty.
    """

    def __init__(self, message: str, *, scripted: int, request: int) -> None:
        super().__init__(message)
        self.scripted = scripted
        self.request = request


class _Gauge:
    """Calls, calls in flight and the peak in flight: one per agent family or transport."""

    __slots__ = ("active", "calls", "peak")

    def __init__(self) -> None:
        self.calls = 0
        self.active = 0
        self.peak = 0

    def enter(self) -> None:
        self.active += 1
        self.peak = max(self.peak, self.active)

    def leave(self) -> None:
        self.active -= 1


class _Script:
    """The queue of reply specs, shared by a double and its forks."""

    __slots__ = ("_items", "_owner", "_single", "_takes_agent", "used")

    def __init__(self, replies: Any, owner: str) -> None:
        self._owner = owner
        self._single: Callable[..., Any] | None = None
        self._items: deque[Any] | Iterator[Any] | None = None
        self._takes_agent: bool | None = None
        self.used = 0
        if isinstance(replies, str | bytes | BaseModel | BaseException) or _is_exception_class(
            replies
        ):
            raise TypeError(
                f"{owner}: replies must be a list of replies or one callable, "
                f"got a single {type(replies).__name__}; wrap it in a list"
            )
        if isinstance(replies, Collection):
            self._items = deque(replies)
        elif isinstance(replies, Iterable):
            self._items = iter(replies)
        elif callable(replies):
            self._single = replies
        else:
            raise TypeError(f"{owner}: replies must be an iterable or a callable, got {replies!r}")

    @property
    def remaining(self) -> int | None:
        if self._single is not None:
            return None
        return len(self._items) if isinstance(self._items, deque) else None

    def take(self, request: str) -> Any:
        """The next spec; ``request`` describes the call, for the exhaustion message."""
        if self._single is not None:
            self.used += 1
            return self._single
        try:
            if isinstance(self._items, deque):
                spec = self._items.popleft()
            else:
                assert self._items is not None  # either a single callable or items
                spec = next(self._items)
        except (IndexError, StopIteration):
            count = self.used
            raise ScriptExhausted(
                f"{self._owner}: all {count} scripted repl{'y was' if count == 1 else 'ies were'} "
                f"used; request {count + 1} was: {request}",
                scripted=count,
                request=count + 1,
            ) from None
        self.used += 1
        return spec

    def takes_agent(self, fn: Callable[..., Any]) -> bool:
        # The single callable answers every call: inspect its signature once.
        if fn is not self._single:
            return _takes_agent(fn)
        if self._takes_agent is None:
            self._takes_agent = _takes_agent(fn)
        return self._takes_agent


def _is_exception_class(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseException)


def _raise(spec: BaseException | type[BaseException], owner: str) -> NoReturn:
    if isinstance(spec, BaseException):
        raise spec
    raise spec(f"scripted {spec.__name__} from {owner}")


def _takes_agent(fn: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = 0
    for parameter in parameters:
        if parameter.kind is parameter.VAR_POSITIONAL:
            return True
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            positional += 1
    return positional >= 2


def _check_latency(latency: Latency) -> Latency:
    if not callable(latency) and (isinstance(latency, bool) or latency < 0):
        raise ValueError(f"latency must be a number of seconds >= 0 or a callable, got {latency!r}")
    return latency


async def _wait(latency: Latency) -> None:
    seconds = latency() if callable(latency) else latency
    if seconds < 0:
        raise ValueError(f"latency callable returned {seconds!r}; seconds must be >= 0")
    # Always yield, even for zero: a real transport never answers without awaiting.
    await asyncio.sleep(seconds)


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    value = fn(*args)
    if inspect.isawaitable(value):
        value = await value
    return value


def _hooks_of(plugins: pluggy.PluginManager | None) -> pluggy.HookRelay:
    """The shaping hooks a transport applies (the lookup every transport makes)."""
    return active_plugin_manager(plugins).hook


def _excerpt(text: str | None) -> str:
    text = text or ""
    return repr(text if len(text) <= _EXCERPT else text[:_EXCERPT] + "...")


class _Counted:
    """What both doubles report: calls, concurrency and the replies left in the script
    (for an agent, across its fork family, which shares the script and the counters)."""

    _script: _Script
    _gauge: _Gauge

    @property
    def calls(self) -> int:
        """How many requests (or asks) were received."""
        return self._gauge.calls

    @property
    def active(self) -> int:
        """How many are in flight now."""
        return self._gauge.active

    @property
    def peak(self) -> int:
        """The most that were in flight at once."""
        return self._gauge.peak

    @property
    def remaining(self) -> int | None:
        """Replies left in the script; ``None`` for a callable or a lazy iterable."""
        return self._script.remaining


class ScriptedTransport(_Counted, Transport):
    """A transport that answers from a script; for tests of code that sends requests.

    Like a real transport it applies ``retort_before_send`` and ``retort_after_receive``
    around every send (see the module docstring).

    Args:
        replies: reply specs, consumed in order, or one callable ``f(request)`` that
            answers every request. See the module docstring for what a spec may be.
        latency: seconds to wait before answering, or a callable returning them.
        plugins: the plugin manager whose shaping hooks apply; default the run in
            progress's, else the process default.

    Attributes:
        history: every request that reached the script, in order, as the
            ``retort_before_send`` hooks left it (a copy: later changes do not show).
        closed: whether :meth:`aclose` was called.
    """

    def __init__(
        self,
        replies: Iterable[ReplySpec] | Callable[[ChatRequest], Any],
        *,
        latency: Latency = 0.0,
        plugins: pluggy.PluginManager | None = None,
    ) -> None:
        self._script = _Script(replies, "ScriptedTransport")
        self._latency = _check_latency(latency)
        self._plugins = plugins
        self._gauge = _Gauge()
        self.history: list[ChatRequest] = []
        self.closed = False

    async def send(self, request: ChatRequest) -> ChatReply:
        """Answer ``request`` with the next scripted reply, the shaping hooks around it.

        Raises:
            ScriptExhausted: the script has no reply left.
            RuntimeError: the transport was closed.
            TypeError: a spec (or a callable's result) is not a reply, an exception or
                a callable.
            BaseException: whatever exception the script or a hook raises.
        """
        if self.closed:
            raise RuntimeError("ScriptedTransport: send() after aclose()")
        hook = _hooks_of(self._plugins)
        request = await call_chain(hook.retort_before_send, "request", request, transport=self)
        self.history.append(request.model_copy(update={"messages": list(request.messages)}))
        self._gauge.calls += 1
        last = request.messages[-1].content if request.messages else None
        spec = self._script.take(_excerpt(last))
        self._gauge.enter()
        try:
            await _wait(self._latency)
            reply = await self._answer(spec, request)
        finally:
            self._gauge.leave()
        return await call_chain(
            hook.retort_after_receive, "reply", reply, request=request, transport=self
        )

    async def _answer(self, spec: Any, request: ChatRequest) -> ChatReply:
        if not _is_exception_class(spec) and callable(spec):
            spec = await _call(spec, request)
        if isinstance(spec, BaseException) or _is_exception_class(spec):
            _raise(spec, "ScriptedTransport")
        if isinstance(spec, ChatReply):
            return spec
        if isinstance(spec, str):
            prompt = sum(approx_tokens(message) for message in request.messages)
            completion = approx_tokens(Message(role="assistant", content=spec))
            return ChatReply(
                content=spec, usage=Usage(prompt_tokens=prompt, completion_tokens=completion)
            )
        raise TypeError(
            f"ScriptedTransport: reply {self._script.used} is a {type(spec).__name__}; "
            "expected a str, a ChatReply, an exception or a callable returning one"
        )

    async def aclose(self) -> None:
        """Refuse further requests. Safe to call more than once."""
        self.closed = True


class ScriptedAgent(_Counted, Agent):
    """An agent that answers from a script, with a real :class:`Context`.

    Args:
        replies: reply specs, consumed in order, or one callable that answers every
            message. A callable gets ``(message)`` or ``(message, agent)`` (its signature
            is inspected) and returns a ``str``, a ``Reply`` or a ``ChatReply``, or
            raises; it may be async. A ``Reply`` whose ``messages`` are set puts those
            messages in the context after the prompt (to script tool rounds); otherwise
            the turn adds one assistant message with the reply's text and tool calls.
        system_message: the context's system message.
        latency: seconds to wait before answering, or a callable returning them.
        budget: the context's token budget (usage counts the trimmed window).
        count_tokens: the context's token counter (default: an approximation).

    Attributes:
        history: every message the agent was asked, in order (kept across resets).
        context: its conversation.
        forks: the agents forked from it, in order.
        closed: whether :meth:`aclose` was called.
    """

    __slots__ = ("_gauge", "_latency", "_script", "closed", "context", "forks", "history")

    def __init__(
        self,
        replies: Iterable[AgentReplySpec] | Callable[..., Any],
        *,
        system_message: str | None = None,
        latency: Latency = 0.0,
        budget: int | None = None,
        count_tokens: Callable[[Message], int] | None = None,
    ) -> None:
        self._script = _Script(replies, "ScriptedAgent")
        self._gauge = _Gauge()
        self._latency = _check_latency(latency)
        self.context = Context(system_message, budget=budget, count_tokens=count_tokens)
        self.history: list[str] = []
        self.forks: list[ScriptedAgent] = []
        self.closed = False

    @property
    def system_message(self) -> str | None:
        """The context's system message."""
        return self.context.system_message

    async def ask(self, message: str) -> Reply:
        """Run one scripted turn: the message, then the next scripted reply.

        Raises:
            ScriptExhausted: the shared script has no reply left.
            RuntimeError: the agent was closed.
            TypeError: ``message`` is not a str, or a spec is not a reply.
            BaseException: whatever exception the script holds.
        """
        if self.closed:
            raise RuntimeError("ScriptedAgent: ask() after aclose()")
        if not isinstance(message, str):
            raise TypeError(f"ScriptedAgent.ask takes a str, got {type(message).__name__}")
        self.history.append(message)
        self._gauge.calls += 1
        spec = self._script.take(_excerpt(message))
        turn = self.context.begin(message)
        prompt_tokens = sum(map(self.context.count_tokens, self.context.window()))
        self._gauge.enter()
        try:
            await _wait(self._latency)
            value = await self._resolve(spec, message)
            reply, added = _as_turn(value)
            for item in added:
                self.context.add(item, turn_id=turn.id)
        except BaseException:
            with contextlib.suppress(KeyError):
                self.context.discard(turn.id)
            raise
        finally:
            self._gauge.leave()
        usage = reply.usage
        if "usage" not in reply.model_fields_set:
            completion = sum(map(self.context.count_tokens, added))
            usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=completion)
        return Reply(
            text=reply.text,
            tool_calls=reply.tool_calls,
            usage=usage,
            messages=(turn.prompt, *added),
            turn_id=turn.id,
        )

    async def _resolve(self, spec: Any, message: str) -> Any:
        if not _is_exception_class(spec) and callable(spec):
            args = (message, self) if self._script.takes_agent(spec) else (message,)
            spec = await _call(spec, *args)
        if isinstance(spec, BaseException) or _is_exception_class(spec):
            _raise(spec, "ScriptedAgent")
        if isinstance(spec, str | Reply | ChatReply):
            return spec
        raise TypeError(
            f"ScriptedAgent: reply {self._script.used} is a {type(spec).__name__}; expected a "
            "str, a Reply, a ChatReply, an exception or a callable returning one"
        )

    async def reject(self, reply: Reply) -> None:
        """Drop a failed reply from the context (and its prompt, if it was feedback).

        Raises:
            ValueError: the reply is not from this agent's context (another agent's, or
                already removed by a reject or a reset).
        """
        if reply.turn_id is None:
            raise ValueError("ScriptedAgent.reject: the reply has no turn_id")
        try:
            self.context.reject(reply.turn_id)
        except KeyError:
            raise ValueError(
                f"ScriptedAgent.reject: turn {reply.turn_id} is not in this agent's context "
                "(a reply of another agent, or a turn already removed by reject or reset)"
            ) from None

    async def reset(self) -> None:
        """Forget the conversation; the system message and the history stay."""
        self.context.reset()

    def fork(self) -> ScriptedAgent:
        """A fresh agent: same configuration, empty context and history, same script.

        The fork shares the script queue and the call counters with this agent, so forked
        samples consume the scripted replies in order.
        """
        twin = ScriptedAgent(
            [],
            system_message=self.context.system_message,
            latency=self._latency,
            budget=self.context.budget,
            count_tokens=self.context.count_tokens,
        )
        twin._script = self._script
        twin._gauge = self._gauge
        self.forks.append(twin)
        return twin

    async def aclose(self) -> None:
        """Refuse further asks. Safe to call more than once."""
        self.closed = True


def _as_turn(value: str | Reply | ChatReply) -> tuple[Reply, tuple[Message, ...]]:
    """The reply and the messages its turn adds after the prompt."""
    if isinstance(value, str):
        reply = Reply(text=value)
    elif isinstance(value, ChatReply):
        reply = Reply(text=value.content or "", tool_calls=value.tool_calls)
        if "usage" in value.model_fields_set:
            reply.usage = value.usage
    else:
        reply = value
    if reply.messages:
        return reply, reply.messages
    return reply, (_assistant(reply.text, reply.tool_calls),)


def _assistant(text: str, tool_calls: tuple[ToolCall, ...]) -> Message:
    return Message(
        role="assistant", content=text or (None if tool_calls else ""), tool_calls=tool_calls
    )
