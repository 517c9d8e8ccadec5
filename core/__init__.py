"""retort.core: the framework-neutral engine.

Import rule inside retort: modules of ``retort.parsers`` import only the leaf modules
of core (``errors``, ``messages``, ``ids``); modules of core reach the parsers through
``from retort import parsers`` and attribute access at call time, so either package can
be imported first.
"""

from retort.core.errors import (
    ConfigurationError,
    FieldError,
    JSONParseError,
    ParseError,
    RetortError,
    SectionError,
    SolveFailed,
    ToolCallError,
    TransportError,
    TypeParseError,
)
from retort.core.ids import stable_tool_call_id, stable_tool_call_ids
from retort.core.messages import ChatReply, ChatRequest, Message, Reply, ToolCall, Usage

__all__ = [
    "ChatReply",
    "ChatRequest",
    "ConfigurationError",
    "FieldError",
    "JSONParseError",
    "Message",
    "ParseError",
    "Reply",
    "RetortError",
    "SectionError",
    "SolveFailed",
    "ToolCall",
    "ToolCallError",
    "TransportError",
    "TypeParseError",
    "Usage",
    "stable_tool_call_id",
    "stable_tool_call_ids",
]
