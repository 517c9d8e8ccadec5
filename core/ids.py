"""Stable tool-call ids, exactly as the original program made them, but unique per reply.

The id of a call is ``uuid5(NAMESPACE_URL, f"{name}:{json.dumps(arguments, sort_keys=True)}")``
(default separators), so ids match the ones the original produced and caches keyed on
them keep working. When the same name and arguments occur again in one reply, the
second and later occurrences hash the key with an ordinal suffix (``#2``, ``#3``...).
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable
from typing import Any

__all__ = ["stable_tool_call_id", "stable_tool_call_ids"]


def _key(name: str, arguments: Any) -> str:
    return f"{name}:{json.dumps(arguments, sort_keys=True)}"


def stable_tool_call_id(name: str, arguments: Any, ordinal: int = 1) -> str:
    """The deterministic id of a tool call.

    Args:
        name: the tool's name.
        arguments: the decoded arguments (usually a dict); anything ``json.dumps`` accepts.
        ordinal: 1 for the first occurrence of this exact call in a reply, 2 for the
            second, and so on; the first keeps the original program's id.

    Returns:
        A UUID string.
    """
    if ordinal < 1:
        raise ValueError(f"ordinal must be 1 or more, got {ordinal}")
    key = _key(name, arguments)
    if ordinal > 1:
        key = f"{key}#{ordinal}"
    # Imported here: uuid loads platform, a few ms that `import retort.parsers` need not pay.
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, key))


def stable_tool_call_ids(calls: Iterable[tuple[str, Any]]) -> list[str]:
    """Ids for every ``(name, arguments)`` call of one reply, unique within it."""
    seen: dict[Hashable, int] = {}
    ids: list[str] = []
    for name, arguments in calls:
        key = _key(name, arguments)
        seen[key] = seen.get(key, 0) + 1
        ids.append(stable_tool_call_id(name, arguments, seen[key]))
    return ids
