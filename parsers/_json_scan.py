"""The lenient JSON parser: one pass, an explicit stack, repairs at the irregular spots.

``parse`` reads JSON, JSON5-ish and Python-literal text the way a model meant it. The
containers being built live on an explicit stack (never recursion; ``_json_frames``
holds it and the work on whole containers), so depth is bounded by ``max_depth`` only.
Each loop turn consumes at least one character, and every token reader in ``_json_lex``
is linear, so the whole parse is linear in the length of the text.
"""

from __future__ import annotations

import re
from typing import Any

from retort.parsers._json_frames import (
    _WS,
    ARR_AFTER,
    ARR_FIRST,
    ARR_NEXT,
    OBJ_AFTER,
    OBJ_COLON,
    OBJ_FIRST,
    OBJ_NEXT,
    OBJ_VALUE,
    TOP_AFTER,
    TOP_FIRST,
    Frames,
)
from retort.parsers._json_lex import (
    ARRAY,
    KEY,
    OBJECT,
    QUOTES,
    SPACE_CHARS,
    TOP,
    TUPLE,
    FixSink,
    comment_end,
    is_word_char,
    match_end,
    read_string,
)
from retort.parsers._json_numbers import read_number
from retort.parsers._json_values import (
    LOOKAHEAD_WINDOW,
    ScanError,
    combine,
    goes_on,
    plausible_open,
)

__all__ = ["parse"]

_QUOTED_KEY = re.compile(r"(?:\"[^\"\n]{0,100}\"|'[^'\n]{0,100}')[ \t]*:")
_BARE_KEY = re.compile(r"[^\W\d][\w$\-]*[ \t]*:(?!//)")
_VALUE_STATES = frozenset({OBJ_VALUE, ARR_FIRST, ARR_NEXT, TOP_FIRST})
_CTX = {OBJ_VALUE: OBJECT, ARR_FIRST: ARRAY, ARR_NEXT: ARRAY, TOP_FIRST: TOP}

_COMMENT = re.compile(r"//[^\n]*+|#[^\n]*+|/\*[^*]*+(?:\*(?!/)[^*]*+)*+(?:\*/|$)")
_WORD = re.compile(r"[^\W\d][\w$]*|\$[\w$]*")
_UNQUOTED_KEY = re.compile(r"[^\s:,{}\[\]\"'/#]++(?:[ \t]++[^\s:,{}\[\]\"'/#]++)*+")
_UNQUOTED_VALUE = {
    # In an object a bare value may hold commas and brackets ({"name": John Smith, Jr.,
    # "age": 41}): it ends at a comma before the next key, at a closer that ends the
    # line or the object, or at the line end.
    OBJECT: re.compile(
        r"""(?:[^,}\]\n\r]++"""
        r"""|,(?![ \t]*+[\r\n])(?![ \t\r\n]*+(?:"[^"\n]{0,100}"|'[^'\n]{0,100}'"""
        r"""|[^\W\d][\w$\-]*(?:[ \t]+[^\W\d][\w$\-]*){0,3})[ \t]*:)"""
        r"""|[}\]](?![ \t]*+(?:[,}\]\r\n]|$)))*+"""
    ),
    ARRAY: re.compile(r"[^,\]}\n\r]*"),
    TOP: re.compile(r"[^,\]}\n\r]*"),
}
_WORDS_AFTER_NUMBER = re.compile(r"[ \t]++[^\s,}\])/#0-9\-+.\"'\[{(]")
# A comment after a bare value ({"a": yes // really}) is not part of the value.
_TRAILING_COMMENT = re.compile(r"\s(?://|/\*|#)")
_SIGNS = re.compile(r"[-+.]*[ \t\r\n]*")
_GARBAGE = re.compile(r"[^\s{}\[\]()\"',:“”‘’]+")
_COLONS = re.compile(r"[:\s]+")
_ELLIPSIS = re.compile(r"\.\.\.|…")
_AFTER_WORD = re.compile(r"[ \t]*")
_MULTI_SEPARATOR = re.compile(r"[\s,]*")
_LITERALS: dict[str, tuple[Any, str]] = {
    "true": (True, ""),
    "false": (False, ""),
    "null": (None, ""),
    "True": (True, "python_literal"),
    "False": (False, "python_literal"),
    "None": (None, "python_literal"),
    "undefined": (None, "undefined"),
    "NaN": (float("nan"), ""),
    "Infinity": (float("inf"), ""),
}
_ANY_CASE = {"true": True, "false": False, "null": None, "none": None}
_COMMA_RUN = re.compile(r"(?:,[ \t\r\n]*+)++")
_NOT_KEY_RUN = re.compile(r"""[^\s"'“”‘’\w}\]),:/#.…]+""")


