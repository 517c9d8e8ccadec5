"""The dialect pass: rewrite what JSON does not allow, where its meaning is certain.

Most malformed replies are JSON in a dialect: Python reprs, JavaScript objects, strings
holding raw line breaks, trailing commas. ``normalize`` copies the value, rewriting
single quotes, Python and odd-case literals, comments, trailing commas, unquoted keys and
raw control characters, and stops at the first spot that needs a judgement (a bare
value, a mismatched closer...). The state machine in ``_json_scan`` then reads the
result, and its attempts to decode whole containers with ``json``'s C decoder succeed
wherever the dialect was the only fault. One regex match skips each run of valid JSON,
so Python code runs once per rewritten token, bracket or string that needs a look.
"""

from __future__ import annotations

import json
import re
from bisect import bisect_right
from collections.abc import Callable

from retort.parsers._json_lex import (
    ARRAY,
    KEY,
    OBJECT,
    FixSink,
    comment_end,
    quick_string,
    read_string,
)

__all__ = ["Normalized", "normalize"]

_VALID_STRING = r'"[^"\\\x00-\x1f]*+(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*+)*+"'
# A key with white space at either end is irregular: the parser strips it.
_KEY_STRING = (
    r'"(?! )[^"\\\x00-\x1f]*+(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*+)*+(?<! )"'
)
_NUMBER = r"-?(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?(?:[eE][-+]?[0-9]++)?(?![\w.])"
# A value string may hold raw control characters: the parser's decoder reads those.
# ... and escapes JSON lacks (\x41, \', \d): the pass rewrites them (_escapes_to_json).
_LOOSE_STRING = r'"[^"\\]*+(?:\\.[^"\\]*+)*+"'
_SCALAR = rf"(?:{_LOOSE_STRING}|{_NUMBER}|(?:true|false|null)(?![\w$]))"
_WS = r"[ \t\r\n]*+"


def _containers(value: str, levels: int, key: str = _KEY_STRING, *, tuples: bool = False) -> str:
    """Valid arrays and objects of ``value`` items, nested up to ``levels`` deep (and
    Python tuples, with ``tuples``)."""
    scalar = value
    for _ in range(levels):
        array = rf"\[{_WS}(?:{value}{_WS}(?:,{_WS}(?!\])|(?=\])))*+\]"
        if tuples:
            array += rf"|\({_WS}(?:{value}{_WS}(?:,{_WS}(?!\))|(?=\))))*+\)"
        members = rf"{key}{_WS}:{_WS}{value}{_WS}(?:,{_WS}(?!\}})|(?=\}}))"
        value = rf"(?:{scalar}|{array}|\{{{_WS}(?:{members})*+\}})"
    return value


# What may follow a whole container: a separator, a closer, the end, or (its comma
# missing) the next container, which the pass then reaches with a comma to insert.
_THEN = r"(?=[ \t\r\n]*+(?:[,}\]{\[]|$))"
# A Python repr: single-quoted strings holding no quote or backslash, Python literals.
_PY_STRING = r"'[^'\"\\\n]*+'"
_PY_SCALAR = rf"(?:{_PY_STRING}|{_VALID_STRING}|{_NUMBER}|(?:True|False|None)(?![\w$]))"
_PY_TOKENS = re.compile(r"""'([^'"\\\n]*+)'|("(?:[^"\\]|\\.)*+")|(True|False|None|[()])""")
_PY_JSON = {"True": "true", "False": "false", "None": "null", "(": "[", ")": "]"}
_PY_LITERALS = (("True", "true"), ("False", "false"), ("None", "null"))
_PY_CONTAINERS: list[re.Pattern[str]] = []


def _python_container() -> re.Pattern[str]:
    """A whole Python dict or list of plain values, compiled on first use."""
    if not _PY_CONTAINERS:
        pattern = _containers(_PY_SCALAR, 3, _PY_STRING, tuples=True)
        _PY_CONTAINERS.append(re.compile(rf"(?=[\[{{(]){pattern}{_THEN}"))
    return _PY_CONTAINERS[0]


