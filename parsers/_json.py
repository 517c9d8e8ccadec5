"""Lenient JSON: ``loads`` and ``repair`` turn what a model wrote into the value it meant.

The text goes through four stages, and the first that succeeds wins (``STAGES``):

1. ``strict``: ``json.loads`` of the whole text. Valid JSON is never touched by anything
   else, so it costs what ``json.loads`` costs.
2. ``extracted``: a JSON value inside a Markdown fence (a block tagged ``json``, ``json5``,
   ``jsonc``, ``javascript`` or ``js`` first, else the first block holding a value) or
   among prose (the first ``{`` or ``[`` that looks like the start of a value; a leading
   ``<think>...</think>`` block is skipped), parsed strictly.
3. ``python``: Python literal syntax was needed: ``True``/``False``/``None``, single
   quotes, tuples, sets, ``\\x`` escapes.
4. ``repaired``: heuristic repair of what models get wrong: trailing and missing commas,
   ``//``, ``#`` and ``/* */`` comments, curly quotes, unquoted keys and values, missing
   colons, missing closers and text cut off mid-string, unescaped inner quotes, raw line
   breaks in strings, doubled quotes, ``...``, hex and other odd numbers, JSON written
   with string escapes (``{\\"a\\": 1}``).

Stages 3 and 4 are two linear passes: ``_json_norm`` rewrites what JSON does not allow
where its meaning is certain (skipping valid runs with one regex match each), then the
one-pass parser of ``_json_scan`` reads the rest, handing well-formed containers (and
the valid items of faulty ones) to ``json``'s C decoder. The stage reported is the
latest stage any fix belongs to. ``ast.literal_eval`` is never used: it is slow on
large input and can raise ``MemoryError``/``RecursionError``.

Fix kinds are ``SAFE_KINDS`` (cannot change the meaning) or ``GUESS_KINDS`` (read an
intent into the text; ``Repaired.guessed`` lists them); a kind in neither counts as a
guess. ``fence``, ``prose``, ``whitespace`` belong to stage extracted;
``python_literal``, ``single_quotes``, ``tuple``, ``python_set``, ``python_escape`` to
python; ``double_encoded`` to any stage; every other kind to repaired.

Policies:

- Valid JSON returns exactly what ``json.loads`` returns, with one exception when
  ``decode_nested=True`` (the default): a top-level JSON *string* whose content, stripped,
  is itself a JSON object or array is decoded (at most twice, fix ``double_encoded``).
  Strings nested inside a value are never decoded. With ``decode_nested=False`` valid
  JSON always equals ``json.loads``.
- ``NaN``, ``Infinity`` and ``-Infinity`` are read as floats, as ``json.loads`` reads
  them; ``allow_nan=False`` rejects them with :class:`JSONParseError`.
- ``0x1F``, ``0o17``, ``0b11``, ``017``, ``+1``, ``.5``, ``5.`` and ``1_000`` become
  numbers, each with a fix.
- Several top-level values separated only by whitespace, commas or newlines
  (``{"a":1}\\n{"b":2}``), or several fenced JSON blocks, are combined (fix
  ``multiple_values``): an empty container next to real values is dropped, the rest make
  a list, one left is itself, all empty give the first. A value followed by prose is
  that value (stage ``extracted``, fix ``prose``).
- Keys of a malformed document lose the raw white space around them (``key_whitespace``).
- A text that needs more than ``max(1000, len / 32)`` guesses about its structure is
  refused with :class:`JSONParseError`: it is noise, not JSON that went wrong.
- A missing value (``{"a": }``) becomes ``""``; a key whose value was cut off by the end
  of the text (``{"a": 1, "b":``) is dropped; a literal cut off at the end (``tru``) is
  completed; a string cut off at the end keeps its text.
- ``str`` input returns a value or raises :class:`JSONParseError`, nothing else. ``bytes``
  are decoded as UTF-8 first (undecodable bytes raise :class:`JSONParseError`); any other
  type raises ``TypeError``, as ``json.loads`` does.
- Limits: more than ``max_bytes`` UTF-8 bytes raises :class:`JSONParseError` with
  ``stage="limits"``, and so does nesting deeper than the depth limit. Depth, by
  default (``max_depth=None``): valid JSON is bounded by ``json``'s own recursion guard
  (about 1000 levels at the default recursion limit), so valid input costs what
  ``json.loads`` costs; the lenient stages build at most ``DEFAULT_MAX_DEPTH`` (512)
  levels, including the spans they hand to ``json``'s decoder. An explicit
  ``max_depth`` is enforced on every stage, at the price of one walk over a valid
  result that could be that deep. Nothing recurses on the depth of the input, so a
  100,000-deep text is refused, not a crash.
- ``Repaired.fixes`` lists at most 1000 fixes; the stage accounts for all of them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from retort.core.errors import JSONParseError
from retort.parsers._fences import FencedBlock, scan_fences
from retort.parsers._json_fixes import (
    GUESS_KINDS,
    SAFE_KINDS,
    STAGES,
    Fix,
    Fixes,
    Repaired,
)
from retort.parsers._json_lex import SPACE_CHARS, match_end
from retort.parsers._json_norm import Normalized, normalize
from retort.parsers._json_scan import parse
from retort.parsers._json_values import (
    ScanError,
    combine,
    deeper_than,
    find_start,
    goes_on,
    may_be_deeper,
    plausible_open,
    strict_decoder,
)
from retort.parsers._limits import check_size

_decode = strict_decoder(True).decode

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "GUESS_KINDS",
    "SAFE_KINDS",
    "STAGES",
    "Fix",
    "Repaired",
    "loads",
    "repair",
]

# The nesting the lenient stages build at most when no max_depth is given.
DEFAULT_MAX_DEPTH = 512
_JSON_TAGS = frozenset({"json", "json5", "jsonc", "javascript", "js"})
_SPACES = re.compile(f"[{SPACE_CHARS}]*+")
_THINK_START, _THINK_END = "<think>", "</think>"
_MEMBER_START = re.compile(r"""(?:"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')[ \t]*:""")
_EMPTIES = re.compile(
    r"(?:\{[ \t\r\n]*+\}|\[[ \t\r\n]*+\])(?:[ \t\r\n,]*+(?:\{[ \t\r\n]*+\}|\[[ \t\r\n]*+\]))*+"
)
_LOCATION = re.compile(r" at line \d+, column \d+$")
_ESCAPED_OPEN = re.compile(r"[{\[][ \t\r\n]*\\[\"n]")
_ODD_SPACE = re.compile("[" + "".join(c for c in SPACE_CHARS if c not in " \t\r\n") + "]")
_SEPARATORS = re.compile(f"[{SPACE_CHARS},]*+")
# A text starting with one of these starts with its value, even if braces come later.
_VALUE_FIRST = frozenset("{[\"'“”‘’")


