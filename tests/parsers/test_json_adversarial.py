"""loads on every adversarial shape at 64 KB and 1 MB: total, and never hanging.

Each call must return a value or raise JSONParseError - never RecursionError, MemoryError
or anything else - and finish within GUARD_SECONDS. The guard catches quadratic blow-ups
(minutes at 1 MB); it is not a speed target (``make bench`` measures speed).

KNOWN_SLOW lists the cases that outlive the guard today. They are strict xfails, so the
suite stays green while the parser is fixed and fails (XPASS) once one is: then remove it
here. They run in a child process killed at the guard, since in process they would run
for minutes.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

import pytest

from retort.parsers import JSONParseError, loads
from retort.plugins.testing.adversarial import SHAPES

GUARD_SECONDS = 10.0
SIZES = {"64KB": 64 * 1024, "1MB": 1024 * 1024}

# (shape, size label) -> why it is slow. Found by running each shape once at 1 MB in a child
# with a timeout. Empty since 86b22c7 (slowest then: mismatched_closers, about 4 s); before
# it invalid_escapes, hex_escapes, raw_tabs, raw_newlines and create_files_raw_newlines were.
KNOWN_SLOW: dict[tuple[str, str], str] = {}

_CHILD = """
import sys
from retort.parsers import JSONParseError, loads
from retort.plugins.testing.adversarial import SHAPES
text = SHAPES[sys.argv[1]](int(sys.argv[2]))
try:
    loads(text)
    print("value")
except JSONParseError:
    print("JSONParseError")
"""


def _cases() -> list[object]:
    cases = []
    for name in SHAPES:
        for label in SIZES:
            marks = [pytest.mark.slow]
            if (name, label) in KNOWN_SLOW:
                marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_SLOW[name, label]))
            cases.append(pytest.param(name, label, id=f"{name}-{label}", marks=marks))
    return cases


def _in_child(name: str, size: int) -> None:
    """loads in a child process that is killed at the guard."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, name, str(size)],
            capture_output=True,
            text=True,
            timeout=GUARD_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"loads on {name} ({size} chars) still ran after {GUARD_SECONDS} s")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() in ("value", "JSONParseError")


@pytest.mark.parametrize(("name", "label"), _cases())
def test_loads_returns_or_raises_parse_error_without_hanging(name: str, label: str) -> None:
    size = SIZES[label]
    if (name, label) in KNOWN_SLOW:
        _in_child(name, size)
        return
    text = SHAPES[name](size)
    start = time.perf_counter()
    with contextlib.suppress(JSONParseError):  # giving up is allowed; nothing else is
        loads(text)
    seconds = time.perf_counter() - start
    assert seconds < GUARD_SECONDS, f"loads on {name} ({size} chars) took {seconds:.1f} s"
