"""retort.core: the framework-neutral engine.

Ports (:class:`Agent`, :class:`Transport`), messages, the solve loop (:class:`Expect`,
:func:`solve`, :func:`solve_sync`), :func:`consensus`, the conversation :class:`Context`,
the tool registry, runs and metrics, the error tree, and the plugin system.

Every public name is loaded on first use (PEP 562): ``import retort.core`` costs next to
nothing, and ``from retort.core import Expect`` imports the modules behind ``Expect`` only.
So a leaf module such as ``retort.core.errors`` can be imported without pulling in
pydantic, asyncio and pluggy through this file.

Import rule inside retort: modules of ``retort.parsers`` import only the leaf modules
of core (``errors``, ``ids``, ``_records``; ``messages`` only on first use, since it needs
pydantic); modules of core reach the parsers through ``from retort import parsers`` and
attribute access at call time, so either package can be imported first.
"""

# No `from __future__ import annotations`: it would add a public name `annotations`.
import importlib as _importlib
import sys as _sys
import types as _types
import typing as _typing

if _typing.TYPE_CHECKING:
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

_SUBMODULE_NAMES = {
    "consensus": ("Sample", "Votes", "canonical_key", "consensus", "normalize_code"),
    "context": ("Context", "Turn", "TurnKind", "approx_tokens", "to_wire"),
    "errors": (
        "ConfigurationError",
        "FieldError",
        "JSONParseError",
        "ParseError",
        "ProtocolError",
        "RetortError",
        "SectionError",
        "SolveFailed",
        "ToolCallError",
        "TransportConnectionError",
        "TransportError",
        "TransportStatusError",
        "TransportTimeout",
        "TypeParseError",
    ),
    "expect": ("Expect", "Failure", "FailureKind", "Format", "Validator"),
    "feedback": ("default_feedback",),
    "hookspecs": ("hookimpl", "hookspec"),
    "ids": ("stable_tool_call_id", "stable_tool_call_ids"),
    "messages": ("ChatReply", "ChatRequest", "Message", "Reply", "ToolCall", "Usage"),
    "plugins": (
        "DEFAULT_PLUGINS",
        "ENTRY_POINT_GROUP",
        "PluginInfo",
        "active_plugin_manager",
        "agent_factories",
        "call_all",
        "call_chain",
        "call_until",
        "create_agent",
        "create_transport",
        "get_plugin_manager",
        "make_plugin_manager",
        "plugin_sources",
        "set_plugin_manager",
        "transport_factories",
    ),
    "ports": ("Agent", "Transport"),
    "run": ("Attempt", "Limiter", "Metrics", "Run", "current_run"),
    "solve": ("Solved", "solve", "solve_sync"),
    "tools": ("Tool", "ToolErrorKind", "ToolRegistry", "ToolResult"),
}
_HOME = {name: module for module, names in _SUBMODULE_NAMES.items() for name in names}
"""Public name -> the submodule of retort.core that defines it."""


if not _typing.TYPE_CHECKING:  # a module __getattr__ would make every name valid to mypy

    def __getattr__(name: str) -> object:
        module = _HOME.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(_importlib.import_module(f"{__name__}.{module}"), name)
        globals()[name] = value  # later lookups are plain attribute reads
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(_types.ModuleType):
    """This package's module type: ``consensus`` and ``solve`` stay the functions.

    The import system binds every submodule it loads as an attribute of its package, so
    the first ``from retort.core.solve import ...`` anywhere would make ``retort.core.solve``
    the module instead of the function (the eager imports this file used to make rebound
    the function right after). Binding the function of the same name keeps both spellings
    working: ``from retort.core import solve`` is the function, ``retort.core.solve`` the
    module's import path.
    """

    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, _types.ModuleType) and _HOME.get(name) == name:
            value = getattr(value, name, value)
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package
