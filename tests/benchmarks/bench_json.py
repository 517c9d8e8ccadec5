"""retort.parsers.loads against json.loads, json_repair and fast_json_repair, in one run.

Every figure is a ratio against a baseline measured in the same run, each side the median
of interleaved rounds (``_timing.interleaved``), because this machine is shared and noisy.

- valid JSON, 1 KB to 10 MB, compact, pretty-printed and many small records: ``loads``
  within 1.1x of ``json.loads`` (the fast path); ``orjson.loads`` shown for reference;
- malformed replies as models send them (``_replies.reply``), 10 KB to 1 MB: at most 0.20x
  the time of ``json_repair.loads`` and 4x that of ``fast_json_repair.loads`` (Rust), with
  the records each one recovers;
- the adversarial shapes of ``retort.plugins.testing.adversarial``: under 0.5 s at 1 MB
  and t(1 MB) / t(64 KB) at most 20 (linear growth). A shape that could take minutes
  (quadratic from its 64 KB time) is first tried at 1 MB in a child process with a
  timeout; json_repair is timed at 8 KB, only where its 2 KB time says it will be quick.

Run alone: ``python tests/benchmarks/bench_json.py`` (or ``run.py json``).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

if __name__ == "__main__":  # run as a script: the runner's sys.path trick, by hand
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import _replies
import _timing
import json_repair
import orjson

from retort.parsers import JSONParseError, loads
from retort.plugins.testing.adversarial import SHAPES

try:
    import fast_json_repair
except ImportError:  # pragma: no cover - a dev extra; the column says it is missing
    fast_json_repair = None

VALID_RATIO = 1.1
REPAIR_RATIO = 0.20  # against json_repair (pure Python)
FAST_RATIO = 4.0  # against fast_json_repair (Rust)
ADVERSARIAL_SECONDS = 0.5
GROWTH_RATIO = 20.0
# decimal units: loads rejects more than max_bytes=10_000_000 by default, so 10 MB fits
VALID_SIZES = {
    "1 KB": 1_000,
    "10 KB": 10_000,
    "100 KB": 100_000,
    "1 MB": 1_000_000,
    "10 MB": 10_000_000,
}
MALFORMED_SIZES = {"10 KB": 10_000, "100 KB": 100_000, "1 MB": 1_000_000}
SMALL, LARGE = 64 * 1024, 1024 * 1024
REFERENCE_SIZE, REFERENCE_PROBE, REFERENCE_LIMIT = 8 * 1024, 2 * 1024, 2.0
PROBE_TIMEOUT = 5.0  # seconds for one loads at 1 MB when its 64 KB time says it may hang
VALID_HEADER = [
    "size",
    "shape",
    "bytes",
    "json.loads",
    "retort",
    "orjson",
    "ratio",
    "target",
    "verdict",
    "rounds",
]
MALFORMED_HEADER = "size retort json_repair ratio verdict fast_json_repair ratio verdict rounds"
_TOTAL = frozenset({"value", "JSONParseError"})  # the only ways loads may end
_WORDS = ("alpha", "beta", "Zoë", "naïve café", "日本語", "path/to/file.py", 'say "hi"', "a\\b")


# ------------------------------------------------------------------ valid documents


def _mixed_item(rng: random.Random, n: int) -> dict[str, Any]:
    """A record of nested objects and arrays, all scalar kinds, escapes and non-ASCII."""
    return {
        "id": n,
        "uuid": f"{rng.getrandbits(128):032x}",
        "name": f"{rng.choice(_WORDS)} {n}",
        "price": round(rng.uniform(-1e4, 1e4), 4),
        "ratio": rng.random() * 1e-7,
        "big": 2**53 + n,
        "active": rng.random() < 0.5,
        "parent": None if n % 3 else n // 3,
        "tags": rng.sample(_WORDS, 3),
        "attrs": {"color": rng.choice(_WORDS), "dims": [rng.randint(1, 500) for _ in range(3)]},
        "history": [
            {"at": f"2024-0{k + 1}-1{k}T10:00:00Z", "by": {"user": rng.choice(_WORDS), "n": k}}
            for k in range(rng.randint(1, 3))
        ],
        "text": "line one\nline two\t" + rng.choice(_WORDS),
    }


def _small_record(rng: random.Random, n: int) -> dict[str, Any]:
    # empty containers keep it small and bracket-dense: more than 512 brackets in 10 KB
    # is what makes loads walk a valid document's depth (more than max_depth openers)
    return {"id": n, "tags": [rng.choice(_WORDS)] if n % 16 == 0 else [], "deps": {}}


def _fit(render: Callable[[int], str], size: int) -> str:
    """The document of as many items as fit in ``size`` UTF-8 bytes."""
    count, doc = 1, render(1)
    for _ in range(8):
        grown = max(1, int(count * size / len(doc.encode()) * 0.995))
        if grown == count:
            break
        count, doc = grown, render(grown)
    while len(doc.encode()) > size and count > 1:
        count = max(1, int(count * 0.99) if count > 100 else count - 1)
        doc = render(count)
    return doc


def valid_documents(size: int) -> dict[str, str]:
    """The three shapes of valid reply, each of at most ``size`` UTF-8 bytes."""
    rng = random.Random(size)
    mixed = [_mixed_item(rng, n) for n in range(size // 400 + 2)]
    small = [_small_record(rng, n) for n in range(size // 40 + 2)]
    return {
        "compact": _fit(lambda n: _dumps({"v": 3, "items": mixed[:n]}), size),
        "pretty": _fit(lambda n: _dumps({"v": 3, "items": mixed[:n]}, indent=2), size),
        "records": _fit(lambda n: _dumps(small[:n], indent=2), size),
    }


def _dumps(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, indent=indent, ensure_ascii=False)


def bench_valid() -> None:
    rows = []
    for label, size in VALID_SIZES.items():
        for shape, doc in valid_documents(size).items():
            assert loads(doc) == json.loads(doc), f"loads differs from json.loads: {label} {shape}"
            calls = [lambda d=doc, f=f: f(d) for f in (loads, json.loads, orjson.loads)]
            got = _timing.interleaved(calls, rounds=31, min_rounds=5, budget=4.0)
            ours, base, ref = got.seconds
            rows.append(
                [
                    label,
                    shape,
                    f"{len(doc.encode()):,}",
                    _ms(base),
                    _ms(ours),
                    _ms(ref),
                    f"{ours / base:.2f}x",
                    f"<= {VALID_RATIO}x",
                    _timing.verdict(ours / base <= VALID_RATIO),
                    got.rounds,
                ]
            )
    _timing.table(
        "valid JSON: retort.parsers.loads vs json.loads (orjson for reference)",
        VALID_HEADER,
        rows,
    )


# ------------------------------------------------------------------ malformed replies


class _Call:
    """``fn(text)`` as a callable to time, remembering how its last call ended."""

    def __init__(self, fn: Callable[[str], Any], text: str) -> None:
        self.fn, self.text = fn, text
        self.outcome, self.result = "not run", None

    def __call__(self) -> None:
        try:
            self.result = self.fn(self.text)
            self.outcome = "value"
        except JSONParseError:
            self.outcome = "JSONParseError"
        except Exception as exc:  # a baseline may raise anything; the test fails retort on it
            self.outcome = type(exc).__name__

    def once(self) -> float:
        start = time.perf_counter()
        self()
        return time.perf_counter() - start


def _recovered(call: _Call, expected: list[dict[str, Any]]) -> str:
    if call.outcome != "value":  # a parser giving up recovers nothing
        return f"0/{len(expected)} ({call.outcome})"
    return f"{_replies.recovered(call.result, expected)}/{len(expected)}"


def bench_malformed() -> None:
    times, counts = [], []
    fast = fast_json_repair.loads if fast_json_repair is not None else None
    for label, size in MALFORMED_SIZES.items():
        text, expected = _replies.reply(size, seed=size)
        fns = [_Call(loads, text), _Call(json_repair.loads, text)]
        if fast is not None:
            fns.append(_Call(fast, text))
        got = _timing.interleaved(fns, rounds=9, budget=15.0)
        ours, base = got.seconds[:2]
        row = [label, _ms(ours), _ms(base), f"{ours / base:.2f}x"]
        row.append(_timing.verdict(ours / base <= REPAIR_RATIO))
        if fast is not None:
            rust = got.seconds[2]
            row += [_ms(rust), f"{ours / rust:.2f}x", _timing.verdict(ours / rust <= FAST_RATIO)]
        else:
            row += ["not installed", "-", "skipped"]
        times.append([*row, got.rounds])
        mine = _recovered(fns[0], expected)
        counts.append(
            [
                label,
                f"{len(text):,}",
                mine,
                _recovered(fns[1], expected),
                _recovered(fns[2], expected) if fast is not None else "not installed",
                _timing.verdict(mine == f"{len(expected)}/{len(expected)}"),
            ]
        )
    _timing.table(
        f"malformed replies: retort vs json_repair (target <= {REPAIR_RATIO:.2f}x) and "
        f"fast_json_repair (target <= {FAST_RATIO:.0f}x)",
        MALFORMED_HEADER.split(),
        times,
    )
    _timing.table(
        "malformed replies: complete records recovered, equal as JSON (the cut-off last one "
        "not counted; target: retort recovers all)",
        ["size", "chars", "retort", "json_repair", "fast_json_repair", "verdict"],
        counts,
    )


# ------------------------------------------------------------------ adversarial shapes


_PROBE = """
import sys, time
from retort.parsers import JSONParseError, loads
from retort.plugins.testing.adversarial import SHAPES
text = SHAPES[sys.argv[1]](int(sys.argv[2]))
start = time.perf_counter()
try:
    loads(text)
    outcome = "value"
