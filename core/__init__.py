"""retort.core: the framework-neutral engine.

Ports (:class:`Agent`, :class:`Transport`), messages, the solve loop (:class:`Expect`,
:func:`solve`, :func:`solve_sync`), :func:`consensus`, the conversation :class:`Context`,
the tool registry, runs and metrics, the error tree, and the plugin system.

Import rule inside retort: modules of ``retort.parsers`` import only the leaf modules
of core (``errors``, ``messages``, ``ids``); modules of core reach the parsers through
``from retort import parsers`` and attribute access at call time, so either package can
be imported first.
"""

from retort.core.consensus import Sample, Votes, canonical_key, consensus, normalize_code
from retort.core.context import Context, Turn, TurnKind, approx_tokens, to_wire
from retort.core.errors import (
    ConfigurationError,
    FieldError,
    JSONParseError,
    ParseError,
    ProtocolError,
    RetortError,
    SectionError,
    SolveFailed,
    ToolCallError,
    TransportConnectionError,
    TransportError,
    TransportStatusError,
    TransportTimeout,
    TypeParseError,
)
from retort.core.expect import Expect, Failure, FailureKind, Format, Validator
from retort.core.feedback import default_feedback
from retort.core.hookspecs import hookimpl, hookspec
from retort.core.ids import stable_tool_call_id, stable_tool_call_ids
from retort.core.messages import ChatReply, ChatRequest, Message, Reply, ToolCall, Usage
from retort.core.plugins import (
    DEFAULT_PLUGINS,
    ENTRY_POINT_GROUP,
    PluginInfo,
    active_plugin_manager,
    agent_factories,
    call_all,
    call_chain,
    call_until,
    create_agent,
    create_transport,
    get_plugin_manager,
    make_plugin_manager,
    plugin_sources,
    set_plugin_manager,
    transport_factories,
)
from retort.core.ports import Agent, Transport
from retort.core.run import Attempt, Limiter, Metrics, Run, current_run
from retort.core.solve import Solved, solve, solve_sync
from retort.core.tools import Tool, ToolErrorKind, ToolRegistry, ToolResult

__all__ = [
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "Agent",
    "Attempt",
    "ChatReply",
    "ChatRequest",
    "ConfigurationError",
    "Context",
    "Expect",
    "Failure",
    "FailureKind",
    "FieldError",
    "Format",
    "JSONParseError",
    "Limiter",
    "Message",
    "Metrics",
    "ParseError",
    "PluginInfo",
    "ProtocolError",
    "Reply",
    "RetortError",
    "Run",
    "Sample",
    "SectionError",
    "SolveFailed",
    "Solved",
    "Tool",
    "ToolCall",
    "ToolCallError",
    "ToolErrorKind",
    "ToolRegistry",
    "ToolResult",
    "Transport",
    "TransportConnectionError",
    "TransportError",
    "TransportStatusError",
    "TransportTimeout",
    "Turn",
    "TurnKind",
    "TypeParseError",
    "Usage",
    "Validator",
    "Votes",
    "active_plugin_manager",
    "agent_factories",
    "approx_tokens",
    "call_all",
    "call_chain",
    "call_until",
    "canonical_key",
    "consensus",
    "create_agent",
    "create_transport",
    "current_run",
    "default_feedback",
    "get_plugin_manager",
    "hookimpl",
    "hookspec",
    "make_plugin_manager",
    "normalize_code",
    "plugin_sources",
    "set_plugin_manager",
    "solve",
    "solve_sync",
    "stable_tool_call_id",
    "stable_tool_call_ids",
    "to_wire",
    "transport_factories",
]
