"""Conversions between AutoGen's model-client types and retort's messages.

Pure functions, no I/O: :class:`~retort.adapters.autogen._client.TransportChatCompletionClient`
calls them on every request and reply. The policies (documented on the client too):

- ``SystemMessage`` -> ``system``; with ``merge_system`` each run of consecutive system
  messages becomes one (joined by a newline), for models that read one system message.
- ``UserMessage`` -> ``user`` with ``name=source`` (as AutoGen's OpenAI client sends it,
  unless ``include_name`` is off). A multimodal list becomes its text parts joined by
  newlines, each image replaced by ``<image>`` - the placeholder AutoGen's own
  ``remove_images`` uses, so a conversation gives the same request whether the agent or
  the client dropped the images (retort transports carry text only).
- ``AssistantMessage`` with text -> ``assistant`` with that text; its ``thought`` is
  reasoning and is not sent back (AutoGen's OpenAI client does the same). With a list of
  ``FunctionCall`` -> ``assistant`` whose ``tool_calls`` carry the ids and JSON arguments,
  and whose content is the ``thought`` (the text the model wrote beside the calls) or
  ``None``.
- ``FunctionExecutionResultMessage`` -> one ``tool`` message per result, with
  ``tool_call_id=call_id``.
- A reply's tool calls become ``FunctionCall`` values that always have an id and JSON
  text arguments: AutoGen's ``AssistantAgent`` waits forever on a call without an id.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal
from weakref import WeakKeyDictionary

from autogen_core import FunctionCall, Image
from autogen_core.models import (
    AssistantMessage,
    FinishReasons,
    FunctionExecutionResultMessage,
    LLMMessage,
    SystemMessage,
    UserMessage,
)
from autogen_core.tools import Tool, ToolSchema
from pydantic import BaseModel

from retort.core.errors import ConfigurationError
from retort.core.ids import stable_tool_call_ids
from retort.core.messages import ChatReply, Message, ToolCall

__all__ = [
    "IMAGE_PLACEHOLDER",
    "ToolChoice",
    "calls_as_text",
    "finish_reason",
    "function_calls",
    "reply_parts",
    "response_format",
    "select_tools",
    "to_messages",
    "tool_definition",
    "tool_name",
]

ToolChoice = Tool | Literal["auto", "required", "none"]

IMAGE_PLACEHOLDER = "<image>"
"""What an image in a user message becomes: AutoGen's own placeholder."""

_FINISH_REASONS: Mapping[str, FinishReasons] = {
    "stop": "stop",
    "length": "length",
    "content_filter": "content_filter",
    "tool_calls": "function_calls",
    "function_calls": "function_calls",
}

# Tool objects (FunctionTool...) rebuild their JSON schema with pydantic on every
# ``.schema`` access; a tool's schema does not change, so convert each object once.
_tool_cache: WeakKeyDictionary[Any, dict[str, Any]] = WeakKeyDictionary()


# ---------------------------------------------------------------- messages


def to_messages(
    messages: Sequence[LLMMessage], *, include_name: bool = True, merge_system: bool = False
) -> list[Message]:
    """retort messages for AutoGen ``messages``, in order (see the module docstring).

    Raises:
        TypeError: a message is not one of AutoGen's four LLM message types.
    """
    out: list[Message] = []
    for message in messages:
        if isinstance(message, SystemMessage):
            previous = out[-1] if out else None
            if merge_system and previous is not None and previous.role == "system":
                merged = f"{previous.content}\n{message.content}"
                out[-1] = Message(role="system", content=merged)
            else:
                out.append(Message(role="system", content=message.content))
        elif isinstance(message, UserMessage):
            name = message.source if include_name and message.source else None
            out.append(Message(role="user", content=_user_text(message.content), name=name))
        elif isinstance(message, AssistantMessage):
            out.append(_assistant(message))
        elif isinstance(message, FunctionExecutionResultMessage):
            out.extend(
                Message(role="tool", content=result.content, tool_call_id=result.call_id)
                for result in message.content
            )
        else:
            raise TypeError(
                "expected an AutoGen LLMMessage (SystemMessage, UserMessage, AssistantMessage "
                f"or FunctionExecutionResultMessage), got {type(message).__name__}"
            )
    return out


def _user_text(content: str | list[str | Image]) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(IMAGE_PLACEHOLDER if isinstance(part, Image) else part for part in content)


def _assistant(message: AssistantMessage) -> Message:
    if isinstance(message.content, str):
        return Message(role="assistant", content=message.content)
    calls = tuple(
        ToolCall(id=call.id or "", name=call.name, arguments=_json_text(call.arguments))
        for call in message.content
    )
    return Message(role="assistant", content=message.thought or None, tool_calls=calls)


def _json_text(arguments: Any) -> str:
    # FunctionCall is a plain dataclass: nothing stops a caller from storing a dict.
    if isinstance(arguments, str):
        return arguments.strip() or "{}"
    return json.dumps(arguments)


# ---------------------------------------------------------------- tools


def tool_definition(tool: Tool | ToolSchema) -> dict[str, Any]:
    """The OpenAI-style definition of an AutoGen ``Tool`` or ``ToolSchema`` dict.

    ``{"type": "function", "function": {"name", "description", "parameters"}}``, plus
    ``"strict": True`` only when the schema asks for it.
    """
    if isinstance(tool, Mapping):
        return _definition(tool)
    try:
        return _tool_cache[tool]
    except KeyError:
        definition = _definition(tool.schema)
        _tool_cache[tool] = definition
        return definition
    except TypeError:  # unhashable or not weak-referenceable: convert it every time
        return _definition(tool.schema)


