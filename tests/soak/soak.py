"""Soak: thousands of solves through ProxyTransport + NativeAgent against a faulty server.

```
make soak                                       # 20,000 solves or 5 minutes, limit 64
make soak ARGS="--solves 2000 --limit 32"
.venv/bin/python tests/soak/soak.py --seconds 60 --timeout 1 --deadline 3
```

What runs: the reference proxy server (``serve()``, in this process: its own thread and
event loop) answers "Task N" with N squared in two sections - malformed on the first
attempt of every 4th task and on every attempt of every 97th, so feedback attempts and
``SolveFailed`` happen - behind a seeded fault layer: 10% 429 (``Retry-After: 0.05``),
10% 500, 5% connection resets, 5% truncated bodies, and independently 5% delays of 1.5 x
the per-attempt timeout. Each solve has its own ``NativeAgent`` over one shared
``ProxyTransport`` (seeded back-off), all in one ``Run(limit=L)``; 2 x L workers take
solves until ``--solves`` are done or ``--seconds`` have passed. Then the faults are
turned off and 4 x L more solves run against a model that takes 50 ms, to see the
server's peak concurrency reach the limit exactly.

Invariants (each breach is printed; the exit status is 1 if there is any):

- every solve ends ``Solved`` (with the right answer), ``SolveFailed`` or a
  ``TransportError`` subclass - nothing else;
- no ask (one send: the agent has no tools) takes longer than the deadline plus slack,
  and no solve's time in its asks exceeds attempts x deadline plus slack (the wait for
  the run's limiter is not the transport's to bound, so it is not counted);
- every attempt is accounted for: ``len(run.attempts)`` equals the attempts carried by
  every ``Solved`` and ``SolveFailed`` plus, for a solve ended by a transport error, the
  number of the attempt that raised; the run's counters agree;
- ``transport_retries`` equals the retries the transport logged, and is > 0;
- the server saw every client attempt but those cut short client-side:
  ``0 <= (asks + retries) - server requests <= attempts that timed out``;
- the failures the client saw match the faults the server injected: per status, the
  client saw at most as many as were injected and missed at most the delayed ones;
  every delayed request timed out; resets and truncations showed as broken connections
  (bar the delayed ones);
- the limiter's peak is the limit, the server's peak with faults is at most the limit
  plus the requests still delayed after their clients gave up, and without faults it
  is the limit exactly;
- no ResourceWarning (an unclosed client or socket) and no "coroutine ... was never
  awaited" after a final ``gc.collect()``.

``tests/adapters/test_reliability.py`` runs the same harness with 1,000 solves in
``make test``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import logging
import random
import re
import statistics
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from retort.adapters._http import RetryPolicy
from retort.adapters.native import NativeAgent
from retort.adapters.proxy import (
    Faults,
    ModelReply,
    ModelRequest,
    ProxyTransport,
    ServerHandle,
    ServerStats,
    serve,
)
from retort.core import (
    Expect,
    Reply,
    Run,
    SolveFailed,
    TransportError,
    make_plugin_manager,
    solve,
)
from retort.core.run import Metrics

SPEC = Expect.sections("THOUGHT", "ANSWER", attempts=3)
SYSTEM = "You square numbers. Answer in the sections you are asked for."
CLEAN_DELAY = 0.05  # the model's latency in the clean phase: long enough to fill the limit
CLEAN_TIMEOUT = 30.0  # the clean phase measures concurrency, not the client's speed
_POLL = 0.05

# The transport logs each retry with the failed attempt's summary (retort.adapters._http).
_HTTP_LOGGER = "retort.adapters.http"
_RETRY_LOG = re.compile(r"retrying in [\d.]+ s \(attempt \d+ of \d+ failed\): (?P<summary>.*)")


@dataclass(frozen=True)
class Config:
    """One soak's settings; the defaults are ``make soak``'s.

    Attributes:
        solves: how many solves at most.
        seconds: stop starting solves after this long.
        limit: the run's limit (the most concurrent model calls).
        timeout: the transport's per-attempt timeout.
        deadline: the transport's deadline per send.
        retries: the transport's retries per send.
        slack: seconds an ask may overrun the deadline (event-loop lag on a busy machine).
        seed: seeds the faults, the back-off jitter.
        faults: the server's fault layer (default: :func:`default_faults`).
    """

    solves: int = 20_000
    seconds: float = 300.0
    limit: int = 64
    timeout: float = 1.0
    deadline: float = 3.0
    retries: int = 4
    slack: float = 1.0
    seed: int = 2024
    faults: Faults | None = None

    def fault_layer(self) -> Faults:
        return self.faults if self.faults is not None else default_faults(self)


def default_faults(config: Config) -> Faults:
    """20% 429/500, 5% resets, 5% truncated bodies, 5% delays past the timeout."""
    return Faults(
        seed=config.seed,
        statuses={429: 0.10, 500: 0.10},
        retry_after=0.05,
        reset=0.05,
        truncate=0.05,
        delay=0.05,
        delay_seconds=config.timeout * 1.5,
    )


class SquareModel:
    """The reference server's backend: "Task N" -> N squared, sometimes malformed."""

    def __init__(self) -> None:
        self.delay = 0.0

    async def reply(self, request: ModelRequest) -> ModelReply:
        users = [m for m in request.messages if m.get("role") == "user"]
        match = re.search(r"Task (\d+)", str(users[0].get("content")) if users else "")
        if match is None:
            return ModelReply(text="I was given no task.", delay=self.delay)
        n = int(match.group(1))
        first = len(users) == 1  # a feedback attempt sees the task and the feedback
        if n % 97 == 0 or (n % 4 == 0 and first):
            return ModelReply(text=f"The square is {n * n}.", delay=self.delay)
        return ModelReply(
            text=f"=======THOUGHT\nSquare {n}.\n=======ANSWER\n{n * n}", delay=self.delay
        )


