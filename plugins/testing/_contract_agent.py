"""The Agent contract kit: ``check_agent(factory)`` checks any agent adapter.

```python
from retort.plugins.testing import ScriptedTransport
from retort.plugins.testing.contract import check_agent

def factory(replies: list[str]) -> tuple[Agent, Callable[[], list[list[Message]]]]:
    transport = ScriptedTransport(replies)
    agent = MyAgent(transport, system_message="You are terse.")
    return agent, lambda: [request.messages for request in transport.history]

check_agent(factory)                 # raises ContractViolation on a breach
```

The factory contract: ``factory(replies)`` returns (or returns an awaitable of) a pair
``(agent, seen)``:

- ``agent``: a fresh agent whose model answers its n-th call with ``replies[n]`` (plain
  text, no tool calls), across the agent *and its forks* - a fork shares the backend.
- ``seen()``: what the backend received, one entry per model call in call order, each
  the list of messages of that call, as :class:`~retort.core.messages.Message` objects or
  mappings with ``"role"`` and ``"content"``.

The kit inspects an agent's context only through ``seen()``, so it stays neutral about
how the agent keeps its conversation (retort's ``Context``, AutoGen's model context, ...).
System messages are compared separately from the conversation: an agent may send one.

The checks, by name (``skip`` leaves checks out; the return value lists those that ran):

- ``ask``: a reply has the model's text, a ``turn_id``, and ``messages`` starting with the
  prompt as a user message; asks continue one conversation; ``lock`` is one
  ``asyncio.Lock`` per agent.
- ``reject``: rejecting a task turn's reply keeps the task and drops the reply; a reply of
  another agent raises ``ValueError``.
- ``feedback``: after k rejected attempts (k = 1, 2, 3) the model sees the task plus only
  the current feedback; an accepted reply stays in the conversation.
- ``reset``: the conversation is forgotten, the system message kept.
- ``fork``: a fork has an empty conversation, the same system message and its own lock;
  fork and parent do not see each other's turns; closing the fork leaves the parent
  working.
- ``aclose``: idempotent; ``async with`` returns the agent.
- ``solve``: :func:`retort.core.solve` with two bad replies, then a good one, solves, and
  the model's third call holds the task and the second feedback only; ``fresh=True``
  solves on a fork and leaves the agent usable.

The kit depends only on retort's public API and the standard library (no pytest), so a
third party calls it from their own tests, whatever their test runner.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, NoReturn

from retort.core import Agent, Expect, Message, Reply, solve
from retort.plugins.testing._contract_base import ContractViolation, run_check

__all__ = ["AGENT_CHECKS", "AgentFactory", "Seen", "check_agent", "check_agent_async"]

Seen = Callable[[], Sequence[Sequence[Any]]]
AgentFactory = Callable[[list[str]], "tuple[Agent, Seen] | Awaitable[tuple[Agent, Seen]]"]

AGENT_CHECKS = ("ask", "reject", "feedback", "reset", "fork", "aclose", "solve")
"""Every check of the agent kit, in the order it runs them."""

_CHECK_TIMEOUT = 30.0

Pair = tuple[str, str | None]


def _pair(message: Any) -> Pair:
    if isinstance(message, Message):
        return message.role, message.content
    if isinstance(message, Mapping):
        return str(message.get("role")), message.get("content")
    raise TypeError(f"seen() holds a {type(message).__name__}; expected Message or a mapping")


class _Backend:
    """The agent under test and the kit's view of what its backend received."""

    def __init__(self, check: str, agent: Agent, seen: Seen) -> None:
        self.check = check
        self.agent = agent
        self._seen = seen

    def calls(self) -> list[list[Pair]]:
        return [[_pair(message) for message in call] for call in self._seen()]

    def call(self, index: int) -> list[Pair]:
        calls = self.calls()
        if len(calls) <= index:
            self.fail(f"expected at least {index + 1} model calls, found {len(calls)}")
        return calls[index]

    def conversation(self, index: int) -> list[Pair]:
        """The non-system messages of model call ``index``."""
        return [pair for pair in self.call(index) if pair[0] != "system"]

    def system(self, index: int) -> list[Pair]:
        return [pair for pair in self.call(index) if pair[0] == "system"]

    def expect_conversation(self, index: int, expected: list[Pair], why: str) -> None:
        found = self.conversation(index)
        if found != expected:
            self.fail(f"{why}: model call {index + 1} expected {expected}, found {found}")

    async def ask(self, message: str, text: str, agent: Agent | None = None) -> Reply:
        reply = await (agent or self.agent).ask(message)
        if not isinstance(reply, Reply):
            self.fail(f"ask() returned {type(reply).__name__}, not Reply")
        if reply.text != text:
            self.fail(f"ask({message!r}) expected the scripted text {text!r}, found {reply.text!r}")
        return reply

    def fail(self, message: str) -> NoReturn:
        raise ContractViolation(self.check, message)


