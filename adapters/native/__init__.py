"""retort.adapters.native: the framework-free agent.

:class:`NativeAgent` talks to any :class:`~retort.core.ports.Transport`, keeps its own
:class:`~retort.core.context.Context` (turns, the reject rule, a token budget) and runs
native tool calls with a :class:`~retort.core.tools.ToolRegistry`.
"""

from retort.adapters.native._agent import NativeAgent

__all__ = ["NativeAgent"]
