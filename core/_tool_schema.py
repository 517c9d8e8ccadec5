"""Turn a Python function into a tool: its argument model, JSON schema and descriptions.

The argument model is a pydantic model built from the signature, so the schema sent to
the model and the validation of the arguments it sends back come from one source. Each
field is stored under a private name (``arg_0``, ``arg_1``...) with the parameter's name
as its alias: parameters called ``json``, ``schema`` or ``model_config`` would otherwise
shadow or break ``BaseModel`` attributes.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, PydanticUserError, TypeAdapter, create_model
from pydantic.fields import FieldInfo
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaWarningKind

from retort.core.errors import ConfigurationError

__all__ = ["ArgumentBinding", "build_arguments", "callable_name", "parse_docstring"]

# Google-style section headers; prose before the first one is the tool's description.
_SECTIONS = frozenset(
    {
        "args",
        "arguments",
        "parameters",
        "params",
        "keyword args",
        "keyword arguments",
        "other parameters",
        "returns",
        "return",
        "yields",
        "raises",
        "example",
        "examples",
        "note",
        "notes",
        "attributes",
        "see also",
        "todo",
        "warning",
        "warnings",
    }
)
_ARG_SECTIONS = frozenset(
    {"args", "arguments", "parameters", "params", "keyword args", "keyword arguments"}
)
_HEADER = re.compile(r"^([A-Za-z][A-Za-z ]*):\s*$")
# `name (type, optional): text` or `name: text`; the type in parentheses is ignored
# because the annotation is the source of truth for types.
_ARG_ENTRY = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")

# Keys whose value is one subschema, a list of them, or a name -> subschema map.
_SUBSCHEMA = ("items", "additionalProperties", "not", "contains", "propertyNames")
_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "$defs", "patternProperties")


def callable_name(fn: Callable[..., Any]) -> str | None:
    """The ``__name__`` of a function, of a partial's function, or of a callable's class."""
    if isinstance(fn, functools.partial):
        return callable_name(fn.func)
    name = getattr(fn, "__name__", None)
    if isinstance(name, str):
        return name
    return type(fn).__name__ if callable(fn) and not inspect.isroutine(fn) else None


def _describe(fn: Callable[..., Any]) -> str:
    target = fn.func if isinstance(fn, functools.partial) else fn
    return getattr(target, "__qualname__", None) or repr(fn)


def _docstring(fn: Callable[..., Any]) -> str:
    # A partial's own docstring documents functools.partial, not the tool.
    target = fn.func if isinstance(fn, functools.partial) else fn
    return inspect.getdoc(target) or ""


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its description and per-argument texts.

    Args:
        doc: the docstring, indented or not.

    Returns:
        The prose before the first section header (``Args:``, ``Returns:``...), and a
        map from parameter name to its description (continuation lines joined by spaces).
    """
    lines = inspect.cleandoc(doc).splitlines() if doc else []
    description: list[str] = []
    arguments: dict[str, str] = {}
    section: str | None = None
    entry_indent: int | None = None
    current: str | None = None
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        header = _HEADER.match(line)
        if header and header.group(1).strip().lower() in _SECTIONS:
            section, entry_indent, current = header.group(1).strip().lower(), None, None
            continue
        if section is None:
            description.append(line)
            continue
        if section not in _ARG_SECTIONS or not stripped:
            continue
        if entry_indent is None:
            entry_indent = indent
        entry = _ARG_ENTRY.match(stripped) if indent <= entry_indent else None
        if entry:
            current = entry.group(1)
            arguments[current] = entry.group(2).strip()
        elif current is not None and indent > entry_indent:
            arguments[current] = f"{arguments[current]} {stripped}".strip()
    return "\n".join(description).strip(), arguments