async def _make(factory: AgentFactory, replies: list[str], check: str) -> _Backend:
    made = factory(list(replies))
    pair = await made if inspect.isawaitable(made) else made
    agent, seen = pair
    if not isinstance(agent, Agent):
        raise ContractViolation(check, f"factory returned {type(agent).__name__}, not an Agent")
    return _Backend(check, agent, seen)


def _user(text: str) -> Pair:
    return ("user", text)


def _assistant(text: str) -> Pair:
    return ("assistant", text)


async def _ask(factory: AgentFactory) -> None:
    backend = await _make(factory, ["first", "second"], "ask")
    async with backend.agent:
        first = await backend.ask("Task A.", "first")
        if first.turn_id is None:
            backend.fail("a reply has no turn_id")
        if not first.messages or _pair(first.messages[0]) != _user("Task A."):
            backend.fail(f"Reply.messages must start with the prompt, found {first.messages}")
        if _pair(first.messages[-1]) != _assistant("first"):
            backend.fail(f"Reply.messages must end with the reply, found {first.messages}")
        backend.expect_conversation(0, [_user("Task A.")], "the first ask")
        second = await backend.ask("Question B.", "second")
        if second.turn_id == first.turn_id:
            backend.fail(f"two turns share the turn_id {first.turn_id}")
        expected = [_user("Task A."), _assistant("first"), _user("Question B.")]
        backend.expect_conversation(1, expected, "asks continue one conversation")
        lock = backend.agent.lock
        if not isinstance(lock, asyncio.Lock) or backend.agent.lock is not lock:
            backend.fail(f"lock must be one asyncio.Lock per agent, found {lock!r}")


async def _reject(factory: AgentFactory) -> None:
    backend = await _make(factory, ["bad", "good"], "reject")
    other = await _make(factory, ["other"], "reject")
    async with backend.agent, other.agent:
        await backend.agent.reject(await backend.ask("Task.", "bad"))
        await backend.ask("Feedback 1.", "good")
        backend.expect_conversation(
            1, [_user("Task."), _user("Feedback 1.")], "a rejected task turn keeps its prompt"
        )
        foreign = await other.ask("Other task.", "other")
        try:
            await backend.agent.reject(foreign)
        except ValueError:
            return
        backend.fail("reject() of another agent's reply must raise ValueError")


async def _feedback(factory: AgentFactory) -> None:
    backend = await _make(factory, ["bad 1", "bad 2", "bad 3", "good", "more"], "feedback")
    async with backend.agent:
        await backend.agent.reject(await backend.ask("Task.", "bad 1"))
        for k in (1, 2, 3):
            reply = await backend.ask(f"Feedback {k}.", "good" if k == 3 else f"bad {k + 1}")
            backend.expect_conversation(
                k,
                [_user("Task."), _user(f"Feedback {k}.")],
                f"after {k} failed attempt(s) only the task and the current feedback remain",
            )
            if k < 3:
                await backend.agent.reject(reply)
        await backend.ask("Next.", "more")
        expected = [_user("Task."), _user("Feedback 3."), _assistant("good"), _user("Next.")]
        backend.expect_conversation(4, expected, "an accepted reply stays")


async def _reset(factory: AgentFactory) -> None:
    backend = await _make(factory, ["one", "two"], "reset")
    async with backend.agent:
        await backend.ask("Task.", "one")
        await backend.agent.reset()
        await backend.ask("Fresh.", "two")
        backend.expect_conversation(1, [_user("Fresh.")], "reset() forgets the conversation")
        if backend.system(1) != backend.system(0):
            backend.fail(
                f"reset() must keep the system message: {backend.system(0)} before, "
                f"{backend.system(1)} after"
            )