def loads(
    text: str | bytes,
    *,
    max_bytes: int = 10_000_000,
    max_depth: int | None = None,
    decode_nested: bool = True,
    allow_nan: bool = True,
) -> Any:
    """Parse JSON as a model wrote it: strict JSON first, then ever more lenient stages.

    Args:
        text: the reply text (``bytes`` are decoded as UTF-8).
        max_bytes: the largest input accepted, in UTF-8 bytes.
        max_depth: the deepest nesting of arrays and objects accepted; ``None`` (the
            default) leaves valid JSON to ``json``'s own recursion guard and bounds the
            lenient stages at ``DEFAULT_MAX_DEPTH`` (see the module docs).
        decode_nested: decode a top-level string that holds a JSON object or array.
        allow_nan: accept ``NaN``, ``Infinity`` and ``-Infinity``.

    Returns:
        The value, as ``json.loads`` would build it.

    Raises:
        JSONParseError: no value could be recovered, or a limit was exceeded; the error
            carries the position, line, column, stage and an excerpt.
        TypeError: ``text`` is neither ``str`` nor ``bytes``.
    """
    # Valid JSON, the common case, costs what json's decoder costs: nothing else runs.
    if text.__class__ is str and max_depth is None and allow_nan and len(text) * 4 <= max_bytes:
        try:
            value = _decode(text)
        except (ValueError, RecursionError):
            pass
        else:
            if not decode_nested or value.__class__ is not str:
                return value
    return repair(
        text,
        max_bytes=max_bytes,
        max_depth=max_depth,
        decode_nested=decode_nested,
        allow_nan=allow_nan,
    ).value


