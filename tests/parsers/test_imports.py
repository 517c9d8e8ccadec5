"""What importing the parsers loads: no pydantic, asyncio or network library until used.

Each check runs a fresh interpreter, since this one has imported everything already.
Only which modules get loaded is pinned here; the time it takes is
tests/benchmarks/bench_imports.py's business.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "pydantic",
    "pydantic_core",
    "asyncio",
    "httpx",
    "pluggy",
    "rich",
    "typing_extensions",
    "annotated_types",
    "dataclasses",
    "inspect",
    "ast",
)
"""Modules a light import must not load (typing_extensions comes with pydantic; dataclasses
imports inspect, which pulls in ast, dis and tokenize: some 15 ms; ast alone costs ~4 ms)."""


def _loaded_after(code: str) -> list[str]:
    """The HEAVY modules in sys.modules after running ``code`` in a fresh interpreter."""
    heavy = f"[m for m in {HEAVY!r} if m in sys.modules]"
    probe = f"{code}\nimport json, sys\nprint(json.dumps({heavy}))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize(
    "code",
    [
        "import retort.parsers",
        "import retort.core.errors",
        "import retort.core.ids",
        "import retort.core",
        "from retort.core import ParseError, stable_tool_call_id",
        "from retort.parsers import loads, parse_sections, strip_fences, type_name",
    ],
)
def test_import_loads_no_heavy_module(code: str) -> None:
    assert _loaded_after(code) == []


def test_parsers_work_without_loading_pydantic() -> None:
    code = (
        "from retort.parsers import find_fences, loads, parse_sections, strip_fences, type_name\n"
        "assert loads('{\"a\": [1, 2,]}') == {'a': [1, 2]}\n"
        "assert tuple(parse_sections('=======A\\nx', ['A'])) == ('x',)\n"
        "assert strip_fences('```\\nx\\n```') == 'x' and len(find_fences('```\\nx\\n```')) == 1\n"
        "assert type_name(list[int] | None) == 'list[int] | None'"
    )
    assert _loaded_after(code) == []


def test_coerce_and_tool_calls_load_pydantic_on_first_use() -> None:
    code = (
        "import sys\n"
        "from retort.parsers import coerce, extract_tool_calls\n"
        "assert 'pydantic' not in sys.modules\n"
        "assert coerce('[1, 2]', list[int]) == [1, 2]\n"
        '[call] = extract_tool_calls(\'{"name": "ls", "arguments": {}}\')\n'
        "assert type(call).__name__ == 'ToolCall'"
    )
    assert "pydantic" in _loaded_after(code)


def test_core_names_still_load_the_engine_when_used() -> None:
    code = (
        "import retort.core\n"
        "from retort.core import Expect, solve\n"
        "assert callable(solve) and Expect.__name__ == 'Expect'"
    )
    loaded = _loaded_after(code)
    assert "pydantic" in loaded
    assert "asyncio" in loaded
