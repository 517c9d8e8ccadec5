"""A transport: it answers each request with the text of its last message.

Useful as a stand-in model in demos and tests, and small enough to show what every
transport does: apply the ``retort_before_send`` hooks to the request, answer (here: no
network at all), estimate usage, apply the ``retort_after_receive`` hooks to the reply.
"""

from __future__ import annotations

import asyncio

import pluggy

from retort.core import (
    ChatReply,
    ChatRequest,
    Message,
    Transport,
    Usage,
    active_plugin_manager,
    approx_tokens,
    call_chain,
)

__all__ = ["EchoTransport"]


class EchoTransport(Transport):
    """Replies with ``prefix`` + the content of the request's last message.

    Args:
        prefix: text put before every echo.
        plugins: the plugin manager whose shaping hooks apply; by default the run in
            progress's, else the process-wide one (what every retort transport does).

    Attributes:
        history: every request sent, as the ``retort_before_send`` hooks left it.
    """

    def __init__(self, *, prefix: str = "", plugins: pluggy.PluginManager | None = None) -> None:
        self.prefix = prefix
        self.history: list[ChatRequest] = []
        self._plugins = plugins
        self._closed = False

    async def send(self, request: ChatRequest) -> ChatReply:
        """Echo the last message (an empty request gets just the prefix).

        Raises:
            RuntimeError: the transport was closed.
        """
        if self._closed:
            raise RuntimeError("EchoTransport: send() after aclose(); open a new one")
        hook = active_plugin_manager(self._plugins).hook
        request = await call_chain(hook.retort_before_send, "request", request, transport=self)
        self.history.append(request)
        await asyncio.sleep(0)  # a real transport always yields to the event loop
        last = request.messages[-1].content if request.messages else None
        text = self.prefix + (last or "")
        usage = Usage(
            prompt_tokens=sum(approx_tokens(message) for message in request.messages),
            completion_tokens=approx_tokens(Message(role="assistant", content=text)),
        )
        reply = ChatReply(content=text, usage=usage)
        return await call_chain(
            hook.retort_after_receive, "reply", reply, request=request, transport=self
        )

    async def aclose(self) -> None:
        """Refuse further requests. Safe to call more than once."""
        self._closed = True
