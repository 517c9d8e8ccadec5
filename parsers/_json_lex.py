"""Tokens of the lenient JSON parser: strings, numbers and the bounded lookaheads they need.

Every function here reads one token starting at a given offset and returns the decoded
value with the offset just past it. Regular tokens go through C code (``json``'s
``scanstring`` and compiled regexes); the Python-level heuristics run only at irregular
spots, and each lookahead is either bounded by a constant window or covers text that the
caller consumes next, so reading a whole text stays linear in its length.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from json import decoder as _decoder
from typing import Protocol

__all__ = [
    "ARRAY",
    "KEY",
    "OBJECT",
    "QUOTES",
    "SPACE_CHARS",
    "TOP",
    "TUPLE",
    "FixSink",
    "comment_end",
    "is_word_char",
    "match_end",
    "quick_string",
    "read_string",
]

# Where a string sits: it decides what may legitimately follow its closing quote.
KEY, OBJECT, ARRAY, TOP, TUPLE = 0, 1, 2, 3, 4
_LISTS = (ARRAY, TUPLE)

# Opening quote -> closing quote. Models emit typographic quotes, and sometimes the
# right-hand one on both sides.
QUOTES = {'"': '"', "'": "'", "“": "”", "”": "”", "‘": "’", "’": "’", "„": "“"}

# Whitespace between tokens, including what models leak: BOM, no-break and zero-width spaces.
SPACE_CHARS = " \t\r\n\ufeff\xa0\u200b\u200c\u200d\u2060\u202f\u3000"
_WS = re.compile(f"[{SPACE_CHARS}]*")
_LOOKAHEAD_WINDOW = 128
# A bare key and its colon: a word (@type, x-api-key) or a number (Python dicts).
_IDENT_COLON = re.compile(r"(?:(?:[^\W\d]|[@$])[\w$@.\-]*|-?[0-9]+(?:\.[0-9]+)?)[ \t]*:(?!//)")
# After a comma that ends a value, a bare key may also be a few words (first name: ...).
_WORDS_COLON = re.compile(
    r"(?:(?:[^\W\d]|[@$])[\w$@.\-]*(?:[ \t]+[^\W\d][\w$.\-]*){0,3}|-?[0-9]+(?:\.[0-9]+)?)"
    r"[ \t]*:(?!//)"
)
_KEYLIKE = re.compile(
    r"""(?:"(?:[^"\\\n]|\\.){0,100}"|'(?:[^'\\\n]|\\.){0,100}'|[“”][^“”\n]{0,100}[“”]"""
    r"""|[‘’][^‘’\n]{0,100}[‘’])[ \t]*:"""
    # its colon forgotten: then the key must look like one (no code, no prose)
    r"""|["'][\w$@.\- ]{1,60}["'][ \t]*(?:[{\["'0-9\-]|(?:true|false|null|True|False|None)\b)"""
)
_KEYLIKE_COLON = re.compile(r"\"(?:[^\"\\\n]|\\.){1,100}\"[ \t]*:")
# COMMENT "key": ... - a stray word before a quoted key.
_JUNK_THEN_KEY = re.compile(r"[^\W\d][\w$\-]*[ \t]+\"[^\"\n]{1,100}\"[ \t]*:")
# Words after a quote, up to anything that could end them.
_WORDS = re.compile(r"[^\"\n{}\[\],]*+")
# A quoted key cut off by the end of the text: "ke, "key, "key", "key":
_CUT_KEY = re.compile(r"""(["'“”])[^"'“”\n{}\[\]]*(?:["'“”][ \t\r\n]*:?[ \t\r\n]*)?""")
_PARTIAL_ESCAPE = re.compile(r"\\(?:u[0-9a-fA-F]{0,3}|x[0-9a-fA-F]?|U[0-9a-fA-F]{0,7})$")
_ELLIPSIS_OR_COMMENT = re.compile(r"\.\.\.|…|//|/\*|#")
_LITERAL_START = re.compile(r"(?:true|false|null|True|False|None|NaN|-?Infinity)\b")
# At a raw newline inside a string: does the next line open a new member ("key": ...)?
_NEW_MEMBER = re.compile(r"\r?\n[ \t]*\"[^\"\n]{1,100}\"[ \t]*:")