# A JavaScript object literal: bare keys, comments, trailing commas, JSON values.
_JS_GAP = r"(?:[ \t\r\n]++|//[^\n]*+|#[^\n]*+|/\*[^*]*+\*++(?:[^/*][^*]*+\*++)*+/)*+"
_JS_KEY = rf"(?:[A-Za-z_$][\w$]*+|{_KEY_STRING})"
_JS_SCALAR = rf"(?:{_VALID_STRING}|{_NUMBER}|(?:true|false|null)(?![\w$]))"
_JS_TOKENS = re.compile(
    rf'("(?:[^"\\]|\\.)*+")|(//[^\n]*+|#[^\n]*+|/\*[^*]*+\*++(?:[^/*][^*]*+\*++)*+/)'
    rf"|([A-Za-z_$][\w$]*+)(?=[ \t\r\n]*+:)|(,)(?={_JS_GAP}[}}\]])"
)
_JS_CONTAINERS: list[re.Pattern[str]] = []


def _js_container() -> re.Pattern[str]:
    """A whole JavaScript object or array literal, compiled on first use."""
    if not _JS_CONTAINERS:
        value = _JS_SCALAR
        for _ in range(3):
            items = rf"{value}{_JS_GAP}(?:,{_JS_GAP}|(?=\]))"
            members = rf"{_JS_KEY}{_JS_GAP}:{_JS_GAP}{value}{_JS_GAP}(?:,{_JS_GAP}|(?=\}}))"
            value = rf"(?:{_JS_SCALAR}|\[{_JS_GAP}(?:{items})*+\]|\{{{_JS_GAP}(?:{members})*+\}})"
        _JS_CONTAINERS.append(re.compile(rf"(?=[\[{{]){value}{_THEN}"))
    return _JS_CONTAINERS[0]


def _from_javascript(span: str) -> tuple[str, list[tuple[str, int, str]]]:
    """``span`` (a match of the JavaScript pattern) as JSON, and the fixes made, each
    ``(kind, offset in span, detail)``."""
    made: list[tuple[str, int, str]] = []

    def rewrite(match: re.Match[str]) -> str:
        kind = match.lastindex
        if kind == 1:
            return match.group(1)
        start = match.start()
        if kind == 2:
            made.append(("comment", start, f"removed a comment {match.group(2)[:20]!r}"))
            return " "
        if kind == 3:
            key = match.group(3)
            made.append(("unquoted_key", start, f"quoted the key {key[:20]!r}"))
            return f'"{key}"'
        closer = span[_js_gap().match(span, match.end()).end()]  # type: ignore[union-attr]
        made.append(("trailing_comma", start, f"removed ',' before {closer!r}"))
        return ""

    return _JS_TOKENS.sub(rewrite, span), made


_JS_GAPS: list[re.Pattern[str]] = []


def _js_gap() -> re.Pattern[str]:
    if not _JS_GAPS:
        _JS_GAPS.append(re.compile(_JS_GAP))
    return _JS_GAPS[0]


def _from_python(span: str) -> tuple[str, bool]:
    """``span`` (a match of the Python container pattern) as JSON, at C speed, and
    whether it held a Python literal."""
    if '"' in span:  # "it's" - Python writes such strings in double quotes
        found = [False]

        def rewrite(match: re.Match[str]) -> str:
            kind = match.lastindex
            if kind == 1:
                return f'"{match.group(1)}"'
            if kind == 2:
                return match.group(2)
            found[0] = found[0] or match.group(3) not in "()"
            return _PY_JSON[match.group(3)]

        return _PY_TOKENS.sub(rewrite, span), found[0]
    parts = span.split("'")  # strings hold no quote: odd parts are their bodies
    literals = False
    for k in range(0, len(parts), 2):
        part = parts[k]
        if "T" in part or "F" in part or "N" in part:
            literals = True
            for word, literal in _PY_LITERALS:
                part = part.replace(word, literal)
            parts[k] = part
        if "(" in part:
            parts[k] = part.replace("(", "[").replace(")", "]")
    return '"'.join(parts), literals


