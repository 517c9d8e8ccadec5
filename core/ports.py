"""The two ports of retort: where replies come from (Transport) and who converses (Agent).

Adapters implement them: the proxy and OpenAI-compatible transports, record/replay, the
native agent, AutoGen's AssistantAgent. The core drives them and never learns which.
Both are async context managers; ``aclose()`` is idempotent.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from retort.core.messages import ChatReply, ChatRequest, Reply

__all__ = ["Agent", "Transport"]


class Transport(ABC):
    """One request in, one reply out.

    Retries, timeouts, deadlines and the mapping of foreign errors to
    :class:`~retort.core.errors.TransportError` live inside the transport: what reaches the
    caller either is a reply or is a typed error that survived the transport's own retries.
    """

    @abstractmethod
    async def send(self, request: ChatRequest) -> ChatReply:
        """Send one request and return the model's reply.

        Raises:
            TransportError: the request failed after the transport's own retries.
        """

    async def aclose(self) -> None:  # noqa: B027 - optional: a transport with nothing to release
        """Release connections and files. Safe to call more than once."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class Agent(ABC):
    """One conversational backend with its own context.

    The contract (``tests/contract/check_agent`` checks it for every adapter):

    - ``ask(message)`` runs one turn: the message goes into the context as a user turn,
      the model answers (tool rounds included), and the final text comes back as a
      :class:`~retort.core.messages.Reply` whose ``turn_id`` names the turn.
    - ``reject(reply)`` drops that turn's reply from the context: every assistant and tool
      message the turn added, always; and the turn's prompt too when it was *feedback*,
      i.e. when the turn before it had itself been rejected. The original task of a
      conversation is therefore never dropped, a tool result never outlives its call, and
      after k failed attempts the context holds the task plus at most the current feedback.
    - ``reset()`` empties the context (the system message stays).
    - ``fork()`` returns a fresh agent with the same configuration and an empty context,
      sharing expensive resources (clients, tool schemas) but no conversation.
    - Two calls never share one conversation: :attr:`lock` serialises them.
    """

    _lock: asyncio.Lock | None = None

    @abstractmethod
    async def ask(self, message: str) -> Reply:
        """Run one turn with ``message`` as the user's words and return the final reply."""

    @abstractmethod
    async def reject(self, reply: Reply) -> None:
        """Drop a failed reply (and the feedback that caused it) from the context."""

    @abstractmethod
    async def reset(self) -> None:
        """Forget the conversation; keep the configuration and the system message."""

    @abstractmethod
    def fork(self) -> Agent:
        """A fresh agent with the same configuration and an empty context."""

    @property
    def lock(self) -> asyncio.Lock:
        """The lock a solve holds while it converses with this agent."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    async def aclose(self) -> None:  # noqa: B027 - optional: an agent with nothing to release
        """Release what the agent holds. Safe to call more than once."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
