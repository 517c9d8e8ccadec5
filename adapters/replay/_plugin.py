"""The plugin that registers the record/replay transports.

Meant for :data:`retort.core.plugins.DEFAULT_PLUGINS`:
``create_transport("replay", cassette="run.jsonl")`` and
``create_transport("recording", inner=transport, cassette="run.jsonl")``.
"""

from __future__ import annotations

from collections.abc import Callable

from retort.adapters.replay._transports import RecordingTransport, ReplayTransport
from retort.core.hookspecs import hookimpl
from retort.core.ports import Transport

__all__ = ["retort_register_transports"]


@hookimpl
def retort_register_transports(register: Callable[[str, Callable[..., Transport]], None]) -> None:
    """Register :class:`ReplayTransport` as ``"replay"`` and :class:`RecordingTransport`
    as ``"recording"``."""
    register("replay", ReplayTransport)
    register("recording", RecordingTransport)