# Valid JSON that needs no look: separators, numbers, literals, strings followed by
# something that may follow a string (anything else could be an inner quote), and whole
# valid containers up to three levels deep (a record of a list), skipped by one match.
# Group "sig" holds the last significant token of the run, so its last character says
# what came before the next irregular token (a comma, a colon, a value...).
_REGULAR = (
    rf"(?:[ \t\r\n]++|(?P<sig>[:,]|{_containers(_SCALAR, 3)}(?=[ \t\r\n]*+(?:[,}}\]]|$))"
    rf"|{_KEY_STRING}(?=[ \t\r\n]*+:)"
    r"|(?:true|false|null)(?![\w$])))*+"
)
_STEP_PATTERN = (
    _REGULAR + r"(?:(?P<open>[\[{])|(?P<close>[\]}])|(?P<quote>[\"'“”])"
    r"|(?P<comment>//[^\n]*+|#[^\n]*+|/\*[^*]*+\*++(?:[^/*][^*]*+\*++)*+/)"
    r"|(?P<word>[A-Za-z_$][\w$]*+))?"
)
_STEPS: list[re.Pattern[str]] = []


def _step() -> re.Pattern[str]:
    """The step pattern, compiled on first use (its thousands of characters cost ~10 ms)."""
    if not _STEPS:
        _STEPS.append(re.compile(_STEP_PATTERN))
    return _STEPS[0]


# A single-quoted string that certainly ends at its second quote, with nothing to escape.
_SIMPLE_SINGLE = re.compile(r"'([^'\"\\\x00-\x1f]*+)'(?=[ \t\r\n]*+[,:}\]])")
_QUOTED_KEY = re.compile(r"""(?:"[^"\\\n]{0,200}"|'[^'\\\n]{0,200}')[ \t]*+:""")
_KEY = re.compile(r"[A-Za-z_$][\w$.\-]*+(?=[ \t]*+:)")
# After a bare word: a closer, or a comma and what surely starts the next item or key
# (in an object, "Hello, world!" is one value: the machine reads it).
_WORD_ENDS = re.compile(
    r"""[ \t]*+(?:[}\]]|,[ \t\r\n]*+(?:["'{\[0-9\-]|[A-Za-z_$][\w$]*+[ \t]*+[:,\]}]))"""
)
# A literal ends where a value may end.
_ENDS_VALUE = re.compile(r"[ \t\r\n]*+(?:[,}\]]|//|/\*|#|$)")
_LITERALS = {
    "True": ("true", "python_literal"),
    "False": ("false", "python_literal"),
    "None": ("null", "python_literal"),
    "undefined": ("null", "undefined"),
}
_CASED = {"true": "true", "false": "false", "null": "null", "none": "null"}
_SPACE = " \t\r\n"
_VALUE = frozenset({"value", "member-value"})


class Normalized:
    """The rewritten text, and how to map its offsets back to the original."""

    __slots__ = ("norm", "orig", "text")

    def __init__(self, text: str, norm: list[int], orig: list[int]) -> None:
        self.text = text
        self.norm = norm
        self.orig = orig

    def to_original(self, position: int) -> int:
        """The offset in the original text of ``position`` in the rewritten one."""
        k = bisect_right(self.norm, position) - 1
        if k < 0:
            return position
        mapped = self.orig[k] + position - self.norm[k]
        return min(mapped, self.orig[k + 1]) if k + 1 < len(self.orig) else mapped


