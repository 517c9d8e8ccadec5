"""Named sections: parse a ``=======NAME`` reply, render one, or render its instructions.

A sectioned reply is a run of header lines, each followed by its section's content::

    =======THOUGHT
    reasoning
    =======TOOL_CALL
    {"name": "get_file_content", "arguments": {"file_path": "a.py"}}

Policies (the original program's rule was ``^=+\\s*[A-Z_]+$``, order and count only):

- A header is a line of 3 or more ``=`` and a name. Leading and trailing spaces or tabs,
  a ``\\r``, spaces between the ``=`` run and the name, lower case, digits, ``_``, inner
  spaces or hyphens and a closing ``=`` run (``=== tool call ===``) are all tolerated. A
  line of ``=`` only is content. Names compare in :func:`normalize_section_name` form.
- Sections may come in any order; :class:`Sections` holds them in the spec's order.
- Content is verbatim except that CRLF becomes LF and leading and trailing blank lines
  (and the line end before the next header) are dropped.
- A code fence opened inside a section hides header lines until it closes. A fence
  opened before the first header wraps the whole reply: it hides nothing, its opening
  line is not part of the preamble, and its closing line at the end is dropped (as is
  any text after that closing line: it is outside the reply, like a sign-off).
- Text before the first header is kept, stripped, as :attr:`Sections.preamble`.
- Missing, duplicated, unexpected and (when disallowed) empty sections raise one
  :class:`~retort.core.errors.SectionError` naming every problem found.

The scan is linear in the length of the text and never recurses.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence

from retort.core._records import Record, setfield
from retort.core.errors import SectionError
from retort.parsers._fences import unfence
from retort.parsers._limits import DEFAULT_MAX_BYTES, check_size
from retort.parsers._section_scan import Scan, clean_content, normalize_section_name, scan

__all__ = ["Sections", "normalize_section_name", "parse_sections", "render_sections"]

_CANONICAL = re.compile(r"[A-Z_][A-Z0-9_]*")
_MARKER = re.compile(r"={3,}")
_LISTED = 20  # names listed in a message before "and N more"


class Sections(Record):
    """The sections of a parsed reply: a small immutable value, not a mapping.

    Iterating yields the contents, so ``thought, call = parse_sections(text, ["THOUGHT",
    "TOOL_CALL"])`` unpacks in spec order; ``sections["tool call"]`` looks a content up by
    name (case-insensitively) and ``sections[0]`` by position.

    Attributes:
        names: the names present, canonical, in spec order (only the last in partial mode).
        values: the contents, in the same order as ``names``.
        preamble: the text before the first header, stripped ("" when there is none).
        partial: True when last-only mode accepted a reply holding only the last section.
        extra: ``(name, content)`` of sections not asked for, in order of appearance; only
            filled with ``allow_extra=True``.
    """

    __match_args__ = ("names", "values", "preamble", "partial", "extra")
    __slots__ = __match_args__
    names: tuple[str, ...]
    values: tuple[str, ...]
    preamble: str
    partial: bool
    extra: tuple[tuple[str, str], ...]

    def __init__(
        self,
        names: tuple[str, ...],
        values: tuple[str, ...],
        preamble: str = "",
        partial: bool = False,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> None:
        setfield(self, "names", names)
        setfield(self, "values", values)
        setfield(self, "preamble", preamble)
        setfield(self, "partial", partial)
        setfield(self, "extra", extra)

    def __getitem__(self, key: str | int) -> str:
        """The content of a section, by name (any spelling) or by position.

        Raises:
            KeyError: no section of that name is in ``names`` (extras are not looked up).
            IndexError: the position is out of range.
        """
        if isinstance(key, str):
            name = normalize_section_name(key)
            if name in self.names:
                return self.values[self.names.index(name)]
            raise KeyError(key)
        return self.values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    def as_dict(self) -> dict[str, str]:
        """``{name: content}`` for the sections in ``names``, in spec order."""
        return dict(zip(self.names, self.values, strict=True))


def _spec(names: Sequence[str]) -> tuple[str, ...]:
    """The canonical names of a spec, checked: ValueError names the bad entry."""
    if isinstance(names, str):
        raise ValueError(f"names must be a sequence of section names, not a string: [{names!r}]")
    canonical: list[str] = []
    seen: set[str] = set()
    for raw in names:
        if not isinstance(raw, str):
            raise ValueError(f"section names must be strings, got {raw!r}")
        name = normalize_section_name(raw)
        if not _CANONICAL.fullmatch(name):
            raise ValueError(
                f"invalid section name {raw!r}: use ASCII letters, digits, '_', spaces or "
                "hyphens, starting with a letter or '_'"
            )
        if name in seen:
            raise ValueError(f"section name {raw!r} is given twice (as {name})")
        seen.add(name)
        canonical.append(name)
    if not canonical:
        raise ValueError("at least one section name is required")
    return tuple(canonical)


def _check_marker(marker: str) -> None:
    if not _MARKER.fullmatch(marker):
        raise ValueError(f"marker must be a run of 3 or more '=', got {marker!r}")


def parse_sections(
    text: str,
    names: Sequence[str],
    *,
    allow_last_only: bool = False,
    allow_extra: bool = False,
    allow_empty: bool = True,
    marker: str = "=======",
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Sections:
    """Parse a reply made of ``=======NAME`` sections (see the module docs for the rules).

    Args:
        text: the reply.
        names: the expected section names, in order; any spelling that normalises to
            ASCII letters, digits and ``_`` (``"tool call"`` is ``TOOL_CALL``).
        allow_last_only: also accept a reply holding only the last section, or no header
            at all (then the whole reply, fences stripped, is the last section); the
            result has ``partial=True``. The original's ``Union[tuple[str, str], str]``.
        allow_extra: keep sections not in ``names`` in :attr:`Sections.extra` instead of
            rejecting them.
        allow_empty: accept sections whose content is empty.
        marker: the ``=`` run used in error messages (any run of 3+ is parsed).
        max_bytes: the largest reply accepted, in UTF-8 bytes.

    Returns:
        The sections, contents in spec order whatever their order in the reply.

    Raises:
        SectionError: a section is missing, duplicated, unexpected or (with
            ``allow_empty=False``) empty; the message and attributes name every problem.
            A reply longer than ``max_bytes`` is not read at all: ``kind`` is ``"limits"``.
        ValueError: ``names`` is empty, holds a duplicate or an invalid name, or ``marker``
            is not a run of ``=``. These are programming errors, not reply errors.
    """
    expected = _spec(names)
    _check_marker(marker)
    check_size(
        text,
        max_bytes,
        lambda message: SectionError(message, expected=expected, too_long=True),
        what="reply",
    )
    found = scan(text)
    if not found.headers and allow_last_only:
        return _last_only(expected, text, found, allow_empty, marker)
    problems, contents, extra = _collect(text, found, expected, allow_extra)
    partial = allow_last_only and len(expected) > 1 and tuple(contents) == expected[-1:]
    if not partial:
        problems.missing = tuple(name for name in expected if name not in contents)
    if not allow_empty:
        problems.empty = tuple(name for name in expected if contents.get(name) == "")
    if problems:
        raise _error(problems, expected, text, found, allow_last_only, marker)
    ordered = {name: contents[name] for name in expected if name in contents}
    return Sections(tuple(ordered), tuple(ordered.values()), _preamble(text, found), partial, extra)


def _collect(
    text: str, found: Scan, expected: tuple[str, ...], allow_extra: bool
) -> tuple[_Problems, dict[str, str], tuple[tuple[str, str], ...]]:
    """Each header's content, sorted into expected and extra; duplicates and strangers."""
    contents: dict[str, str] = {}
    counts: dict[str, int] = {}
    extra: list[tuple[str, str]] = []
    unexpected: dict[str, None] = {}  # an ordered set
    wanted = set(expected)
    headers = found.headers
    for number, header in enumerate(headers):
        end = headers[number + 1].start if number + 1 < len(headers) else found.stop
        if header.name in counts:
            counts[header.name] += 1
        elif header.name in wanted:
            counts[header.name] = 1
            contents[header.name] = clean_content(text[header.body : end])
        elif allow_extra:
            extra.append((header.name, clean_content(text[header.body : end])))
        else:
            unexpected[header.name] = None
    duplicated = {name: count for name, count in counts.items() if count > 1}
    problems = _Problems(duplicated=duplicated, unexpected=tuple(unexpected))
    return problems, contents, tuple(extra)


