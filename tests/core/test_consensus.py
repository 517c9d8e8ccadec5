"""Consensus voting over forked agents."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from retort.core import (
    ConfigurationError,
    Expect,
    Run,
    SolveFailed,
    canonical_key,
    consensus,
    make_plugin_manager,
    normalize_code,
)
from retort.core.errors import FieldError
from retort.core.plugins import DEFAULT_PLUGINS
from retort.parsers import FencedBlock, Sections, parse_sections
from retort.plugins.testing import ScriptedAgent


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def pm() -> Any:
    return make_plugin_manager(defaults=DEFAULT_PLUGINS, autoload=False)


class FileSpec(BaseModel):
    file_name: str
    code: str


def test_the_most_common_normalised_value_wins() -> None:
    replies = [
        '[{"file_name": "a.py", "code": "def f():\\n    return 1\\n"}]',
        '[{"file_name": "a.py", "code": "def f():   \\n\\n\\n    return 1"}]',
        '[{"file_name": "a.py", "code": "def f():\\n    return 2"}]',
        "not json at all",
        '```json\n[{"code": "def f():\\r\\n    return 1", "file_name": "a.py"}]\n```',
    ]
    agent = ScriptedAgent(replies)
    votes = run(
        consensus(agent, "t", Expect.json(list[FileSpec], attempts=1), samples=5, plugins=pm())
    )
    assert votes.value == [FileSpec(file_name="a.py", code="def f():\n    return 1\n")]
    assert list(votes.counts.values()) == [3, 1]
    assert [s.index for s in votes.winners] == [0, 1, 4]
    [failed] = votes.failed
    assert failed.index == 3
    assert isinstance(failed.error, SolveFailed)
    assert agent.history == []  # the agent itself is never used: every sample is a fork
    assert len(agent.forks) == 5


def test_ties_go_to_the_earliest_sample() -> None:
    votes = run(consensus(ScriptedAgent(["b", "a", "a", "b"]), "t", samples=4, plugins=pm()))
    assert votes.value == "b"
    assert votes.counts == {canonical_key("b"): 2, canonical_key("a"): 2}


def test_a_custom_key() -> None:
    agent = ScriptedAgent(["Yes", "no", "YES"])
    votes = run(consensus(agent, "t", samples=3, key=str.lower, plugins=pm()))
    assert (votes.value, votes.key, votes.counts) == ("Yes", "yes", {"yes": 2, "no": 1})


def test_every_sample_failing_raises_with_all_attempts() -> None:
    agent = ScriptedAgent(["x"] * 6)
    with pytest.raises(SolveFailed) as caught:
        run(consensus(agent, "t", Expect.text(regex="^y$", attempts=2), samples=3, plugins=pm()))
    assert len(caught.value.attempts) == 6
    assert "all 3 samples failed" in str(caught.value)


def test_the_limit_bounds_concurrency_across_samples() -> None:
    agent = ScriptedAgent(lambda message: "same", latency=0.01)
    votes = run(consensus(agent, "t", samples=20, limit=3, plugins=pm()))
    assert votes.counts == {canonical_key("same"): 20}
    assert agent.peak == 3


def test_quorum_stops_early_and_cancels_the_rest() -> None:
    async def reply(message: str) -> str:
        await asyncio.sleep(0.01 if reply.calls < 2 else 5)  # type: ignore[attr-defined]
        return "A"

    def counting(message: str) -> Any:
        reply.calls += 1  # type: ignore[attr-defined]
        return reply(message)

    reply.calls = -1  # type: ignore[attr-defined]

    async def main() -> tuple[Any, Run, set[asyncio.Task[Any]]]:
        the_run = Run(limit=5, plugins=pm())
        agent = ScriptedAgent(counting)
        votes = await consensus(agent, "t", samples=5, quorum=2, run=the_run)
        return votes, the_run, asyncio.all_tasks() - {asyncio.current_task()}

    votes, the_run, leftover = run(main())
    assert votes.value == "A"
    assert sum(votes.counts.values()) == 2
    assert [s.cancelled for s in votes.samples].count(True) == 3
    assert the_run.limiter.active == 0
    assert leftover == set()


def test_cancelling_a_consensus_leaves_no_task_and_no_slot() -> None:
    async def main() -> tuple[Run, set[asyncio.Task[Any]]]:
        the_run = Run(limit=2, plugins=pm())
        agent = ScriptedAgent(lambda m: "x", latency=10)
        job = asyncio.create_task(consensus(agent, "t", samples=6, run=the_run))
        await asyncio.sleep(0.05)
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job
        return the_run, asyncio.all_tasks() - {asyncio.current_task()}

    the_run, leftover = run(main())
    assert the_run.limiter.active == 0
    assert leftover == set()


@pytest.mark.parametrize(("samples", "quorum"), [(0, None), (3, 0), (3, 4)])
def test_bad_arguments(samples: int, quorum: int | None) -> None:
    with pytest.raises(ConfigurationError):
        run(consensus(ScriptedAgent(["x"]), "t", samples=samples, quorum=quorum, plugins=pm()))


def test_canonical_key_and_code_normalisation() -> None:
    assert normalize_code("a  \r\n\n\n\nb\t\n\n") == "a\nb"
    assert canonical_key({"b": 1, "a": (1, 2)}) == canonical_key({"a": [1, 2], "b": 1})
    assert canonical_key(FileSpec(file_name="x", code="a\n")) == canonical_key(
        {"code": "a  \n\n", "file_name": "x"}
    )
    assert canonical_key("one line  ") != canonical_key("one line")


def test_canonical_key_of_parser_records_is_pinned() -> None:
    # Votes cast on these values before and after they stopped being dataclasses must
    # agree: the key is the JSON object of their fields, as dataclasses.asdict gave it.
    sections = Sections(("A", "B"), ("x\r\n\n", "y"), "pre", True, (("X", "z"),))
    assert canonical_key(sections) == (
        '{"extra":[["X","z"]],"names":["A","B"],"partial":true,"preamble":"pre","values":["x","y"]}'
    )
    assert canonical_key([parse_sections("=======A\na", ["A"])]) == (
        '[{"extra":[],"names":["A"],"partial":false,"preamble":"","values":["a"]}]'
    )
    assert canonical_key(FencedBlock("b", "py", "py info", 0, 3, True)) == (
        '{"body":"b","closed":true,"end":3,"info":"py info","lang":"py","start":0}'
    )
    assert canonical_key(FieldError("a", "m")) == '{"kind":"","message":"m","path":"a"}'
