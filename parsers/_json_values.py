"""Shared pieces of the lenient JSON chain: json's decoders, where a value starts, depth.

Pure functions over text and values, used by the chain (``_json``) and its parser
(``_json_scan``).
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = [
    "LOOKAHEAD_WINDOW",
    "STRICT_START",
    "ScanError",
    "combine",
    "deeper_than",
    "find_start",
    "goes_on",
    "loose_decoder",
    "may_be_deeper",
    "plausible_open",
    "strict_decoder",
]

LOOKAHEAD_WINDOW = 128
_PLAUSIBLE_AFTER_BRACE = re.compile(r"[ \t\r\n]*(?:[\"'“”‘}]|\n|[^\W\d][\w$\-]*[ \t]*:|$)")
_PLAUSIBLE_AFTER_BRACKET = re.compile(
    r"[ \t\r\n]*(?:[\"'“”‘\[\]{(\-0-9]|\n|$|(?:true|false|null|True|False|None)\b)"
)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed (allow_nan=False)")


_DECODER = json.JSONDecoder()
_DECODER_NO_NAN = json.JSONDecoder(parse_constant=_reject_constant)
# Accept raw control characters inside strings (JSON does not).
_LOOSE_DECODER = json.JSONDecoder(strict=False)
_LOOSE_DECODER_NO_NAN = json.JSONDecoder(parse_constant=_reject_constant, strict=False)


def strict_decoder(allow_nan: bool) -> json.JSONDecoder:
    """``json``'s C-accelerated decoder, rejecting NaN and Infinity unless ``allow_nan``."""
    return _DECODER if allow_nan else _DECODER_NO_NAN


def loose_decoder(allow_nan: bool) -> json.JSONDecoder:
    """The same, taking raw control characters inside strings (JSON does not)."""
    return _LOOSE_DECODER if allow_nan else _LOOSE_DECODER_NO_NAN


# json's decoder builds exactly these: a class check is cheaper than isinstance.
_CONTAINERS = frozenset({dict, list})


def deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests lists and dicts more than ``limit`` levels deep.

    Walks level by level with a list, never recursion.
    """
    level: list[Any] = [value] if value.__class__ in _CONTAINERS else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        children: list[Any] = []
        extend = children.extend
        for container in level:
            items = container.values() if container.__class__ is dict else container
            extend([x for x in items if x.__class__ in _CONTAINERS])
        level = children
    return False


class ScanError(Exception):
    """A failure of the lenient parse: what, where, and which stage failed."""

    def __init__(self, message: str, position: int, stage: str) -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.stage = stage


def plausible_open(text: str, pos: int) -> bool:
    """Whether the ``{`` or ``[`` at ``pos`` looks like the start of a JSON value.

    ``{braces}`` and ``[JSON]`` in prose do not; ``{"a"``, ``{a:`` and ``[1`` do. The
    check reads at most a short window after ``pos``.
    """
    pattern = _PLAUSIBLE_AFTER_BRACE if text[pos] == "{" else _PLAUSIBLE_AFTER_BRACKET
    return pattern.match(text, pos + 1, pos + 1 + LOOKAHEAD_WINDOW) is not None


# A container worth handing to json's decoder: it opens the way JSON does.
STRICT_START = re.compile(r"\{[ \t\r\n]*[\"}]|\[[ \t\r\n]*[\]\[{\"\-0-9tfn]")


def find_start(text: str, pos: int = 0) -> int:
    """The offset of the first plausible ``{`` or ``[`` at or after ``pos``, or -1."""
    # str.find runs at memchr speed; each bracket kind is searched forward only once.
    brace, bracket = text.find("{", pos), text.find("[", pos)
    while brace >= 0 or bracket >= 0:
        if bracket < 0 or 0 <= brace < bracket:
            if plausible_open(text, brace):
                return brace
            brace = text.find("{", brace + 1)
        else:
            if plausible_open(text, bracket):
                return bracket
            bracket = text.find("[", bracket + 1)
    return -1


def combine(values: list[Any]) -> Any:
    """The value of a reply holding several top-level values (or fenced blocks).

    One value is itself. An empty container next to real ones is noise and is dropped;
    the rest, in order, make a list. When every value is empty, the first is kept.
    """
    if len(values) == 1:
        return values[0]
    kept = [value for value in values if value or value.__class__ not in _CONTAINERS]
    if not kept:
        return values[0]
    return kept[0] if len(kept) == 1 else kept


def may_be_deeper(text: str, start: int, end: int, limit: int) -> bool:
    """Whether ``text[start:end]`` holds enough openers to nest deeper than ``limit``.

    A cheap test before :func:`deeper_than`: counting brackets runs at C speed, walking
    a value does not.
    """
    return (end - start) // 2 > limit and (
        text.count("[", start, end) + text.count("{", start, end) > limit
    )


# After a comma: the next member of an object (quoted or bare key and its colon), or the
# next item of a list (a string or a scalar).
_MEMBER = re.compile(
    r"""(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|[^\W\d][\w$\-]*)[ \t]*:(?!//)"""
)
_ITEM = re.compile(r"""["'“”‘’\-0-9]|(?:true|false|null|True|False|None)\b""")


def goes_on(value: Any, text: str, pos: int) -> bool:
    """Whether ``text[pos:]``, after a comma, holds more members or items of ``value``:
    ``{"a": 1}, "b": 2}`` - a container closed too early, its members going on."""
    if pos >= len(text):
        return False
    if value.__class__ is dict:
        return _MEMBER.match(text, pos, pos + 2 * LOOKAHEAD_WINDOW) is not None
    return value.__class__ is list and _ITEM.match(text, pos) is not None