def repair(
    text: str | bytes,
    *,
    max_bytes: int = 10_000_000,
    max_depth: int | None = None,
    decode_nested: bool = True,
    allow_nan: bool = True,
) -> Repaired:
    """Like :func:`loads`, and also report the stage that succeeded and every fix made.

    Args:
        text: the reply text (``bytes`` are decoded as UTF-8).
        max_bytes: the largest input accepted, in UTF-8 bytes.
        max_depth: the deepest nesting of arrays and objects accepted (see :func:`loads`).
        decode_nested: decode a top-level string that holds a JSON object or array.
        allow_nan: accept ``NaN``, ``Infinity`` and ``-Infinity``.

    Returns:
        The value with its stage and fixes.

    Raises:
        JSONParseError: no value could be recovered, or a limit was exceeded.
        TypeError: ``text`` is neither ``str`` nor ``bytes``.
    """
    text = _as_text(text, max_bytes)
    check_size(text, max_bytes, _limits_error, what="JSON")
    decoder = strict_decoder(allow_nan)
    fixes = Fixes(len(text))
    depth = DEFAULT_MAX_DEPTH if max_depth is None else max_depth
    try:
        value = decoder.decode(text)
    except (ValueError, RecursionError):
        value = _lenient(text, fixes, decoder, depth, allow_nan)
        if not fixes.kinds:
            # json.loads refused the text, yet nothing needed repair: only whitespace it
            # does not accept (a BOM, zero-width or no-break spaces), or nesting deeper
            # than its recursion limit, which is no fault of the text.
            odd = _ODD_SPACE.search(text)
            if odd:
                fixes.add("whitespace", odd.start(), "ignored whitespace JSON does not allow")
    else:
        if max_depth is not None:
            _check_depth(text, value, max_depth)
    if decode_nested and isinstance(value, str):
        value = _decode_nested(value, fixes, decoder, max_depth)
    return Repaired(value, fixes.stage(), tuple(fixes.items), tuple(fixes.guesses))


def _as_text(text: Any, max_bytes: int) -> str:
    if isinstance(text, str):
        return text
    if isinstance(text, bytes | bytearray):
        check_size(text, max_bytes, _limits_error, what="JSON")
        try:
            return bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise JSONParseError(
                f"Expected UTF-8 text, found an undecodable byte at offset {exc.start}",
                position=exc.start,
                stage="strict",
            ) from None
    raise TypeError(f"the JSON text must be str or bytes, not {type(text).__name__}")


def _limits_error(message: str) -> JSONParseError:
    return JSONParseError(message, stage="limits")


def _check_depth(text: str, value: Any, max_depth: int) -> None:
    """Reject a strictly valid document nested deeper than an explicit ``max_depth``."""
    if not may_be_deeper(text, 0, len(text), max_depth):
        return
    if deeper_than(value, max_depth):
        raise JSONParseError(
            f"Expected nesting of at most max_depth={max_depth} levels, found deeper",
            stage="limits",
        )


def _lenient(
    text: str, fixes: Fixes, decoder: json.JSONDecoder, max_depth: int, allow_nan: bool
) -> Any:
    """The stages after ``strict``: reasoning, fences, prose, then the lenient parser."""
    # A reasoning model's thoughts may hold braces of their own: read only the answer.
    think = text.find(_THINK_END) if text.startswith(_THINK_START, _skip_ws(text, 0)) else -1
    if think < 0:
        return _lenient_body(text, fixes, decoder, max_depth, allow_nan)
    base = think + len(_THINK_END)
    fixes.add("prose", 0, f"ignored the reasoning before {_THINK_END}")
    fixes.offset += base
    try:
        return _lenient_body(text[base:], fixes, decoder, max_depth, allow_nan)
    except JSONParseError as exc:
        raise _shift(exc, text, base) from None


def _lenient_body(
    text: str, fixes: Fixes, decoder: json.JSONDecoder, max_depth: int, allow_nan: bool
) -> Any:
    blocks = _pick_fences(text)
    if len(blocks) == 1:
        return _fenced(text, blocks[0], fixes, decoder, max_depth, allow_nan)
    if blocks:
        # Several fenced values: read each, then combine them as several values are.
        values: list[Any] = []
        error: JSONParseError | None = None
        base = fixes.offset
        for block in blocks:
            try:
                values.append(_fenced(text, block, fixes, decoder, max_depth, allow_nan))
            except JSONParseError as exc:
                error = error or exc
                fixes.add("garbage", block.start, "ignored a fenced block holding no value")
            fixes.offset = base
        if not values and error is not None:
            raise error
        if len(values) > 1:
            fixes.add("multiple_values", blocks[0].start, "combined the values of several fences")
        return combine(values)
    extracted = _extract_strict(text, fixes, decoder)
    if extracted is not None:
        return extracted[0]
    return _scan(text, fixes, decoder, max_depth, allow_nan)


def _unescaped_json(
    text: str, start: int, fixes: Fixes, decoder: json.JSONDecoder, max_depth: int
) -> tuple[Any] | None:
    """``{\"a\": 1}``: JSON escaped as if inside a string, without the outer quotes."""
    body = text[start:].rstrip()
    try:
        inner = decoder.decode('"' + body + '"')
        value = decoder.decode(inner)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict | list) or deeper_than(value, max_depth):
        return None
    fixes.add("escaped_json", start, "decoded JSON written with string escapes")
    return (value,)