def normalize(
    text: str,
    start: int,
    fixes: FixSink,
    *,
    max_depth: int,
    allow_nan: bool,
    members: bool = False,
) -> Normalized | None:
    """Rewrite the value starting at ``start``; None when nothing needed rewriting.

    The text before ``start`` and after the value (or after the spot where the pass
    stopped) is copied unchanged. Fixes are reported at offsets of ``text``.
    """
    pieces = [text[:start]]
    # Offsets where the rewritten text (norm) and the original (orig) line up again.
    norm, orig = [0], [0]
    length = start
    stack: list[str] = ["}"] if members else []
    last = "{" if members else ""  # the last significant character written
    pos, n = start, len(text)
    step, add, append = _step().match, fixes.add, pieces.append

    def replace(begin: int, end: int, new: str) -> None:
        nonlocal length
        norm.append(length)
        orig.append(begin)
        append(new)
        length += len(new)
        norm.append(length)
        orig.append(end)

    while pos < n:
        match = step(text, pos)
        kind = match.lastgroup  # type: ignore[union-attr]
        if kind == "sig":
            kind = None
        at = match.start(kind) if kind else match.end()  # type: ignore[union-attr]
        if at > pos:
            j = match.end("sig") - 1  # type: ignore[union-attr]
            if j >= pos:
                last = text[j]
                if kind == "close" and last == ",":
                    append(text[pos:j])
                    length += j - pos
                    replace(j, j + 1, "")
                    add("trailing_comma", j, f"removed ',' before {text[at]!r}")
                    last = "v"  # what the comma followed: a value
                    pos = j + 1
            if text.find("\\", pos, at) >= 0 and _BAD_ESCAPE.search(text, pos, at):
                fixed = _escapes_to_json(text[pos:at], pos, add)
                replace(pos, at, fixed)
            else:
                append(text[pos:at])
                length += at - pos
            pos = at
        if kind is None:
            break  # the end of the text, or a character only the state machine reads
        # What may come next: a key, its colon, a value, or a separator or closer (after).
        if not stack:
            where = "after" if last else "value"
        elif stack[-1] == "}":
            if last in "{,":
                where = "key"
            elif last == ":":
                where = "member-value"
            else:
                where = "key-done" if last == "k" else "after"
        elif last == ":":
            break  # ["a": 1] - members in a list: the state machine reads those
        else:
            where = "value" if last in "[," else "after"
        if where == "after" and stack and kind in ("open", "quote", "word"):
            # [{...}\n{...}] or "a": 1\n"b": 2 - a value (or a key) whose comma is missing
            if stack[-1] == "]" and kind != "word":
                where = "value"
            elif stack[-1] == "}" and (
                (kind == "quote" and _QUOTED_KEY.match(text, at) is not None)
                or (kind == "word" and _KEY.match(text, at) is not None)
            ):
                where = "key"
            else:
                break
            add("missing_comma", at, "inserted ','")
            replace(at, at, ",")
        if kind == "open":
            if where not in _VALUE or len(stack) >= max_depth:
                break
            python = _python_container().match(text, at) if "'" in text[at : at + 3] else None
            if python is not None:
                # {'a': True, 'b': [1, 2]}: a whole Python repr, rewritten in one go
                end = python.end()
                span = python.group()
                if "'" in span:
                    add(
                        "single_quotes",
                        at + span.index("'"),
                        "replaced single quotes with double quotes",
                    )
                converted, literals = _from_python(span)
                if literals:
                    add("python_literal", at, "read Python literals True/False/None as JSON")
                if "(" in span and "(" not in converted:
                    add("tuple", at + span.index("("), "read tuples as lists")
                replace(at, end, converted)
                last = text[end - 1]
                pos = end
                continue
            script = _js_container().match(text, at)
            if script is not None:
                # { // note\n id: 3, name: "x", }: a whole JavaScript literal in one go
                end = script.end()
                converted, made = _from_javascript(script.group())
                for fix, offset, detail in made:
                    add(fix, at + offset, detail)
                replace(at, end, converted)
                last = text[end - 1]
                pos = end
                continue
            char = text[at]
            stack.append("}" if char == "{" else "]")
            append(char)
            length += 1
            last = char
            pos = at + 1
        elif kind == "close":
            char = text[at]
            if not stack or char != stack[-1] or where in ("key-done", "member-value"):
                break
            stack.pop()
            append(char)
            length += 1
            pos = at + 1
            last = char
            if not stack:
                break  # the first value is complete: what follows is the machine's
        elif kind == "comment":
            pos = match.end()  # type: ignore[union-attr]
            if not text.startswith("/*", at):
                pos = comment_end(text, at, pos)
            add("comment", at, f"removed a comment {text[at:pos][:20]!r}")
            replace(at, pos, " ")
        elif kind == "quote":
            if where == "key":
                ctx = KEY
            elif where in _VALUE and stack:
                ctx = OBJECT if stack[-1] == "}" else ARRAY
            else:
                break  # a top-level string: prose or a value, the machine decides
            simple = _SIMPLE_SINGLE.match(text, at) if text[at] == "'" else None
            if simple is not None:
                end = simple.end()
                add("single_quotes", at, "replaced single quotes with double quotes")
                replace(at, end, f'"{simple.group(1)}"')
            elif (ctx != KEY or text[at] != '"') and (
                quick := quick_string(text, at, ctx, fixes)
            ) is not None:
                value, end = quick
                replace(at, end, _dumps(value))
            else:
                value, end = read_string(text, at, ctx, fixes)
                if end <= at or (ctx == KEY and not _colon_follows(text, end)):
                    break
                if (
                    text[at] == '"'
                    and text[end - 1] == '"'
                    and _is_valid(text, at, end)
                    and (ctx != KEY or (text[at + 1] not in _SPACE and text[end - 2] not in _SPACE))
                ):
                    append(text[at:end])
                    length += end - at
                else:
                    replace(at, end, _dumps(value))
            last = "k" if ctx == KEY else '"'
            pos = end
        elif where == "key":  # a bare word
            key = _KEY.match(text, at)
            if key is None:
                break
            end = key.end()
            add("unquoted_key", at, f"quoted the key {key.group()[:20]!r}")
            replace(at, end, f'"{key.group()}"')
            last = "k"
            pos = end
        else:
            word = match.group(kind)  # type: ignore[union-attr]
            end = at + len(word)
            literal = _literal(word, allow_nan)
            if where not in _VALUE or not stack:
                break
            if literal is None:
                # [alpha, beta]: a bare word that ends where a value may end
                if word in ("NaN", "Infinity") or _WORD_ENDS.match(text, end) is None:
                    break
                add("unquoted_value", at, f"quoted the bare value {word[:20]!r}")
                replace(at, end, f'"{word}"')
                last = '"'
                pos = end
                continue
            if _ENDS_VALUE.match(text, end) is None:
                break
            new, fix = literal
            if fix:
                add(fix, at, f"read {word!r} as {new}")
                replace(at, end, new)
            else:
                append(word)
                length += len(word)
            last = "l"
            pos = end
    if len(norm) == 1:
        return None
    append(text[pos:])
    return Normalized("".join(pieces), norm, orig)


