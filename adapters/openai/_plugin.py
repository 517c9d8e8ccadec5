"""The plugin that registers :class:`~retort.adapters.openai.OpenAITransport` as ``"openai"``.

Listed in :data:`retort.core.plugins.DEFAULT_PLUGINS`, so
``create_transport("openai", base_url=..., model=...)`` builds one.
"""

from __future__ import annotations

from collections.abc import Callable

from retort.adapters.openai._transport import OpenAITransport
from retort.core.hookspecs import hookimpl
from retort.core.ports import Transport

__all__ = ["retort_register_transports"]


@hookimpl
def retort_register_transports(register: Callable[[str, Callable[..., Transport]], None]) -> None:
    """Register :class:`OpenAITransport` under the name ``"openai"``."""
    register("openai", OpenAITransport)
