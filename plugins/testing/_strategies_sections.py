"""Hypothesis strategies for ``=======NAME`` section replies.

- :func:`section_name` / :func:`section_names`: spec names (canonical, distinct).
- :func:`section_contents`: contents that survive a render/parse round trip: no header
  line outside a fence, no leading or trailing blank line, no ``\\r``, balanced fences
  (which may hold header-shaped lines, since a fence hides them).
- :func:`section_replies`: ``(text, values)`` pairs, where ``text`` is a valid reply
  for the names, often noisy: any order, CRLF, lower-case or spaced names, ``=`` runs of
  any length, padded header lines, blank lines, a preamble, a fence wrapping the reply.
  ``values`` holds the contents in the names' order, as ``parse_sections`` returns them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from hypothesis import strategies as st

from retort.parsers import normalize_section_name, render_sections

__all__ = ["section_contents", "section_name", "section_names", "section_replies"]

_NAME_START = "ABCDEFGHIJKLMNOPQRSTUVWXYZ_"
_NAME_REST = _NAME_START + "0123456789"
# Header and fence lines, conservatively (a digit may not start a header name, but a
# content line never needs to look that close to a header).
_SPECIAL = re.compile(r"[ \t]*+(?:`{3}|~{3}|={3,}+[ \t]*+[A-Za-z0-9_])")


_NAME = st.builds(str.__add__, st.sampled_from(_NAME_START), st.text(_NAME_REST, max_size=8))


def section_name() -> st.SearchStrategy[str]:
    """One canonical section name, such as ``THOUGHT`` or ``TOOL_CALL2``."""
    return _NAME


def section_names(*, min_size: int = 1, max_size: int = 4) -> st.SearchStrategy[list[str]]:
    """A spec: distinct canonical section names."""
    return st.lists(section_name(), min_size=min_size, max_size=max_size, unique=True)


def _is_plain(line: str) -> bool:
    """A line that is neither a header nor a fence line."""
    return _SPECIAL.match(line) is None


# Built once: hypothesis strategies are cheap to draw from but not to construct.
_LINE = st.one_of(
    st.text(st.characters(exclude_characters="\n\r"), max_size=30),
    st.text(" \t=`~-#abcXYZ{}:", max_size=20),
    st.sampled_from(["=====", "== NAME", "===", "  ====== ", "x ===THOUGHT", "  indented"]),
).filter(_is_plain)
_TEXT_LINE = _LINE.filter(lambda line: line.strip() != "")
# None of these can close a fence: plain lines hold no fence run, and header shapes and
# a ``` opener with an info string are content inside a fence.
_FENCED_LINE = st.one_of(
    _LINE, st.sampled_from(["=======THOUGHT", "=== tool call ===", "=====CODE", "```python"])
)


@st.composite
def _fenced_block(draw: st.DrawFn) -> list[str]:
    """A balanced fenced block, possibly holding header-shaped lines."""
    run = draw(st.sampled_from("`~")) * draw(st.integers(3, 5))
    indent = draw(st.sampled_from(["", "", "  "]))
    info = draw(st.sampled_from(["", "python", "json", "text title=a.py"]))
    body = draw(st.lists(_FENCED_LINE, max_size=4))
    return [indent + run + info, *body, indent + run]


_PIECE = st.one_of(_LINE.map(lambda line: [line]), _fenced_block())


@st.composite
def section_contents(draw: st.DrawFn) -> str:
    """A section content that survives a render/parse round trip unchanged."""
    pieces = [line for piece in draw(st.lists(_PIECE, max_size=4)) for line in piece]
    if pieces and not pieces[0].strip():
        pieces[0] = draw(_TEXT_LINE)
    if pieces and not pieces[-1].strip():
        pieces[-1] = draw(_TEXT_LINE)
    return "\n".join(pieces)


def _spelling(name: str, style: int) -> str:
    """One of the tolerated spellings of a canonical name."""
    if style == 1:
        return name.lower()
    if style == 2:
        return name.replace("_", " ").strip().lower() if name.strip("_") else name
    if style == 3:
        return name.replace("_", "-").strip("-").title() if name.strip("_") else name
    return name


@st.composite
def _header(draw: st.DrawFn, name: str) -> str:
    marker = "=" * draw(st.integers(3, 12))
    spelled = _spelling(name, draw(st.integers(0, 3)))
    if normalize_section_name(spelled) != name:
        spelled = name  # e.g. "A__B" spaced out would normalise differently
    lead = draw(st.sampled_from(["", "", " ", "\t"]))
    gap = draw(st.sampled_from(["", "", " "]))
    close = draw(st.sampled_from(["", "", " " + marker, "==="]))
    trail = draw(st.sampled_from(["", "", "  ", "\t"]))
    return f"{lead}{marker}{gap}{spelled}{close}{trail}"


@st.composite
def section_replies(
    draw: st.DrawFn, names: Sequence[str], *, noisy: bool = True
) -> tuple[str, tuple[str, ...]]:
    """A valid reply for ``names`` and its expected contents, in the names' order.

    Args:
        draw: supplied by hypothesis.
        names: the spec, as passed to ``parse_sections``.
        noisy: add the tolerated noise (order, spelling, CRLF, wrapper, preamble...);
            ``False`` gives exactly what ``render_sections`` writes.
    """
    values = tuple(draw(section_contents()) for _ in names)
    if not noisy:
        return render_sections(names, values), values
    canonical = [normalize_section_name(name) for name in names]
    order = draw(st.permutations(range(len(names))))
    lines: list[str] = []
    for index in order:
        lines.append(draw(_header(canonical[index])))
        if draw(st.booleans()) and values[index]:
            lines.append("")  # a blank line after the header is not content
        lines.append(values[index])
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(["", "  ", "\t"])))  # trailing blank lines
    text = "\n".join(lines)
    if draw(st.booleans()):
        text = f"```{draw(st.sampled_from(['', 'text', 'markdown']))}\n{text}\n```\n"
    if draw(st.booleans()):
        preamble = draw(_TEXT_LINE.filter(lambda line: line.strip() == line))
        text = f"{preamble}\n\n{text}"
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    return text, values
