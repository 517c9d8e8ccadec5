"""Tool calls out of whatever shape a model or a provider sends them in.

:func:`extract_tool_calls` accepts:

1. a proxy tool reply ``{"response_type": "tool", "tool_calls": [...]}`` (other keys,
   such as ``content`` or ``thought``, are ignored);
2. an OpenAI message ``{"tool_calls": [{"id", "type": "function", "function": {"name",
   "arguments"}}]}``, or that list itself;
3. the text of a TOOL_CALL section: JSON read leniently (fences, prose, trailing commas,
   single quotes...) holding any shape of this list, or the python-call form
   ``name(key=value, ...)`` (see :mod:`retort.parsers._pycall`);
4. one call dict, or a list of them; :class:`~retort.core.messages.ToolCall` objects too.

Keys of one call, the first one present wins:

- name: ``name``, ``tool_name``, ``function``, ``tool`` (OpenAI's nested
  ``function: {"name", "arguments"}`` is unwrapped first);
- arguments: ``arguments``, ``args``, ``parameters``, ``input``; no such key, ``None``
  or a blank string mean no arguments, ``{}``.

Arguments: a dict or list is used as it is; a string is JSON text, and when it decodes
(strictly, else leniently) to a dict or list that value is used; any other value - a
number, a boolean, a string that is not JSON or decodes to a scalar - becomes
``{"input": value}``, the proxy protocol's rule. The decoded value is serialised with
``json.dumps(value, ensure_ascii=False)`` into :attr:`ToolCall.arguments`.

Ids: a non-empty string ``id`` on a call (a provider's id) is kept, unless an earlier
call of the same reply already has it. Every other call gets
:func:`~retort.core.ids.stable_tool_call_id`: the original program's id for the first
occurrence of a (name, arguments) pair, the ordinal form (``#2``, ``#3``...) for later
ones, counting every occurrence in the reply. So ids are equal across replies and
unique within one.
"""

from __future__ import annotations

import itertools
import json
import re
import reprlib
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from retort.core._records import Record, setfield
from retort.core.errors import JSONParseError, ToolCallError
from retort.core.ids import stable_tool_call_id
from retort.parsers._fences import unfence
from retort.parsers._json import loads
from retort.parsers._limits import DEFAULT_MAX_BYTES, check_size

if TYPE_CHECKING:
    # retort.core.messages needs pydantic: it is imported on the first call instead, so
    # that importing retort.parsers stays light.
    from retort.core.messages import ToolCall

__all__ = ["extract_tool_calls"]