def _last_only(
    expected: tuple[str, ...], text: str, found: Scan, allow_empty: bool, marker: str
) -> Sections:
    """A reply with no header in last-only mode: all of it is the last section."""
    content = unfence(text.replace("\r\n", "\n"))
    if not allow_empty and not content:
        raise _error(_Problems(empty=expected[-1:]), expected, text, found, True, marker)
    return Sections(expected[-1:], (content,), "", True)


def _preamble(text: str, found: Scan) -> str:
    if not found.headers:
        return ""
    before = text[: found.headers[0].start]
    if found.wrapper is not None:
        start, end = found.wrapper
        before = before[:start] + before[end:]
    return before.replace("\r\n", "\n").strip()


class _Problems:
    __slots__ = ("duplicated", "empty", "missing", "unexpected")

    def __init__(
        self,
        *,
        missing: tuple[str, ...] = (),
        duplicated: dict[str, int] | None = None,
        unexpected: tuple[str, ...] = (),
        empty: tuple[str, ...] = (),
    ) -> None:
        self.missing = missing
        self.duplicated: dict[str, int] = {} if duplicated is None else duplicated
        self.unexpected = unexpected
        self.empty = empty

    def __repr__(self) -> str:
        return (
            f"_Problems(missing={self.missing!r}, duplicated={self.duplicated!r}, "
            f"unexpected={self.unexpected!r}, empty={self.empty!r})"
        )

    def __bool__(self) -> bool:
        return bool(self.missing or self.duplicated or self.unexpected or self.empty)


