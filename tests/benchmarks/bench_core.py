"""Benchmarks of the core engine (issue: the core engine).

1. Solve-loop overhead: microseconds per attempt for a two-section spec with a scripted
   agent that answers at once, against a baseline measured in the same run: the same
   agent asked directly plus a bare ``parse_sections`` of its reply (the work any loop
   must do). Target: under 100 us per attempt.
2. 1,000 consensus samples, limit 32, scripted latency 20 ms: wall time against the ideal
   ceil(1000 / 32) x 20 ms. Target: within 1.10x; measured peak concurrency == limit.
3. Memory per idle scripted session (an agent with a system message and an empty
   context), measured with tracemalloc over 2,000 of them. Target: under 20 KiB.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _timing

from retort.core import Expect, Run, consensus, make_plugin_manager, solve
from retort.core.plugins import DEFAULT_PLUGINS
from retort.parsers import parse_sections
from retort.plugins.testing import ScriptedAgent

REPLY = "=======THOUGHT\nI will answer.\n=======ANSWER\n42"
SPEC = Expect.sections("THOUGHT", "ANSWER")
SYSTEM = "You are a careful assistant. " * 10


def _plugins() -> object:
    return make_plugin_manager(defaults=DEFAULT_PLUGINS, autoload=False)


async def _loop_overhead(n: int) -> tuple[float, float]:
    pm = _plugins()
    agent = ScriptedAgent(lambda message: REPLY)
    run = Run(plugins=pm)  # type: ignore[arg-type]
    for _ in range(200):  # warm up caches (type adapters, regexes)
        await solve(agent, "task", SPEC, run=run)
    start = time.perf_counter()
    for _ in range(n):
        await solve(agent, "task", SPEC, run=run)
    retort_us = (time.perf_counter() - start) / n * 1e6

    bare = ScriptedAgent(lambda message: REPLY)
    start = time.perf_counter()
    for _ in range(n):
        await bare.reset()
        reply = await bare.ask(SPEC.prompt("task"))
        tuple(parse_sections(reply.text, SPEC.names))
    base_us = (time.perf_counter() - start) / n * 1e6
    return retort_us, base_us


async def _consensus(samples: int, limit: int, latency: float) -> tuple[float, int]:
    agent = ScriptedAgent(lambda message: "same answer", latency=latency)
    start = time.perf_counter()
    votes = await consensus(agent, "task", samples=samples, limit=limit, plugins=_plugins())  # type: ignore[arg-type]
    wall = time.perf_counter() - start
    assert sum(votes.counts.values()) == samples
    return wall, agent.peak


async def _bare_asyncio(samples: int, limit: int, latency: float) -> float:
    """The same shape with nothing but a semaphore and sleeps: what the loop itself costs."""
    semaphore = asyncio.Semaphore(limit)

    async def one() -> None:
        async with semaphore:
            await asyncio.sleep(latency)

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(samples)))
    return time.perf_counter() - start


def _memory_per_session(count: int) -> float:
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    sessions = [ScriptedAgent(["x"], system_message=SYSTEM) for _ in range(count)]
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    used = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert len(sessions) == count
    return used / count / 1024


def main() -> None:
    n = 3_000
    retort_us, base_us = asyncio.run(_loop_overhead(n))
    _timing.table(
        "solve loop: one attempt, two-section spec, scripted agent answering at once",
        ["measure", "us/attempt", "target", "verdict"],
        [
            ["retort solve()", f"{retort_us:.1f}", "< 100", _timing.verdict(retort_us < 100)],
            ["baseline: ask + parse_sections", f"{base_us:.1f}", "", ""],
            ["ratio retort / baseline", f"{retort_us / base_us:.2f}x", "", ""],
            ["overhead of the loop", f"{retort_us - base_us:.1f}", "", ""],
        ],
    )

    samples, limit, latency = 1_000, 32, 0.020
    ideal = math.ceil(samples / limit) * latency
    wall, peak = asyncio.run(_consensus(samples, limit, latency))
    bare = asyncio.run(_bare_asyncio(samples, limit, latency))
    _timing.table(
        f"consensus: {samples} samples, limit {limit}, scripted latency {latency * 1000:.0f} ms",
        ["measure", "value", "target", "verdict"],
        [
            ["wall time (s)", f"{wall:.3f}", "", ""],
            ["ideal ceil(n/limit) x latency (s)", f"{ideal:.3f}", "", ""],
            [
                "ratio wall / ideal",
                f"{wall / ideal:.3f}x",
                "<= 1.10x",
                _timing.verdict(wall / ideal <= 1.10),
            ],
            ["baseline: bare asyncio semaphore + sleeps (s)", f"{bare:.3f}", "", ""],
            ["ratio wall / bare asyncio", f"{wall / bare:.3f}x", "", ""],
            ["peak concurrency", str(peak), f"== {limit}", _timing.verdict(peak == limit)],
        ],
    )

    kib = _memory_per_session(2_000)
    _timing.table(
        "memory per idle scripted session (system message, empty context)",
        ["measure", "KiB", "target", "verdict"],
        [["ScriptedAgent", f"{kib:.2f}", "< 20", _timing.verdict(kib < 20)]],
    )


if __name__ == "__main__":
    main()
