"""What ``import retort.parsers`` costs a fresh interpreter, against ``python -c pass``.

Every sample is a new process, and the commands take turns (pass, parsers, core, pass,
parsers, core, ...), so a load spike on a shared machine hits all of them alike; the
median of each is reported. The target is the difference: at most TARGET_MS added. The
CPU time of the child (user + system) is shown beside the wall time: on a busy machine it
moves less, since waiting for a core is not in it.
``import retort.core`` is shown for information (its names load on first use, so it should
cost about what ``retort.core.errors`` does).

Bytecode is cached as in an installed package: the runs write and read ``.pyc`` files
under a temporary ``PYTHONPYCACHEPREFIX`` (the worktree stays clean, and
``PYTHONDONTWRITEBYTECODE`` is lifted for them). One row shows the import without any
bytecode cache, every module compiled from source, for information.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __name__ == "__main__":  # the runner does this for us; as a script we do it ourselves
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import _timing

TARGET_MS = 60.0
"""``import retort.parsers`` may add this much to the start of ``python -c pass``."""

ROUNDS = 21
BASELINE = "python -c pass"
COMMANDS = {  # label: (code, with a bytecode cache)
    BASELINE: ("pass", True),
    "import retort.parsers": ("import retort.parsers", True),
    "import retort.core": ("import retort.core", True),
    "import retort.parsers, no .pyc": ("import retort.parsers", False),
}
HEAVY = ("pydantic", "pydantic_core", "asyncio", "httpx", "pluggy", "rich", "typing_extensions")

_CACHE = tempfile.TemporaryDirectory(prefix="retort-bench-pyc-")
_CACHED_ENV = {**os.environ, "PYTHONPYCACHEPREFIX": _CACHE.name}
_CACHED_ENV.pop("PYTHONDONTWRITEBYTECODE", None)
_UNCACHED_ENV = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
_UNCACHED_ENV.pop("PYTHONPYCACHEPREFIX", None)  # and the source tree has no __pycache__


def _run(code: str, *options: str, cached: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *options, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=_CACHED_ENV if cached else _UNCACHED_ENV,
    )


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _sample_ms(code: str, cached: bool) -> tuple[float, float]:
    """Wall and CPU time of one fresh process running ``code``, in ms."""
    cpu, start = _cpu_s(), time.perf_counter()
    _run(code, cached=cached)
    return (time.perf_counter() - start) * 1000, (_cpu_s() - cpu) * 1000


def _interleaved() -> dict[str, list[tuple[float, float]]]:
    for code, cached in COMMANDS.values():  # write the .pyc files, warm the OS file cache
        _run(code, cached=cached)
    samples: dict[str, list[tuple[float, float]]] = {label: [] for label in COMMANDS}
    for _ in range(ROUNDS):
        for label, (code, cached) in COMMANDS.items():
            samples[label].append(_sample_ms(code, cached))
    return samples


def _modules() -> tuple[int, int, list[str]]:
    """Modules loaded by ``python -c pass`` and by ``import retort.parsers``; heavy ones."""
    base = int(_run("import sys; print(len(sys.modules))").stdout)
    code = (
        "import sys, retort.parsers\n"
        f"print(len(sys.modules), *[m for m in {HEAVY!r} if m in sys.modules])"
    )
    count, *heavy = _run(code).stdout.split()
    return base, int(count), heavy


def _self_times(rounds: int = 5) -> list[tuple[str, float]]:
    """Median self time (ms) per module of ``-X importtime``, the five largest."""
    times: dict[str, list[float]] = {}
    for _ in range(rounds):
        report = _run("import retort.parsers", "-X", "importtime").stderr
        for line in report.splitlines():
            fields = line.removeprefix("import time:").split("|")
            if len(fields) != 3 or not fields[0].strip().isdigit():
                continue  # the header line
            times.setdefault(fields[2].strip(), []).append(int(fields[0]) / 1000)
    medians = [(name, statistics.median(values)) for name, values in times.items()]
    return sorted(medians, key=lambda item: item[1], reverse=True)[:5]


def main() -> None:
    samples = _interleaved()
    wall = {label: statistics.median(w for w, _ in values) for label, values in samples.items()}
    cpu = {label: statistics.median(c for _, c in values) for label, values in samples.items()}
    _timing.table(
        f"fresh interpreter, median of {ROUNDS} interleaved rounds, ms",
        ["command", "wall", "min wall", "added wall", "cpu", "added cpu"],
        [
            [
                label,
                f"{wall[label]:.1f}",
                f"{min(w for w, _ in values):.1f}",
                f"{wall[label] - wall[BASELINE]:.1f}",
                f"{cpu[label]:.1f}",
                f"{cpu[label] - cpu[BASELINE]:.1f}",
            ]
            for label, values in samples.items()
        ],
    )
    added = wall["import retort.parsers"] - wall[BASELINE]
    print(
        f"\nimport retort.parsers adds {added:.1f} ms (target: at most {TARGET_MS:.0f} ms): "
        f"{_timing.verdict(added <= TARGET_MS)}"
    )
    before, after, heavy = _modules()
    print(
        f"modules: {before} after `pass`, {after} after `import retort.parsers` "
        f"(+{after - before}); heavy modules loaded: {', '.join(heavy) or 'none'} "
        f"({_timing.verdict(not heavy)})"
    )
    _timing.table(
        "largest self times of `python -X importtime -c 'import retort.parsers'`, median ms",
        ["module", "self ms"],
        [[name, f"{ms:.2f}"] for name, ms in _self_times()],
    )


if __name__ == "__main__":
    main()
