"""Consensus: solve the same task several times on fresh agents and vote.

Each sample is a full :func:`~retort.core.solve.solve` on ``agent.fork()``, all under
the run's one limiter. Votes are cast over a canonical key of each *validated* value, so
two replies that differ only in formatting vote together; failed samples are excluded
and reported, ties go to the earliest sample, and with a quorum the vote stops as soon as
a value reaches it and the remaining samples are cancelled (their slots released, no
task left behind).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import pluggy

from retort.core._records import Record, fields_of
from retort.core.errors import ConfigurationError, RetortError, SolveFailed
from retort.core.expect import Expect
from retort.core.ports import Agent
from retort.core.run import Attempt, Metrics, Run
from retort.core.solve import Solved, solve

__all__ = ["Sample", "Votes", "canonical_key", "consensus", "normalize_code"]


def normalize_code(text: str) -> str:
    """Code in a form that ignores what does not change it for a vote: CRLF line ends,
    trailing whitespace on lines, and blank lines (runs of them included)."""
    lines = (line.rstrip() for line in text.replace("\r\n", "\n").split("\n"))
    return "\n".join(line for line in lines if line)


def _plain(value: Any) -> Any:
    """JSON-shaped data: models dumped, tuples and sets as lists, multi-line text normalised."""
    if hasattr(value, "model_dump") and callable(value.model_dump):
        value = value.model_dump(mode="json")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    elif isinstance(value, Record):  # Sections, FencedBlock...: keyed as their dataclasses were
        value = fields_of(value)
    if isinstance(value, str):
        return normalize_code(value) if "\n" in value else value
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted((_plain(item) for item in value), key=repr)
    return value


def canonical_key(value: Any) -> str:
    """The default vote key: canonical JSON of the value (sorted keys, compact), with
    multi-line strings passed through :func:`normalize_code`."""
    return json.dumps(
        _plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr
    )


@dataclass(frozen=True)
class Sample:
    """One sample of a consensus.

    Attributes:
        index: 0-based sample number.
        solved: the solve's result, when it succeeded.
        error: why it failed (``SolveFailed``, ``TransportError``...), when it did.
        cancelled: True when a quorum was reached before it finished.
        key: its vote key, when it succeeded.
    """

    index: int
    solved: Solved[Any] | None = None
    error: RetortError | None = None
    cancelled: bool = False
    key: Hashable | None = None

    @property
    def ok(self) -> bool:
        return self.solved is not None

    @property
    def attempts(self) -> tuple[Attempt, ...]:
        if self.solved is not None:
            return self.solved.attempts
        if isinstance(self.error, SolveFailed):
            return tuple(self.error.attempts)
        return ()


@dataclass(frozen=True)
class Votes:
    """The outcome of a consensus.

    Attributes:
        value: the winning value (the earliest sample's, among those with the winning key).
        key: the winning key.
        counts: votes per key, most first (ties in order of first appearance).
        samples: every sample, in index order.
        metrics: the run's counters.
    """

    value: Any
    key: Hashable
    counts: dict[Hashable, int]
    samples: tuple[Sample, ...]
    metrics: Metrics

    @property
    def failed(self) -> tuple[Sample, ...]:
        """Samples that ended with an error (cancelled ones are not failures)."""
        return tuple(sample for sample in self.samples if sample.error is not None)

    @property
    def winners(self) -> tuple[Sample, ...]:
        """Samples that voted for the winning key."""
        return tuple(sample for sample in self.samples if sample.ok and sample.key == self.key)


async def consensus(
    agent: Agent,
    task: str,
    expect: Expect | None = None,
    *,
    samples: int = 5,
    limit: int | None = 3,
    key: Callable[[Any], Hashable] | None = None,
    quorum: int | None = None,
    run: Run | None = None,
    plugins: pluggy.PluginManager | None = None,
) -> Votes:
    """Solve ``task`` ``samples`` times, each on a fork of ``agent``, and vote.

    Args:
        agent: the agent to fork for every sample (it is not used itself).
        task: the task text.
        expect: what each reply must be.
        samples: how many solves (default 5, as the original).
        limit: the most concurrent model calls in the run (default 3, as the original);
            ignored when ``run`` is given, whose limiter is used.
        key: maps a validated value to its vote key; :func:`canonical_key` by default.
        quorum: stop once a key has this many votes, cancelling the other samples.
        run: an existing run to share (its limiter, metrics and attempts).
        plugins: with a new run, the plugin manager.

    Returns:
        :class:`Votes` with the winning value, the counts and every sample.

    Raises:
        SolveFailed: every sample failed; carries all their attempts.
        ConfigurationError: ``samples`` < 1, or a ``quorum`` outside 1..samples.
    """
    if samples < 1:
        raise ConfigurationError(f"samples must be 1 or more, got {samples}")
    if quorum is not None and not 1 <= quorum <= samples:
        raise ConfigurationError(f"quorum must be between 1 and samples ({samples}), got {quorum}")
    keyfn = key or canonical_key
    if run is not None:
        with run.active():
            return await _vote(agent, task, expect, samples, keyfn, quorum, run)
    async with Run(limit=limit, plugins=plugins) as own:
        return await _vote(agent, task, expect, samples, keyfn, quorum, own)


async def _sample(
    index: int,
    agent: Agent,
    task: str,
    expect: Expect | None,
    keyfn: Callable[[Any], Hashable],
    run: Run,
    window: asyncio.Semaphore,
) -> Sample:
    async with window:
        try:
            solved = await solve(agent, task, expect, fresh=True, run=run, sample=index)
        except RetortError as exc:
            return Sample(index, error=exc)
    return Sample(index, solved=solved, key=keyfn(solved.value))


async def _vote(
    agent: Agent,
    task: str,
    expect: Expect | None,
    samples: int,
    keyfn: Callable[[Any], Hashable],
    quorum: int | None,
    run: Run,
) -> Votes:
    # Samples in flight are bounded to twice the limit: the limiter always has forked
    # samples waiting for a slot, and no more agents are forked than can soon be used.
    limit = run.limiter.limit
    window = asyncio.Semaphore(samples if limit is None else min(samples, 2 * limit))
    tasks = [
        asyncio.create_task(_sample(index, agent, task, expect, keyfn, run, window))
        for index in range(samples)
    ]
    counts: Counter[Hashable] = Counter()
    try:
        for next_done in asyncio.as_completed(tasks):
            sample = await next_done
            if sample.ok:
                counts[sample.key] += 1
                if quorum is not None and counts[sample.key] >= quorum:
                    break
    finally:
        for pending in tasks:
            pending.cancel()  # a no-op for finished ones
        await asyncio.gather(*tasks, return_exceptions=True)
    return _tally(tasks, run)


def _tally(tasks: list[asyncio.Task[Sample]], run: Run) -> Votes:
    done = tuple(
        Sample(index, cancelled=True) if task.cancelled() else task.result()
        for index, task in enumerate(tasks)
    )
    counts: Counter[Hashable] = Counter()
    first: dict[Hashable, Sample] = {}
    for sample in done:
        if sample.ok:
            counts[sample.key] += 1
            first.setdefault(sample.key, sample)
    if not counts:
        attempts = [attempt for sample in done for attempt in sample.attempts]
        reasons = "; ".join(
            f"sample {sample.index}: {sample.error}" for sample in done if sample.error is not None
        )
        raise SolveFailed(f"all {len(done)} samples failed ({reasons})", attempts=attempts)
    # Counter.most_common keeps first-insertion order among equal counts; insertion
    # follows sample index here, so ties go to the earliest sample.
    ordered = dict(counts.most_common())
    winner = next(iter(ordered))
    solved = first[winner].solved
    assert solved is not None  # only samples that solved were counted
    return Votes(solved.value, winner, ordered, done, run.metrics)