def parse(
    text: str,
    start: int,
    fixes: FixSink,
    *,
    max_depth: int,
    allow_nan: bool,
    members: bool = False,
) -> tuple[Any, int]:
    """Parse the value starting at ``start``; return it and the offset where parsing stopped.

    Args:
        text: the text to parse.
        start: where the value starts (callers skip prose and fences first).
        fixes: receives every repair made.
        max_depth: the deepest nesting allowed.
        allow_nan: whether NaN and Infinity are accepted.
        members: the text starts with the members of an object whose ``{`` is missing.

    Raises:
        ScanError: no value at ``start``, nesting deeper than ``max_depth``, or NaN when
            ``allow_nan`` is false.
    """
    parser = _Parser(text, fixes, max_depth, allow_nan)
    if members:
        fixes.add("missing_opener", start, "added '{' before the first key")
        start = parser.open_object(start)
    return parser.run(start)


class _Parser(Frames):
    """The token-level reader: values, keys and separators, over ``Frames``."""

    def run(self, pos: int) -> tuple[Any, int]:
        self.start = pos
        text = self.text
        n = len(text)
        while True:
            if pos < n and text[pos] in SPACE_CHARS:
                pos = match_end(_WS, text, pos)
            if pos >= n:
                break
            char = text[pos]
            if char in "/#":
                comment = _COMMENT.match(text, pos)
                if comment:
                    end = comment.end()
                    if not text.startswith("/*", pos):
                        end = comment_end(text, pos, end)
                    self.fixes.add("comment", pos, f"removed a comment {text[pos:end][:20]!r}")
                    pos = end
                    continue
            state = self.frame.state
            if state in _VALUE_STATES:
                pos = self._value(pos, char)
            elif state in (OBJ_AFTER, ARR_AFTER):
                pos = self._after(pos, char)
            elif state == OBJ_COLON:
                pos = self._colon(pos, char)
            elif state == TOP_AFTER:
                nxt = self._top_after(pos, char)
                if nxt < 0:
                    break
                pos = nxt
            else:
                pos = self._key(pos, char)
        return self._finish(min(pos, n))

    # ------------------------------------------------------------------ values

    def _value(self, pos: int, char: str) -> int:
        state = self.frame.state
        if char in QUOTES:
            ctx = _CTX[state]
            if ctx == ARRAY and self.frame.closer == ")":
                ctx = TUPLE
            value, end = read_string(self.text, pos, ctx, self.fixes)
            self._emit(value)
            return end
        if char in "{[(":
            return self._open(pos, char)
        if char in "-+.0123456789":
            return self._number(pos, char)
        if char == ",":
            if state == OBJ_VALUE:
                self.fixes.add("missing_value", pos, "used '' for a missing value")
                self._emit("")
                return pos
            self.fixes.add("extra_comma", pos, "removed an extra ','")
            return match_end(_COMMA_RUN, self.text, pos)
        if char == ":":
            self.fixes.add("extra_colon", pos, "removed an extra ':'")
            return match_end(_COLONS, self.text, pos)
        if char in "}])":
            return self._closer_in_value(pos, char)
        if char == "…":
            return self._ellipsis(pos, 1)
        return self._word(pos)

    def _closer_in_value(self, pos: int, char: str) -> int:
        frame = self.frame
        if frame.state == TOP_FIRST:
            self.fixes.add("extra_closer", pos, f"removed an unmatched {char!r}")
            return pos + 1
        if frame.state == OBJ_VALUE:
            self.fixes.add("missing_value", pos, "used '' for a missing value")
            self._emit("")
            return pos
        if frame.state == ARR_NEXT and char == frame.closer:
            self.fixes.add("trailing_comma", self.comma, f"removed ',' before {char!r}")
        return self._close(pos, char)

    def _number(self, pos: int, char: str) -> int:
        text = self.text
        if char in "-+" and text.startswith("Infinity", pos + 1):
            self._check_nan(pos, f"{char}Infinity")
            if char == "+":
                self.fixes.add("plus_sign", pos, "removed a leading '+'")
            self._emit(float("-inf") if char == "-" else float("inf"))
            return pos + 9
        if char == "." and _ELLIPSIS.match(text, pos):
            return self._ellipsis(pos, 3)
        number = read_number(text, pos, self.fixes)
        if number is None:
            if match_end(_SIGNS, text, pos) >= len(text):
                # [1, - : a number cut off before its first digit means nothing yet.
                self.fixes.add("truncated_number", pos, f"dropped {text[pos:].strip()!r}")
                return len(text)
            return self._word(pos)
        if self.frame.state != TOP_FIRST and _WORDS_AFTER_NUMBER.match(text, number[1]):
            return self._unquoted(pos)  # {"temp": -5 °C} - a number was only its start
        self._emit(number[0])
        return number[1]

    def _ellipsis(self, pos: int, width: int) -> int:
        self.fixes.add("ellipsis", pos, "removed an ellipsis")
        frame = self.frame
        if frame.state in (ARR_FIRST, ARR_NEXT):
            frame.state = ARR_AFTER
        elif frame.state in (OBJ_FIRST, OBJ_NEXT):
            frame.state = OBJ_AFTER
        return pos + width

    def _check_nan(self, pos: int, literal: str) -> None:
        if not self.allow_nan:
            message = f"Expected a finite number (allow_nan=False), found {literal}"
            raise ScanError(message, pos, "repaired")

    def _word(self, pos: int) -> int:
        text = self.text
        state = self.frame.state
        match = _WORD.match(text, pos)
        if match:
            word = match.group()
            end = match.end()
            after = match_end(_AFTER_WORD, text, end)
            ends_value = after >= len(text) or text[after] in ",}])\r\n/#\"'"
            if ends_value and word not in _LITERALS and word.lower() in _ANY_CASE:
                value = _ANY_CASE[word.lower()]
                self.fixes.add("literal_case", pos, f"read {word!r} as {value!r}")
                self._emit(value)
                return end
            if word in _LITERALS and ends_value:
                value, kind = _LITERALS[word]
                if kind:
                    self.fixes.add(kind, pos, f"read {word!r} as {value!r}")
                elif word in ("NaN", "Infinity"):
                    self._check_nan(pos, word)
                self._emit(value)
                return end
            if end >= len(text) and state != TOP_FIRST:
                completed = _complete_literal(word)
                if completed is not None:
                    self.fixes.add("truncated_literal", pos, f"completed {word!r}")
                    self._emit(completed[0])
                    return end
        if state == TOP_FIRST:
            # Only a recognised value may start the text; anything else is prose.
            raise ScanError("", pos, "repaired")
        frame = self.frame
        if state == ARR_FIRST and frame.closer == "]" and _BARE_KEY.match(text, pos, pos + 128):
            self.fixes.add("array_members", pos, "read a list of 'key: value' members as an object")
            frame.container = {}
            frame.state = OBJ_FIRST
            return pos
        return self._unquoted(pos)

    def _unquoted(self, pos: int) -> int:
        """A bare value (``{"status": active}``), up to the next comma, closer or line end."""
        text = self.text
        unquoted = _UNQUOTED_VALUE[_CTX[self.frame.state]].match(text, pos)
        raw = unquoted.group() if unquoted else ""
        comment = _TRAILING_COMMENT.search(raw)
        if comment:
            raw = raw[: comment.start()]
        value = raw.rstrip()
        if value[-1:] in QUOTES and value[0] not in QUOTES and value.count(value[-1]) == 1:
            value = value[:-1].rstrip()  # abcdef" - the opening quote was forgotten
        if not value:
            garbage = _GARBAGE.match(text, pos)
            end = garbage.end() if garbage and garbage.end() > pos else pos + 1
            self.fixes.add("garbage", pos, f"removed {text[pos:end][:20]!r}")
            return end
        self.fixes.add("unquoted_value", pos, f"quoted the bare value {value[:20]!r}")
        self._emit(value)
        return pos + len(raw)

    # -------------------------------------------------------------- containers

    def _key(self, pos: int, char: str) -> int:
        frame = self.frame
        text = self.text
        frame.key_pos = pos
        if char in QUOTES:
            frame.key, end = read_string(text, pos, KEY, self.fixes)
            frame.state = OBJ_COLON
            return end
        if char in "}])":
            if frame.state == OBJ_NEXT and char == "}":
                self.fixes.add("trailing_comma", self.comma, "removed ',' before '}'")
            return self._close(pos, char)
        if char == ",":
            self.fixes.add("extra_comma", pos, "removed an extra ','")
            return match_end(_COMMA_RUN, text, pos)
        if (char == "." and _ELLIPSIS.match(text, pos)) or char == "…":
            return self._ellipsis(pos, 1 if char == "…" else 3)
        if char in "[{" and self._reopen_last_list(pos):
            return pos  # {"rows": [[1], [2]], [3]]: the item belongs to the list before
        match = _UNQUOTED_KEY.match(text, pos)
        if match and match.end() > pos:
            frame.key = match.group()
            frame.state = OBJ_COLON
            frame.bare_key = True  # reported once a colon shows it was a key after all
            return match.end()
        # a run of what cannot start a key ([{[{...) goes in one step
        end = max(match_end(_NOT_KEY_RUN, text, pos), pos + 1)
        self.fixes.add("garbage", pos, f"removed {text[pos:end][:20]!r} where a key was expected")
        return end

    def _colon(self, pos: int, char: str) -> int:
        frame = self.frame
        bare = frame.bare_key
        if frame.bare_key:
            frame.bare_key = False
            if char in QUOTES and _QUOTED_KEY.match(self.text, pos, pos + LOOKAHEAD_WINDOW):
                # COMMENT "key": 1 - the bare word was noise before the real key.
                self.fixes.add("garbage", frame.key_pos, f"removed {frame.key[:20]!r}")
                frame.state = OBJ_NEXT
                return pos
            if char not in ",}" or frame.container or frame.closer != "}":
                self.fixes.add("unquoted_key", frame.key_pos, f"quoted the key {frame.key[:20]!r}")
        if char == ":":
            frame.state = OBJ_VALUE
            return pos + 1
        if char in ",}" and not frame.container and frame.closer == "}":
            # {"a", "b"}: a Python set, read as a list. Its first item was read as a key:
            # read it again as a value, so {1, 2} gives numbers.
            self.fixes.add("python_set", pos, "read a set as a list")
            frame.container = []
            frame.state = ARR_FIRST
            return frame.key_pos
        item = frame.key
        if char in ",]}" and not bare and self._reopen_last_list(frame.key_pos):
            # {"items": ["x"], "y"], "k": 1} - "y" is an item of the list closed too early
            self._emit(item)
            return pos
        if char in ",}])":
            self.fixes.add("missing_value", pos, f"dropped the key {frame.key[:20]!r}")
            frame.state = OBJ_AFTER
            return pos
        if char == "=":
            self.fixes.add("missing_colon", pos, "replaced '=' with ':'")
            frame.state = OBJ_VALUE
            return pos + 1
        self.fixes.add("missing_colon", pos, "inserted ':'")
        frame.state = OBJ_VALUE
        return pos

    def _after(self, pos: int, char: str) -> int:
        frame = self.frame
        if char == ":" and frame.state == ARR_AFTER and self._members_in_list(pos):
            return pos + 1
        if char == ",":
            self.comma = pos
            frame.state = OBJ_NEXT if frame.state == OBJ_AFTER else ARR_NEXT
            return pos + 1
        if char in "}])":
            return self._close(pos, char)
        in_object = frame.state == OBJ_AFTER
        if char in QUOTES and self._stray_quote(pos):
            self.fixes.add("stray_quote", pos, f"removed a stray {char!r}")
            return pos + 1
        if char in QUOTES or is_word_char(char):
            self.fixes.add("missing_comma", pos, "inserted ','")
            frame.state = OBJ_NEXT if in_object else ARR_NEXT
            return pos
        if not in_object and char in "{[(-":
            self.fixes.add("missing_comma", pos, "inserted ','")
            frame.state = ARR_NEXT
            return pos
        if (char == "." and _ELLIPSIS.match(self.text, pos)) or char == "…":
            self.fixes.add("ellipsis", pos, "removed an ellipsis")
            return pos + (1 if char == "…" else 3)
        garbage = _GARBAGE.match(self.text, pos)
        end = garbage.end() if garbage and garbage.end() > pos else pos + 1
        self.fixes.add("garbage", pos, f"removed {self.text[pos:end][:20]!r}")
        return end

    def _stray_quote(self, pos: int) -> bool:
        """``12345",``: a closing quote glued to a value that never opened one."""
        text = self.text
        after = text[pos + 1 : pos + 2]
        return text[pos - 1] not in SPACE_CHARS and (not after or after in ",}] \t\r\n")

    # --------------------------------------------------------------- top level

    def _top_after(self, pos: int, char: str) -> int:
        """After a top-level value: another value follows, or the rest is prose (-1)."""
        text = self.text
        if char in "}])":
            self.fixes.add("extra_closer", pos, f"removed an unmatched {char!r}")
            return pos + 1
        nxt = match_end(_MULTI_SEPARATOR, text, pos) if char == "," else pos
        if char == "," and goes_on(self.frame.container[-1], self.text, nxt):
            # {"a": 1}, "b": 2} - closed too early: its members go on after the closer.
            self.fixes.add("early_closer", pos, "reopened a container closed too early")
            self.frame.state = TOP_FIRST
            self._reopen(self.frame.container.pop())
            return self._reopened(nxt)
        # Only containers are collected: a scalar before a container is prose ("Sure!").
        collect = isinstance(self.frame.container[-1], dict | list)
        if collect and nxt < len(text) and text[nxt] in "{[" and plausible_open(text, nxt):
            self.fixes.add("multiple_values", nxt, "collected several top-level values in a list")
            self.frame.state = TOP_FIRST
            return nxt
        if nxt < len(text):
            self.fixes.add("prose", pos, "ignored the text after the value")
        return -1

    def _finish(self, pos: int) -> tuple[Any, int]:
        n = len(self.text)
        while self.stack:
            frame = self.frame
            if frame.state in (OBJ_COLON, OBJ_VALUE):
                # {"a": 1, "b": - cut off before the value: the key means nothing yet.
                self.fixes.add("missing_value", n, f"dropped the key {frame.key[:20]!r}")
                frame.state = OBJ_AFTER
            self.fixes.add("closed_container", n, f"added {frame.closer!r} at the end")
            self._pop()
        values = self.frame.container
        if not values:
            raise ScanError("", self.start, "repaired")
        return combine(values), pos


def _complete_literal(word: str) -> tuple[Any] | None:
    """``tru`` cut off at the end of the text is ``true``."""
    for literal in ("true", "false", "null", "True", "False", "None"):
        if literal.startswith(word) and word != literal:
            return (_LITERALS[literal][0],)
    return None
