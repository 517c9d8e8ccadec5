"""retort_plugin_example: a third-party retort plugin, to copy when you write your own.

- :func:`no_placeholders`: a validator rejecting code that still holds ``TODO``,
  ``FIXME`` or ``XXX`` markers; the plugin runs it on every spec tagged ``"code"``.
- :class:`EchoTransport`: a transport answering each request with its last message,
  registered as ``"echo"`` (``retort.core.create_transport("echo")``).

The plugin itself is :mod:`retort_plugin_example.plugin`, the module the ``retort``
entry point of this distribution names.
"""

from retort_plugin_example.echo import EchoTransport
from retort_plugin_example.no_todo import (
    MARKERS,
    TAG,
    Placeholder,
    find_placeholders,
    no_placeholders,
)

__all__ = [
    "MARKERS",
    "TAG",
    "EchoTransport",
    "Placeholder",
    "find_placeholders",
    "no_placeholders",
]