def _listing(names: Sequence[str]) -> str:
    if len(names) <= _LISTED:
        return ", ".join(names)
    return f"{', '.join(names[:_LISTED])} and {len(names) - _LISTED} more"


def _plural(count: int, word: str) -> str:
    return word if count == 1 else word + "s"


def _error(
    problems: _Problems,
    expected: tuple[str, ...],
    text: str,
    found: Scan,
    allow_last_only: bool,
    marker: str,
) -> SectionError:
    """One SectionError naming every problem, worded as feedback for the model."""
    header_names = tuple(header.name for header in found.headers)
    rule = (
        f"the reply must contain the {_plural(len(expected), 'section')} "
        f"{_listing(expected)}{' in this order' if len(expected) > 1 else ''}, each introduced "
        f"by a line '{marker}NAME'"
    )
    if allow_last_only and len(expected) > 1:
        rule += f" (or only the last one, {expected[-1]})"
    parts: list[str] = []
    if problems.missing and not header_names:
        empty_reply = " (the reply is empty)" if not text.strip() else ""
        parts.append(f"No section header found{empty_reply}: {rule}.")
    elif problems.missing:
        what = f"Missing {_plural(len(problems.missing), 'section')} {_listing(problems.missing)}"
        parts.append(f"{what}: {rule}. Found: {_listing(header_names)}.")
    hint = _fence_hint(problems.missing, text, found, marker)
    if hint:
        parts.append(hint)
    for name, count in problems.duplicated.items():
        parts.append(f"Section {name} appears {count} times; give each section exactly once.")
    if problems.unexpected:
        what = _plural(len(problems.unexpected), "section")
        parts.append(
            f"Unexpected {what} {_listing(problems.unexpected)}; allowed: {_listing(expected)}."
        )
    if problems.empty:
        verb = "is" if len(problems.empty) == 1 else "are"
        what = _plural(len(problems.empty), "Section")
        parts.append(f"{what} {_listing(problems.empty)} {verb} empty.")
    return SectionError(
        " ".join(parts),
        expected=expected,
        found=header_names,
        missing=problems.missing,
        duplicated=tuple(problems.duplicated),
        unexpected=problems.unexpected,
        empty=problems.empty,
    )


