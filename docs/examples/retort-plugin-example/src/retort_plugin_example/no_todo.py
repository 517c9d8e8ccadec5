"""A validator: code must not keep ``TODO``, ``FIXME`` or ``XXX`` placeholders.

Models asked for code often answer with a skeleton (``# TODO: implement``). The check
walks the value - a string, a pydantic model, mappings and sequences of them - and lists
every line holding a marker, so the feedback tells the model exactly what to finish.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["MARKERS", "TAG", "Placeholder", "find_placeholders", "no_placeholders"]

TAG = "code"
"""The :attr:`retort.core.Expect.tags` label that opts a spec in to the plugin's check."""

MARKERS = re.compile(r"\b(TODO|FIXME|XXX)\b")
"""What counts as a placeholder: the markers as whole words, upper case."""

_MAX_LISTED = 10  # a skeleton can hold hundreds of markers; the model needs the first few
_MAX_LINE = 80


@dataclass(frozen=True, slots=True)
class Placeholder:
    """One line holding a marker.

    Attributes:
        where: the path of the string inside the value (``"[0].code"``; ``""`` for the
            value itself).
        line: the 1-based line number within that string.
        text: the line, stripped (and shortened when long).
    """

    where: str
    line: int
    text: str

    def describe(self) -> str:
        """``[0].code line 3: '# TODO: handle n < 0'``."""
        place = f"{self.where} line {self.line}" if self.where else f"line {self.line}"
        return f"{place}: {self.text!r}"


def _strings(value: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """Every string inside ``value`` with its path, depth first, in order."""
    if isinstance(value, str):
        yield where, value
    elif hasattr(value, "model_dump"):  # a pydantic model: walk its fields
        yield from _strings(value.model_dump(), where)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, f"{where}[{index}]")


def find_placeholders(value: Any) -> list[Placeholder]:
    """Every line of every string in ``value`` that holds a marker, in order."""
    found = []
    for where, text in _strings(value):
        for number, line in enumerate(text.splitlines(), start=1):
            if MARKERS.search(line):
                shown = line.strip()
                if len(shown) > _MAX_LINE:
                    shown = shown[: _MAX_LINE - 3] + "..."
                found.append(Placeholder(where.lstrip("."), number, shown))
    return found


def no_placeholders(value: Any) -> str | None:
    """A retort validator: ``None`` when ``value`` holds no marker, else the feedback.

    Usable on its own too: ``Expect.json(list[FileSpec], validators=[no_placeholders])``.
    """
    found = find_placeholders(value)
    if not found:
        return None
    listed = "; ".join(placeholder.describe() for placeholder in found[:_MAX_LISTED])
    more = f"; and {len(found) - _MAX_LISTED} more" if len(found) > _MAX_LISTED else ""
    noun = "placeholder" if len(found) == 1 else "placeholders"
    return (
        f"The code still has {len(found)} {noun} ({listed}{more}). Replace every "
        "TODO, FIXME and XXX with working code, and send the complete answer again."
    )