_INDENT = re.compile(r"[ \t]*")
_CODE_LINE_ENDS = frozenset("{[(:=,+-*/\\|&<>.;")

# json's C string scanner: (text, offset after the quote, strict) -> (value, end).
scanstring: Callable[[str, int, bool], tuple[str, int]] = _decoder.scanstring  # type: ignore[attr-defined]


def match_end(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """Where ``pattern`` (one that can match the empty string) stops matching at ``pos``."""
    match = pattern.match(text, pos)
    return match.end() if match else pos


class FixSink(Protocol):
    """Where tokens report what they changed."""

    def add(self, kind: str, position: int, detail: str) -> None: ...


def _body_patterns(close: str, stops: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    q = re.escape(close)
    # Escapes are consumed here, so only quotes (and ``stops``) reach Python code.
    # Possessive quantifiers: no backtracking state piles up on long runs.
    plain = re.compile(rf"[^{q}\\{stops}]*+(?:\\.[^{q}\\{stops}]*+)*+", re.DOTALL)
    # In values, a quote glued to a word character ("He said "hi" to") cannot close the
    # string: absorbing it here keeps a run of such quotes inside one C-level match. Quotes
    # of another kind stop the run too: one may close the string ({"a": 'hello", ...}).
    qs = q + re.escape(_OTHER_CLOSERS[close])
    inner = re.compile(
        rf"[^{qs}\\{stops}]*+(?:(?:\\.|(?:(?<!,)(?<!, )|(?!{q}[^{q}\\\n]{{1,100}}{q}[ \t]*:))"
        rf"[{qs}](?=\w))[^{qs}\\{stops}]*+)*+",
        re.DOTALL,
    )
    return plain, inner


# A string opened with one quote and closed with another: "Bob', "note": ...
_OTHER_CLOSERS = {'"': "'”", "'": '"', "”": '"', "“": '"', "’": "'\""}


# Until the first line break (which may end a string whose closing quote is missing),
# and after it, when line breaks are only text.
# Compiled on first use: fourteen patterns would cost milliseconds at import.
_BODIES: dict[tuple[str, bool], tuple[re.Pattern[str], re.Pattern[str]]] = {}


def _bodies(close: str, newlines: bool) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The body patterns for ``close``: stopping at line breaks, or taking them."""
    patterns = _BODIES.get((close, newlines))
    if patterns is None:
        patterns = _BODIES[close, newlines] = _body_patterns(close, "" if newlines else "\\n\\r")
    return patterns


_ESCAPE = re.compile(
    r"\\(?:u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2})|U([0-9a-fA-F]{8})|(.)|$)", re.DOTALL
)
_SIMPLE_ESCAPES = {
    '"': '"',
    "\\": "\\",
    "/": "/",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "'": "'",
    "\n": "",
}
# A complete, strictly valid JSON string; group 1 is set when it holds an escape.
_JSON_STRING = re.compile(
    r'"[^"\\\x00-\x1f]*+(?:(\\)(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*+)*+"'
)
# A single-quoted string with no escape, control character or line break: taken as is.
_SIMPLE_SINGLE = re.compile(r"'[^'\\\x00-\x1f]*+'")
# Text whose escapes are all JSON escapes, read pair by pair.
_JSON_ESCAPES = re.compile(r'[^\\]*+(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^\\]*+)*+')
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1f]")


def is_word_char(char: str) -> bool:
    """Whether ``char`` can be part of a bare word (letters, digits, ``_``)."""
    return char.isalnum() or char == "_"


def read_string(text: str, pos: int, ctx: int, fixes: FixSink) -> tuple[str, int]:
    """Read the string whose opening quote is at ``pos``; see :func:`_read_string`.

    A key comes back without the white space around it (``{"name ": 1,}`` in a
    malformed document means ``name``).
    """
    value, end = _read_string(text, pos, ctx, fixes)
    if (
        ctx == KEY
        and end - pos > 2
        and (text[pos + 1] in _KEY_SPACE or text[end - 2] in _KEY_SPACE)
    ):
        stripped = value.strip(_KEY_SPACE)
        if not stripped:
            return value, end  # a key of white space only is kept as it is
        fixes.add(
            "key_whitespace", pos, f"removed the white space around the key {stripped[:20]!r}"
        )
        return stripped, end
    return value, end


_KEY_SPACE = " \t\r\n"


def comment_end(text: str, pos: int, end: int) -> int:
    """Where the line comment ``text[pos:end]`` really ends.

    ``[1, 2 // two], "b": 3}``: a closer in the comment, followed on its line only by
    closers and then the end of the line or a comma and the next key, ends the comment.
    """
    opener = _OPENER_IN_COMMENT.search(text, pos, end)
    limit = opener.start() if opener else end  # after an opener, closers pair with it
    closer = _CLOSER_IN_COMMENT.search(text, pos, limit)
    while closer is not None:
        if _REST_OF_LINE.match(text, closer.start(), end) is not None:
            return closer.start()
        closer = _CLOSER_IN_COMMENT.search(text, closer.end(), limit)
    return end


_CLOSER_IN_COMMENT = re.compile(r"[\]}]")
_OPENER_IN_COMMENT = re.compile(r"[\[{]")
_REST_OF_LINE = re.compile(
    r"""[\]}](?:[ \t]*[\]}])*[ \t]*"""
    r"""(?:,[ \t]*(?:"[^"\n]{0,100}"|'[^'\n]{0,100}'|[^\W\d][\w$\-]*)[ \t]*:.*)?\r?$"""
)


