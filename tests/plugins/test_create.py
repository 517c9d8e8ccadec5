"""The CREATE flow: prompt, code-checked JSON files, a vote over samples, files inside out_dir."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from retort.core import ConfigurationError, Run, SolveFailed, make_plugin_manager
from retort.plugins.code_check import FileSpec
from retort.plugins.create import (
    CREATE_INSTRUCTIONS,
    UnsafePathError,
    create,
    create_prompt,
    files_expect,
    files_key,
    safe_path,
    write_files,
)
from retort.plugins.testing import ScriptedAgent

GOOD = [
    {"file_name": "slug/slugify.py", "code": "def slugify(text):\n    return text.lower()\n"},
    {"file_name": "README.md", "code": "# slugify\n"},
]
ALT = [{"file_name": "slug/slugify.py", "code": "def slugify(text):\n    return text.upper()\n"}]
EMPTY_BODY = [{"file_name": "slug/slugify.py", "code": "def slugify(text):\n    pass\n"}]


def dumps(files: list[dict[str, str]]) -> str:
    return json.dumps(files)


def is_task(message: str) -> bool:
    return message.startswith("Write a complete, working solution")


def by_prompt(first: list[str], feedback: str | Callable[[str], str]) -> Callable[[str], str]:
    """A script: the n-th task prompt gets ``first[n]``; every feedback gets ``feedback``."""
    firsts: Iterator[str] = iter(first)

    def answer(message: str) -> str:
        if is_task(message):
            return next(firsts)
        return feedback(message) if callable(feedback) else feedback

    return answer


def quiet_run(limit: int = 3) -> Run:
    # No entry points, no environment: the defaults only, so the test sees retort's own
    # behaviour whatever is installed.
    return Run(limit=limit, plugins=make_plugin_manager(autoload=False))


def test_votes_over_normalised_code_and_writes_the_winner(tmp_path: Path) -> None:
    reordered = [GOOD[1], GOOD[0]]
    crlf = [{**GOOD[0], "code": GOOD[0]["code"].replace("\n", "  \r\n")}, GOOD[1]]
    fenced_trailing_comma = "```json\n" + dumps(GOOD)[:-1] + ",]\n```"
    agent = ScriptedAgent(
        [dumps(GOOD), dumps(reordered), fenced_trailing_comma, dumps(ALT), dumps(crlf)]
    )
    result = asyncio.run(create(agent, "Implement slugify.", out_dir=tmp_path, limit=2))

    assert sorted(result.votes.counts.values(), reverse=True) == [4, 1]
    assert [spec.model_dump() for spec in result.value] == GOOD
    assert result.out_dir == tmp_path.resolve()
    assert result.paths == (tmp_path / "slug" / "slugify.py", tmp_path / "README.md")
    assert (tmp_path / "slug" / "slugify.py").read_text() == GOOD[0]["code"]
    assert result.votes.metrics.repairs  # the fenced reply needed the repairer
    assert len(agent.forks) == 5
    assert agent.peak <= 2


def test_failed_samples_do_not_vote_and_feedback_names_the_empty_body(tmp_path: Path) -> None:
    script = by_prompt(
        [dumps(GOOD), dumps(EMPTY_BODY), dumps(ALT), dumps(EMPTY_BODY), dumps(GOOD)],
        feedback=dumps(EMPTY_BODY),  # the model never learns: those samples fail
    )
    agent = ScriptedAgent(script)
    result = asyncio.run(create(agent, "Implement slugify.", out_dir=tmp_path, attempts=2))

    assert len(result.votes.failed) == 2
    assert list(result.votes.counts.values()) == [2, 1]
    assert [spec.model_dump() for spec in result.value] == GOOD
    feedback = [message for fork in agent.forks for message in fork.history[1:]]
    assert len(feedback) == 2
    assert all("`slugify`" in text and "empty body" in text for text in feedback)
    assert all(CREATE_INSTRUCTIONS in text for text in feedback)
    assert result.votes.metrics.feedback["validator"] == 2


def test_a_sample_fixes_its_reply_after_feedback(tmp_path: Path) -> None:
    missing_code = json.dumps([{"file_name": "slug/slugify.py"}])
    agent = ScriptedAgent(by_prompt([missing_code, dumps(EMPTY_BODY)], feedback=dumps(GOOD)))
    result = asyncio.run(create(agent, "Implement slugify.", out_dir=tmp_path, samples=2))

    assert result.votes.counts == {files_key(result.value): 2}
    assert result.votes.metrics.feedback == {"type": 1, "validator": 1}
    assert all(len(sample.attempts) == 2 for sample in result.votes.samples)


def test_every_sample_failing_raises_solve_failed_and_writes_nothing(tmp_path: Path) -> None:
    agent = ScriptedAgent(lambda message: "I cannot do that.")
    out = tmp_path / "out"
    with pytest.raises(SolveFailed) as caught:
        asyncio.run(create(agent, "Implement slugify.", out_dir=out, samples=3, attempts=2))
    assert len(caught.value.attempts) == 6
    assert not out.exists()


def test_a_file_outside_out_dir_is_refused_with_feedback(tmp_path: Path) -> None:
    escaping = [{"file_name": "../x.py", "code": "X = 1\n"}]
    agent = ScriptedAgent(by_prompt([dumps(escaping)], feedback=dumps(GOOD)))
    out = tmp_path / "out"
    result = asyncio.run(create(agent, "Implement slugify.", out_dir=out, samples=1))

    assert "`..`" in agent.forks[0].history[1]
    assert not (tmp_path / "x.py").exists()
    assert all(path.is_relative_to(out.resolve()) for path in result.paths)
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["README.md", "slugify.py"]


def test_skeleton_files_are_in_the_prompt(tmp_path: Path) -> None:
    agent = ScriptedAgent([dumps(GOOD)])
    skeleton = {"slug/slugify.py": "def slugify(text):\n    ...\n"}
    asyncio.run(create(agent, "Finish slugify.", skeleton=skeleton, out_dir=tmp_path, samples=1))

    prompt = agent.forks[0].history[0]
    assert prompt.index("Finish slugify.") < prompt.index("--- slug/slugify.py")
    assert "def slugify(text):\n    ...\n--- end of slug/slugify.py" in prompt
    assert prompt.endswith(CREATE_INSTRUCTIONS)


def test_write_false_and_quorum_and_a_shared_run(tmp_path: Path) -> None:
    agent = ScriptedAgent([dumps(GOOD)] * 5)

    async def go() -> Any:
        async with quiet_run(limit=1) as run:
            return await create(
                agent, "Implement slugify.", out_dir=tmp_path, quorum=2, run=run, write=False
            ), run

    result, run = asyncio.run(go())
    assert result.paths == ()
    assert list(tmp_path.iterdir()) == []
    (votes,) = result.votes.counts.values()
    assert votes >= 2  # the quorum; a sample finishing in the same step still counts
    assert sum(sample.cancelled for sample in result.votes.samples) == 5 - votes
    assert run.metrics.solved == votes


def test_bad_arguments_fail_fast(tmp_path: Path) -> None:
    agent = ScriptedAgent([])
    with pytest.raises(ConfigurationError, match="problem statement"):
        asyncio.run(create(agent, "  ", out_dir=tmp_path))
    with pytest.raises(ConfigurationError, match="attempts"):
        asyncio.run(create(agent, "x", out_dir=tmp_path, attempts=0))
    with pytest.raises(ConfigurationError, match="samples"):
        asyncio.run(create(agent, "x", out_dir=tmp_path, samples=0))
    with pytest.raises(ConfigurationError, match="skeleton"):
        create_prompt("x", {"a.py": 3})  # type: ignore[dict-item]
    assert agent.calls == 0


# ---------------------------------------------------------------- the pieces


def test_files_key_ignores_order_and_formatting() -> None:
    specs = [FileSpec(**item) for item in GOOD]
    messy = [
        FileSpec(file_name="README.md", code="# slugify\r\n\r\n"),
        FileSpec(
            file_name="./slug//slugify.py", code="def slugify(text):  \n\n    return text.lower()"
        ),
    ]
    assert files_key(specs) == files_key(messy)
    assert files_key(specs) != files_key([FileSpec(**ALT[0])])


def test_files_expect_is_tagged_and_checks_code(tmp_path: Path) -> None:
    expect = files_expect(tmp_path, attempts=4)
    assert expect.attempts == 4
    assert "code" in expect.tags
    assert expect.instructions == CREATE_INSTRUCTIONS


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../x.py", "`..`"),
        ("a/../../x.py", "`..`"),
        ("/etc/passwd", "absolute"),
        ("C:/x.py", "drive"),
        ("a\\b.py", "backslash"),
        ("", "empty"),
        ("pkg/", "directory"),
    ],
)
def test_write_files_refuses_names_outside_out_dir(tmp_path: Path, name: str, reason: str) -> None:
    out = tmp_path / "out"
    files = [{"file_name": "ok.py", "code": "X = 1\n"}, {"file_name": name, "code": "Y = 2\n"}]
    with pytest.raises(UnsafePathError, match=reason):
        write_files(files, out)
    assert not (out / "ok.py").exists()  # checked before anything is written


def test_write_files_refuses_a_symlink_escape(tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "link").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        write_files([FileSpec(file_name="link/x.py", code="X = 1\n")], out)
    assert list(elsewhere.iterdir()) == []
    with pytest.raises(UnsafePathError, match="directory"):
        safe_path(out, "link")


def test_write_files_creates_dirs_replaces_inside_and_refuses_duplicates(tmp_path: Path) -> None:
    out = tmp_path / "new" / "out"
    write_files([FileSpec(file_name="a/b/c.py", code="OLD = 1\n")], out)
    paths = write_files([{"file_name": "a/b/c.py", "code": "NEW = 1\r\n"}], out)
    assert paths == ((out / "a" / "b" / "c.py").resolve(),)
    assert paths[0].read_bytes() == b"NEW = 1\r\n"
    assert [p.name for p in paths[0].parent.iterdir()] == ["c.py"]  # no temporary left
    with pytest.raises(UnsafePathError, match="twice"):
        write_files([{"file_name": "d.py", "code": ""}, {"file_name": "./d.py", "code": ""}], out)