@dataclass(frozen=True, slots=True)
class ArgumentBinding:
    """How validated arguments map back onto the function's parameters.

    Attributes:
        model: the pydantic model validating the arguments (aliases are parameter names).
        positional: field names passed positionally, in order (positional-only parameters).
        keyword: ``(parameter name, field name)`` pairs passed by keyword.
    """

    model: type[BaseModel]
    positional: tuple[str, ...]
    keyword: tuple[tuple[str, str], ...]

    def bind(self, arguments: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """Validate ``arguments`` and return ``(args, kwargs)`` for the call.

        Raises:
            pydantic.ValidationError: the arguments do not fit the parameters.
        """
        validated = self.model.model_validate(arguments)
        args = [getattr(validated, field) for field in self.positional]
        kwargs = {param: getattr(validated, field) for param, field in self.keyword}
        return args, kwargs


class _QuietSchema(GenerateJsonSchema):
    """Leaves defaults that cannot be encoded out of the schema without a warning."""

    def emit_warning(self, kind: JsonSchemaWarningKind, detail: str) -> None:
        if kind != "non-serializable-default":
            super().emit_warning(kind, detail)


def _has_description(annotation: Any) -> bool:
    if get_origin(annotation) is not Annotated:
        return False
    return any(
        isinstance(meta, FieldInfo) and meta.description is not None
        for meta in get_args(annotation)[1:]
    )


def _signature(fn: Callable[..., Any], where: str) -> inspect.Signature:
    # inspect.signature(eval_str=True) rather than typing.get_type_hints: it resolves
    # string annotations for partials and callable objects too, and keeps Annotated.
    try:
        return inspect.signature(fn, eval_str=True)
    except (NameError, SyntaxError, TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot read the signature of {where}: {exc}; annotations must be importable "
            "at module level"
        ) from exc


def _field(
    parameter: inspect.Parameter, doc: Mapping[str, str], where: str
) -> tuple[Any, FieldInfo]:
    if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
        star = "*" if parameter.kind is parameter.VAR_POSITIONAL else "**"
        raise ConfigurationError(
            f"{where}: parameter {star}{parameter.name} cannot be a tool argument; "
            "declare each argument as a named, annotated parameter"
        )
    if parameter.annotation is parameter.empty:
        raise ConfigurationError(
            f"{where}: parameter {parameter.name!r} has no type annotation; annotate it "
            "(use typing.Any to accept any JSON value)"
        )
    options: dict[str, Any] = {"alias": parameter.name}
    if parameter.default is not parameter.empty:
        options["default"] = parameter.default
    if parameter.name in doc and not _has_description(parameter.annotation):
        options["description"] = doc[parameter.name]
    return parameter.annotation, Field(**options)


def _culprit(fields: Mapping[str, tuple[Any, FieldInfo]]) -> str:
    """The first parameter whose type pydantic cannot handle, for the error message."""
    for annotation, info in fields.values():
        try:
            TypeAdapter(annotation).json_schema(schema_generator=_QuietSchema)
        except Exception:  # any failure here identifies the culprit
            return f"parameter {info.alias!r}"
    return "the parameters"


def build_arguments(
    fn: Callable[..., Any], tool_name: str
) -> tuple[ArgumentBinding, dict[str, Any], str]:
    """Build the argument model and JSON schema of ``fn``.

    Args:
        fn: a function, method, partial or callable object.
        tool_name: the tool's name (names the model; used in error messages).

    Returns:
        The binding, the JSON schema of the parameters (without pydantic's titles),
        and the docstring's description.

    Raises:
        ConfigurationError: ``*args``/``**kwargs``, a missing annotation, or a type
            pydantic cannot validate or describe; the message names the function and
            the parameter.
    """
    where = f"tool {tool_name!r} ({_describe(fn)})"
    description, doc = parse_docstring(_docstring(fn))
    fields: dict[str, tuple[Any, FieldInfo]] = {}
    positional: list[str] = []
    keyword: list[tuple[str, str]] = []
    for index, parameter in enumerate(_signature(fn, where).parameters.values()):
        field_name = f"arg_{index}"
        fields[field_name] = _field(parameter, doc, where)
        if parameter.kind is parameter.POSITIONAL_ONLY:
            positional.append(field_name)
        else:
            keyword.append((parameter.name, field_name))
    try:
        model: type[BaseModel] = create_model(
            f"{tool_name}_arguments",
            __config__=ConfigDict(extra="forbid"),
            **fields,  # type: ignore[call-overload]
        )
        schema = model.model_json_schema(schema_generator=_QuietSchema)
    except (PydanticUserError, TypeError, ValueError) as exc:
        raise ConfigurationError(
            # pydantic's first paragraph says what is wrong; the rest is boilerplate.
            f"{where}: cannot build a JSON schema for {_culprit(fields)}: "
            f"{str(exc).split(chr(10) + chr(10))[0]}"
        ) from exc
    binding = ArgumentBinding(model, tuple(positional), tuple(keyword))
    return binding, _parameters_object(schema), description


def _parameters_object(schema: dict[str, Any]) -> dict[str, Any]:
    """The top-level schema in a stable key order, always with properties and required."""
    cleaned = _without_titles(schema)
    out: dict[str, Any] = {
        "type": "object",
        "properties": cleaned.pop("properties", {}),
        "required": cleaned.pop("required", []),
    }
    cleaned.pop("type", None)
    out.update(cleaned)
    return out


def _without_titles(schema: Any) -> Any:
    """A copy of ``schema`` without pydantic's ``title`` keys.

    Only schema positions are visited, so a property *named* ``title`` and values under
    ``default``/``enum``/``const`` are kept. Pydantic emits nested models as ``$defs``
    references, so the recursion depth is bounded by the nesting of one type expression.
    """
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "title":
            continue
        if key in _SUBSCHEMA:
            out[key] = _without_titles(value)
        elif key in _SUBSCHEMA_LISTS and isinstance(value, list):
            out[key] = [_without_titles(item) for item in value]
        elif key in _SUBSCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _without_titles(item) for name, item in value.items()}
        else:
            out[key] = value
    return out
