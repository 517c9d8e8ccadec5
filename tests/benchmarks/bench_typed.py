"""coerce against a pydantic TypeAdapter built once (the baseline) and built per call.

coerce caches its adapters, so on well-formed values it should cost about what a
prebuilt adapter costs; building an adapter per call is what the cache saves.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # the runner does this for us; as a script we do it ourselves
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import _timing
from pydantic import BaseModel, TypeAdapter

from retort.parsers import coerce

MAX_OVERHEAD_US = 1.0
"""coerce may add this much to a prebuilt TypeAdapter's time on well-formed values.

A fixed cost, not a ratio: validating ``"FIX"`` as ``str`` takes well under a microsecond,
so any function call around it doubles the ratio while costing nothing that matters.
"""


class FileSpec(BaseModel):
    file_name: str
    code: str


def _row(label: str, value: Any, target: Any, *, number: int) -> list[str]:
    adapter: TypeAdapter[Any] = TypeAdapter(target)
    coerce(value, target)  # warm the cache, as a long-running program would have
    ours = _timing.best_of(lambda: coerce(value, target), number=number)
    base = _timing.best_of(lambda: adapter.validate_python(value), number=number)
    fresh = _timing.best_of(lambda: TypeAdapter(target).validate_python(value), number=20)
    overhead = (ours - base) * 1e6
    return [
        label,
        f"{ours * 1e6:.2f}",
        f"{base * 1e6:.2f}",
        f"{ours / base:.2f}x",
        f"{overhead:.2f}",
        f"{fresh / ours:.0f}x",
        _timing.verdict(overhead <= MAX_OVERHEAD_US),
    ]


def main() -> None:
    files = [{"file_name": f"m{n}.py", "code": "x = 1\n" * 20} for n in range(5)]
    models = [FileSpec(**item) for item in files]
    rows = [
        _row("str", "FIX", str, number=20_000),
        _row("tuple[str, str]", ["a", "b"], tuple[str, str], number=20_000),
        _row("dict[str, Any]", {"a": 1, "b": [1, 2]}, dict[str, Any], number=20_000),
        _row("list[FileSpec] from dicts", files, list[FileSpec], number=5_000),
        _row("list[FileSpec] from models", models, list[FileSpec], number=5_000),
    ]
    _timing.table(
        "coerce vs prebuilt TypeAdapter, microseconds per call "
        f"(target: at most {MAX_OVERHEAD_US} us added)",
        [
            "target",
            "coerce us",
            "adapter us",
            "ratio",
            "added us",
            "adapter per call / coerce",
            "verdict",
        ],
        rows,
    )
    text = json.dumps(files)
    adapter: TypeAdapter[list[FileSpec]] = TypeAdapter(list[FileSpec])
    ours = _timing.best_of(lambda: coerce(text, list[FileSpec]), number=2_000)
    base = _timing.best_of(lambda: adapter.validate_json(text), number=2_000)
    _timing.table(
        "double-encoded text: coerce(str) vs adapter.validate_json, microseconds",
        ["case", "coerce us", "validate_json us", "ratio"],
        [
            [
                "list[FileSpec] as JSON text",
                f"{ours * 1e6:.1f}",
                f"{base * 1e6:.1f}",
                f"{ours / base:.2f}x",
            ]
        ],
    )


if __name__ == "__main__":
    main()