def quick_string(text: str, pos: int, ctx: int, fixes: FixSink) -> tuple[str, int] | None:
    """A string whose end is certain, read at C speed; None to use :func:`read_string`.

    Certain means: its first unescaped closing quote is followed by a closer, or by a
    comma and the start of what may follow it (in an object, a key). Raw
    control characters, odd escapes or typographic quotes are what made it irregular.
    """
    quote = text[pos]
    if quote == '"':
        match = _QUICK_DOUBLE.match(text, pos)
    elif quote in "“”":
        match = _QUICK_CURLY.match(text, pos)
    else:
        return None
    if match is None:
        return None
    after = match.group(2)
    if (after == ":") != (ctx == KEY) or (ctx == KEY and quote == '"'):
        return None  # keys in straight quotes: read_string strips and checks them
    if after == "," and ctx == OBJECT and not _key_follows(text, match_end(_WS, text, match.end())):
        return None
    end = match.end(1)
    if quote != '"':
        fixes.add("curly_quotes", pos, f"replaced typographic quote {quote!r} with '\"'")
    raw = text[pos + 1 : end - 1]
    newline = _LINE_BREAK.search(raw)
    if newline is not None:
        fixes.add("raw_newline", pos + 1 + newline.start(), "escaped a raw line break")
    return _finish(text, pos, pos + 1, end - 1, ctx, fixes, raw), end


# A string with anything but an unescaped quote inside (group 1), then a colon, a closer,
# or a comma before something that may follow one (group 2).
_QUICK_DOUBLE = re.compile(
    r'("[^"\\]*+(?:\\.[^"\\]*+)*+")[ \t\r\n]*+'
    r'([:}\]]|,(?=[ \t\r\n]*+["“”{\[\-0-9tfn]))',
    re.DOTALL,
)
_QUICK_CURLY = re.compile(
    r'([“”][^“”"\\\n]*+”)[ \t\r\n]*+([:}\]]|,(?=[ \t\r\n]*+["“”{\[\-0-9tfn]))'
)
_LINE_BREAK = re.compile(r"[\r\n]")


def _read_string(text: str, pos: int, ctx: int, fixes: FixSink) -> tuple[str, int]:
    """Read the string whose opening quote is at ``pos``; return its value and its end.

    Args:
        text: the whole text being parsed.
        pos: offset of the opening quote (a key of ``QUOTES``).
        ctx: ``KEY``, ``OBJECT``, ``ARRAY`` or ``TOP``: where the string sits.
        fixes: receives every repair made.

    Returns:
        The decoded string and the offset just past it (past the closing quote, or the
        place where an unclosed string was cut).
    """
    quote = text[pos]
    if quote == '"' and not _doubled(text, pos, quote):
        # The regex finds a valid JSON string without raising: a failed scanstring would
        # build a JSONDecodeError, which counts the lines from the start of the text.
        valid = _JSON_STRING.match(text, pos)
        if valid is not None:
            end = valid.end()
            if ctx == KEY or _closes(text, end - 1, ctx):
                if valid.group(1) is None:
                    return text[pos + 1 : end - 1], end
                return scanstring(text, pos + 1, True)
    elif quote == "'":
        fixes.add("single_quotes", pos, "replaced single quotes with double quotes")
        simple = _SIMPLE_SINGLE.match(text, pos)
        if simple and not _doubled(text, pos, quote):
            end = simple.end()
            if ctx == KEY or _closes(text, end - 1, ctx):
                return text[pos + 1 : end - 1], end
    elif quote != '"':
        fixes.add("curly_quotes", pos, f"replaced typographic quote {quote!r} with '\"'")
    return _slow_string(text, pos, ctx, fixes)


