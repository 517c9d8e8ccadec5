"""retort tools as AutoGen tools: one ``BaseTool`` per :class:`~retort.core.tools.Tool`.

AutoGen's ``AssistantAgent`` runs its tools through a workbench that calls
``tool.run_json(arguments, ...)``. :class:`RegistryTool` answers that call with
:meth:`ToolRegistry.execute <retort.core.tools.ToolRegistry.execute>`, so argument
validation (lax, by retort's pydantic model), the ``"Error: ..."`` observations and the
return-value rendering are retort's, not AutoGen's ``FunctionTool``'s. A failed call
raises :class:`ToolFailed` carrying the observation: the workbench turns an exception
into a result with ``is_error=True`` and the exception's text as content, so the model
sees exactly retort's observation and AutoGen marks it as an error.

Each executed call adds 1 to ``tool_calls`` of the run in progress
(:func:`~retort.core.run.current_run`), and each failed one also to
``tool_call_failed``. Calls whose arguments AutoGen could not decode as JSON never
reach the tool (AutoGen answers them itself) and are not counted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from autogen_core import CancellationToken
from autogen_core.tools import BaseTool, ParametersSchema, ToolSchema
from pydantic import BaseModel

from retort.core.ids import stable_tool_call_id
from retort.core.messages import ToolCall
from retort.core.run import current_run
from retort.core.tools import Tool, ToolRegistry

__all__ = ["RegistryTool", "ToolFailed", "autogen_tools"]


class ToolFailed(Exception):
    """A tool call ended in an error observation; ``str(exc)`` is the observation."""


class RegistryTool(BaseTool[BaseModel, BaseModel]):
    """An AutoGen tool that runs one tool of a :class:`ToolRegistry`.

    Args:
        registry: the registry that executes calls (shared, not copied).
        tool: the registry's tool this object stands for.
    """

    def __init__(self, registry: ToolRegistry, tool: Tool) -> None:
        # The return type only labels the tool for AutoGen; results are always text.
        super().__init__(tool.arguments_model, BaseModel, tool.name, tool.description)
        self._registry = registry
        self._tool = tool
        parameters = dict(tool.parameters)
        # The schema is retort's, as the native agent sends it: computed once, not per request.
        self._schema = ToolSchema(
            name=tool.name,
            description=tool.description,
            parameters=ParametersSchema(
                type="object",
                properties=dict(parameters.get("properties", {})),
                required=list(parameters.get("required", [])),
                **{k: v for k, v in parameters.items() if k not in _FIXED_KEYS},  # type: ignore[typeddict-item]
            ),
        )

    @property
    def retort_tool(self) -> Tool:
        """The retort tool this AutoGen tool runs."""
        return self._tool

    @property
    def schema(self) -> ToolSchema:
        """The tool's name, description and retort's JSON schema of its arguments."""
        return self._schema

    async def run_json(
        self,
        args: Mapping[str, Any],
        cancellation_token: CancellationToken,
        call_id: str | None = None,
    ) -> Any:
        """Execute the call with the registry; return the observation text.

        Raises:
            ToolFailed: the call failed (unknown arguments, a validation error, an
                exception in the tool); its text is retort's ``"Error: ..."`` observation.
        """
        arguments = dict(args)
        call = ToolCall(
            id=call_id or stable_tool_call_id(self.name, arguments),
            name=self.name,
            arguments=json.dumps(arguments),
        )
        result = await self._registry.execute(call)
        run = current_run()
        if run is not None:
            run.metrics.tool_calls += 1
            if not result.ok:
                run.metrics.tool_call_failed += 1
        if not result.ok:
            raise ToolFailed(result.content)
        return result.content

    async def run(self, args: BaseModel, cancellation_token: CancellationToken) -> Any:
        """Execute the call from validated arguments (AutoGen's other entry point)."""
        return await self.run_json(args.model_dump(by_alias=True), cancellation_token)

    def return_value_as_string(self, value: Any) -> str:
        """Results are already the observation text."""
        return value if isinstance(value, str) else str(value)


_FIXED_KEYS = frozenset({"type", "properties", "required"})


def autogen_tools(registry: ToolRegistry) -> list[RegistryTool]:
    """One :class:`RegistryTool` per tool of ``registry``, in registration order."""
    return [RegistryTool(registry, tool) for tool in registry]
