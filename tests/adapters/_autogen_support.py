"""Helpers of the TransportChatCompletionClient tests (importable via conftest.py)."""

from __future__ import annotations

import json
from typing import Any

from autogen_core.tools import FunctionTool

from retort.adapters.autogen import TransportChatCompletionClient
from retort.core import ChatReply, ToolCall, stable_tool_call_id
from retort.plugins.testing import ScriptedTransport


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


ADD = FunctionTool(add, description="Add two integers.")


def tool_call(name: str = "add", arguments: str = '{"a": 1, "b": 2}') -> ToolCall:
    """A call with retort's stable id, as a transport would decode it."""
    call_id = stable_tool_call_id(name, json.loads(arguments))
    return ToolCall(id=call_id, name=name, arguments=arguments)


def calls_reply(*calls: ToolCall, content: str | None = None) -> ChatReply:
    return ChatReply(content=content, tool_calls=calls, finish_reason="tool_calls")


def scripted_client(
    replies: Any, **kwargs: Any
) -> tuple[TransportChatCompletionClient, ScriptedTransport]:
    """A client over a ScriptedTransport answering ``replies``, and that transport."""
    transport = ScriptedTransport(replies)
    return TransportChatCompletionClient(transport, **kwargs), transport