def _doubled(text: str, pos: int, quote: str) -> bool:
    """``""value""``: a doubled opening quote glued to a word."""
    return (
        text.startswith(quote, pos + 1)
        and pos + 2 < len(text)
        and is_word_char(text[pos + 2])
        and quote in "\"'"
    )


def _slow_string(text: str, pos: int, ctx: int, fixes: FixSink) -> tuple[str, int]:
    n = len(text)
    close = QUOTES[text[pos]]
    start = pos + 1
    doubled = _doubled(text, pos, text[pos])
    if doubled:
        start += 1
        fixes.add("doubled_quotes", pos, "removed a doubled quote around a string")
    plain, inner = _bodies(close, False)
    body = plain if ctx == KEY else inner
    i = start
    newline = False
    while True:
        i = match_end(body, text, i)
        if i >= n:
            return _truncated(text, pos, start, ctx, fixes)
        char = text[i]
        if char == "\\":  # a lone backslash at the very end
            i += 1
            continue
        if char in "\r\n":
            if not newline and ctx != KEY:
                end = _unclosed_at_newline(text, start, i)
                if end >= 0:
                    fixes.add("unclosed_string", end, "closed a string left open at a line end")
                    return _finish(text, pos, start, end, ctx, fixes), end
            if not newline:
                fixes.add("raw_newline", i, "escaped a raw line break inside a string")
                newline = True
                plain, inner = _bodies(close, True)
                body = plain if ctx == KEY else inner
            i += 1
            continue
        if char != close:  # a quote of another kind: the end only before the next member
            if _other_closes(text, i, ctx):
                fixes.add("mixed_quotes", i, f"closed a string opened with {text[pos]!r}")
                return _finish(text, pos, start, i, ctx, fixes), i + 1
            i += 1
            continue
        if doubled and text.startswith(close, i + 1):
            return _finish(text, pos, start, i, ctx, fixes), i + 2
        if ctx == KEY or _closes(text, i, ctx):
            return _finish(text, pos, start, i, ctx, fixes), i + 1
        if ctx == OBJECT:
            end = _unclosed_before_key(text, start, i)
            if end >= 0:  # {"title": "Dune, "year": 1965} - the closing quote is missing
                fixes.add("unclosed_string", end, "closed a string left open before a key")
                return _finish(text, pos, start, end, ctx, fixes), end
        i += 1


def _other_closes(text: str, i: int, ctx: int) -> bool:
    """Whether a quote of another kind at ``i`` ends the string: the next member follows."""
    k = match_end(_WS, text, i + 1)
    if k >= len(text):
        return False
    # Only a comma and a quoted key are evidence enough: in code, 'x' }] is common.
    if text[k] != ",":
        return False
    return _QUOTED_KEY_COLON.match(text, match_end(_WS, text, k + 1)) is not None


_QUOTED_KEY_COLON = re.compile(
    r"""(?:"[^"\\\n]{1,100}"|'[^'\\\n]{1,100}'|[“”][^“”\n]{1,100}[“”])[ \t]*:"""
)


def _unclosed_before_key(text: str, start: int, i: int) -> int:
    """``"Dune, "year": 1965``: the offset of the comma that ended the value, or -1.

    Only on a string's first line: in code, ``{"retries": 3, "timeout": 10}`` is text.
    """
    if "\n" in text[start:i]:
        return -1
    j = i - 1
    while j >= start and text[j] in " \t":
        j -= 1
    if j < start or text[j] != "," or not _KEYLIKE_COLON.match(text, i, i + _LOOKAHEAD_WINDOW):
        return -1
    return j