except JSONParseError:
    outcome = "JSONParseError"
except Exception as exc:
    outcome = type(exc).__name__
print(time.perf_counter() - start, outcome)
"""


def _probe(name: str, size: int) -> tuple[float | None, str]:
    """One loads of the shape in a child process: seconds (None if it did not finish in
    PROBE_TIMEOUT or crashed) and how it ended."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, name, str(size)],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT + 2.0,  # + the child's imports and text building
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, "timeout"
    if done.returncode != 0:  # killed outright (out of memory), or it could not even import
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return None, f"child failed: {last.split(':')[0]}"
    seconds, outcome = done.stdout.split()
    return (float(seconds), outcome) if float(seconds) <= PROBE_TIMEOUT else (None, "timeout")


def _reference(name: str) -> str:
    """json_repair on the 8 KB text, unless its 2 KB time says that takes too long."""
    shape = SHAPES[name]
    probe = _Call(json_repair.loads, shape(REFERENCE_PROBE)).once()
    scale = REFERENCE_SIZE / REFERENCE_PROBE
    if probe * scale * scale > REFERENCE_LIMIT:  # it may be quadratic: do not wait for it
        return f"skipped (2 KB: {_ms(probe)})"
    call = _Call(json_repair.loads, shape(REFERENCE_SIZE))
    seconds = call.once()
    return _ms(seconds) + ("" if call.outcome in _TOTAL else f" {call.outcome}")


