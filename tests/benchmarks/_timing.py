"""Timing helpers shared by the benchmarks: best-of-N wall time, and a table printer.

Benchmarks report ratios against a baseline measured in the same run, never absolute
thresholds, so a slow or loaded machine changes both sides alike.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from typing import Any


def best_of(fn: Callable[[], Any], *, repeat: int = 5, number: int = 1) -> float:
    """The best wall time in seconds of ``number`` calls of ``fn``, over ``repeat`` rounds."""
    best = float("inf")
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            start = time.perf_counter()
            for _ in range(number):
                fn()
            best = min(best, (time.perf_counter() - start) / number)
    finally:
        if gc_was_enabled:
            gc.enable()
    return best


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a plain-text table."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    print(f"\n## {title}")
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"