def _scan(
    text: str, fixes: Fixes, decoder: json.JSONDecoder, max_depth: int, allow_nan: bool
) -> Any:
    """Run the lenient parser from where the value starts, after any prose."""
    first = _skip_ws(text, 0)
    if _ESCAPED_OPEN.match(text, first):
        unescaped = _unescaped_json(text, first, fixes, decoder, max_depth)
        if unescaped is not None:
            return unescaped[0]
    start = find_start(text, first)
    if first < len(text) and text[first] in _VALUE_FIRST:
        if start > first and text[first] not in "{[":
            quoted = _quoted_then_value(text, first, start, fixes, max_depth, allow_nan)
            if quoted is not None:
                return quoted[0]
        start = first
    elif start > first:
        fixes.add("prose", first, "ignored the text before the value")
    else:
        start = first
    # "a": 1, "b": 2} - the members of an object whose opening brace is missing.
    members = start == first and _MEMBER_START.match(text, first, first + 256) is not None
    return _parse(text, start, fixes, max_depth, allow_nan, members=members)[0]


def _parse(
    text: str, start: int, fixes: Fixes, max_depth: int, allow_nan: bool, *, members: bool
) -> tuple[Any, int]:
    normalized = normalize(
        text, start, fixes, max_depth=max_depth, allow_nan=allow_nan, members=members
    )
    source, sink = (
        (text, fixes) if normalized is None else (normalized.text, _Mapped(fixes, normalized))
    )
    try:
        value, end = parse(
            source, start, sink, max_depth=max_depth, allow_nan=allow_nan, members=members
        )
        return value, end if normalized is None else normalized.to_original(end)
    except ScanError as exc:
        position = exc.position if normalized is None else normalized.to_original(exc.position)
        if exc.message:
            line, column = _line_column(text, position)
            message = f"{exc.message} at line {line}, column {column}"
        else:
            message = _expected_value_message(text, position)
        raise _error(message, text, position, exc.stage) from None


class _Mapped:
    """Reports fixes found in the rewritten text at offsets of the original."""

    __slots__ = ("fixes", "normalized")

    def __init__(self, fixes: Fixes, normalized: Normalized) -> None:
        self.fixes = fixes
        self.normalized = normalized

    def add(self, kind: str, position: int, detail: str) -> None:
        self.fixes.add(kind, self.normalized.to_original(position), detail)


def _quoted_then_value(
    text: str, first: int, opener: int, fixes: Fixes, max_depth: int, allow_nan: bool
) -> tuple[Any] | None:
    """``"Sure!" Here it is: {...}``: a quoted phrase, prose, then the value.

    None when the text is really one string (``'{"a": 1}'``) or starts an object.
    """
    if _MEMBER_START.match(text, first, first + 256):
        return None
    trial = Fixes()
    trial.offset = fixes.offset
    try:
        value, end = parse(text, first, trial, max_depth=max_depth, allow_nan=allow_nan)
    except ScanError:
        return None
    if not isinstance(value, str) or end > opener:
        return None
    fixes.add("prose", first, "ignored the text before the value")
    return (_parse(text, opener, fixes, max_depth, allow_nan, members=False)[0],)


def _fenced(
    text: str,
    block: FencedBlock,
    fixes: Fixes,
    decoder: json.JSONDecoder,
    max_depth: int,
    allow_nan: bool,
) -> Any:
    """The value in one fenced block."""
    offset = text.find(block.body, block.start)
    fixes.add("fence", block.start, f"took the value out of a ```{block.lang} fence")
    try:
        return decoder.decode(block.body)
    except (ValueError, RecursionError):
        pass
    inside = Fixes(len(text))
    inside.offset = fixes.offset + offset
    try:
        value = _scan(block.body, inside, decoder, max_depth, allow_nan)
    except JSONParseError as exc:
        error: JSONParseError | None = _shift(exc, text, offset)
    else:
        error = None
        if not block.closed or "truncated_string" not in inside.kinds:
            fixes.merge(inside)
            return value
    if error is not None and not block.closed:
        raise error  # nothing follows the fence: there is no more text to read
    # The fence closed inside a string: a README holding ```bash blocks. Read on past it.
    past = Fixes(len(text))
    past.offset = fixes.offset + offset
    try:
        longer = _scan(text[offset:], past, decoder, max_depth, allow_nan)
    except JSONParseError:
        longer = None
    if longer is not None and "truncated_string" not in past.kinds:
        fixes.merge(past)
        return longer
    if error is not None:
        raise error
    fixes.merge(inside)
    return value