class TimedAgent(NativeAgent):
    """A NativeAgent that records how long each ask took (after the limiter let it in)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ask_times: list[float] = []

    async def ask(self, message: str) -> Reply:
        start = time.perf_counter()
        try:
            return await super().ask(message)
        finally:
            self.ask_times.append(time.perf_counter() - start)


def cause(summary: str) -> str:
    """The kind of a failed attempt, from its summary: ``status:<code>``, ``timeout``,
    ``broken`` (reset or truncated), ``connect`` or ``other``."""
    status = re.search(r"answered (\d{3})", summary)
    if status:
        return f"status:{status.group(1)}"
    if "timed out" in summary:
        return "timeout"
    if "broke" in summary:
        return "broken"
    if "cannot connect" in summary:
        return "connect"
    return "other"


class _Records(logging.Handler):
    """Counts the transport's retries by cause and the server's logged errors."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.retries: Counter[str] = Counter()
        self.server_errors: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == _HTTP_LOGGER:
            match = _RETRY_LOG.match(record.getMessage())
            if match:
                self.retries[cause(match["summary"])] += 1
        elif record.levelno >= logging.ERROR:
            kind = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
            self.server_errors[kind or record.getMessage()[:60]] += 1


@contextmanager
def _recording() -> Iterator[_Records]:
    handler = _Records()
    http, server = logging.getLogger(_HTTP_LOGGER), logging.getLogger("uvicorn.error")
    level = http.level
    http.setLevel(logging.INFO)
    http.addHandler(handler)
    server.addHandler(handler)
    try:
        yield handler
    finally:
        http.removeHandler(handler)
        server.removeHandler(handler)
        http.setLevel(level)


@dataclass
class Report:
    """What a soak saw; :func:`violations` judges it."""

    config: Config
    wall: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    ask_times: list[float] = field(default_factory=list)
    overruns: list[str] = field(default_factory=list)
    result_attempts: int = 0
    run_attempts: int = 0
    errored_attempts: int = 0
    metrics: Metrics = field(default_factory=Metrics)
    limiter_peak: int = 0
    retries: Counter[str] = field(default_factory=Counter)
    finals: Counter[str] = field(default_factory=Counter)
    server_errors: Counter[str] = field(default_factory=Counter)
    stats: ServerStats | None = None
    clean_peak: int = 0
    clean_limiter_peak: int = 0
    clean_outcomes: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)

    @property
    def solves(self) -> int:
        return sum(self.outcomes.values())

    @property
    def failed_attempts(self) -> Counter[str]:
        """Every failed HTTP attempt the client saw, by cause (retried or final)."""
        return self.retries + self.finals


