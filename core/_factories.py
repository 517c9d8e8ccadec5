"""Transports and agents by name: the factories plugins register through
``retort_register_transports`` / ``retort_register_agents``, and building one by name.

Exported by :mod:`retort.core.plugins`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import pluggy

from retort.core._hookcalls import call_impl, plain_impls
from retort.core.errors import ConfigurationError
from retort.core.ports import Agent, Transport

__all__ = ["agent_factories", "create_agent", "create_transport", "transport_factories"]

_T = TypeVar("_T")


def _manager(pm: pluggy.PluginManager | None) -> pluggy.PluginManager:
    if pm is not None:
        return pm
    from retort.core.plugins import get_plugin_manager  # plugins re-exports this module

    return get_plugin_manager()


def transport_factories(
    pm: pluggy.PluginManager | None = None,
) -> dict[str, Callable[..., Transport]]:
    """Every transport factory registered through ``retort_register_transports``.

    Args:
        pm: the manager; ``None`` means :func:`get_plugin_manager`.

    Returns:
        Factory by name; ``factory(**options)`` builds a transport.

    Raises:
        ConfigurationError: two plugins register the same name (both are named), or a
            registration is not a non-empty name with a callable.
    """
    hook = _manager(pm).hook.retort_register_transports
    return cast("dict[str, Callable[..., Transport]]", _collect(hook, "transport"))


def agent_factories(pm: pluggy.PluginManager | None = None) -> dict[str, Callable[..., Agent]]:
    """Every agent factory registered through ``retort_register_agents``.

    Args:
        pm: the manager; ``None`` means :func:`get_plugin_manager`.

    Returns:
        Factory by name; ``factory(transport, **options)`` builds an agent.

    Raises:
        ConfigurationError: as for :func:`transport_factories`.
    """
    hook = _manager(pm).hook.retort_register_agents
    return cast("dict[str, Callable[..., Agent]]", _collect(hook, "agent"))


def _collect(hook: pluggy.HookCaller, kind: str) -> dict[str, Callable[..., Any]]:
    factories: dict[str, Callable[..., Any]] = {}
    owners: dict[str, str] = {}
    for impl in plain_impls(hook):
        register = _registrar(kind, impl.plugin_name, factories, owners)
        call_impl(hook, impl, {"register": register})
    return factories


def _registrar(
    kind: str,
    owner: str,
    factories: dict[str, Callable[..., Any]],
    owners: dict[str, str],
) -> Callable[[str, Callable[..., Any]], None]:
    """The ``register`` callback handed to one plugin, so duplicates can name it."""

    def register(name: str, factory: Callable[..., Any]) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigurationError(
                f"plugin {owner!r} registers a {kind} named {name!r}; names are non-empty strings"
            )
        if not callable(factory):
            raise ConfigurationError(
                f"plugin {owner!r} registers {kind} {name!r} with {factory!r}, "
                "which is not callable"
            )
        if name in owners:
            raise ConfigurationError(
                f"{kind} {name!r} is registered twice: by plugin {owners[name]!r} and "
                f"by plugin {owner!r}; remove one of them or register another name"
            )
        owners[name] = owner
        factories[name] = factory

    return register


def create_transport(
    name: str, /, pm: pluggy.PluginManager | None = None, **options: Any
) -> Transport:
    """Build the transport registered as ``name``.

    Args:
        name: the registered name.
        pm: the manager; ``None`` means :func:`get_plugin_manager`.
        **options: passed to the factory.

    Raises:
        ConfigurationError: no transport is registered under ``name`` (the message lists
            the registered names).
    """
    return _pick(transport_factories(pm), name, "transport")(**options)


def create_agent(
    name: str, transport: Transport, /, pm: pluggy.PluginManager | None = None, **options: Any
) -> Agent:
    """Build the agent registered as ``name`` over ``transport``.

    Args:
        name: the registered name.
        transport: the transport the agent talks through.
        pm: the manager; ``None`` means :func:`get_plugin_manager`.
        **options: passed to the factory.

    Raises:
        ConfigurationError: no agent is registered under ``name`` (the message lists the
            registered names).
    """
    return _pick(agent_factories(pm), name, "agent")(transport, **options)


def _pick(factories: dict[str, Callable[..., _T]], name: str, kind: str) -> Callable[..., _T]:
    try:
        return factories[name]
    except KeyError:
        known = ", ".join(sorted(factories)) or "none (is the plugin that provides it installed?)"
        raise ConfigurationError(
            f"no {kind} is registered as {name!r}; registered: {known}"
        ) from None