# A backslash (after an even run of them, group "pairs") that starts no JSON escape:
# a Python hex escape's digits ("hex"), or any other character after it ("char").
_BAD_ESCAPE = re.compile(
    r"(?<!\\)(?P<pairs>(?:\\\\)*+)\\"
    r"(?:[xX](?P<hex>[0-9a-fA-F]{2})|U(?P<wide>[0-9a-fA-F]{8})"
    r'|(?P<char>[^"\\/bfnrtu]|u(?![0-9a-fA-F]{4})))',
    re.DOTALL,
)


def _escapes_to_json(run: str, offset: int, add: Callable[[str, int, str], None]) -> str:
    """The escapes JSON lacks, in the valid strings of ``run``, as the parser reads them:
    ``\x41`` and ``\U0001f600`` are characters, ``\'`` is a quote, a backslash before a
    line break continues the line, any other stays a backslash and its character."""

    def rewrite(match: re.Match[str]) -> str:
        pairs = match.group("pairs")
        at = offset + match.start() + len(pairs)
        digits = match.group("hex") or match.group("wide")
        if digits is not None:
            code = int(digits, 16)
            if code <= 0x10FFFF:
                add("python_escape", at, "decoded a Python escape")
                return pairs + _dumps(chr(code))[1:-1]
            char = match.group()[len(pairs) + 1 :]
        else:
            char = match.group("char")
        if char == "'":
            return pairs + "'"
        if char == "\n":
            return pairs
        add("invalid_escape", at, f"kept an invalid escape \\{char[:1]}")
        return pairs + "\\\\" + char

    return _BAD_ESCAPE.sub(rewrite, run)


def _literal(word: str, allow_nan: bool) -> tuple[str, str] | None:
    if word in _LITERALS:
        return _LITERALS[word]
    if word in ("NaN", "Infinity"):
        return (word, "") if allow_nan else None
    cased = _CASED.get(word.lower())
    if cased is None:
        return None
    return (cased, "literal_case")


def _colon_follows(text: str, end: int) -> bool:
    while end < len(text) and text[end] in " \t":
        end += 1
    return end < len(text) and text[end] == ":"


_VALID = re.compile(_VALID_STRING)


def _is_valid(text: str, start: int, end: int) -> bool:
    match = _VALID.match(text, start, end)
    return match is not None and match.end() == end


_dumps: Callable[[str], str] = json.JSONEncoder(ensure_ascii=False).encode
