"""The plugin that registers :class:`~retort.adapters.native.NativeAgent` as ``"native"``.

Meant for :data:`retort.core.plugins.DEFAULT_PLUGINS`, so
``create_agent("native", transport, system_message=...)`` builds one.
"""

from __future__ import annotations

from collections.abc import Callable

from retort.adapters.native._agent import NativeAgent
from retort.core.hookspecs import hookimpl
from retort.core.ports import Agent

__all__ = ["retort_register_agents"]


@hookimpl
def retort_register_agents(register: Callable[[str, Callable[..., Agent]], None]) -> None:
    """Register :class:`NativeAgent` under the name ``"native"``."""
    register("native", NativeAgent)
