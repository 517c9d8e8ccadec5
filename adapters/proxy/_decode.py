"""The proxy protocol's reply body, decoded into a :class:`~retort.core.messages.ChatReply`.

Pure functions over the body text (see ``docs/proxy-protocol.md``):

1. a JSON string is the reply text; a string whose content is again a JSON string
   literal (encoded twice) is unwrapped once more - two decodes at most;
2. ``{"response_type": "tool", "tool_calls": [...]}`` becomes tool calls with stable ids
   (:func:`retort.parsers.extract_tool_calls`), ``content`` and ``thought`` keys become
   the reply's content and reasoning, a ``usage`` object its usage; an empty or
   malformed list is a protocol error, never text;
3. any other JSON value: its compact JSON text is the reply text;
4. a body that is not JSON is the reply text, unless the response declared itself JSON
   (``application/json``): then it was cut short or garbled, and another attempt may
   get it whole. An empty body is never a reply (the protocol's empty reply is ``""``).
"""

from __future__ import annotations

import json
from typing import Any

from retort.adapters._http import BodyError
from retort.adapters._http_support import usage_of
from retort.core.errors import ToolCallError
from retort.core.messages import ChatReply
from retort.parsers import extract_tool_calls

__all__ = ["decode_proxy_reply", "is_json_media_type"]

_MAX_DECODES = 2


def is_json_media_type(content_type: str | None) -> bool:
    """Whether a ``content-type`` header declares JSON (``application/json``, ``…+json``)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def decode_proxy_reply(body: str, *, json_declared: bool = True) -> ChatReply:
    """The reply a proxy body carries.

    Args:
        body: the response body text.
        json_declared: the response said its body is JSON, so a body that is not JSON
            is broken rather than plain text.

    Returns:
        The reply: ``finish_reason`` is ``"tool_calls"`` with tool calls, else ``"stop"``.

    Raises:
        BodyError: an empty body or undecodable declared JSON (``retryable``), or a tool
            reply whose ``tool_calls`` are missing, empty or malformed (not retryable).
    """
    if not body.strip():
        raise BodyError("expected a JSON reply, found an empty body", retryable=True)
    try:
        value = json.loads(body)
    except ValueError as exc:
        if json_declared:
            raise BodyError(
                f"the body is declared application/json but is not JSON ({exc}); "
                "it was probably cut short",
                retryable=True,
            ) from exc
        return ChatReply(content=body)
    if isinstance(value, str):
        return ChatReply(content=_unwrap(value))
    if isinstance(value, dict) and value.get("response_type") == "tool":
        return _tool_reply(value)
    return ChatReply(content=json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _unwrap(text: str) -> str:
    """A string whose content is again a JSON string literal, decoded once more."""
    for _ in range(_MAX_DECODES - 1):
        stripped = text.strip()
        if len(stripped) < 2 or stripped[0] != '"' or stripped[-1] != '"':
            break
        try:
            inner = json.loads(stripped)
        except ValueError:
            break
        if not isinstance(inner, str):
            break
        text = inner
    return text


def _tool_reply(value: dict[str, Any]) -> ChatReply:
    try:
        calls = extract_tool_calls(value)
    except ToolCallError as exc:
        raise BodyError(f"malformed tool reply: {exc}", retryable=False) from exc
    content = value.get("content")
    thought = value.get("thought")
    return ChatReply(
        content=content if isinstance(content, str) else None,
        tool_calls=tuple(calls),
        finish_reason="tool_calls",
        usage=usage_of(value.get("usage")),
        reasoning=thought if isinstance(thought, str) else None,
    )
