"""Markdown code fences: find every fenced block, or strip the fences off a reply.

Fence rules (CommonMark, made lenient for model output):

- an opening fence is a line of 3 or more backticks or tildes, after any indentation,
  followed by an optional info string whose first word is the language tag;
- the block ends at a line holding only a run of the same character at least as long as
  the opener (so a ````` ```` ````` block can contain ``` blocks);
- an unclosed fence runs to the end of the text; if its body then ends in a run of the
  fence character (``{"a": 1}```), that run is the model's misplaced closer and is cut;
- a one-line block (```` ```json {"a": 1}``` ````) is accepted too.

The scan is a single pass over the fence lines found by one anchored regex, so the time
is linear in the length of the text. The public functions check ``max_bytes`` first;
:func:`scan_fences` and :func:`unfence` are the same scans for parsers that have already
checked their input against their own limit.
"""

from __future__ import annotations

import re

from retort.core._records import Record, setfield
from retort.core.errors import ParseError
from retort.parsers._limits import DEFAULT_MAX_BYTES, check_size

__all__ = ["FencedBlock", "find_fences", "scan_fences", "strip_fences", "unfence"]

# A line that starts (after indentation) with 3+ backticks or tildes. `[^\n]*` cannot
# backtrack past the line end, so each match costs the length of its line.
_FENCE_LINE = re.compile(r"^[ \t]*(`{3,}|~{3,})([^\n]*)$", re.MULTILINE)
_LANG = re.compile(r"[A-Za-z0-9_+#.\-]+")


class FencedBlock(Record):
    """One fenced block of a text; an immutable value.

    Attributes:
        body: the text between the fence lines, without the final newline.
        lang: the language tag, lower-cased ("" when there is none).
        info: the whole info string after the opening run, stripped.
        start: offset of the opening fence line.
        end: offset just past the closing fence line (or the end of the text).
        closed: whether a closing fence was found.
    """

    __match_args__ = ("body", "lang", "info", "start", "end", "closed")
    __slots__ = __match_args__
    body: str
    lang: str
    info: str
    start: int
    end: int
    closed: bool

    def __init__(self, body: str, lang: str, info: str, start: int, end: int, closed: bool) -> None:
        setfield(self, "body", body)
        setfield(self, "lang", lang)
        setfield(self, "info", info)
        setfield(self, "start", start)
        setfield(self, "end", end)
        setfield(self, "closed", closed)


def _split_info(rest: str) -> tuple[str, str]:
    info = rest.strip()
    match = _LANG.match(info)
    lang = match.group(0).lower() if match else ""
    return lang, info


def _one_line_block(match: re.Match[str], text: str) -> FencedBlock | None:
    """```` ```json {"a": 1}``` ````: opener and closer on one line."""
    run, rest = match.group(1), match.group(2).rstrip()
    if not rest.endswith(run[0] * 3):
        return None
    inner = rest.rstrip(run[0])
    if not inner.strip():
        return None
    lang = ""
    head = _LANG.match(inner)
    if head and head.end() < len(inner) and inner[head.end()].isspace():
        lang, inner = head.group(0).lower(), inner[head.end() :]
    end = match.end() + (1 if text.startswith("\n", match.end()) else 0)
    return FencedBlock(inner.strip(), lang, lang, match.start(), end, True)


def find_fences(text: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[FencedBlock]:
    """Every fenced block of ``text``, in order.

    Args:
        text: any text; a reply from a model, usually.
        max_bytes: the largest input accepted, in UTF-8 bytes.

    Returns:
        The blocks found; empty when there is no fence.

    Raises:
        ParseError: ``text`` is longer than ``max_bytes``; nothing else raises.
    """
    check_size(text, max_bytes, ParseError)
    return scan_fences(text)


def scan_fences(text: str) -> list[FencedBlock]:
    """:func:`find_fences` without the size check, for input already checked."""
    if "```" not in text and "~~~" not in text:
        return []
    blocks: list[FencedBlock] = []
    opener: re.Match[str] | None = None
    for match in _FENCE_LINE.finditer(text):
        run, rest = match.group(1), match.group(2)
        if opener is None:
            if run[0] == "`" and "`" in rest:
                block = _one_line_block(match, text)
                if block is not None:
                    blocks.append(block)
                continue
            opener = match
            continue
        open_run = opener.group(1)
        if run[0] == open_run[0] and len(run) >= len(open_run) and not rest.strip():
            blocks.append(_close(text, opener, match))
            opener = None
    if opener is not None:
        blocks.append(_unclosed(text, opener))
    return blocks


def _body_start(text: str, opener: re.Match[str]) -> int:
    end = opener.end()
    return end + 1 if text.startswith("\n", end) else end


def _close(text: str, opener: re.Match[str], closer: re.Match[str]) -> FencedBlock:
    start = _body_start(text, opener)
    body_end = max(start, closer.start() - 1)  # drop the newline before the closer
    lang, info = _split_info(opener.group(2))
    end = closer.end() + (1 if text.startswith("\n", closer.end()) else 0)
    body = text[start:body_end].removesuffix("\r")
    return FencedBlock(body, lang, info, opener.start(), end, True)


def _unclosed(text: str, opener: re.Match[str]) -> FencedBlock:
    start = _body_start(text, opener)
    body = text[start:].rstrip()
    char = opener.group(1)[0]
    if body.endswith(char * 3):
        # `{"a": 1}``` : the closer was glued to the last line.
        return FencedBlock(
            body.rstrip(char).rstrip(),
            *_split_info(opener.group(2)),
            start=opener.start(),
            end=len(text),
            closed=True,
        )
    lang, info = _split_info(opener.group(2))
    return FencedBlock(body, lang, info, opener.start(), len(text), False)


def strip_fences(text: str, *, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The content of the fenced blocks of ``text``, without fences and surrounding prose.

    Several blocks are joined with a newline; text with no fence comes back stripped of
    surrounding whitespace. ``strip_fences("```json\\n{}\\n```")`` is ``"{}"``.

    Args:
        text: any text.
        max_bytes: the largest input accepted, in UTF-8 bytes.

    Returns:
        The stripped text.

    Raises:
        ParseError: ``text`` is longer than ``max_bytes``; nothing else raises.
    """
    check_size(text, max_bytes, ParseError)
    return unfence(text)


def unfence(text: str) -> str:
    """:func:`strip_fences` without the size check, for input already checked."""
    blocks = scan_fences(text)
    if not blocks:
        return text.strip()
    return "\n".join(block.body for block in blocks).strip()