def _unclosed_at_newline(text: str, start: int, i: int) -> int:
    """End of a one-line string whose closing quote is missing, or -1.

    Only when the string is still on its first line, holds no quote, and the next line
    opens a new member - multi-line strings (raw newlines in code) are far more common.
    """
    if not _NEW_MEMBER.match(text, i, i + _LOOKAHEAD_WINDOW):
        return -1
    line = text[start:i]
    stripped = line.rstrip()
    if '"' in line:
        return -1
    # "hello,\n "b": 2 - the comma was the separator: stop before it so the parser sees it.
    if stripped.endswith(","):
        return start + len(stripped) - 1
    # "Paris\n  "country": ... - no comma either: only a short plain line whose next line
    # is indented like the member it belongs to (code would end in an opener or operator).
    if not stripped or stripped[-1] in _CODE_LINE_ENDS or len(stripped) > 80:
        return -1
    line_start = text.rfind("\n", max(0, start - _LOOKAHEAD_WINDOW), start) + 1
    indent = match_end(_INDENT, text, line_start) - line_start
    next_indent = match_end(_INDENT, text, i + 1) - (i + 1)
    if text[i] == "\r" or indent != next_indent:
        return -1
    return start + len(stripped)


def _truncated(text: str, pos: int, start: int, ctx: int, fixes: FixSink) -> tuple[str, int]:
    """The string runs to the end of the text: close it, giving back trailing closers."""
    n = len(text)
    content = text[start:n]
    kept = content.rstrip(" \t\r\n}],")
    end = n
    if ctx != KEY and len(kept) < len(content) and any(c in "}]" for c in content[len(kept) :]):
        # {"a": "hello} - the closers after the text belong to the containers.
        end = start + len(kept)
    raw = content if end == n else kept
    if raw.rstrip().endswith("```"):  # "y``` - the reply's closing fence, stuck to the text
        raw = raw.rstrip()[:-3]
        fixes.add("fence", start + len(raw), "removed a closing fence stuck to the text")
    partial = _PARTIAL_ESCAPE.search(raw) if end == n else None
    if partial:  # "caf\u00 - an escape cut in half means nothing yet
        raw = raw[: partial.start()]
    fixes.add("truncated_string", end, "closed a string cut off at the end of the text")
    return _finish(text, pos, start, end, ctx, fixes, raw), end


def _finish(
    text: str, pos: int, start: int, end: int, ctx: int, fixes: FixSink, raw: str | None = None
) -> str:
    """The value of the string ``text[start:end]`` (``raw``, when the caller has it)."""
    if raw is None:
        raw = text[start:end]
    close = QUOTES[text[pos]]
    if ctx != KEY:
        inner = _unescaped(close).search(raw)
        if inner:
            inner_at = inner.start()
            fixes.add("inner_quote", start + inner_at, f"escaped an inner {close!r}")
    control = _CONTROL.search(raw)
    if control:
        fixes.add("control_char", start + control.start(), "escaped a raw control character")
    if "\\" in raw:
        return _decode_escapes(raw, start, fixes)
    return raw


def _unescaped(quote: str) -> re.Pattern[str]:
    return _UNESCAPED[quote]


_UNESCAPED = {q: re.compile(rf"(?<!\\){re.escape(q)}") for q in set(QUOTES.values())}


def _decode_escapes(raw: str, offset: int, fixes: FixSink) -> str:
    if match_end(_JSON_ESCAPES, raw, 0) == len(raw) and _UNESCAPED['"'].search(raw) is None:
        # Only JSON escapes, no quote to stop at: json's scanner decodes it (non-strict
        # mode takes raw control characters as they are).
        value, end = scanstring(raw + '"', 0, False)
        if end == len(raw) + 1:
            return value

    def replace(match: re.Match[str]) -> str:
        hex4, hex2, hex8, char = match.group(1, 2, 3, 4)
        if hex4 is not None:
            return chr(int(hex4, 16))
        if hex2 is not None or hex8 is not None:
            code = int(hex2 or hex8, 16)
            if code <= 0x10FFFF:
                fixes.add("python_escape", offset + match.start(), "decoded a Python escape")
                return chr(code)
            char = "U"
        if char is None:
            return ""  # a lone backslash where the text was cut
        if char in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[char]
        fixes.add("invalid_escape", offset + match.start(), f"kept an invalid escape \\{char}")
        return match.group(0)

    value = _ESCAPE.sub(replace, raw)
    if _SURROGATE.search(value):
        # \ud83d\ude00 decodes to two surrogates: join pairs as json.loads does.
        value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return value


