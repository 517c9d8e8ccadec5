"""The tool registry: schemas from type hints, docs, registration rules and execution."""

from __future__ import annotations

import asyncio
import enum
import functools
import json
import threading
import time
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from retort.core.errors import ConfigurationError
from retort.core.messages import ToolCall
from retort.core.tools import Tool, ToolRegistry, ToolResult


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Point(BaseModel):
    """A point on the grid."""

    x: int
    y: int = 0


class Opaque:
    """A plain class: pydantic cannot validate or describe it."""


class Span(TypedDict):
    start: int
    end: int


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def call(name: str, arguments: Any = None, call_id: str = "call-1") -> ToolCall:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
    return ToolCall(id=call_id, name=name, arguments=text)


def execute(registry: ToolRegistry, name: str, arguments: Any = None) -> ToolResult:
    return run(registry.execute(call(name, arguments)))


def properties(fn: Any) -> dict[str, Any]:
    return Tool.from_function(fn).parameters["properties"]


def _titles(schema: Any, under_properties: bool = False) -> list[str]:
    """Every `title` *keyword* left in a schema (property names are not keywords)."""
    found: list[str] = []
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key == "title" and not under_properties:
                found.append(str(value))
            found += _titles(value, under_properties=key in ("properties", "$defs"))
    elif isinstance(schema, list):
        for item in schema:
            found += _titles(item)
    return found


# ------------------------------------------------------------------ schemas


def get_file_content(file_path: str, start: int = 0, strict: bool = False) -> str:
    """Read a file of the workspace.

    Lines are numbered from zero.

    Args:
        file_path: Path relative to the workspace root.
        start: First line to return; lines before it
            are skipped.

    Returns:
        The text of the file.
    """
    return f"{file_path}:{start}:{strict}"


def test_scalar_parameters_give_the_exact_schema() -> None:
    tool = Tool.from_function(get_file_content)
    assert tool.name == "get_file_content"
    assert tool.parameters == {
        "type": "object",
        "properties": {
            "file_path": {"type": "string", "description": "Path relative to the workspace root."},
            "start": {
                "type": "integer",
                "default": 0,
                "description": "First line to return; lines before it are skipped.",
            },
            "strict": {"type": "boolean", "default": False},
        },
        "required": ["file_path"],
        "additionalProperties": False,
    }
    assert list(tool.parameters)[:3] == ["type", "properties", "required"]


def test_optional_list_and_dict_parameters() -> None:
    def tool(
        limit: int | None = None,
        ids: list[int] | None = None,
        weights: dict[str, float] = {},  # noqa: B006 - a dict default, as tools declare them
    ) -> None: ...

    assert properties(tool) == {
        "limit": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
        "ids": {
            "anyOf": [{"type": "array", "items": {"type": "integer"}}, {"type": "null"}],
            "default": None,
        },
        "weights": {"type": "object", "additionalProperties": {"type": "number"}, "default": {}},
    }
    assert Tool.from_function(tool).parameters["required"] == []


def test_literal_enum_and_tuple_parameters() -> None:
    def paint(mode: Literal["fill", "stroke"], color: Color, at: tuple[int, int]) -> None: ...

    schema = Tool.from_function(paint).parameters
    assert schema["properties"]["mode"] == {"type": "string", "enum": ["fill", "stroke"]}
    assert schema["properties"]["color"] == {"$ref": "#/$defs/Color"}
    assert schema["$defs"]["Color"] == {"type": "string", "enum": ["red", "green"]}
    at = schema["properties"]["at"]
    assert at["prefixItems"] == [{"type": "integer"}, {"type": "integer"}]
    assert (at["minItems"], at["maxItems"]) == (2, 2)


def test_nested_model_and_typed_dict_parameters() -> None:
    def mark(points: list[Point], span: Span) -> None: ...

    schema = Tool.from_function(mark).parameters
    assert schema["properties"]["points"] == {"type": "array", "items": {"$ref": "#/$defs/Point"}}
    assert schema["$defs"]["Point"] == {
        "type": "object",
        "description": "A point on the grid.",
        "properties": {"x": {"type": "integer"}, "y": {"type": "integer", "default": 0}},
        "required": ["x"],
    }
    assert schema["$defs"]["Span"]["required"] == ["start", "end"]
    assert _titles(schema) == []


