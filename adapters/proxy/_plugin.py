"""The plugin that registers :class:`~retort.adapters.proxy.ProxyTransport` as ``"proxy"``.

Listed in :data:`retort.core.plugins.DEFAULT_PLUGINS`, so
``create_transport("proxy", base_url=...)`` builds one.
"""

from __future__ import annotations

from collections.abc import Callable

from retort.adapters.proxy._transport import ProxyTransport
from retort.core.hookspecs import hookimpl
from retort.core.ports import Transport

__all__ = ["retort_register_transports"]


@hookimpl
def retort_register_transports(register: Callable[[str, Callable[..., Transport]], None]) -> None:
    """Register :class:`ProxyTransport` under the name ``"proxy"``."""
    register("proxy", ProxyTransport)
