"""Render tool schemas as text for a system prompt.

Types are read back from the JSON schema (never from annotation strings) and written
the way Python spells them, which models read fluently: ``list[int]``, ``str | None``,
``dict[str, float]``, ``Literal["a", "b"]``, ``tuple[int, str]``. Nested models and typed
dicts keep their names and are described once, under "Types".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["render_tool", "type_text"]

_SCALARS = {
    "string": "str",
    "integer": "int",
    "number": "float",
    "boolean": "bool",
    "null": "None",
    "array": "list",
    "object": "dict",
}
# Schemas built from type hints nest only as deep as the type expression; the cap keeps
# a hand-written cyclic or absurdly deep schema from recursing without bound.
_MAX_DEPTH = 32


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _union(parts: list[str]) -> str:
    return " | ".join(dict.fromkeys(parts))  # dict keeps order and drops repeats


def type_text(schema: Any, defs: Mapping[str, Any], depth: int = 0) -> str:
    """A readable, Python-like spelling of the type a JSON schema describes.

    Args:
        schema: a JSON schema (a dict; ``True``/``{}`` mean any value).
        defs: the ``$defs`` of the enclosing schema, to inline enums behind ``$ref``.
        depth: the current nesting (internal).

    Returns:
        Text such as ``list[int]``, ``str | None`` or ``Point``; ``any`` when the
        schema does not constrain the type.
    """
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return "any"
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        target = defs.get(name)
        if isinstance(target, dict) and ("enum" in target or "const" in target):
            return type_text(target, defs, depth + 1)
        return name
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            return _union([type_text(item, defs, depth + 1) for item in schema[key]])
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1:
        return type_text(all_of[0], defs, depth + 1)
    if isinstance(schema.get("enum"), list):
        return f"Literal[{', '.join(_json(value) for value in schema['enum'])}]"
    if "const" in schema:
        return f"Literal[{_json(schema['const'])}]"
    kind = schema.get("type")
    if isinstance(kind, list):
        return _union([_SCALARS.get(str(item), "any") for item in kind])
    if kind == "array":
        return _array_text(schema, defs, depth)
    if kind == "object":
        return _object_text(schema, defs, depth)
    return _SCALARS.get(str(kind), "any")


def _array_text(schema: Mapping[str, Any], defs: Mapping[str, Any], depth: int) -> str:
    prefix = schema.get("prefixItems")
    if isinstance(prefix, list):
        return f"tuple[{', '.join(type_text(item, defs, depth + 1) for item in prefix)}]"
    if "items" not in schema:
        return "list"
    container = "set" if schema.get("uniqueItems") else "list"
    return f"{container}[{type_text(schema['items'], defs, depth + 1)}]"


def _object_text(schema: Mapping[str, Any], defs: Mapping[str, Any], depth: int) -> str:
    properties = schema.get("properties")
    if isinstance(properties, dict) and properties:
        required = set(schema.get("required", ()))
        fields = [
            f"{name}{'' if name in required else '?'}: {type_text(sub, defs, depth + 1)}"
            for name, sub in properties.items()
        ]
        return "{" + ", ".join(fields) + "}"
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        return f"dict[str, {type_text(extra, defs, depth + 1)}]"
    return "dict"


def _property_lines(schema: Mapping[str, Any], defs: Mapping[str, Any], indent: str) -> list[str]:
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return []
    required = set(schema.get("required", ()))
    lines = []
    for name, sub in properties.items():
        status = "required" if name in required else "optional"
        if isinstance(sub, dict) and "default" in sub:
            status += f", default {_json(sub['default'])}"
        line = f"{indent}- {name} ({type_text(sub, defs)}, {status})"
        description = sub.get("description") if isinstance(sub, dict) else None
        if description:
            line += f": {description}"
        lines.append(line)
    return lines


def render_tool(name: str, description: str, parameters: Mapping[str, Any]) -> str:
    """One tool as a text block: name, description, parameters, named types.

    Args:
        name: the tool's name.
        description: what the tool does ("" for none).
        parameters: the JSON schema of its parameters (an object schema).

    Returns:
        Lines like ``- file_path (str, required): Path of the file.``; optional
        parameters show their default as JSON.
    """
    defs = parameters.get("$defs")
    defs = defs if isinstance(defs, dict) else {}
    lines = [f"### {name}"]
    if description:
        lines.append(description)
    params = _property_lines(parameters, defs, "")
    lines.extend(["Parameters:", *params] if params else ["Parameters: none"])
    objects = [
        (def_name, schema)
        for def_name, schema in defs.items()
        if isinstance(schema, dict) and isinstance(schema.get("properties"), dict)
    ]
    if objects:
        lines.append("Types:")
        for def_name, schema in objects:
            about = schema.get("description")
            lines.append(f"- {def_name}: {about}" if about else f"- {def_name}:")
            lines.extend(_property_lines(schema, defs, "  "))
    return "\n".join(lines)