def test_annotated_field_description_and_constraints() -> None:
    def resize(
        width: Annotated[int, Field(description="Width in pixels.", gt=0)],
        height: Annotated[int, Field(le=100)] = 10,
    ) -> None:
        """Resize.

        Args:
            width: the docstring loses to Field(description=...).
            height: Height in pixels.
        """

    props = properties(resize)
    assert props["width"] == {
        "type": "integer",
        "exclusiveMinimum": 0,
        "description": "Width in pixels.",
    }
    assert props["height"] == {
        "type": "integer",
        "maximum": 100,
        "default": 10,
        "description": "Height in pixels.",
    }


def test_parameter_names_that_clash_with_pydantic_are_kept() -> None:
    def tool(json: str, schema: int, model_config: bool, title: str) -> str:
        return f"{json}|{schema}|{model_config}|{title}"

    registry = ToolRegistry([tool])
    props = registry["tool"].parameters["properties"]
    assert list(props) == ["json", "schema", "model_config", "title"]
    assert props["title"] == {"type": "string"}  # a property named title survives
    arguments = {"json": "j", "schema": 2, "model_config": True, "title": "t"}
    assert execute(registry, "tool", arguments).content == "j|2|True|t"


def test_non_json_default_is_left_out_of_the_schema_quietly() -> None:
    sentinel = object()

    def tool(value: Any = sentinel) -> bool:
        return value is sentinel

    assert properties(tool) == {"value": {}}
    assert execute(ToolRegistry([tool]), "tool").content == "true"


def test_openai_schema_shape_and_copy() -> None:
    tool = Tool.from_function(get_file_content)
    schema = tool.openai_schema()
    assert schema == {
        "type": "function",
        "function": {
            "name": "get_file_content",
            "description": "Read a file of the workspace.\n\nLines are numbered from zero.",
            "parameters": tool.parameters,
        },
    }
    schema["function"]["parameters"]["properties"].clear()
    assert "file_path" in tool.parameters["properties"]


# ------------------------------------------------------------------ descriptions


def test_description_is_the_prose_before_the_first_section() -> None:
    tool = Tool.from_function(get_file_content)
    assert tool.description == "Read a file of the workspace.\n\nLines are numbered from zero."


def test_description_and_name_overrides_and_missing_docstring() -> None:
    def bare(x: int) -> int:
        return x

    assert Tool.from_function(bare).description == ""
    tool = Tool.from_function(bare, name="echo-int", description="Echo an integer.")
    assert (tool.name, tool.description) == ("echo-int", "Echo an integer.")


def test_docstring_arg_types_and_other_sections_are_handled() -> None:
    def tool(a: int, b: str = "") -> None:
        """Do it.

        Args:
            a (int): The first.
            b (str, optional): The second,
                on two lines.

        Raises:
            c: not a parameter.
        """

    props = properties(tool)
    assert props["a"]["description"] == "The first."
    assert props["b"]["description"] == "The second, on two lines."
    assert "c" not in props


# ------------------------------------------------------------------ render_docs


def test_render_docs_block() -> None:
    def search(query: str, tags: list[int], limit: int | None = None) -> list[str]:
        """Search the index.

        Args:
            query: Words to look for.
        """
        return []

    registry = ToolRegistry([search])
    assert registry.render_docs() == (
        "### search\n"
        "Search the index.\n"
        "Parameters:\n"
        "- query (str, required): Words to look for.\n"
        "- tags (list[int], required)\n"
        "- limit (int | None, optional, default null)"
    )


def test_render_docs_names_nested_types_and_inlines_enums() -> None:
    def mark(points: list[Point], color: Color = Color.RED, span: Span | None = None) -> None:
        """Mark points."""

    def ping() -> str:
        return "pong"

    text = ToolRegistry([mark, ping]).render_docs()
    assert text == (
        "### mark\n"
        "Mark points.\n"
        "Parameters:\n"
        "- points (list[Point], required)\n"
        '- color (Literal["red", "green"], optional, default "red")\n'
        "- span (Span | None, optional, default null)\n"
        "Types:\n"
        "- Point: A point on the grid.\n"
        "  - x (int, required)\n"
        "  - y (int, optional, default 0)\n"
        "- Span:\n"
        "  - start (int, required)\n"
        "  - end (int, required)\n"
        "\n"
        "### ping\n"
        "Parameters: none"
    )


