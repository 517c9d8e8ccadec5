"""The line scan behind :func:`retort.parsers.parse_sections`: headers, fences, content.

One compiled regex finds every header line and every fence line; the rest of the text is
never looked at line by line, so a 1 MB reply costs one pass of the regex engine plus one
slice per section. The state machine over the matches is a flat loop: no recursion.

Header line: optional spaces/tabs, a run of 3 or more ``=``, optional spaces/tabs, a name
(an ASCII letter or ``_`` first, then letters, digits, ``_``, with inner runs of spaces,
tabs or hyphens allowed), then optionally spaces/tabs, a closing ``=`` run, spaces/tabs and
a ``\\r``. A line of ``=`` only, or a name starting with a digit, is content.

Fence line: the rule of :mod:`retort.parsers._fences` (3+ backticks or tildes after any
indentation; a backtick fence whose info string holds a backtick never opens a block; the
closer is a run of the same character at least as long as the opener, with nothing else).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import NamedTuple

__all__ = ["Header", "Scan", "Swallowed", "clean_content", "normalize_section_name", "scan"]

# Possessive quantifiers (``*+``, ``++``) and disjoint character classes leave the engine
# nothing to backtrack into, so each attempt costs at most the length of its line.
_NAME = r"[A-Za-z_][A-Za-z0-9_]*+(?:[ \t\-]++[A-Za-z0-9_]++)*+"
_LINE = (
    r"[ \t]*+(?:"
    r"(?P<fence>`{3,}+|~{3,}+)(?P<info>[^\n]*+)"
    r"|={3,}+[ \t]*+(?P<name>" + _NAME + r")[ \t]*+=*+[ \t]*+\r?$"
    r")"
)
# A pattern that starts with a literal newline lets the engine jump from one line start to
# the next with a fast character search; `^` with MULTILINE would try every offset (about
# four times slower on a reply of short lines). The first line is matched on its own.
_FIRST_LINE = re.compile(_LINE, re.MULTILINE)
_NEXT_LINE = re.compile(r"\n" + _LINE, re.MULTILINE)
_SEPARATORS = re.compile(r"[\s\-]+")


def normalize_section_name(name: str) -> str:
    """The canonical form of a section name, the form names are compared in.

    Surrounding whitespace is removed, letters are upper-cased, and every run of
    whitespace and hyphens becomes one ``_``: ``"tool call"``, ``"Tool-Call"`` and
    ``"TOOL_CALL"`` all give ``"TOOL_CALL"``.

    Args:
        name: a section name as written in a spec or a reply.

    Returns:
        The canonical name. Never raises.
    """
    upper = name.strip().upper()
    # An identifier has no whitespace or hyphen: the common case skips the regex.
    return upper if upper.isidentifier() else _SEPARATORS.sub("_", upper)


class Header(NamedTuple):
    """One header line that opens a section."""

    name: str  # canonical
    start: int  # offset of the header line
    body: int  # offset where the section's content starts


class Swallowed(NamedTuple):
    """A header-shaped line read as content because a code fence was open around it."""

    name: str  # as written: normalised only if an error message needs it
    start: int
    fence: int  # offset of the opening fence line


class _Fence(NamedTuple):
    char: str
    length: int
    start: int
    end: int  # offset just past the fence line's text (its newline not included)
    bare: bool  # no info string: the line could also be a closer

    def closed_by(self, run: str, info: str) -> bool:
        return run[0] == self.char and len(run) >= self.length and not info.strip()


class Scan:
    """What :func:`scan` found.

    Attributes:
        headers: every header line outside fences, in order.
        stop: where the last section's content ends (the wrapper's closer, or the end).
        wrapper: the opening line of a fence that wraps the whole reply, as a span.
        swallowed: header-shaped lines inside fences opened in a section.
    """

    __slots__ = ("headers", "stop", "swallowed", "wrapper")

    def __init__(
        self,
        headers: list[Header] | None = None,
        stop: int = 0,
        wrapper: tuple[int, int] | None = None,
        swallowed: list[Swallowed] | None = None,
    ) -> None:
        self.headers: list[Header] = [] if headers is None else headers
        self.stop = stop
        self.wrapper = wrapper
        self.swallowed: list[Swallowed] = [] if swallowed is None else swallowed

    def __repr__(self) -> str:
        return (
            f"Scan(headers={self.headers!r}, stop={self.stop!r}, wrapper={self.wrapper!r}, "
            f"swallowed={self.swallowed!r})"
        )


def _matches(text: str) -> Iterator[re.Match[str]]:
    """Every header or fence line, in order; see :func:`_line_start` for their offsets."""
    first = _FIRST_LINE.match(text)
    if first is not None:
        yield first
    yield from _NEXT_LINE.finditer(text)


def scan(text: str) -> Scan:
    """Find the headers of ``text``, honouring code fences.

    A fence opened inside a section hides header lines until it closes. A fence still open
    when the first header comes was opened in the preamble: it wraps the whole reply, hides
    nothing, and its closing line is dropped when it ends the text. When the reply ends
    inside a bare fence line that could close the wrapper and that hid no header, that line
    was the wrapper's closer followed by an epilogue: the section stops there.
    """
    result = Scan(stop=len(text))
    tail = len(text.rstrip())
    fence: _Fence | None = None
    wrapper: _Fence | None = None
    hidden = 0  # headers hidden by the currently open fence
    for match in _matches(text):
        # Only the first line's match lacks the newline that _NEXT_LINE starts with.
        start = match.start() + (match.re is _NEXT_LINE)
        if match.lastgroup == "name":
            if fence is not None and result.headers:
                result.swallowed.append(Swallowed(match["name"], start, fence.start))
                hidden += 1
                continue
            if fence is not None:
                wrapper, fence = fence, None
                result.wrapper = (wrapper.start, wrapper.end)
            body = match.end() + 1 if text.startswith("\n", match.end()) else match.end()
            result.headers.append(Header(normalize_section_name(match["name"]), start, body))
            continue
        run, info = match.group("fence"), match.group("info")
        if fence is not None:
            if fence.closed_by(run, info):
                fence, hidden = None, 0
            continue
        if wrapper is not None and match.end() >= tail and wrapper.closed_by(run, info):
            result.stop = start
            return result
        if run[0] == "`" and "`" in info:
            continue  # an inline or one-line block: it opens nothing
        fence = _Fence(run[0], len(run), start, match.end(), not info.strip())
    if (
        fence is not None
        and wrapper is not None
        and not hidden
        and fence.bare
        and wrapper.closed_by(fence.char * fence.length, "")
    ):
        result.stop = fence.start
    return result


def clean_content(raw: str) -> str:
    """A section's content: CRLF made LF, leading and trailing blank lines dropped.

    Everything else is kept verbatim, including the indentation of the first line and
    trailing spaces of the last one.
    """
    if "\r" in raw:
        raw = raw.replace("\r\n", "\n")
    first = len(raw) - len(raw.lstrip())
    if first == len(raw):
        return ""
    start = raw.rfind("\n", 0, first) + 1
    end = raw.find("\n", len(raw.rstrip()))
    return raw[start:] if end < 0 else raw[start:end]