class _Measured(NamedTuple):  # not a dataclass: run.py loads this file outside sys.modules
    small: float
    large: float | None  # None: it outlived PROBE_TIMEOUT, or its child process failed
    outcomes: frozenset[str]
    rounds: int

    def ok(self) -> bool:
        return (
            self.outcomes <= _TOTAL
            and self.large is not None
            and self.large < ADVERSARIAL_SECONDS
            and self.large / self.small <= GROWTH_RATIO
        )


def _measure(name: str) -> _Measured:
    shape = SHAPES[name]
    small, large = _Call(loads, shape(SMALL)), _Call(loads, shape(LARGE))
    t_small = small.once()
    if t_small * (LARGE / SMALL) ** 2 > PROBE_TIMEOUT:  # quadratic growth would hang here
        t_large, large.outcome = _probe(name, LARGE)
        if t_large is None or t_large > 2 * ADVERSARIAL_SECONDS:  # not worth more rounds
            return _Measured(t_small, t_large, frozenset({small.outcome, large.outcome}), 1)
    got = _timing.interleaved([small, large], rounds=7, budget=2.0)
    outcomes = frozenset({small.outcome, large.outcome})
    return _Measured(got.seconds[0], got.seconds[1], outcomes, got.rounds)


def bench_adversarial() -> None:
    rows = []
    for name in SHAPES:
        got = _measure(name)
        large = _ms(got.large) if got.large is not None else "-"
        if "timeout" in got.outcomes:
            large = f"> {PROBE_TIMEOUT:.0f} s"
        growth = "-" if got.large is None else f"{got.large / got.small:.1f}"
        outcome = " / ".join(sorted(got.outcomes))
        row = [name, _ms(got.small), large, growth, outcome, got.rounds]
        rows.append([*row, _reference(name), _timing.verdict(got.ok())])
    _timing.table(
        f"adversarial shapes: retort.parsers.loads at 64 KB and 1 MB "
        f"(target < {ADVERSARIAL_SECONDS} s at 1 MB, growth <= {GROWTH_RATIO:.0f}; "
        "json_repair at 8 KB for reference)",
        ["shape", "64 KB", "1 MB", "growth", "outcome", "rounds", "json_repair 8 KB", "verdict"],
        rows,
    )


# ------------------------------------------------------------------ main


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms" if seconds < 0.01 else f"{seconds * 1e3:.1f} ms"


def main() -> None:
    for section in (bench_valid, bench_malformed, bench_adversarial):
        start = time.perf_counter()
        section()
        print(f"({section.__name__}: {time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
