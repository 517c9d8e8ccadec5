"""Timing helpers shared by the benchmarks: interleaved medians, best-of-N, a table printer.

Benchmarks report ratios against a baseline measured in the same run, never absolute
thresholds, so a slow or loaded machine changes both sides alike. On a shared machine
prefer :func:`interleaved`: rounds alternate between the callables (A B A B ...), so a
burst of load hits both sides, and the median shrugs off the odd slow round that a
best-of-N would hide in one direction only.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Medians:
    """What :func:`interleaved` measured: per callable, in the order given."""

    seconds: tuple[float, ...]  # median wall time of one call
    numbers: tuple[int, ...]  # calls per timed sample
    rounds: int


def interleaved(
    fns: Sequence[Callable[[], Any]],
    *,
    rounds: int = 7,
    min_rounds: int = 3,
    budget: float | None = None,
    min_sample: float = 1e-3,
) -> Medians:
    """Median seconds per call of each of ``fns``, over rounds that alternate between them.

    Each is warmed up first, which also sizes its samples: a callable faster than
    ``min_sample`` is called ``number`` times per sample so that a sample lasts at least
    ``min_sample``, well above the timer's resolution. Then ``rounds`` rounds, each timing one
    sample of every callable in turn, with the garbage collector off during each sample
    (and restored after it). Each round starts one callable further on (A B, B A, ...), so
    none always runs first, right after the others' allocations were freed. ``budget``
    (seconds) caps the rounds by the warm-up's estimate of one round's cost, never below
    ``min_rounds``.
    """
    numbers, warm = zip(*(_calibrate(fn, min_sample) for fn in fns), strict=True)
    if budget is not None:
        cost = sum(n * seconds for n, seconds in zip(numbers, warm, strict=True))
        rounds = max(min_rounds, min(rounds, int(budget / max(cost, 1e-9))))
    samples: list[list[float]] = [[] for _ in fns]
    for turn in range(rounds):
        for i in _rotated(len(fns), turn):
            samples[i].append(_sample(fns[i], numbers[i]) / numbers[i])
    return Medians(tuple(statistics.median(s) for s in samples), tuple(numbers), rounds)


def _rotated(count: int, turn: int) -> list[int]:
    return [(turn + i) % count for i in range(count)]


def _calibrate(fn: Callable[[], Any], min_sample: float) -> tuple[int, float]:
    """Calls per sample so one lasts ``min_sample``, and the seconds per call seen."""
    number = 1
    while True:
        seconds = _sample(fn, number)
        if seconds >= min_sample:
            return number, seconds / number
        # aim 20% past the target from the rate just seen, at least doubling
        number = max(2 * number, math.ceil(1.2 * number * min_sample / max(seconds, 1e-9)))


def _sample(fn: Callable[[], Any], number: int) -> float:
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        return time.perf_counter() - start
    finally:
        if gc_was_enabled:
            gc.enable()


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