def _closes(text: str, i: int, ctx: int) -> bool:
    """Whether the quote at ``i`` ends a string sitting in ``ctx`` (else it is an inner quote)."""
    j = i + 1
    k = match_end(_WS, text, j)
    if k >= len(text):
        return True
    char = text[k]
    gap = text[j:k]
    if char in "}]":
        # CMD ["a", "b"]\n"}] - a closer, then on the next line the real closing quote
        # and the closers after it: code in the string
        after = match_end(_WS, text, k + 1)
        return not (
            after + 1 < len(text)
            and text[after] == text[i]
            and text[after + 1] in "}]"
            and "\n" in text[k:after]
        )
    if i >= 2 and text[i - 2 : i] == text[i] * 2 and char not in ",:":
        return False  # the end of a """docstring""" inside code
    if char == ")":
        return ctx in (TUPLE, TOP)
    if char == ",":
        return _continues_after_comma(text, k + 1, ctx)
    if char == ":" and ctx in _LISTS:
        return True  # ["a": 1] - a list written with members; the parser reads it
    if ctx == TOP:
        return bool(gap) or not is_word_char(char)
    if char in QUOTES:
        # Quotes glued together ("""docstrings""", ""doubled"") do not end a string,
        # unless a key follows ("According...""ans": "YES").
        if not gap:
            return (
                ctx == OBJECT and _KEYLIKE_COLON.match(text, k, k + _LOOKAHEAD_WINDOW) is not None
            )
        return ctx in _LISTS or _key_follows(text, k)
    if _ELLIPSIS_OR_COMMENT.match(text, k):
        return bool(gap)
    if ctx in _LISTS:
        # In a list, a quote then a line break, or a space and the start of a value, is
        # the end of an item whose comma is missing.
        if "\n" in gap or (gap and _starts_value(text, k)):
            return True
    elif "\n" in gap and _IDENT_COLON.match(text, k, k + _LOOKAHEAD_WINDOW):
        return True  # "a": "x"\n b: 1 - the next member, its comma missing
    # Words on the same line after a quote may be junk; on the next line, more code.
    return bool(gap) and "\n" not in gap and is_word_char(char) and _junk_then_end(text, k, ctx)


def _junk_then_end(text: str, k: int, ctx: int) -> bool:
    """Words after a quote: more of the string ("hi" to me"), or junk after its end?

    Junk when the words run into a closer, the end of the text, or a comma that really
    separates members ("data" AAAA }); text when they reach another quote first.
    """
    words = _WORDS.match(text, k, k + _LOOKAHEAD_WINDOW)
    stop = words.end() if words else k
    if stop >= len(text) or stop - k >= _LOOKAHEAD_WINDOW:
        return stop >= len(text)
    char = text[stop]
    if char in "}]":
        return True
    if char == ",":
        return _continues_after_comma(text, stop + 1, ctx)
    return False


def _starts_value(text: str, k: int) -> bool:
    return text[k] in "-0123456789{[(" or _LITERAL_START.match(text, k) is not None


def _key_follows(text: str, k: int) -> bool:
    """A quoted key and its colon at ``k``, or a quoted key cut off by the end of the text."""
    if _KEYLIKE.match(text, k, k + _LOOKAHEAD_WINDOW):
        return True
    if k + _LOOKAHEAD_WINDOW < len(text):
        return False
    return _CUT_KEY.fullmatch(text, k) is not None


def _continues_after_comma(text: str, p: int, ctx: int) -> bool:
    k = match_end(_WS, text, p)
    if k >= len(text) or _ELLIPSIS_OR_COMMENT.match(text, k):
        return True
    char = text[k]
    if char in ",}]":
        return True  # a doubled comma, or a trailing one
    if ctx == OBJECT:
        if char in QUOTES:
            return _key_follows(text, k)
        window = k + _LOOKAHEAD_WINDOW
        return (
            _WORDS_COLON.match(text, k, window) is not None
            or _JUNK_THEN_KEY.match(text, k, window) is not None
        )
    if char in QUOTES:
        return True
    if ctx in _LISTS:
        return char in "])" or _starts_value(text, k)
    return True