def test_render_docs_spells_containers_like_python() -> None:
    def tool(
        a: dict[str, list[float]],
        b: tuple[int, str],
        c: set[str],
        d: Any,
        e: Literal[1, 2],
        f: Span,
    ) -> None: ...

    lines = Tool.from_function(tool).render_doc().splitlines()
    assert lines[2:8] == [
        "- a (dict[str, list[float]], required)",
        "- b (tuple[int, str], required)",
        "- c (set[str], required)",
        "- d (any, required)",
        "- e (Literal[1, 2], required)",
        "- f (Span, required)",
    ]


# ------------------------------------------------------------------ registration


def test_register_as_decorator_and_plain_call() -> None:
    registry = ToolRegistry()

    @registry.register
    def first(x: int) -> int:
        return x

    @registry.register(name="second_tool", blocking=True)
    def second(x: int) -> int:
        return x

    registry.register(get_file_content)
    assert first(2) == 2  # decorators return the function itself
    assert registry.names == ("first", "second_tool", "get_file_content")
    assert len(registry) == 3
    assert "second_tool" in registry
    assert "second" not in registry
    assert [tool.name for tool in registry] == list(registry.names)
    assert registry["second_tool"].blocking
    assert registry.get("nope") is None
    assert [schema["function"]["name"] for schema in registry.schemas()] == list(registry.names)


def test_registering_a_tool_object_with_a_new_name() -> None:
    tool = Tool.from_function(get_file_content)
    registry = ToolRegistry([tool])
    assert registry.register(tool, name="read") is tool
    assert registry.names == ("get_file_content", "read")
    assert registry["read"].parameters == tool.parameters


def test_duplicate_names_are_refused() -> None:
    registry = ToolRegistry([get_file_content])
    with pytest.raises(ConfigurationError, match="'get_file_content' is already registered"):
        registry.register(get_file_content)


def test_getitem_on_a_missing_name_lists_the_tools() -> None:
    with pytest.raises(KeyError, match="available: get_file_content"):
        ToolRegistry([get_file_content])["nope"]


def test_star_parameters_are_refused() -> None:
    def varargs(*paths: str) -> None: ...

    def varkw(path: str, **options: int) -> None: ...

    with pytest.raises(ConfigurationError, match=r"varargs.*\*paths"):
        Tool.from_function(varargs)
    with pytest.raises(ConfigurationError, match=r"varkw.*\*\*options"):
        Tool.from_function(varkw)


def test_unannotated_parameter_is_refused_by_name() -> None:
    def loose(path: str, mode) -> None:  # type: ignore[no-untyped-def]
        ...

    with pytest.raises(ConfigurationError) as info:
        Tool.from_function(loose)
    assert "loose" in str(info.value)
    assert "'mode' has no type annotation" in str(info.value)


def test_unsupported_type_names_the_parameter() -> None:
    def tool(good: int, bad: Opaque) -> None: ...

    with pytest.raises(ConfigurationError, match="parameter 'bad'"):
        Tool.from_function(tool)


def test_invalid_names_timeouts_and_generators_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="invalid tool name '<lambda>'"):
        Tool.from_function(lambda x: x)
    with pytest.raises(ConfigurationError, match="invalid tool name 'has space'"):
        Tool.from_function(get_file_content, name="has space")
    with pytest.raises(ConfigurationError, match="timeout must be > 0"):
        Tool.from_function(get_file_content, timeout=0)

    def lines(n: int) -> Any:
        yield n

    with pytest.raises(ConfigurationError, match="generator"):
        Tool.from_function(lines)


# ------------------------------------------------------------------ execute: success


def test_sync_and_async_tools_return_their_observation() -> None:
    async def shout(text: str) -> str:
        await asyncio.sleep(0)
        return text.upper()

    registry = ToolRegistry([get_file_content, shout])
    result = execute(registry, "get_file_content", {"file_path": "a.py", "start": "3"})
    assert result == ToolResult("call-1", "get_file_content", "a.py:3:False")
    assert result.ok
    assert (result.error, result.error_kind) == (None, None)
    assert registry["shout"].is_async
    assert execute(registry, "shout", {"text": "hé"}).content == "HÉ"