def _definition(schema: ToolSchema | Mapping[str, Any]) -> dict[str, Any]:
    function: dict[str, Any] = {
        "name": schema["name"],
        "description": schema.get("description", ""),
        "parameters": dict(schema.get("parameters") or {"type": "object", "properties": {}}),
    }
    if schema.get("strict"):
        function["strict"] = True
    return {"type": "function", "function": function}


def tool_name(tool: Tool | ToolSchema) -> str:
    """The name of a ``Tool`` or a ``ToolSchema`` dict."""
    return str(tool["name"]) if isinstance(tool, Mapping) else tool.name


def select_tools(
    tools: Sequence[Tool | ToolSchema], tool_choice: ToolChoice
) -> list[dict[str, Any]] | None:
    """The tool definitions to send for ``tool_choice``, or ``None`` to send none.

    ``"none"`` sends no tools; a ``Tool`` sends only that tool (a transport cannot force
    a call, but it can leave nothing else to call); ``"auto"`` and ``"required"`` send
    them all.

    Raises:
        ConfigurationError: ``tool_choice`` names a tool that is not in ``tools``.
    """
    # AutoGen's Tool is a runtime-checkable Protocol, whose isinstance() is slow: the
    # common string choices are settled first.
    if isinstance(tool_choice, str):
        return None if tool_choice == "none" or not tools else [tool_definition(t) for t in tools]
    if not tools:
        raise ConfigurationError(
            f"tool_choice is the tool {tool_choice.name!r} but no tools were passed; "
            "pass it in tools too, or use tool_choice='auto'"
        )
    names = [tool_name(tool) for tool in tools]
    if tool_choice.name not in names:
        raise ConfigurationError(
            f"tool_choice is the tool {tool_choice.name!r}, which is not among the tools "
            f"passed ({', '.join(names)}); pass it in tools too"
        )
    return [tool_definition(t) for t in tools if tool_name(t) == tool_choice.name]


# ---------------------------------------------------------------- response format


def response_format(json_output: bool | type[BaseModel] | None) -> dict[str, Any] | None:
    """The ``response_format`` for AutoGen's ``json_output`` argument.

    ``True`` -> ``{"type": "json_object"}``; a pydantic model class -> a ``json_schema``
    format with the model's JSON schema; ``None``/``False`` -> ``None`` (plain text).

    Raises:
        TypeError: ``json_output`` is something else.
    """
    if json_output is None or json_output is False:
        return None
    if json_output is True:
        return {"type": "json_object"}
    if isinstance(json_output, type) and issubclass(json_output, BaseModel):
        return _schema_format(json_output)
    raise TypeError(
        f"json_output must be a bool, a pydantic model class or None, got {json_output!r}"
    )


@functools.lru_cache(maxsize=128)
def _schema_format(model: type[BaseModel]) -> dict[str, Any]:
    # Building a JSON schema walks the whole model: do it once per class. Callers get
    # the cached dict and must not mutate it (ChatRequest copies what it validates).
    return {
        "type": "json_schema",
        "json_schema": {"name": model.__name__, "schema": model.model_json_schema()},
    }


# ---------------------------------------------------------------- replies


def finish_reason(reason: str | None) -> FinishReasons:
    """AutoGen's finish reason for a retort one: ``tool_calls`` -> ``function_calls``;
    ``stop``, ``length``, ``content_filter`` as they are; anything else ``unknown``."""
    return _FINISH_REASONS.get(reason or "", "unknown")


def function_calls(calls: Sequence[ToolCall]) -> list[FunctionCall]:
    """AutoGen ``FunctionCall`` values for a reply's tool calls.

    Ids are kept when every call has one and they are unique within the reply; otherwise
    every call gets retort's stable id (:func:`~retort.core.ids.stable_tool_call_ids`),
    so equal calls get equal ids on every run. Arguments stay JSON text; empty ones
    become ``"{}"``.
    """
    ids = [call.id for call in calls]
    if not all(ids) or len(set(ids)) != len(ids):
        ids = stable_tool_call_ids((call.name, _decoded(call.arguments)) for call in calls)
    return [
        FunctionCall(id=call_id, name=call.name, arguments=_json_text(call.arguments))
        for call_id, call in zip(ids, calls, strict=True)
    ]


def _decoded(arguments: str) -> Any:
    try:
        return json.loads(arguments or "{}")
    except ValueError:
        return arguments


def calls_as_text(calls: Iterable[ToolCall]) -> str:
    """Tool calls as JSON text ``[{"name", "arguments"}, ...]``, for a reply whose calls
    must not be returned as calls (``tool_choice="none"``) and that has no other text."""
    return json.dumps([{"name": c.name, "arguments": _decoded(c.arguments)} for c in calls])


def reply_parts(
    reply: ChatReply, *, allow_calls: bool
) -> tuple[str | list[FunctionCall], str | None]:
    """The ``CreateResult`` content and thought of ``reply``.

    With calls (and ``allow_calls``): the ``FunctionCall`` list, and as thought the
    reply's reasoning and its text, joined by a newline (the text beside the calls is
    what AutoGen's OpenAI client puts in ``thought`` too). Otherwise: the text - or the
    dropped calls as JSON text when there is no text - and the reasoning as thought.
    """
    if reply.tool_calls and allow_calls:
        parts = [part for part in (reply.reasoning, reply.content) if part and part.strip()]
        return function_calls(reply.tool_calls), "\n".join(parts) or None
    text = reply.content or ""
    if reply.tool_calls and not text.strip():
        text = calls_as_text(reply.tool_calls)
    return text, reply.reasoning
