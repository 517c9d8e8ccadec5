"""The native agent: a framework-free :class:`~retort.core.ports.Agent` over any transport."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from retort.core.context import Context
from retort.core.messages import ChatReply, ChatRequest, Message, Reply, Usage
from retort.core.ports import Agent, Transport
from retort.core.run import current_run
from retort.core.tools import Tool, ToolRegistry

__all__ = ["NativeAgent"]

_log = logging.getLogger("retort.adapters.native")


class NativeAgent(Agent):
    """An agent that keeps its own :class:`~retort.core.context.Context` and runs tool rounds.

    ``ask(message)`` opens a turn and sends the context's window (with the registry's
    tool schemas); while the model answers with tool calls, each call is executed with
    the registry - one at a time, in the order the model gave them, since tools may have
    side effects the model ordered - its result goes back as a ``tool`` message, and the
    conversation is sent again. The turn ends at the first reply without tool calls.

    Policies:

    - **Tool-round cap.** After ``max_tool_rounds`` rounds of executed calls, a reply that
      still calls tools ends the turn: its calls are *not* executed, the context keeps
      only the reply's text (a call without its results would be refused by most
      endpoints on the next request), and the returned :class:`Reply` carries the
      unexecuted calls in ``tool_calls``. :attr:`capped_turns` counts such turns and a
      warning is logged. The solve loop then judges the text like any other reply.
    - **Failures.** When an ask fails - a transport error, a cancellation, anything -
      the turn is discarded, so the context is exactly as it was before the ask, and the
      error propagates unchanged.
    - **Metrics.** Each executed call adds 1 to ``tool_calls`` of the run in progress
      (:func:`~retort.core.run.current_run`), each failed one (an ``"Error: ..."``
      observation) also to ``tool_call_failed``. Tokens are left to the solve loop, which
      adds the returned usage (summed over the turn's requests) to the run.
    - **Ownership.** The agent closes its transport in :meth:`aclose` when it owns it
      (the default for an agent you build); forks share the transport and never close it.
      Close the root agent last.
    - Only native tool calls (``ChatReply.tool_calls``) are executed; tool calls written
      as text in the reply are the solve loop's business.

    Args:
        transport: where requests go.
        system_message: the system message, or ``None``.
        tools: a :class:`~retort.core.tools.ToolRegistry` (shared, not copied), or
            functions / :class:`~retort.core.tools.Tool` objects to register in a new one.
        name: the agent's name, for messages and logs.
        model: ``ChatRequest.model`` (``None``: the transport's default).
        temperature: ``ChatRequest.temperature`` (``None``: the transport's default).
        max_tool_rounds: the most rounds of tool execution per ask (0: never run tools).
        budget: the context's token budget (see :meth:`Context.window`), or ``None``.
        count_tokens: the context's token counter; an approximation by default.
        owns_transport: close ``transport`` in :meth:`aclose`.

    Attributes:
        transport: the transport.
        tools: the tool registry (empty when no tools were given).
        context: the conversation.
        name: the agent's name.
        capped_turns: how many asks ended at the tool-round cap.
    """

    def __init__(
        self,
        transport: Transport,
        system_message: str | None = None,
        tools: ToolRegistry | Iterable[Callable[..., Any] | Tool] | None = None,
        *,
        name: str = "native",
        model: str | None = None,
        temperature: float | None = None,
        max_tool_rounds: int = 8,
        budget: int | None = None,
        count_tokens: Callable[[Message], int] | None = None,
        owns_transport: bool = True,
    ) -> None:
        if not isinstance(transport, Transport):
            raise TypeError(f"NativeAgent needs a Transport, got {type(transport).__name__}")
        if isinstance(max_tool_rounds, bool) or not isinstance(max_tool_rounds, int):
            raise TypeError(f"max_tool_rounds must be an int, got {max_tool_rounds!r}")
        if max_tool_rounds < 0:
            raise ValueError(f"max_tool_rounds must be >= 0, got {max_tool_rounds}")
        given: object = tools  # callers without a type checker pass a bare function
        if isinstance(given, Tool) or (callable(given) and not isinstance(given, ToolRegistry)):
            raise TypeError(
                f"tools takes a ToolRegistry or a list of functions, got the single "
                f"{type(tools).__name__} {tools!r}; wrap it in a list"
            )
        self.transport = transport
        self.tools = tools if isinstance(tools, ToolRegistry) else ToolRegistry(tools or ())
        self.context = Context(system_message, budget=budget, count_tokens=count_tokens)
        self.name = name
        self.model = model
        self.temperature = temperature
        self.max_tool_rounds = max_tool_rounds
        self.owns_transport = owns_transport
        self.capped_turns = 0
        self._closed = False

    def __repr__(self) -> str:
        return f"NativeAgent(name={self.name!r}, transport={self.transport!r}, {self.context!r})"

    @property
    def system_message(self) -> str | None:
        """The system message."""
        return self.context.system_message

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    async def ask(self, message: str) -> Reply:
        """Run one turn: the message, the model's replies and any tool rounds.

        Returns:
            The final reply: its text (``""`` when the model said nothing), the tool calls
            of a reply that hit the tool-round cap, the usage summed over the turn's
            requests, the messages the turn added (prompt first) and the turn id.

        Raises:
            TransportError: the transport failed (the context is left as it was).
            RuntimeError: the agent was closed.
            TypeError: ``message`` is not a str.
        """
        if self._closed:
            raise RuntimeError(f"NativeAgent {self.name!r}: ask() after aclose()")
        if not isinstance(message, str):
            raise TypeError(f"NativeAgent.ask takes a str, got {type(message).__name__}")
        turn = self.context.begin(message)
        try:
            final, usage = await self._converse(turn.id)
        except BaseException:
            with contextlib.suppress(KeyError):  # a concurrent reset may have removed it
                self.context.discard(turn.id)
            raise
        return Reply(
            text=final.content or "",
            tool_calls=final.tool_calls,
            usage=usage,
            messages=(turn.prompt, *turn.messages),
            turn_id=turn.id,
        )

    async def _converse(self, turn_id: int) -> tuple[ChatReply, Usage]:
        """Send, run tools, send again, until a reply without calls or the cap."""
        usage = Usage()
        rounds = 0
        while True:
            reply = await self.transport.send(self._request())
            usage = usage + reply.usage
            calls = reply.tool_calls
            if calls and rounds >= self.max_tool_rounds:
                self._cap(reply, rounds, turn_id)
                return reply, usage
            content = reply.content if reply.content is not None or calls else ""
            self.context.add(
                Message(role="assistant", content=content, tool_calls=calls), turn_id=turn_id
            )
            if not calls:
                return reply, usage
            rounds += 1
            await self._run_tools(reply, turn_id)

    async def _run_tools(self, reply: ChatReply, turn_id: int) -> None:
        for call in reply.tool_calls:
            result = await self.tools.execute(call)
            run = current_run()
            if run is not None:
                run.metrics.tool_calls += 1
                if not result.ok:
                    run.metrics.tool_call_failed += 1
            self.context.add(result.to_message(), turn_id=turn_id)

    def _cap(self, reply: ChatReply, rounds: int, turn_id: int) -> None:
        self.capped_turns += 1
        _log.warning(
            "agent %r: the model still called %s after %d tool round(s); the calls were "
            "not run (max_tool_rounds=%d)",
            self.name,
            ", ".join(call.name for call in reply.tool_calls),
            rounds,
            self.max_tool_rounds,
        )
        # Keep the text only: a call without its results breaks the next request.
        self.context.add(Message(role="assistant", content=reply.content or ""), turn_id=turn_id)

    def _request(self) -> ChatRequest:
        return ChatRequest(
            messages=self.context.window(),
            tools=self.tools.schemas() or None,
            model=self.model,
            temperature=self.temperature,
        )

    async def reject(self, reply: Reply) -> None:
        """Drop a failed reply from the context (and its prompt, if it was feedback).

        Raises:
            ValueError: the reply is not from this agent's context (another agent's reply,
                or a turn already removed by a reject or a reset).
        """
        if reply.turn_id is None:
            raise ValueError(f"NativeAgent {self.name!r}.reject: the reply has no turn_id")
        try:
            self.context.reject(reply.turn_id)
        except KeyError:
            raise ValueError(
                f"NativeAgent {self.name!r}.reject: turn {reply.turn_id} is not in this "
                "agent's context (a reply of another agent, or a turn already removed by "
                "reject or reset)"
            ) from None

    async def reset(self) -> None:
        """Forget the conversation; the system message and the tools stay."""
        self.context.reset()

    def fork(self) -> NativeAgent:
        """A fresh agent with the same configuration and an empty context.

        The fork shares the transport (without owning it: closing the fork leaves the
        transport open) and the tool registry.
        """
        return NativeAgent(
            self.transport,
            self.context.system_message,
            self.tools,
            name=self.name,
            model=self.model,
            temperature=self.temperature,
            max_tool_rounds=self.max_tool_rounds,
            budget=self.context.budget,
            count_tokens=self.context.count_tokens,
            owns_transport=False,
        )

    async def aclose(self) -> None:
        """Refuse further asks; close the transport if this agent owns it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self.owns_transport:
            await self.transport.aclose()
