"""extract_tool_calls against a bare baseline doing the original program's minimum work.

The baseline for each source shape is what the original did with it: ``json.loads`` the
text, ``json.dumps`` the arguments and ``uuid5`` an id per call, with no checks, no key
variants and no unique ids. The ratio is the price of retort's validation and policies.
"""

from __future__ import annotations

import ast
import contextlib
import json
import sys
import uuid
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # the runner does this for us; as a script we do it ourselves
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import _timing

from retort.parsers import ToolCallError, extract_tool_calls

MAX_RATIO = 3.0
"""retort may cost up to this many times the bare baseline on well-formed input."""


def _call(n: int) -> dict[str, Any]:
    return {"name": "get_file_content", "arguments": {"file_path": f"src/m{n}.py", "start": n}}


def _baseline_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for call in calls:
        arguments = call["arguments"]
        key = f"{call['name']}:{json.dumps(arguments, sort_keys=True)}"
        out.append(
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, key)),
                "type": "function",
                "function": {"name": call["name"], "arguments": json.dumps(arguments)},
            }
        )
    return out


def _row(label: str, ours: Any, base: Any, *, number: int) -> list[str]:
    mine = _timing.best_of(ours, number=number)
    theirs = _timing.best_of(base, number=number)
    ratio = mine / theirs
    return [
        label,
        f"{mine * 1e6:.1f}",
        f"{theirs * 1e6:.1f}",
        f"{ratio:.2f}x",
        _timing.verdict(ratio <= MAX_RATIO),
    ]


def _hostile_row(label: str, text: str) -> list[str]:
    def attempt() -> None:
        with contextlib.suppress(ToolCallError):
            extract_tool_calls(text)

    def baseline() -> None:
        with contextlib.suppress(SyntaxError, ValueError, RecursionError, MemoryError):
            ast.parse(text)

    mine = _timing.best_of(attempt, number=3)
    theirs = _timing.best_of(baseline, number=3)
    ratio = mine / theirs
    return [label, f"{mine * 1e6:.1f}", f"{theirs * 1e6:.1f}", f"{ratio:.2f}x", "-"]


def main() -> None:
    one = [_call(0)]
    ten = [_call(n) for n in range(10)]
    reply_one = {"response_type": "tool", "tool_calls": one}
    reply_ten = {"response_type": "tool", "tool_calls": ten}
    text_one = json.dumps(one[0])
    text_ten = json.dumps(ten)
    python_text = 'get_file_content(file_path="src/m0.py", start=0)'
    rows = [
        _row(
            "proxy reply, 1 call",
            lambda: extract_tool_calls(reply_one),
            lambda: _baseline_calls(reply_one["tool_calls"]),
            number=2000,
        ),
        _row(
            "proxy reply, 10 calls",
            lambda: extract_tool_calls(reply_ten),
            lambda: _baseline_calls(reply_ten["tool_calls"]),
            number=300,
        ),
        _row(
            "TOOL_CALL text, 1 call",
            lambda: extract_tool_calls(text_one),
            lambda: _baseline_calls([json.loads(text_one)]),
            number=2000,
        ),
        _row(
            "TOOL_CALL text, 10 calls",
            lambda: extract_tool_calls(text_ten),
            lambda: _baseline_calls(json.loads(text_ten)),
            number=300,
        ),
        _row(
            "python-call text vs ast.parse + baseline",
            lambda: extract_tool_calls(python_text),
            lambda: (ast.parse(python_text), _baseline_calls(one)),
            number=2000,
        ),
    ]
    _timing.table(
        f"extract_tool_calls, microseconds per call (target: at most {MAX_RATIO}x baseline)",
        ["case", "retort us", "baseline us", "ratio", "verdict"],
        rows,
    )
    hostile = [
        _hostile_row("70 KB of '(' (rejected by the 64 KB cap)", "f(" + "(" * 70_000),
        _hostile_row("60 KB of '('", "f(" + "(" * 60_000),
        _hostile_row("60 KB of unary minus", "f(a=" + "-" * 60_000 + "1)"),
        _hostile_row("20 000 chained additions", "f(a=" + "1+" * 20_000 + "1)"),
    ]
    _timing.table(
        "hostile python-call text vs bare ast.parse, microseconds (ToolCallError expected)",
        ["case", "retort us", "ast.parse us", "ratio", "verdict"],
        hostile,
    )


if __name__ == "__main__":
    main()