async def _solve_one(
    n: int, transport: ProxyTransport, run: Run, config: Config, report: Report
) -> None:
    agent = TimedAgent(transport, SYSTEM, name=f"solver-{n}", owns_transport=False)
    start = time.perf_counter()
    attempts = 0
    try:
        solved = await solve(agent, f"Task {n}: what is {n} squared?", SPEC, run=run)
        attempts = len(solved.attempts)
        report.result_attempts += attempts
        report.outcomes["solved"] += 1
        if solved.value != (f"Square {n}.", str(n * n)):
            report.wrong.append(f"task {n}: {solved.value!r}")
    except SolveFailed as exc:
        attempts = len(exc.attempts)
        report.result_attempts += attempts
        report.outcomes["SolveFailed"] += 1
    except TransportError as exc:
        attempts = len(agent.ask_times)
        report.outcomes[type(exc).__name__] += 1
        report.finals[cause(str(exc))] += 1
    except Exception as exc:  # an invariant breach, reported rather than raised
        report.outcomes[f"unexpected {type(exc).__name__}"] += 1
        report.unexpected.append(f"task {n}: {type(exc).__name__}: {exc}")
    finally:
        await agent.aclose()
    report.latencies.append(time.perf_counter() - start)
    report.ask_times.extend(agent.ask_times)
    bound = config.deadline + config.slack
    active = sum(agent.ask_times)
    if any(t > bound for t in agent.ask_times) or active > attempts * config.deadline + bound:
        report.overruns.append(
            f"task {n}: asks took {', '.join(f'{t:.2f}' for t in agent.ask_times)} s "
            f"(deadline {config.deadline:g} s + slack {config.slack:g} s)"
        )


async def _solves(url: str, config: Config, count: int, seconds: float, report: Report) -> Run:
    """``count`` solves (or ``seconds``' worth) by 2 x limit workers in one run."""
    plugins = make_plugin_manager(autoload=False)
    policy = RetryPolicy(backoff_base=0.05, backoff_cap=0.5, rng=random.Random(config.seed))
    numbers = itertools.count(1)
    stop_at = time.monotonic() + seconds
    async with (
        Run(limit=config.limit, plugins=plugins) as run,
        ProxyTransport(
            url,
            timeout=config.timeout,
            deadline=config.deadline,
            retries=config.retries,
            policy=policy,
            agent_prefix="soak",
        ) as transport,
    ):

        async def worker() -> None:
            while time.monotonic() < stop_at and (n := next(numbers)) <= count:
                await _solve_one(n, transport, run, config, report)

        await asyncio.gather(*(worker() for _ in range(2 * config.limit)))
    return run


def _account(report: Report, run: Run) -> None:
    report.run_attempts = len(run.attempts)
    # A solve ended by a transport error carries no attempts; the attempt that raised
    # has the solve's attempt count as its number.
    errored = [attempt for attempt in run.attempts if attempt.error is not None]
    report.errored_attempts = len(errored)
    report.result_attempts += sum(attempt.number for attempt in errored)
    report.metrics = run.metrics
    report.limiter_peak = run.limiter.peak


async def _soak(
    server: ServerHandle, model: SquareModel, config: Config, report: Report, records: _Records
) -> None:
    start = time.perf_counter()
    run = await _solves(server.url, config, config.solves, config.seconds, report)
    report.wall = time.perf_counter() - start
    report.stats = server.stats
    report.retries = records.retries.copy()
    _account(report, run)

    # The clean phase: no faults, a slow model, a patient transport, exactly the limit in
    # flight - once the requests the first phase gave up on (delayed ones) have ended.
    server.set_faults(None)
    polls = int((config.fault_layer().delay_seconds + 5) / _POLL)
    for _ in range(polls):  # the server has no event to wait on: poll its counter
        if not server.stats.in_flight:
            break
        await asyncio.sleep(_POLL)
    server.reset_stats()
    model.delay = CLEAN_DELAY
    clean = Report(config)
    patient = replace(config, timeout=CLEAN_TIMEOUT, deadline=CLEAN_TIMEOUT)
    run = await _solves(server.url, patient, 4 * config.limit, CLEAN_TIMEOUT, clean)
    report.clean_peak = server.stats.peak
    report.clean_limiter_peak = run.limiter.peak
    report.clean_outcomes = clean.outcomes
    report.unexpected += clean.unexpected + clean.wrong + clean.overruns