async def _fork(factory: AgentFactory) -> None:
    replies = ["parent 1", "fork 1", "parent 2", "parent 3"]
    backend = await _make(factory, replies, "fork")
    async with backend.agent:
        await backend.ask("Parent task.", "parent 1")
        fork = backend.agent.fork()
        if not isinstance(fork, Agent) or fork is backend.agent:
            backend.fail(f"fork() must return a new Agent, found {fork!r}")
        if fork.lock is backend.agent.lock:
            backend.fail("a fork shares its parent's lock; it needs its own")
        await backend.ask("Fork task.", "fork 1", fork)
        backend.expect_conversation(1, [_user("Fork task.")], "a fork starts empty")
        if backend.system(1) != backend.system(0):
            backend.fail(
                f"a fork must keep the system message: {backend.system(0)} in the "
                f"parent, {backend.system(1)} in the fork"
            )
        await backend.ask("Parent again.", "parent 2")
        expected = [_user("Parent task."), _assistant("parent 1"), _user("Parent again.")]
        backend.expect_conversation(2, expected, "the parent does not see the fork's turn")
        await fork.aclose()
        try:
            await backend.ask("After the fork closed.", "parent 3")
        except ContractViolation:
            raise
        except Exception as exc:
            backend.fail(
                f"closing a fork broke its parent ({type(exc).__name__}: {exc}); a fork "
                "must not close what it shares"
            )


async def _aclose(factory: AgentFactory) -> None:
    unused = await _make(factory, [], "aclose")
    await unused.agent.aclose()
    await unused.agent.aclose()
    backend = await _make(factory, ["hello"], "aclose")
    async with backend.agent as entered:
        if entered is not backend.agent:
            backend.fail("async with did not return the agent itself")
        await backend.ask("Hi.", "hello")
    await backend.agent.aclose()  # already closed by __aexit__: a no-op


async def _solve(factory: AgentFactory) -> None:
    backend = await _make(factory, ["no", "still no", "=======ANSWER\n42"], "solve")
    async with backend.agent:
        solved = await solve(backend.agent, "What is 6 x 7?", Expect.sections("ANSWER"))
        if solved.value != "42" or len(solved.attempts) != 3:
            backend.fail(
                f"expected 42 on attempt 3, found {solved.value!r} on {len(solved.attempts)}"
            )
        task = solved.attempts[0].prompt
        feedback = solved.attempts[1].feedback or ""
        expected = [_user(task), _user(feedback)]
        backend.expect_conversation(2, expected, "solve's third call: task and feedback 2")
    backend = await _make(factory, ["=======ANSWER\n1", "=======ANSWER\n2"], "solve")
    async with backend.agent:
        spec = Expect.sections("ANSWER")
        on_fork = await solve(backend.agent, "One?", spec, fresh=True)
        after = await solve(backend.agent, "Two?", spec)
        if (on_fork.value, after.value) != ("1", "2"):
            backend.fail(f"fresh=True then a plain solve gave {on_fork.value!r}, {after.value!r}")


_RUNNERS: dict[str, Callable[[AgentFactory], Awaitable[None]]] = {
    "ask": _ask,
    "reject": _reject,
    "feedback": _feedback,
    "reset": _reset,
    "fork": _fork,
    "aclose": _aclose,
    "solve": _solve,
}


async def check_agent_async(
    factory: AgentFactory, *, skip: Collection[str] = ()
) -> tuple[str, ...]:
    """:func:`check_agent` for a caller already inside an event loop."""
    unknown = sorted(set(skip) - set(AGENT_CHECKS))
    if unknown:
        raise ValueError(f"unknown checks in skip: {unknown}; the checks are {list(AGENT_CHECKS)}")
    ran = []
    for name in AGENT_CHECKS:
        if name in skip:
            continue
        try:
            async with asyncio.timeout(_CHECK_TIMEOUT):
                await run_check(name, _RUNNERS[name], factory)
        except TimeoutError:
            raise ContractViolation(name, f"did not finish within {_CHECK_TIMEOUT:g} s") from None
        ran.append(name)
    return tuple(ran)


def check_agent(factory: AgentFactory, *, skip: Collection[str] = ()) -> tuple[str, ...]:
    """Check an agent against the Agent contract (see the module docstring).

    Args:
        factory: ``factory(replies) -> (agent, seen)`` (or an awaitable of the pair).
        skip: names of checks to leave out (:data:`AGENT_CHECKS`).

    Returns:
        The names of the checks that ran, in order.

    Raises:
        ContractViolation: a check failed; the message names it and says what was
            expected and what was found.
        ValueError: ``skip`` names an unknown check.
    """
    return asyncio.run(check_agent_async(factory, skip=skip))
