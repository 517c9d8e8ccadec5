"""Tool results: decoding the arguments text and rendering the outcome as an observation."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError
from pydantic_core import to_jsonable_python

from retort.core.errors import FieldError
from retort.core.messages import Message, ToolCall

__all__ = [
    "BadArguments",
    "ToolErrorKind",
    "ToolResult",
    "decode_arguments",
    "exception_text",
    "field_errors",
    "render_result",
]

ToolErrorKind = Literal["unknown_tool", "bad_arguments", "tool_error"]


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The outcome of one tool call.

    Attributes:
        call_id: the id of the call answered.
        name: the tool name the model asked for.
        content: the observation sent back to the model (``"Error: ..."`` on failure).
        ok: whether the tool ran and returned a value.
        error: what went wrong, without the ``"Error: "`` prefix (``None`` when ok).
        error_kind: ``"unknown_tool"``, ``"bad_arguments"`` or ``"tool_error"`` (a raised
            exception or a timeout); ``None`` when ok.
    """

    call_id: str
    name: str
    content: str
    ok: bool = True
    error: str | None = None
    error_kind: ToolErrorKind | None = None

    @classmethod
    def failure(cls, call: ToolCall, kind: ToolErrorKind, error: str) -> ToolResult:
        """A failed result whose content is ``"Error: " + error``."""
        return cls(call.id, call.name, f"Error: {error}", False, error, kind)

    def to_message(self) -> Message:
        """The ``tool`` message that answers the call."""
        return Message(role="tool", content=self.content, tool_call_id=self.call_id, name=self.name)


class BadArguments(Exception):
    """The arguments text is not a JSON object (internal; becomes an observation)."""


def decode_arguments(text: str) -> dict[str, Any]:
    """The arguments object: strict JSON first, then the lenient parser.

    Empty text and ``null`` mean no arguments; a JSON string holding JSON (double
    encoding, seen from some providers) is decoded once more.
    """
    value: Any = text
    for _ in range(2):
        if not isinstance(value, str):
            break
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            from retort import parsers  # at call time: see the import rule in core/__init__

            try:
                value = parsers.loads(value)
            except ValueError as exc:
                raise BadArguments(f"the arguments are not valid JSON: {exc}") from exc
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadArguments(f"expected a JSON object of arguments, got {type(value).__name__}")
    return value


def field_errors(exc: ValidationError) -> list[FieldError]:
    errors = []
    for error in exc.errors(include_url=False, include_input=False):
        path = ""
        for part in error["loc"]:
            path += f"[{part}]" if isinstance(part, int) else f"{'.' if path else ''}{part}"
        errors.append(FieldError(path, error["msg"], error["type"]))
    return errors


def render_result(value: Any) -> str:
    """The observation text of a tool's return value.

    ``str`` is sent as is; ``None`` becomes ``"null"``; pydantic models, dataclasses,
    dicts, lists and scalars become JSON text (non-ASCII kept, unknown objects as ``str``).
    """
    if isinstance(value, str):
        return value
    return json.dumps(to_jsonable_python(value, fallback=str), ensure_ascii=False)


def exception_text(exc: BaseException) -> str:
    try:
        message = str(exc)
    except Exception:  # a broken __str__ must not break the observation
        message = ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