def test_return_values_are_rendered_as_json() -> None:
    def value(kind: str) -> Any:
        return {
            "none": None,
            "dict": {"name": "é", "n": [1, 2]},
            "model": Point(x=1),
            "number": 2.5,
        }[kind]

    registry = ToolRegistry([value])
    rendered = {
        kind: execute(registry, "value", {"kind": kind}).content
        for kind in ("none", "dict", "model", "number")
    }
    assert rendered == {
        "none": "null",
        "dict": '{"name": "é", "n": [1, 2]}',
        "model": '{"x": 1, "y": 0}',
        "number": "2.5",
    }


def test_validated_models_reach_the_function() -> None:
    def total(points: list[Point], span: Span) -> int:
        assert all(isinstance(point, Point) for point in points)
        return sum(point.x + point.y for point in points) + span["end"] - span["start"]

    arguments = {"points": [{"x": 1, "y": 2}, {"x": 3}], "span": {"start": 1, "end": 5}}
    assert execute(ToolRegistry([total]), "total", arguments).content == "10"


def test_positional_only_methods_and_partials() -> None:
    class Counter:
        def __init__(self) -> None:
            self.count = 0

        def add(self, step: int, /, *, label: str = "") -> str:
            self.count += step
            return f"{label}{self.count}"

    counter = Counter()

    def scale(factor: int, value: int) -> int:
        return factor * value

    registry = ToolRegistry([counter.add])
    registry.register(functools.partial(scale, 3), name="triple")
    assert execute(registry, "add", {"step": 2, "label": "n="}).content == "n=2"
    assert counter.count == 2
    assert execute(registry, "triple", {"value": 5}).content == "15"
    assert list(registry["triple"].parameters["properties"]) == ["value"]


def test_callable_object_with_async_call_is_awaited() -> None:
    class Greeter:
        """Greet someone."""

        async def __call__(self, who: str) -> str:
            await asyncio.sleep(0)
            return f"hello {who}"

    registry = ToolRegistry()
    registry.register(Greeter(), name="greet", description="Say hello.")
    tool = registry["greet"]
    assert (tool.is_async, tool.description) == (True, "Say hello.")
    assert execute(registry, "greet", {"who": "ada"}).content == "hello ada"


def test_blank_and_null_arguments_mean_no_arguments() -> None:
    def ping() -> str:
        return "pong"

    registry = ToolRegistry([ping])
    assert execute(registry, "ping", "").content == "pong"
    assert execute(registry, "ping", "null").content == "pong"


def test_to_message_answers_the_call() -> None:
    result = run(
        ToolRegistry([get_file_content]).execute(call("get_file_content", {"file_path": "x"}, "c9"))
    )
    message = result.to_message()
    assert (message.role, message.tool_call_id, message.name) == ("tool", "c9", "get_file_content")
    assert message.content == "x:0:False"


# ------------------------------------------------------------------ execute: threads


def test_blocking_sync_tool_runs_in_a_thread_while_the_loop_keeps_going() -> None:
    def slow(seconds: float) -> int:
        time.sleep(seconds)
        return threading.get_ident()

    async def scenario() -> tuple[ToolResult, int, int]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        registry = ToolRegistry()
        registry.register(slow, blocking=True)
        result = await registry.execute(call("slow", {"seconds": 0.3}))
        stop.set()
        await task
        return result, ticks, threading.get_ident()

    result, ticks, loop_thread = run(scenario())
    assert result.ok
    assert int(result.content) != loop_thread
    assert ticks >= 5  # the ticker ran while the tool slept


def test_plain_sync_tool_runs_on_the_loop_thread() -> None:
    def where() -> int:
        return threading.get_ident()

    async def scenario() -> tuple[str, int]:
        result = await ToolRegistry([where]).execute(call("where"))
        return result.content, threading.get_ident()

    content, loop_thread = run(scenario())
    assert int(content) == loop_thread


# ------------------------------------------------------------------ execute: failures


def test_missing_argument_names_the_field() -> None:
    result = execute(ToolRegistry([get_file_content]), "get_file_content", {"start": 1})
    assert result.content == "Error: bad arguments for get_file_content: file_path: Field required"
    assert not result.ok
    assert result.error_kind == "bad_arguments"
    assert result.error == "bad arguments for get_file_content: file_path: Field required"


