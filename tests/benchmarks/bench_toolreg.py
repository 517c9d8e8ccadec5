"""ToolRegistry.execute against the original program's bare dispatch.

The baseline is what the original did per call: ``json.loads`` the arguments, look the
function up in a dict, call it with ``**arguments`` inside ``try``/``except`` and ``str``
the result. retort adds argument validation by a pydantic model, result rendering and
the timeout scope. Both sides run inside one event loop, so loop start-up is not timed.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # the runner does this for us; as a script we do it ourselves
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import _timing
from pydantic import BaseModel

from retort.core.messages import ToolCall
from retort.core.tools import Tool, ToolRegistry

MAX_RATIO = 10.0
"""retort may cost up to this many times the bare dispatch (microseconds per call)."""
CALLS = 2_000


class Point(BaseModel):
    x: int
    y: int = 0


def get_file_content(file_path: str, start: int = 0) -> str:
    """Read a file."""
    return f"{file_path}:{start}"


def centroid(points: list[Point]) -> dict[str, float]:
    """The centre of some points."""
    return {
        "x": sum(p.x for p in points) / len(points),
        "y": sum(p.y for p in points) / len(points),
    }


def _baseline(functions: dict[str, Callable[..., Any]], calls: list[ToolCall]) -> None:
    async def dispatch() -> None:
        for call in calls:
            try:
                result = str(functions[call.name](**json.loads(call.arguments)))
            except Exception as exc:  # the original's catch-all
                result = f"Error: {exc}"
            assert result

    asyncio.run(dispatch())


def _ours(registry: ToolRegistry, calls: list[ToolCall]) -> None:
    async def dispatch() -> None:
        for call in calls:
            assert (await registry.execute(call)).ok

    asyncio.run(dispatch())


def _row(label: str, name: str, arguments: dict[str, Any], baseline_fn: Any) -> list[str]:
    registry = ToolRegistry([get_file_content, centroid])
    calls = [ToolCall(id=str(n), name=name, arguments=json.dumps(arguments)) for n in range(CALLS)]
    mine = _timing.best_of(lambda: _ours(registry, calls), repeat=3) / CALLS
    theirs = _timing.best_of(lambda: _baseline({name: baseline_fn}, calls), repeat=3) / CALLS
    ratio = mine / theirs
    return [
        label,
        f"{mine * 1e6:.1f}",
        f"{theirs * 1e6:.1f}",
        f"{ratio:.2f}x",
        _timing.verdict(ratio <= MAX_RATIO),
    ]


def _bare_centroid(points: list[dict[str, int]]) -> dict[str, float]:
    count = len(points)
    return {"x": sum(p["x"] for p in points) / count, "y": sum(p["y"] for p in points) / count}


def main() -> None:
    points = {"points": [{"x": n, "y": n} for n in range(20)]}
    rows = [
        _row("2 scalars", "get_file_content", {"file_path": "a.py", "start": 3}, get_file_content),
        _row("20 nested models", "centroid", points, _bare_centroid),
    ]
    _timing.table(
        f"execute: µs per call (best of 3 x {CALLS} calls), bound {MAX_RATIO:g}x",
        ["arguments", "retort µs", "baseline µs", "ratio", "verdict"],
        rows,
    )
    build = _timing.best_of(lambda: Tool.from_function(centroid), repeat=5, number=20)
    docs = _timing.best_of(ToolRegistry([get_file_content, centroid]).render_docs, number=200)
    _timing.table(
        "one-time costs (no baseline: the original built docs by string matching)",
        ["step", "µs"],
        [
            ["Tool.from_function(centroid)", f"{build * 1e6:.0f}"],
            ["render_docs (2 tools)", f"{docs * 1e6:.0f}"],
        ],
    )


if __name__ == "__main__":
    main()