def _fence_hint(missing: Sequence[str], text: str, found: Scan, marker: str) -> str:
    """Why a missing header was not seen, when a code fence around it hid it."""
    for hidden in found.swallowed:
        name = normalize_section_name(hidden.name)
        if name in missing:
            line = text.count("\n", 0, hidden.start) + 1
            fence_line = text.count("\n", 0, hidden.fence) + 1
            return (
                f"The header '{marker}{name}' on line {line} is inside the code fence "
                f"opened on line {fence_line}, so it was read as content; close the fence "
                "before the next header."
            )
    return ""


def render_sections(
    names: Sequence[str],
    values: Sequence[str] | Mapping[str, str] | None = None,
    *,
    hints: Mapping[str, str] | None = None,
    marker: str = "=======",
) -> str:
    """Render a sectioned reply, or the format instructions for one, from a spec.

    With ``values`` the result is a reply that :func:`parse_sections` reads back to the
    same values (for values with no header line, no leading or trailing blank line, no
    ``\\r`` and balanced fences). Without, it is the instruction text for a prompt: the
    sections, their order, and a template with one placeholder per section.

    Args:
        names: the section names, in order (normalised, see :func:`normalize_section_name`).
        values: the contents, in ``names`` order or as a mapping ``name -> content``.
        hints: placeholder text per section name for the instructions; the default is
            ``<your NAME here>``.
        marker: the ``=`` run that starts each header line.

    Returns:
        The reply or the instructions (no trailing newline).

    Raises:
        ValueError: invalid names or marker, values that do not match the names, or hints
            for names that are not in the spec.
    """
    expected = _spec(names)
    _check_marker(marker)
    if values is None:
        return _instructions(expected, _by_name(expected, hints or {}, "hints"), marker)
    if isinstance(values, Mapping):
        by_name = _by_name(expected, values, "values")
        absent = [name for name in expected if name not in by_name]
        if absent:
            raise ValueError(f"values has no content for {', '.join(absent)}")
        contents = [by_name[name] for name in expected]
    elif isinstance(values, str) or len(values) != len(expected):
        raise ValueError(f"values must hold one content per name ({len(expected)})")
    else:
        contents = list(values)
    return "\n".join(
        f"{marker}{name}\n{content}" for name, content in zip(expected, contents, strict=True)
    )


def _by_name(expected: tuple[str, ...], given: Mapping[str, str], what: str) -> dict[str, str]:
    by_name = {normalize_section_name(key): value for key, value in given.items()}
    unknown = [key for key in by_name if key not in expected]
    if unknown:
        raise ValueError(f"{what} names sections not in the spec: {', '.join(unknown)}")
    return by_name


def _instructions(expected: tuple[str, ...], hints: Mapping[str, str], marker: str) -> str:
    if len(expected) == 1:
        intro = f"Your reply must consist of exactly one section, {expected[0]}"
    else:
        intro = (
            f"Your reply must consist of exactly these {len(expected)} sections, in this "
            f"order: {', '.join(expected)}"
        )
    lines = [
        f"{intro}. Start each section with its header line, on a line of its own, exactly as "
        "shown below, and put the section's content on the lines after it:",
        "",
    ]
    for name in expected:
        lines.append(f"{marker}{name}")
        lines.append(hints.get(name, f"<your {name} here>"))
    return "\n".join(lines)
