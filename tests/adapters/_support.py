"""Helpers shared by the adapter tests (importable: conftest.py puts this folder on the path).

- :class:`Switch`: a model backend that delegates to a swappable ``model`` and records
  every request, so one module-wide reference server can serve every test of a module.
- :func:`bounded_run`: ``asyncio.run`` with a time bound, so a hang fails the test.
- :func:`install_offline_guard`: make any connection past loopback, and any tiktoken
  encoding lookup, raise :class:`OfflineAttempt` - proof that nothing reaches the internet.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from retort.adapters.proxy import EchoModel, ModelReply, ModelRequest

T = TypeVar("T")


class Switch:
    """A backend delegating to ``model`` and recording requests: one server per module."""

    def __init__(self) -> None:
        self.model: Any = EchoModel()
        self.requests: list[ModelRequest] = []

    async def reply(self, request: ModelRequest) -> ModelReply:
        self.requests.append(request)
        reply: ModelReply = await self.model.reply(request)
        return reply


class OfflineAttempt(Exception):
    """What the guard raises when something reaches past loopback or for a tokenizer."""


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name: only "localhost" stays on the machine
        return host == "localhost"


def install_offline_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any connection to a non-loopback address and any tiktoken encoding lookup."""
    import tiktoken  # the autogen extra brings it; only the AutoGen tests use the guard

    connect = socket.socket.connect

    def loopback_only(self: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and not _is_loopback(str(address[0])):
            raise OfflineAttempt(f"a connection to {address!r} was attempted")
        return connect(self, address)

    def no_tokenizer(*args: Any, **kwargs: Any) -> Any:
        raise OfflineAttempt(f"tiktoken was asked for an encoding: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    monkeypatch.setattr(tiktoken, "get_encoding", no_tokenizer)
    monkeypatch.setattr(tiktoken, "encoding_for_model", no_tokenizer)


def bounded_run(make: Callable[[], Awaitable[T]], timeout: float) -> T:
    """``asyncio.run(make())``, failing after ``timeout`` seconds instead of hanging (a
    tool call without an id, for one, makes AssistantAgent.run wait forever)."""

    async def bounded() -> T:
        return await asyncio.wait_for(make(), timeout)

    return asyncio.run(bounded())
