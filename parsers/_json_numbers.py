"""Numbers of the lenient JSON parser: JSON numbers exactly, and the odd ones models write.

``read_number`` returns what ``json.loads`` would for a JSON number, and repairs hex,
octal and binary literals, a leading ``+``, leading zeros, ``.5``, ``5.``, ``1_000`` and
a truncated exponent, each with a fix.
"""

from __future__ import annotations

import re
from typing import Any

from retort.parsers._json_lex import FixSink

__all__ = ["read_number"]

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_LOOSE_NUMBER = re.compile(
    r"[-+]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+"
    r"|(?:[0-9][0-9_]*)?(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]*)?)"
)
_RADIX = {"x": (16, "hex_number"), "o": (8, "octal_number"), "b": (2, "binary_number")}


def read_number(text: str, pos: int, fixes: FixSink) -> tuple[Any, int] | None:
    """Read a number at ``pos``; None when the text there is not a number after all.

    JSON numbers become ``int`` or ``float`` exactly as ``json.loads`` makes them; hex,
    octal and binary literals, a leading ``+``, leading zeros, ``.5``, ``5.``, ``1_000``
    and a truncated exponent are repaired with a fix.
    """
    match = _NUMBER.match(text, pos)
    end = match.end() if match else pos
    if match and (end >= len(text) or not _glued(text[end])):
        literal = match.group(0)
        return _to_number(literal, bool(match.group(1) or match.group(2))), end
    loose = _LOOSE_NUMBER.match(text, pos)
    if loose is None:
        return None
    end = loose.end()
    literal = loose.group(0)
    if (end < len(text) and _glued(text[end])) or not any(c.isdigit() for c in literal):
        return None
    try:
        value, notes = _loose_value(literal)
    except ValueError:
        return None
    for kind, detail in notes:
        fixes.add(kind, pos, detail)
    return value, end


def _glued(char: str) -> bool:
    """A character that makes the number before it part of a bare word (2024-01-01, 1/3)."""
    return char.isalnum() or char in "._-/:"


def _to_number(literal: str, is_float: bool) -> Any:
    if is_float:
        return float(literal)
    try:
        return int(literal)
    except ValueError:  # more digits than int() accepts: keep the magnitude
        return float(literal)


def _loose_value(literal: str) -> tuple[Any, list[tuple[str, str]]]:
    """The number ``literal`` means, and the fixes reading it took; ValueError if none."""
    notes: list[tuple[str, str]] = []
    sign = -1 if literal.startswith("-") else 1
    body = literal.lstrip("+-").replace("_", "")
    if literal.startswith("+"):
        notes.append(("plus_sign", "removed a leading '+'"))
    if len(body) > 1 and body[0] == "0" and body[1] in "xXoObB":
        base, kind = _RADIX[body[1].lower()]
        notes.append((kind, f"converted {literal!r} to a decimal number"))
        return sign * int(body[2:], base), notes  # int("") raises: "0x_" is no number
    mantissa = body.rstrip("eE+-")
    is_float = any(c in mantissa for c in ".eE")
    if mantissa != body or "_" in literal or mantissa.startswith(".") or mantissa.endswith("."):
        notes.append(("number_format", f"read {literal!r} as a number"))
    elif len(mantissa) > 1 and mantissa[0] == "0" and mantissa[1].isdigit():
        notes.append(("leading_zero", f"removed leading zeros from {literal!r}"))
    if not is_float:
        return sign * _to_number(mantissa.lstrip("0") or "0", False), notes
    text = "0" + mantissa if mantissa.startswith(".") else mantissa
    return sign * _to_number(text.rstrip(".") or "0", True), notes
