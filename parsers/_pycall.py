"""The "python call" form some models write in a TOOL_CALL section.

``get_file_content(file_path="a.py", start=1)`` is read as the tool ``get_file_content``
with the arguments ``{"file_path": "a.py", "start": 1}``. Several calls may follow each
other, one per line or separated by ``;``. Only keyword arguments with literal values
are accepted (strings, numbers, lists, dicts, tuples, ``True``/``False``/``None`` and the
JSON spellings ``true``/``false``/``null``); nothing is ever evaluated.

``ast`` is not safe on hostile text: deep nesting raises ``SyntaxError``,
``RecursionError`` or ``MemoryError``, null bytes raise ``ValueError``/``SyntaxError``,
and parsing costs memory in proportion to the input. So the text is capped
(:data:`MAX_PYCALL_CHARS`) before parsing and every one of those is turned into a
:class:`~retort.core.errors.ToolCallError`.
"""

from __future__ import annotations

import ast
from typing import Any

from retort.core.errors import ToolCallError

__all__ = ["MAX_PYCALL_CHARS", "parse_python_calls"]

MAX_PYCALL_CHARS = 64 * 1024
"""Longest text the python-call form is parsed from; a real call is far shorter."""

# Everything `ast.parse`, `ast.literal_eval` and the C parser behind them can raise on
# text an attacker controls.
_AST_ERRORS = (SyntaxError, ValueError, TypeError, OverflowError, RecursionError, MemoryError)

_JSON_NAMES: dict[str, Any] = {"true": True, "false": False, "null": None}


def parse_python_calls(text: str) -> list[dict[str, Any]]:
    """The calls written in ``text`` as ``{"name": ..., "arguments": {...}}`` dicts.

    Args:
        text: one or more ``name(key=value, ...)`` calls.

    Returns:
        One dict per call, in order.

    Raises:
        ToolCallError: the text is too long, is not valid Python, or holds anything but
            calls of a (dotted) name with literal keyword arguments. ``index`` is set to
            the offending statement when there are several.
    """
    if len(text) > MAX_PYCALL_CHARS:
        raise ToolCallError(
            f"expected a tool call like name(key=value) of at most {MAX_PYCALL_CHARS} "
            f"characters, found {len(text)} characters"
        )
    try:
        tree = ast.parse(text, mode="exec")
    except _AST_ERRORS as exc:
        detail = getattr(exc, "msg", None) or type(exc).__name__
        raise ToolCallError(
            f"expected a tool call like name(key=value), found text that is not a valid "
            f"call ({detail})"
        ) from exc
    if not tree.body:
        raise ToolCallError("expected a tool call like name(key=value), found no call")
    several = len(tree.body) > 1
    calls: list[dict[str, Any]] = []
    for position, statement in enumerate(tree.body):
        index = position if several else None
        if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)):
            raise ToolCallError(
                f"{_where(index)}expected a tool call like name(key=value), found "
                f"{_source(text, statement)!r}",
                index=index,
            )
        calls.append(_call(text, statement.value, index))
    return calls


def _call(text: str, node: ast.Call, index: int | None) -> dict[str, Any]:
    name = _dotted_name(node.func)
    if name is None:
        raise ToolCallError(
            f"{_where(index)}expected a tool name before '(', found {_source(text, node.func)!r}",
            index=index,
        )
    if node.args:
        raise ToolCallError(
            f"{_where(index)}expected keyword arguments only, as in {name}(key=value), "
            f"found {len(node.args)} positional argument(s)",
            index=index,
        )
    arguments: dict[str, Any] = {}
    for keyword in node.keywords:
        if keyword.arg is None:
            raise ToolCallError(
                f"{_where(index)}expected keyword arguments, as in {name}(key=value), "
                f"found **{_source(text, keyword.value)}",
                index=index,
            )
        if keyword.arg in arguments:  # ast.parse lets this through; compile() would not
            raise ToolCallError(
                f"{_where(index)}expected each argument once, found {keyword.arg!r} twice",
                index=index,
            )
        arguments[keyword.arg] = _literal(text, keyword.arg, keyword.value, index)
    return {"name": name, "arguments": arguments}


def _dotted_name(node: ast.expr) -> str | None:
    """``a.b.c`` for a chain of attributes on a name; None for anything else."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):  # a loop: the chain may be long
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _literal(text: str, key: str, node: ast.expr, index: int | None) -> Any:
    try:
        return ast.literal_eval(_json_names_to_constants(node))
    except _AST_ERRORS as exc:
        raise ToolCallError(
            f"{_where(index)}expected a literal value (string, number, list, dict, "
            f"true/false/null) for argument {key!r}, found {_source(text, node)!r}",
            index=index,
        ) from exc


def _json_names_to_constants(node: ast.expr) -> ast.expr:
    """Read the JSON spellings ``true``/``false``/``null`` as Python constants.

    ``ast.walk`` is iterative, so this costs no recursion however deep the value is.
    """
    if isinstance(node, ast.Name) and node.id in _JSON_NAMES:
        return ast.Constant(_JSON_NAMES[node.id])
    for parent in ast.walk(node):
        for field, child in ast.iter_fields(parent):
            if isinstance(child, ast.Name) and child.id in _JSON_NAMES:
                setattr(parent, field, ast.Constant(_JSON_NAMES[child.id]))
            elif isinstance(child, list):
                for position, item in enumerate(child):
                    if isinstance(item, ast.Name) and item.id in _JSON_NAMES:
                        child[position] = ast.Constant(_JSON_NAMES[item.id])
    return node


def _source(text: str, node: ast.AST, limit: int = 60) -> str:
    segment = ast.get_source_segment(text, node) or type(node).__name__
    return segment if len(segment) <= limit else segment[: limit - 3] + "..."


def _where(index: int | None) -> str:
    return "" if index is None else f"call {index}: "
