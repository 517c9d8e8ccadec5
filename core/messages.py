"""The message models every port speaks: plain pydantic, shaped like OpenAI chat.

``ToolCall.arguments`` is JSON text, exactly as it travels on the wire; use
:meth:`ToolCall.parsed_arguments` for the decoded value.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ChatReply",
    "ChatRequest",
    "FinishReason",
    "Message",
    "Reply",
    "Role",
    "ToolCall",
    "Usage",
]

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_calls", "content_filter", "unknown"]


class ToolCall(BaseModel):
    """One call of a tool by the model.

    Attributes:
        id: a stable id (see :func:`retort.parsers.stable_tool_call_id`) or the provider's.
        name: the tool's name.
        arguments: the arguments as JSON text (an object, as on the wire).
    """

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    arguments: str = "{}"

    def parsed_arguments(self) -> Any:
        """The arguments decoded from JSON (strict: they were encoded by retort or the wire)."""
        return json.loads(self.arguments)

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI wire shape: ``{"id", "type": "function", "function": {...}}``."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


class Usage(BaseModel):
    """Token counts of one reply (zero when the endpoint does not report them)."""

    model_config = ConfigDict(frozen=True)

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
        )


class Message(BaseModel):
    """One chat message.

    ``content`` may be ``None`` for an assistant turn that only calls tools;
    ``tool_call_id`` links a ``tool`` message to the call it answers.
    """

    model_config = ConfigDict(frozen=True)

    role: Role
    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI wire shape, omitting empty optional keys."""
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [call.to_openai() for call in self.tool_calls]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            out["name"] = self.name
        return out


class ChatRequest(BaseModel):
    """One request to a transport: the whole conversation so far.

    ``tools`` are OpenAI-style tool definitions (``{"type": "function", "function":
    {"name", "description", "parameters"}}``); ``response_format`` is a text description
    or an OpenAI ``response_format`` object.
    """

    messages: list[Message]
    model: str | None = None
    tools: list[dict[str, Any]] | None = None
    response_format: str | dict[str, Any] | None = None
    temperature: float | None = None


class ChatReply(BaseModel):
    """One reply from a transport."""

    content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: FinishReason = "stop"
    usage: Usage = Field(default_factory=Usage)
    reasoning: str | None = None


class Reply(BaseModel):
    """What :meth:`Agent.ask` returns: the final text of one turn, tool rounds included.

    Attributes:
        text: the reply text the solve loop validates ("" when the model said nothing).
        tool_calls: tool calls of the final reply, if it ended on calls.
        usage: tokens spent on this turn, tool rounds included.
        messages: the messages this turn added to the agent's context, prompt first.
        turn_id: the agent's id of the turn, which :meth:`Agent.reject` uses to find it.
    """

    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = Field(default_factory=Usage)
    messages: tuple[Message, ...] = ()
    turn_id: int | None = None