def run(config: Config) -> Report:
    """Start the server, soak, stop it; collect warnings after a final ``gc.collect()``."""
    report = Report(config)
    model = SquareModel()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with _recording() as records, serve(model, faults=config.fault_layer()) as server:
            asyncio.run(_soak(server, model, config, report, records))
        gc.collect()
    report.server_errors = records.server_errors
    report.warnings = [f"{w.category.__name__}: {w.message}" for w in caught]
    return report


def violations(report: Report) -> list[str]:
    """Every invariant the report breaks, as sentences (empty: all hold)."""
    config, metrics, stats = report.config, report.metrics, report.stats
    assert stats is not None, "violations() needs a finished report"
    found: list[str] = []

    def check(ok: bool, message: str) -> None:
        if not ok:
            found.append(message)

    check(not report.unexpected, f"untyped outcomes: {report.unexpected[:5]}")
    check(not report.wrong, f"wrong answers (crossed conversations?): {report.wrong[:5]}")
    check(not report.overruns, f"{len(report.overruns)} past the deadline: {report.overruns[:3]}")
    check(
        report.run_attempts == report.result_attempts,
        f"run.attempts holds {report.run_attempts} attempts, the results account for "
        f"{report.result_attempts}",
    )
    transport_errors = report.solves - report.outcomes["solved"] - report.outcomes["SolveFailed"]
    check(
        report.errored_attempts == transport_errors,
        f"{report.errored_attempts} attempts carry an error, {transport_errors} solves "
        "ended with a transport error",
    )
    check(
        (metrics.attempts, metrics.solved, metrics.failed)
        == (report.run_attempts, report.outcomes["solved"], report.outcomes["SolveFailed"]),
        f"metrics attempts/solved/failed {metrics.attempts}/{metrics.solved}/{metrics.failed} "
        f"disagree with {report.run_attempts}/{report.outcomes['solved']}/"
        f"{report.outcomes['SolveFailed']}",
    )
    retries = sum(report.retries.values())
    check(metrics.transport_retries > 0, "no transport retries: were faults injected?")
    check(
        metrics.transport_retries == retries,
        f"transport_retries is {metrics.transport_retries}, the transport logged {retries}",
    )
    found += _server_relations(report, stats)
    check(report.limiter_peak == config.limit, f"limiter peak {report.limiter_peak}")
    check(report.clean_limiter_peak == config.limit, f"limiter peak {report.clean_limiter_peak}")
    check(
        report.clean_peak == config.limit,
        f"without faults the server's peak was {report.clean_peak}, not the limit {config.limit}",
    )
    check(
        set(report.clean_outcomes) <= {"solved", "SolveFailed"},
        f"without faults, solves ended {dict(report.clean_outcomes)}",
    )
    leaks = [w for w in report.warnings if "ResourceWarning" in w or "never awaited" in w]
    check(not leaks, f"leaks: {leaks[:5]}")
    return found


def _server_relations(report: Report, stats: ServerStats) -> list[str]:
    """The client's view against the server's counters.

    Every request the server saw ended, for the client, in a reply, an error status, a
    broken connection or a client-side timeout; so a fault the client did not see as
    itself is one it timed out on (a delayed one, or one answered while the client's
    event loop was too busy to read it).
    """
    found: list[str] = []
    failed = report.failed_attempts
    timeouts = failed["timeout"]
    attempts = report.run_attempts + report.metrics.transport_retries
    seen = stats.by_path.get("/api/inference", 0)
    delayed = stats.faults.get("delay", 0)
    missing = attempts - seen
    if not 0 <= missing <= timeouts:
        found.append(
            f"the client made {attempts} attempts, the server saw {seen}: {missing} missing "
            f"but only {timeouts} timed out client-side"
        )
    for status in (429, 500):
        injected, got = stats.faults.get(f"status:{status}", 0), failed[f"status:{status}"]
        if not injected - timeouts <= got <= injected:
            found.append(
                f"{injected} {status}s injected, the client saw {got} ({timeouts} timeouts)"
            )
    dropped = stats.faults.get("reset", 0) + stats.faults.get("truncate", 0)
    if failed["broken"] < dropped - timeouts:
        found.append(
            f"{dropped} resets/truncations, only {failed['broken']} broken connections "
            f"({timeouts} timeouts)"
        )
    if timeouts < delayed:
        found.append(f"{delayed} delays past the timeout, only {timeouts} timeouts")
    # Requests a client gave up on may still run on the server (delayed ones sleep on).
    abandoned = sum(failed.values())
    if stats.peak > report.config.limit + abandoned:
        found.append(f"server peak {stats.peak} > limit {report.config.limit} + {abandoned}")
    if failed["other"] or failed["connect"]:
        found.append(f"unexpected failures: {dict(failed)}")
    return found


