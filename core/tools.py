"""Tools: plain Python functions the model may call, with schemas from their type hints.

```python
registry = ToolRegistry()

@registry.register
def get_file_content(file_path: str, max_lines: int | None = None) -> str:
    ...  # the docstring's summary and Args: section become the descriptions

registry.schemas()          # OpenAI tool definitions, for ChatRequest.tools
registry.render_docs()      # the same, as text for a system prompt
result = await registry.execute(call)   # a ToolResult; never raises for a bad call
```

Policies:

- Every parameter needs a type annotation (``typing.Any`` accepts any JSON value);
  ``*args``/``**kwargs`` are refused. Both raise :class:`ConfigurationError` at
  registration, naming the function and the parameter.
- The arguments text is read with ``json.loads``, then with the lenient
  :func:`retort.parsers.loads` (trailing commas, fences, ...); empty text or ``null``
  means no arguments. They are validated by a pydantic model built from the signature
  *before* the call (lax mode: ``"5"`` fits ``int``); unknown argument names are refused.
- Every failure becomes an observation for the model (``"Error: ..."``) and
  ``ToolResult.ok`` is false; the registry keeps no counters. ``asyncio.CancelledError``,
  ``KeyboardInterrupt`` and ``SystemExit`` propagate.
- Return values: ``str`` as is, ``None`` as ``"null"`` (some endpoints reject an empty
  tool message), anything else as JSON text.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import inspect
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from pydantic import BaseModel, ValidationError

from retort.core._tool_docs import render_tool
from retort.core._tool_result import (
    BadArguments,
    ToolErrorKind,
    ToolResult,
    decode_arguments,
    exception_text,
    field_errors,
    render_result,
)
from retort.core._tool_schema import ArgumentBinding, build_arguments, callable_name
from retort.core.errors import ConfigurationError
from retort.core.messages import ToolCall

__all__ = ["Tool", "ToolErrorKind", "ToolRegistry", "ToolResult"]


# OpenAI's rule for function names; other providers accept a subset of it.
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

_Registrable = TypeVar("_Registrable", bound="Callable[..., Any] | Tool")


def _is_async(fn: Callable[..., Any]) -> bool:
    # Callable objects with an `async def __call__` are awaited like coroutine functions.
    call = getattr(fn, "__call__", None)  # noqa: B004
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(call)


@dataclass(frozen=True, slots=True, eq=False)
class Tool:
    """One callable tool. Build it with :meth:`Tool.from_function`.

    Attributes:
        name: the name the model calls it by (letters, digits, ``_`` and ``-``; ≤ 64).
        description: what it does, for the model.
        parameters: the JSON schema of its arguments: ``{"type": "object",
            "properties", "required", ...}`` (nested types under ``$defs``).
        function: the Python callable.
        is_async: whether ``function`` is a coroutine function (it is awaited).
        blocking: run a sync function in a worker thread (``asyncio.to_thread``) so it
            does not stall the event loop.
        timeout: seconds before the call is abandoned with an error observation, or
            ``None``. A sync tool with a timeout always runs in a thread (a call running
            on the loop cannot be interrupted); the thread itself runs to completion.
        binding: the pydantic model validating the arguments and how its fields map
            onto the function's parameters.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    function: Callable[..., Any]
    is_async: bool
    binding: ArgumentBinding = field(repr=False)
    blocking: bool = False
    timeout: float | None = None

    def __post_init__(self) -> None:
        self._check_name(self.name)
        if self.timeout is not None and not self.timeout > 0:
            raise ConfigurationError(f"tool {self.name!r}: timeout must be > 0 seconds")
        if self.timeout is not None and not self.is_async and not self.blocking:
            object.__setattr__(self, "blocking", True)

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        blocking: bool = False,
        timeout: float | None = None,
    ) -> Tool:
        """A tool whose schema and validation come from ``fn``'s signature.

        Args:
            fn: a sync or async function (or method, partial, callable object) whose
                parameters all have type annotations.
            name: the tool name; defaults to ``fn.__name__``.
            description: what the tool does; defaults to the docstring's prose before
                its first section (``Args:``, ``Returns:``...).
            blocking: run a sync ``fn`` in a worker thread.
            timeout: seconds allowed per call (``None``: no limit).

        Returns:
            The tool. Parameter descriptions come from ``Annotated[..., Field(description=...)]``
            or else from the docstring's ``Args:`` section.

        Raises:
            ConfigurationError: a bad name, ``*args``/``**kwargs``, a missing annotation,
                a type pydantic cannot describe, or a generator function.
        """
        tool_name = name if name is not None else callable_name(fn)
        if tool_name is None:
            raise ConfigurationError(f"cannot name the tool {fn!r}: pass name=...")
        cls._check_name(tool_name)
        if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
            raise ConfigurationError(
                f"tool {tool_name!r}: generator functions are not tools; return a value"
            )
        binding, parameters, doc_description = build_arguments(fn, tool_name)
        return cls(
            name=tool_name,
            description=doc_description if description is None else description,
            parameters=parameters,
            function=fn,
            is_async=_is_async(fn),
            blocking=blocking,
            timeout=timeout,
            binding=binding,
        )

    @staticmethod
    def _check_name(name: str) -> None:
        if not _NAME.match(name):
            raise ConfigurationError(
                f"invalid tool name {name!r}: use 1-64 letters, digits, '_' or '-' "
                "(pass name=... to choose one)"
            )

    @property
    def arguments_model(self) -> type[BaseModel]:
        """The pydantic model validating the arguments (aliases are parameter names)."""
        return self.binding.model

    def openai_schema(self) -> dict[str, Any]:
        """``{"type": "function", "function": {"name", "description", "parameters"}}``."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": copy.deepcopy(self.parameters),  # callers may edit their copy
            },
        }

    def render_doc(self) -> str:
        """This tool as a text block for a system prompt (see ``ToolRegistry.render_docs``)."""
        return render_tool(self.name, self.description, self.parameters)

    async def execute(self, call: ToolCall) -> ToolResult:
        """Validate the call's arguments, run the tool and turn the outcome into a result.

        Never raises for a bad call or a failing tool; ``asyncio.CancelledError``,
        ``KeyboardInterrupt`` and ``SystemExit`` propagate.
        """
        try:
            args, kwargs = self.binding.bind(decode_arguments(call.arguments))
        except BadArguments as exc:
            return ToolResult.failure(
                call, "bad_arguments", f"bad arguments for {self.name}: {exc}"
            )
        except ValidationError as exc:
            fields = "; ".join(str(error) for error in field_errors(exc))
            return ToolResult.failure(
                call, "bad_arguments", f"bad arguments for {self.name}: {fields}"
            )
        scope = asyncio.timeout(self.timeout)
        try:
            async with scope:
                value = await self._invoke(args, kwargs)
            content = render_result(value)
        except Exception as exc:
            # A TimeoutError the tool raised itself is a tool error like any other.
            if isinstance(exc, TimeoutError) and scope.expired():
                return ToolResult.failure(
                    call, "tool_error", f"tool {self.name} timed out after {self.timeout:g} s"
                )
            return ToolResult.failure(call, "tool_error", exception_text(exc))
        return ToolResult(call.id, call.name, content)

    async def _invoke(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if self.is_async:
            value = await self.function(*args, **kwargs)
        elif self.blocking:
            value = await asyncio.to_thread(self.function, *args, **kwargs)
        else:
            value = self.function(*args, **kwargs)
        # A sync wrapper around a coroutine function returns an awaitable: finish it.
        while inspect.isawaitable(value):
            value = await value
        return value


class ToolRegistry:
    """The tools an agent may call, by name, in registration order.

    Args:
        tools: functions or :class:`Tool` objects to register at once.
    """

    def __init__(self, tools: Iterable[Callable[..., Any] | Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for item in tools:
            self.register(item)

    @overload
    def register(
        self,
        fn: _Registrable,
        /,
        *,
        name: str | None = ...,
        description: str | None = ...,
        blocking: bool | None = ...,
        timeout: float | None = ...,
    ) -> _Registrable: ...

    @overload
    def register(
        self,
        fn: None = ...,
        /,
        *,
        name: str | None = ...,
        description: str | None = ...,
        blocking: bool | None = ...,
        timeout: float | None = ...,
    ) -> Callable[[_Registrable], _Registrable]: ...

    def register(
        self,
        fn: _Registrable | None = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        blocking: bool | None = None,
        timeout: float | None = None,
    ) -> _Registrable | Callable[[_Registrable], _Registrable]:
        """Register a function or a :class:`Tool`; usable as ``@register`` or ``@register(...)``.

        Args:
            fn: the function or tool (omit it to get a decorator).
            name: the tool name (default: the function's name, or the tool's).
            description: overrides the docstring description.
            blocking: run a sync function in a worker thread.
            timeout: seconds allowed per call.

        Returns:
            ``fn`` itself, unchanged, so a decorated function stays callable.

        Raises:
            ConfigurationError: the name is taken, or the function cannot be a tool.
        """
        if fn is None:
            return lambda target: self.register(
                target, name=name, description=description, blocking=blocking, timeout=timeout
            )
        tool = self._as_tool(fn, name, description, blocking, timeout)
        if tool.name in self._tools:
            raise ConfigurationError(
                f"a tool named {tool.name!r} is already registered; pass name=... to "
                "register this one under another name"
            )
        self._tools[tool.name] = tool
        return fn

    @staticmethod
    def _as_tool(
        fn: Callable[..., Any] | Tool,
        name: str | None,
        description: str | None,
        blocking: bool | None,
        timeout: float | None,
    ) -> Tool:
        if not isinstance(fn, Tool):
            return Tool.from_function(
                fn, name=name, description=description, blocking=bool(blocking), timeout=timeout
            )
        changes: dict[str, Any] = {
            key: value
            for key, value in (
                ("name", name),
                ("description", description),
                ("blocking", blocking),
                ("timeout", timeout),
            )
            if value is not None
        }
        return dataclasses.replace(fn, **changes) if changes else fn

    def get(self, name: str) -> Tool | None:
        """The tool called ``name``, or ``None``."""
        return self._tools.get(name)

    def __getitem__(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise KeyError(f"no tool named {name!r}; available: {self._available()}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def __repr__(self) -> str:
        return f"ToolRegistry({list(self._tools)!r})"

    @property
    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order."""
        return tuple(self._tools)

    def schemas(self) -> list[dict[str, Any]]:
        """The OpenAI tool definitions, for ``ChatRequest.tools``."""
        return [tool.openai_schema() for tool in self._tools.values()]

    def render_docs(self) -> str:
        """Every tool as text for a system prompt: one block per tool, blank-line separated.

        Each block has a ``### name`` header, the description, then one line per
        parameter: ``- name (type, required|optional, default <json>): description``,
        with types spelled like Python (``list[int]``, ``str | None``) and nested
        models described under ``Types:``.
        """
        return "\n\n".join(tool.render_doc() for tool in self._tools.values())

    def _available(self) -> str:
        return ", ".join(self._tools) if self._tools else "(no tools are registered)"

    async def execute(self, call: ToolCall) -> ToolResult:
        """Run one tool call and return its result; never raises for a bad call.

        Unknown names, arguments that do not validate and exceptions raised by the tool
        all become results with ``ok=False`` and an ``"Error: ..."`` observation.
        ``asyncio.CancelledError``, ``KeyboardInterrupt`` and ``SystemExit`` propagate.
        """
        tool = self._tools.get(call.name)
        if tool is None:
            return ToolResult.failure(
                call, "unknown_tool", f"unknown tool {call.name!r}; available: {self._available()}"
            )
        return await tool.execute(call)
