"""The trace plugin: one JSON line per attempt, a run_end line, flushed as they happen."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from retort.core import Expect, SolveFailed, consensus, make_plugin_manager, solve
from retort.plugins.testing import ScriptedAgent
from retort.plugins.trace import TraceWriter, read_trace


def test_every_attempt_of_a_run_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "trace.jsonl"
    agent = ScriptedAgent(
        lambda message: (
            "=======ANSWER\n1\n=======ANSWER\n2"
            if message.startswith("Answer.")
            else "=======ANSWER\n42"
        )
    )
    with TraceWriter(path) as trace:
        pm = make_plugin_manager(autoload=False, plugins=[trace])
        votes = asyncio.run(
            consensus(agent, "Answer.", Expect.sections("ANSWER"), samples=3, limit=1, plugins=pm)
        )
    attempts = read_trace(path)
    assert len(attempts) == 6
    assert trace.lines == 7
    assert votes.value == "42"
    assert sorted((a["sample"], a["number"]) for a in attempts) == [
        (s, n) for s in range(3) for n in (1, 2)
    ]
    failed = [a for a in attempts if not a["ok"]]
    assert {a["failure"]["detail"] for a in failed} == {"duplicated"}
    assert all(a["feedback"] and a["run"] == attempts[0]["run"] for a in failed)
    assert all(a["time"].endswith("+00:00") for a in attempts)
    (end,) = read_trace(path, "run_end")
    assert end["attempts"] == 6
    assert end["metrics"]["feedback"] == {"sections:duplicated": 3}
    assert end["error"] is None


def test_lines_are_flushed_before_the_run_ends_and_errors_are_recorded(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    seen: list[int] = []

    def reply(message: str) -> str:
        seen.append(len(path.read_text().splitlines()) if path.exists() else 0)
        return "not a number"

    with TraceWriter(path) as trace:
        pm = make_plugin_manager(autoload=False, plugins=[trace])
        with pytest.raises(SolveFailed):
            asyncio.run(
                solve(ScriptedAgent(reply), "Count.", Expect.text(r"^\d+$", attempts=3), plugins=pm)
            )
    assert seen == [0, 1, 2]  # each attempt was on disk before the next ask
    records = read_trace(path, None)
    assert [r["event"] for r in records] == ["attempt"] * 3 + ["run_end"]
    assert records[-1]["error"].startswith("SolveFailed: no valid reply in 3 attempts")


def test_appends_to_an_existing_trace_and_refuses_writes_after_close(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_text(json.dumps({"event": "attempt", "old": True}) + "\n\n")
    trace = TraceWriter(path)
    trace.write({"event": "note"})
    trace.close()
    trace.close()
    assert [r.get("old", False) for r in read_trace(path, None)] == [True, False]
    with pytest.raises(ValueError, match="closed"):
        trace.write({"event": "late"})
    assert "closed lines=1" in repr(trace)


def test_read_trace_names_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_text('{"event": "attempt"}\nnot json\n')
    with pytest.raises(ValueError, match=r"trace.jsonl:2: not a JSON trace line"):
        read_trace(path)