_NAME_KEYS = ("name", "tool_name", "function", "tool")
_ARGUMENT_KEYS = ("arguments", "args", "parameters", "input")
_SHAPES = (
    'a tool call {"name": ..., "arguments": {...}}, a list of them, '
    'a {"tool_calls": [...]} reply, or name(key=value)'
)
# Starts like ``name(``: worth handing to the python-call parser.
_CALL_START = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*[ \t]*\(")
# json.dumps raises these on values no JSON can hold: sets, bytes, cycles, mixed-type
# keys under sort_keys, nesting deeper than the C encoder allows.
_DUMP_ERRORS = (TypeError, ValueError, RecursionError)

_missing = object()
_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60
_short.maxlevel = 2


class _Call(Record):
    """One call, normalised but not yet serialised or given its id."""

    __match_args__ = ("name", "arguments", "id", "index")
    __slots__ = __match_args__
    name: str
    arguments: Any  # a dict or a list
    id: str | None
    index: int | None  # position in the source list, for error messages

    def __init__(self, name: str, arguments: Any, id: str | None, index: int | None) -> None:
        setfield(self, "name", name)
        setfield(self, "arguments", arguments)
        setfield(self, "id", id)
        setfield(self, "index", index)


def extract_tool_calls(source: Any, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[ToolCall]:
    """The tool calls in ``source``, with JSON-text arguments and ids unique in the reply.

    Args:
        source: a proxy tool reply, an OpenAI message or ``tool_calls`` list, the text of
            a TOOL_CALL section (JSON or ``name(key=value)``), one call dict or a list of
            them. See the module docstring for every key variant accepted.
        max_bytes: the largest text accepted, in UTF-8 bytes; also the limit for the
            JSON text of each call's arguments.

    Returns:
        The calls, in order; never empty.

    Raises:
        ToolCallError: the source holds no well-formed call: empty list, a call without a
            non-empty string name, a list item that is not an object, text that is not
            JSON, arguments no JSON can hold. ``index`` is set when a list item is at fault.
            Text longer than ``max_bytes`` raises it before any parsing.

    Example:
        >>> [call.name for call in extract_tool_calls('{"name": "ls", "arguments": {}}')]
        ['ls']
    """
    if isinstance(source, str):
        check_size(source, max_bytes, ToolCallError, what="tool-call text")
        value = _parse_text(source, max_bytes)
    else:
        value = source
    return _finish(_calls_of(value, max_bytes))


def _parse_text(text: str, max_bytes: int) -> Any:
    """The JSON value (or python-call list) written in a TOOL_CALL section."""
    text = text.strip()
    if not text:
        raise ToolCallError(f"expected {_SHAPES}, found empty text")
    value = _strict_json(text)
    if isinstance(value, dict | list):
        return value
    if value is not _missing and not isinstance(value, str):  # a number, true, null...
        raise ToolCallError(f"expected {_SHAPES}, found {_describe(value)}")
    # Without a bracket no object or array can come out of the lenient parser either.
    has_container = "{" in text or "[" in text
    body = unfence(text)
    python_error: ToolCallError | None = None
    if _CALL_START.match(body):
        # Imported here: it loads `ast` (some 5 ms) that `import retort.parsers` need not pay.
        from retort.parsers._pycall import parse_python_calls

        try:
            calls = parse_python_calls(body)
            # One call is not a list item: its errors carry no index.
            return calls[0] if len(calls) == 1 else calls
        except ToolCallError as exc:
            if not has_container:
                raise
            python_error = exc  # prose can start like a call: "Sure (see below): {...}"
    if not has_container:
        raise ToolCallError(f"expected {_SHAPES}, found text {_excerpt(text)}")
    try:
        value = loads(text, max_bytes=max_bytes)
    except JSONParseError as exc:
        if python_error is not None:
            raise python_error from exc
        raise ToolCallError(f"expected {_SHAPES}, found text that is not JSON: {exc}") from exc
    if isinstance(value, dict | list):
        return value
    if python_error is not None:
        raise python_error
    raise ToolCallError(f"expected {_SHAPES}, found {_describe(value)}")


def _strict_json(text: str) -> Any:
    """``json.loads`` as a fast path; ``_missing`` when it fails for any reason."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: deep nesting in the C decoder
        return _missing


def _calls_of(value: Any, max_bytes: int) -> list[_Call]:
    if isinstance(value, Mapping):
        if "tool_calls" in value:
            expected = "'tool_calls' to be a list of tool calls"
            return _calls_of_list(value["tool_calls"], expected, max_bytes)
        if value.get("response_type") == "tool":
            raise ToolCallError(
                "expected a tool reply with a non-empty 'tool_calls' list, found keys "
                f"{_keys(value)}"
            )
        return [_one_call(value, None, max_bytes)]
    if _is_tool_call(value):
        return [_one_call(value, None, max_bytes)]
    if isinstance(value, list | tuple):
        return _calls_of_list(value, "a list of tool calls", max_bytes)
    raise ToolCallError(f"expected {_SHAPES}, found {_describe(value)}")


def _calls_of_list(items: Any, expected: str, max_bytes: int) -> list[_Call]:
    if not isinstance(items, list | tuple):
        raise ToolCallError(f"expected {expected}, found {_describe(items)}")
    if not items:
        raise ToolCallError(f"expected {expected} with at least one call, found an empty list")
    return [_one_call(item, index, max_bytes) for index, item in enumerate(items)]


def _is_tool_call(value: Any) -> bool:
    """Whether ``value`` is a :class:`~retort.core.messages.ToolCall`, importing nothing.

    No ToolCall can exist before retort.core.messages is imported, so the check needs
    no import; only building the result (:func:`_finish`) imports pydantic.
    """
    messages = sys.modules.get("retort.core.messages")
    return messages is not None and isinstance(value, messages.ToolCall)


def _one_call(item: Any, index: int | None, max_bytes: int) -> _Call:
    if _is_tool_call(item):
        item = {"id": item.id, "name": item.name, "arguments": item.arguments}
    if not isinstance(item, Mapping):
        raise ToolCallError(
            f"{_where(index)}expected a tool call object, found {_describe(item)}", index=index
        )
    fields = item
    function = item.get("function")
    if isinstance(function, Mapping):  # OpenAI: {"id", "type": "function", "function": {...}}
        fields = function
    call_id = item.get("id")
    return _Call(
        name=_name_of(fields, index),
        arguments=_arguments_of(fields, max_bytes),
        id=call_id if isinstance(call_id, str) and call_id.strip() else None,
        index=index,
    )


def _name_of(fields: Mapping[Any, Any], index: int | None) -> str:
    for key in _NAME_KEYS:
        if key in fields:
            name = fields[key]
            if isinstance(name, str) and name.strip() and _encodable(name):
                return name.strip()
            raise ToolCallError(
                f"{_where(index)}expected {key!r} to be a non-empty string of valid Unicode "
                f"naming the tool, found {_describe(name)}",
                index=index,
            )
    raise ToolCallError(
        f"{_where(index)}expected a tool call object with a 'name' key, found keys {_keys(fields)}",
        index=index,
    )


def _encodable(text: str) -> bool:
    """False for text with a lone surrogate (``"\\ud800"`` in JSON): UTF-8 cannot hold it."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _arguments_of(fields: Mapping[Any, Any], max_bytes: int) -> Any:
    for key in _ARGUMENT_KEYS:
        if key in fields:
            return _decode_arguments(fields[key], max_bytes)
    return {}


def _decode_arguments(raw: Any, max_bytes: int) -> Any:
    """The arguments as a dict or list, by the rules of the module docstring."""
    if raw is None:
        return {}
    if isinstance(raw, dict | list):
        return raw
    if isinstance(raw, Mapping):  # MappingProxyType and friends: json.dumps wants a dict
        return dict(raw)
    if isinstance(raw, tuple):
        return list(raw)
    if not isinstance(raw, str):
        return {"input": raw}
    if not raw.strip():
        return {}
    value = _strict_json(raw)
    if isinstance(value, dict | list):
        return value
    if value is not _missing:
        return {"input": value}
    if "{" not in raw and "[" not in raw:  # no object or array can be recovered from it
        return {"input": raw}
    try:
        value = loads(raw, max_bytes=max_bytes)
    except JSONParseError:
        return {"input": raw}
    # A lenient scalar is a guess about prose; the text itself is the more faithful value.
    return value if isinstance(value, dict | list) else {"input": raw}


def _finish(calls: list[_Call]) -> list[ToolCall]:
    """Serialise the arguments and give every call an id unique in this reply."""
    from retort.core.messages import ToolCall  # pydantic: on first use, see the imports

    occurrences: dict[str, int] = {}
    used: set[str] = set()
    result: list[ToolCall] = []
    for call in calls:
        try:
            text = json.dumps(call.arguments, ensure_ascii=False)
            if not _encodable(text):  # keep lone surrogates escaped, so the text encodes
                text = json.dumps(call.arguments)
            first_id = stable_tool_call_id(call.name, call.arguments)
        except _DUMP_ERRORS as exc:
            raise ToolCallError(
                f"{_where(call.index)}expected arguments that JSON can hold, found "
                f"{_describe(call.arguments)} ({type(exc).__name__}: {exc})",
                index=call.index,
            ) from exc
        # The first id of a (name, arguments) pair identifies the pair: count on it.
        ordinal = occurrences.get(first_id, 0) + 1
        call_id = call.id if call.id is not None and call.id not in used else None
        if call_id is None:
            call_id = (
                first_id
                if ordinal == 1
                else stable_tool_call_id(call.name, call.arguments, ordinal)
            )
            # Only a provider id equal to one of ours can collide; step past it.
            while call_id in used:
                ordinal += 1
                call_id = stable_tool_call_id(call.name, call.arguments, ordinal)
        occurrences[first_id] = ordinal
        used.add(call_id)
        result.append(ToolCall(id=call_id, name=call.name, arguments=text))
    return result


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {value}"
    if isinstance(value, int | float):
        return f"the number {_excerpt(value)}"
    if isinstance(value, str):
        return f"the string {_excerpt(value)}" if value else "an empty string"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} item(s)" if value else "an empty list"
    if isinstance(value, Mapping):
        return f"an object with keys {_keys(value)}"
    return f"a {type(value).__name__} {_excerpt(value)}"


def _excerpt(value: Any) -> str:
    try:
        return _short.repr(value)
    except Exception:  # a foreign object's __repr__ must not replace our error
        return f"<{type(value).__name__}>"


def _keys(mapping: Mapping[Any, Any]) -> str:
    keys = [_excerpt(key) for key in itertools.islice(mapping, 8)]
    more = ", ..." if len(mapping) > 8 else ""
    return "[" + ", ".join(keys) + more + "]" if keys else "(none)"


def _where(index: int | None) -> str:
    return "" if index is None else f"call {index}: "