def _pick_fences(text: str) -> list[FencedBlock]:
    """The fenced blocks to read: every tagged JSON one, else the first holding a value."""
    blocks = scan_fences(text)
    if not blocks:
        return []
    tagged = [block for block in blocks if block.lang in _JSON_TAGS and block.body.strip()]
    if tagged:
        return tagged
    for block in blocks:
        body = block.body.strip()
        if body and body[0] in "{[" and plausible_open(body, 0):
            return [block]
    return []


def _extract_strict(text: str, fixes: Fixes, decoder: json.JSONDecoder) -> tuple[Any] | None:
    """A strictly valid value after prose, and any more values after it; None otherwise.

    Only the first plausible ``{``/``[`` is tried, so the cost stays linear.
    """
    first = _skip_ws(text, 0)
    start = find_start(text, first)
    if start < 0 or (start > first and text[first] in _VALUE_FIRST):
        return None  # the text starts with a value of its own: braces later are inside it
    values: list[Any] = []
    pos = start
    while True:
        empties = _EMPTIES.match(text, pos)
        if empties is not None:  # {}{}{}...: a run of empty values is one step
            value: Any = {} if text[pos] == "{" else []
            end = empties.end()
            if text.count("{", pos, end) + text.count("[", pos, end) > 1:
                values.append(value)  # several of them: they count as several values
        else:
            try:
                value, end = decoder.raw_decode(text, pos)
            except (ValueError, RecursionError):
                return None
        values.append(value)
        pos = _skip_separators(text, end)
        if _closed_early(text, end, pos, value):
            return None  # {"a": 1}, "b": 2} - the lenient parser reopens it
        if pos < len(text) and text[pos] in "{[" and plausible_open(text, pos):
            continue
        break
    if start > first:
        fixes.add("prose", first, "ignored the text before the value")
    if len(values) > 1:
        fixes.add("multiple_values", start, "collected several top-level values in a list")
    if _skip_ws(text, end) < len(text):
        fixes.add("prose", end, "ignored the text after the value")
    return (combine(values),)


def _closed_early(text: str, end: int, pos: int, value: Any) -> bool:
    """Whether a comma and more members or items of ``value`` follow its closer."""
    return pos < len(text) and text[_skip_ws(text, end)] == "," and goes_on(value, text, pos)


def _skip_ws(text: str, pos: int) -> int:
    return match_end(_SPACES, text, pos)


def _skip_separators(text: str, pos: int) -> int:
    return match_end(_SEPARATORS, text, pos)


def _decode_nested(
    value: str, fixes: Fixes, decoder: json.JSONDecoder, max_depth: int | None
) -> Any:
    """A top-level string holding a JSON object or array, decoded (at most twice)."""
    current: Any = value
    for _ in range(2):
        inner = current.strip()
        if not inner or inner[0] not in '{["':
            return value
        try:
            decoded = decoder.decode(inner)
        except (ValueError, RecursionError):
            return value
        if isinstance(decoded, dict | list):
            if max_depth is not None:
                _check_depth(inner, decoded, max_depth)
            fixes.add("double_encoded", 0, "decoded JSON encoded inside a JSON string")
            return decoded
        if not isinstance(decoded, str):
            return value
        current = decoded
    return value


def _expected_value_message(text: str, pos: int) -> str:
    if pos >= len(text) or not text[pos:].strip():
        found = "the end of the text" if text.strip() else "empty text"
    else:
        snippet = text[pos : pos + 30].split("\n")[0]
        found = repr(snippet + ("..." if len(text) > pos + len(snippet) else ""))
    line, column = _line_column(text, pos)
    return f"Expected a JSON value, found {found} at line {line}, column {column}"


def _line_column(text: str, pos: int) -> tuple[int, int]:
    pos = min(pos, len(text))
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, column


def _error(message: str, text: str, pos: int, stage: str) -> JSONParseError:
    line, column = _line_column(text, pos)
    return JSONParseError(
        message,
        position=pos,
        line=line,
        column=column,
        stage=stage,
        excerpt=text[max(0, pos - 20) : pos + 40],
    )


def _shift(exc: JSONParseError, text: str, offset: int) -> JSONParseError:
    """Re-anchor an error found in a part of the text (a fence, the answer) to the whole."""
    position = exc.position + offset
    if exc.message.startswith("Expected a JSON value"):
        message = _expected_value_message(text, position)
    else:
        line, column = _line_column(text, position)
        message = f"{_LOCATION.sub('', exc.message)} at line {line}, column {column}"
    return _error(message, text, position, exc.stage)