def test_validation_errors_give_nested_paths_and_refuse_extra_arguments() -> None:
    def total(points: list[Point]) -> int:
        return len(points)

    result = execute(
        ToolRegistry([total]), "total", {"points": [{"x": 1}, {"x": "a"}], "debug": True}
    )
    assert result.error_kind == "bad_arguments"
    assert "points[1].x: Input should be a valid integer" in result.content
    assert "debug: Extra inputs are not permitted" in result.content


def test_arguments_that_are_not_an_object() -> None:
    result = execute(ToolRegistry([get_file_content]), "get_file_content", "[1, 2]")
    assert result.error_kind == "bad_arguments"
    assert result.content == (
        "Error: bad arguments for get_file_content: expected a JSON object of arguments, got list"
    )


def test_unknown_tool_lists_the_available_names() -> None:
    result = execute(
        ToolRegistry([get_file_content, Tool.from_function(get_file_content, name="read")]), "write"
    )
    assert result.content == "Error: unknown tool 'write'; available: get_file_content, read"
    assert (result.ok, result.error_kind, result.name) == (False, "unknown_tool", "write")
    empty = execute(ToolRegistry(), "write")
    assert "no tools are registered" in empty.content


def test_exceptions_become_observations() -> None:
    def fail(kind: str) -> None:
        if kind == "value":
            raise ValueError("no such file: a.py")
        if kind == "timeout":
            raise TimeoutError("socket")
        raise RuntimeError

    async def afail() -> None:
        raise KeyError("k")

    registry = ToolRegistry([fail, afail])
    value = execute(registry, "fail", {"kind": "value"})
    assert value.content == "Error: ValueError: no such file: a.py"
    assert (value.ok, value.error_kind) == (False, "tool_error")
    assert "Traceback" not in value.content
    assert execute(registry, "fail", {"kind": "bare"}).content == "Error: RuntimeError"
    assert execute(registry, "fail", {"kind": "timeout"}).content == "Error: TimeoutError: socket"
    assert execute(registry, "afail").content == "Error: KeyError: 'k'"


def test_timeouts_of_async_and_sync_tools() -> None:
    async def nap(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "awake"

    def snooze(seconds: float) -> str:
        time.sleep(seconds)
        return "awake"

    registry = ToolRegistry()
    registry.register(nap, timeout=0.05)
    registry.register(snooze, timeout=0.05)
    assert registry["snooze"].blocking  # a sync tool with a timeout runs in a thread
    slow = execute(registry, "nap", {"seconds": 5})
    assert slow.content == "Error: tool nap timed out after 0.05 s"
    assert slow.error_kind == "tool_error"
    assert execute(registry, "snooze", {"seconds": 0.3}).content == (
        "Error: tool snooze timed out after 0.05 s"
    )
    assert execute(registry, "nap", {"seconds": 0}).content == "awake"


def test_cancellation_propagates() -> None:
    started = asyncio.Event()

    async def wait_forever() -> None:
        started.set()
        await asyncio.Event().wait()

    async def scenario() -> None:
        registry = ToolRegistry([wait_forever])
        task = asyncio.create_task(registry.execute(call("wait_forever")))
        await started.wait()
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        run(scenario())


def test_system_exit_propagates() -> None:
    def leave() -> None:
        raise SystemExit(3)

    with pytest.raises(SystemExit):
        execute(ToolRegistry([leave]), "leave")


# ------------------------------------------------------------------ lenient arguments


def test_double_encoded_arguments_are_decoded() -> None:
    text = json.dumps(json.dumps({"file_path": "a.py"}))
    assert (
        execute(ToolRegistry([get_file_content]), "get_file_content", text).content
        == "a.py:0:False"
    )


def test_lenient_argument_json() -> None:
    registry = ToolRegistry([get_file_content])
    result = execute(registry, "get_file_content", '{"file_path": "a.py", "start": 2,}')
    assert result.content == "a.py:2:False"
    broken = execute(registry, "get_file_content", "not json at all")
    assert broken.error_kind == "bad_arguments"
    assert broken.content.startswith(
        "Error: bad arguments for get_file_content: the arguments are not valid JSON"
    )
