"""The plugin: the module that ``[project.entry-points.retort]`` names.

retort imports it whenever it builds a plugin manager (unless the environment says
otherwise: ``RETORT_DISABLE_PLUGIN_AUTOLOAD``, ``RETORT_LOAD_PLUGINS``) and registers every
function marked ``@hookimpl``. Each function is named after the hook it implements and
declares only the arguments it needs. Keep other ``retort_*`` names out of this module:
retort refuses an unmarked one, taking it for a forgotten decorator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from retort.core import Expect, Transport, hookimpl
from retort_plugin_example.echo import EchoTransport
from retort_plugin_example.no_todo import TAG, no_placeholders

__all__ = ["retort_register_transports", "retort_validate"]


@hookimpl
def retort_validate(value: Any, expect: Expect) -> str | None:
    """Reject placeholder markers in the values of specs tagged ``"code"``.

    Specs opt in with ``Expect.json(..., tags={"code"})``: an installed plugin runs in
    every solve of the process, so checking untagged specs would reject a to-do list.
    """
    if TAG not in expect.tags:
        return None
    return no_placeholders(value)


@hookimpl
def retort_register_transports(register: Callable[[str, Callable[..., Transport]], None]) -> None:
    """Register :class:`EchoTransport` as ``"echo"``."""
    register("echo", EchoTransport)
