"""Recording a transport's traffic to a cassette, and replaying it offline."""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict

from retort.adapters.proxy._wire import request_key
from retort.adapters.replay._cassette import Cassette, CassetteError, as_cassette, excerpt
from retort.core.errors import TransportError
from retort.core.messages import ChatReply, ChatRequest
from retort.core.ports import Transport

__all__ = ["CassetteMiss", "RecordingTransport", "ReplayTransport"]


class CassetteMiss(TransportError):
    """A replayed request has no recorded reply (or, with ``strict``, no reply left).

    Attributes:
        key: the request's key.
        path: the cassette file.
        role: the role of the request's last message (``None`` for no messages).
        excerpt: the start of the last message's content.
        asked: how many times this key was asked, this request included.
        recorded: how many replies the cassette holds for this key.
    """

    def __init__(
        self,
        message: str,
        *,
        key: str,
        path: os.PathLike[str],
        role: str | None,
        excerpt: str,
        asked: int,
        recorded: int,
    ) -> None:
        super().__init__(message)
        self.key = key
        self.path = path
        self.role = role
        self.excerpt = excerpt
        self.asked = asked
        self.recorded = recorded


class RecordingTransport(Transport):
    """A transport that forwards to ``inner`` and records every reply to a cassette.

    Only successful exchanges are recorded: a request that raised (a transport error, a
    cancellation) leaves no line, so a replay never "remembers" an outage. The key is
    computed from the request handed to :meth:`send`, before the inner transport's
    ``retort_before_send`` hooks run; the recorded reply is what the inner transport
    returned, after its ``retort_after_receive`` hooks. This transport calls no hooks itself.

    Args:
        inner: the transport that really answers.
        cassette: the cassette, or the path of its file (appended to; created if needed).
        close_inner: close ``inner`` when this transport is closed.

    Attributes:
        inner: the wrapped transport.
        cassette: the cassette being written.
    """

    def __init__(
        self,
        inner: Transport,
        cassette: str | os.PathLike[str] | Cassette,
        *,
        close_inner: bool = True,
    ) -> None:
        if not isinstance(inner, Transport):
            raise TypeError(f"RecordingTransport wraps a Transport, got {type(inner).__name__}")
        self.inner = inner
        self.cassette = as_cassette(cassette)
        self._close_inner = close_inner
        self._closed = False

    def __repr__(self) -> str:
        return f"RecordingTransport({self.inner!r}, {self.cassette!r})"

    async def send(self, request: ChatRequest) -> ChatReply:
        """Send through ``inner``; record the exchange when a reply comes back.

        Raises:
            TransportError: whatever ``inner`` raised (nothing is recorded).
            CassetteError: the reply arrived but the cassette could not be written.
            RuntimeError: the transport was closed.
        """
        if self._closed:
            raise RuntimeError("RecordingTransport: send() after aclose()")
        reply = await self.inner.send(request)
        # record() is synchronous: a cancellation cannot land between reply and line.
        self.cassette.record(request, reply)
        return reply

    async def aclose(self) -> None:
        """Close ``inner`` (unless ``close_inner=False``) and the cassette file. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._close_inner:
                await self.inner.aclose()
        finally:
            self.cassette.close()


class ReplayTransport(Transport):
    """A transport that answers from a cassette, offline.

    A request is looked up by its key (:func:`retort.adapters.proxy._wire.request_key`:
    the proxy-wire messages with tools and response format rendered in; model and
    temperature do not count). When one key was recorded several times, successive sends
    get the recorded replies in order; after the last one, the last reply repeats (an
    agent re-asking an identical question at temperature 0 gets the same answer), or,
    with ``strict=True``, :class:`CassetteMiss` is raised. Every reply is a copy, so a
    caller that edits it does not change the replay. No hooks run: the recorded replies
    already went through the recording transport's hooks.

    Args:
        cassette: the cassette, or the path of its file. It is read once, here.
        strict: raise instead of repeating the last reply of an exhausted key.

    Attributes:
        history: every request sent, in order.
        cassette: the cassette replayed.

    Raises:
        CassetteError: the file does not exist or a line is corrupt.
    """

    def __init__(
        self, cassette: str | os.PathLike[str] | Cassette, *, strict: bool = False
    ) -> None:
        self.cassette = as_cassette(cassette)
        if not self.cassette.exists():
            raise CassetteError(
                f"the cassette {self.cassette.path} does not exist; record one with "
                "RecordingTransport first, or check the path",
                path=self.cassette.path,
            )
        self.strict = strict
        self.history: list[ChatRequest] = []
        self._replies: dict[str, list[ChatReply]] = defaultdict(list)
        for exchange in self.cassette.exchanges():
            self._replies[exchange.key].append(exchange.reply)
        self._asked: dict[str, int] = defaultdict(int)
        self._closed = False

    def __repr__(self) -> str:
        return f"ReplayTransport({self.cassette!r})"

    async def send(self, request: ChatRequest) -> ChatReply:
        """The recorded reply to ``request``.

        Raises:
            CassetteMiss: the cassette holds no reply for the request (or, with
                ``strict``, no reply left); the message names the key, the last message
                and the cassette.
            RuntimeError: the transport was closed.
        """
        if self._closed:
            raise RuntimeError("ReplayTransport: send() after aclose()")
        self.history.append(request.model_copy(update={"messages": list(request.messages)}))
        await asyncio.sleep(0)  # answer like a real transport: after yielding once
        key = request_key(request)
        replies = self._replies.get(key, [])
        self._asked[key] += 1
        asked = self._asked[key]
        if not replies or (self.strict and asked > len(replies)):
            raise self._miss(request, key, asked, len(replies))
        return replies[min(asked, len(replies)) - 1].model_copy(deep=True)

    def _miss(self, request: ChatRequest, key: str, asked: int, recorded: int) -> CassetteMiss:
        last = request.messages[-1] if request.messages else None
        role = None if last is None else last.role
        text = excerpt(None if last is None else last.content)
        what = f"last message {role}: {text}" if last is not None else "no messages"
        if recorded:
            problem = (
                f"request key {key} ({what}) was asked {asked} times but recorded "
                f"{recorded} time{'s' * (recorded != 1)} in the cassette {self.cassette.path}"
            )
            advice = "re-record, or use strict=False to repeat the last reply"
        else:
            total = sum(len(replies) for replies in self._replies.values())
            problem = (
                f"no recorded reply for request key {key} ({what}) in the cassette "
                f"{self.cassette.path}, which holds {total} exchange{'s' * (total != 1)}"
            )
            advice = (
                "re-record it with RecordingTransport, or check that the conversation "
                "(messages, tools, response format) matches the recording; model and "
                "temperature do not count"
            )
        return CassetteMiss(
            f"{problem}; {advice}",
            key=key,
            path=self.cassette.path,
            role=role,
            excerpt=text,
            asked=asked,
            recorded=recorded,
        )

    async def aclose(self) -> None:
        """Refuse further requests. Safe to call more than once."""
        self._closed = True