def _percentile(values: Sequence[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def summary(report: Report) -> list[tuple[str, str]]:
    """The figures, as (measure, value) rows."""
    stats, metrics, config = report.stats, report.metrics, report.config
    assert stats is not None
    failed = report.failed_attempts
    others = {k: v for k, v in report.outcomes.items() if k not in ("solved", "SolveFailed")}
    rows = [
        ("solves", f"{report.solves} in {report.wall:.1f} s"),
        ("solves/s", f"{report.solves / report.wall:.1f}" if report.wall else "-"),
        ("solved", str(report.outcomes["solved"])),
        ("failed: SolveFailed", str(report.outcomes["SolveFailed"])),
        *((f"failed: {name}", str(count)) for name, count in sorted(others.items())),
        ("attempts (asks)", str(report.run_attempts)),
        ("transport retries", str(metrics.transport_retries)),
        ("failed HTTP attempts by cause", _counts(failed)),
        ("server inference requests", str(stats.by_path.get("/api/inference", 0))),
        ("server faults injected", _counts(Counter(stats.faults))),
        ("timeouts beyond the delay faults", str(failed["timeout"] - stats.faults.get("delay", 0))),
        ("server errors logged", _counts(report.server_errors)),
        ("solve latency p50 / p99 / max", _seconds(report.latencies)),
        ("ask time p50 / p99 / max", _seconds(report.ask_times)),
        ("deadline + slack per ask", f"{config.deadline:g} + {config.slack:g} s"),
        ("limiter peak / limit", f"{report.limiter_peak} / {config.limit}"),
        ("server peak with faults", str(stats.peak)),
        ("server peak without faults / limit", f"{report.clean_peak} / {config.limit}"),
        ("warnings", str(len(report.warnings))),
    ]
    return rows


def _counts(counts: Counter[str]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items())) or "none"


def _seconds(values: Sequence[float]) -> str:
    if not values:
        return "-"
    p50, p99 = _percentile(values, 50), _percentile(values, 99)
    return f"{p50:.3f} / {p99:.3f} / {max(values):.3f} s"


def print_table(title: str, rows: Sequence[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    print(f"\n## {title}")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


def parse_args(argv: Sequence[str]) -> Config:
    defaults = Config()
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--solves", type=int, default=defaults.solves, help="most solves")
    parser.add_argument("--seconds", type=float, default=defaults.seconds, help="time budget")
    parser.add_argument("--limit", type=int, default=defaults.limit, help="the run's limit")
    parser.add_argument("--timeout", type=float, default=defaults.timeout, help="per attempt")
    parser.add_argument("--deadline", type=float, default=defaults.deadline, help="per send")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="faults and jitter")
    args = parser.parse_args(argv)
    if args.solves < 1 or args.limit < 1 or args.seconds <= 0:
        parser.error("--solves and --limit must be >= 1 and --seconds > 0")
    return replace(
        defaults,
        solves=args.solves,
        seconds=args.seconds,
        limit=args.limit,
        timeout=args.timeout,
        deadline=args.deadline,
        seed=args.seed,
    )


def main(argv: Sequence[str]) -> int:
    config = parse_args(argv)
    print(
        f"soak: up to {config.solves} solves or {config.seconds:g} s, limit {config.limit}, "
        f"timeout {config.timeout:g} s, deadline {config.deadline:g} s, seed {config.seed}",
        flush=True,
    )
    report = run(config)
    print_table("soak summary", summary(report))
    broken = violations(report)
    if broken:
        print(f"\n{len(broken)} invariant(s) broken:")
        for message in broken:
            print(f"- {message}")
        return 1
    print("\nall invariants hold")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
