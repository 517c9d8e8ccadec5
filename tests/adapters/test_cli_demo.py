"""``retort demo`` and ``retort create`` in-process, against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import pytest
from rich.console import Console

from retort.adapters.cli import main
from retort.adapters.cli._create import CreateProgress, read_skeleton
from retort.adapters.cli._demo import DEMO_MODEL
from retort.adapters.cli._errors import UsageError
from retort.adapters.proxy import ScriptedModel, ServerHandle, serve
from retort.core import make_plugin_manager
from retort.plugins.create import create, files_key
from retort.plugins.testing import ScriptedAgent
from retort.plugins.trace import read_trace

SCRIPT = Path(__file__).parents[2] / "adapters" / "cli" / DEMO_MODEL
SLUGIFY_SIGNATURE = 'def slugify(text: str, separator: str = "-") -> str:'


class Cli(Protocol):
    def __call__(self, *argv: str) -> tuple[int, str, str]: ...


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    # Plain output whatever the terminal settings of the machine running the tests.
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("SANDBOX_PROXY_URL", raising=False)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def server() -> Iterator[ServerHandle]:
    with serve(ScriptedModel.from_file(SCRIPT)) as handle:
        yield handle


def agent_kinds() -> list[str]:
    try:
        import autogen_agentchat  # noqa: F401
    except ImportError:
        return ["native"]
    return ["autogen", "native"]


def check_solution(out: str, directory: Path, names: tuple[str, ...]) -> None:
    """The chosen solution is printed, its files are written and their paths printed."""
    assert SLUGIFY_SIGNATURE in out
    assert "def test_accents_are_dropped():" in out
    for name in names:
        path = directory.resolve() / name
        assert f"wrote {path}\n" in out
        assert f"--- {name}\n" in out
        assert path.read_text(encoding="utf-8").rstrip("\n") in out
    written = sorted(p.name for p in directory.iterdir() if p.suffix == ".py")
    assert written == sorted(names)


# ---------------------------------------------------------------------- retort demo


@pytest.mark.parametrize(
    ("agent", "transport"), [("autogen", "proxy"), ("native", "openai"), ("native", "proxy")]
)
def test_demo_runs_the_create_flow_end_to_end(
    cli: Cli, tmp_path: Path, agent: str, transport: str
) -> None:
    if agent not in agent_kinds():
        pytest.skip("the autogen extra is not installed")
    out_dir = tmp_path / "out"
    code, out, err = cli("demo", "--out", str(out_dir), "--agent", agent, "--transport", transport)

    assert code == 0, err
    assert f"retort demo: {agent} agents, {transport} transport, a scripted model on" in out
    assert "classified as CREATE in 3 attempt(s)" in out
    assert "solution 1: 4 votes" in out
    assert "solution 2: 1 vote (sample" in out
    assert "sections:duplicated 1, sections:missing 1, type 1," in out
    assert "validator 1" in out
    assert "repaired 1" in out
    check_solution(out, out_dir, ("slugify.py", "test_slugify.py"))

    trace = out_dir.resolve() / "retort-demo.trace.jsonl"
    assert f"trace: {trace}\n" in out
    attempts = read_trace(trace)
    assert re.search(rf"attempts\s+│ {len(attempts)} \(6 accepted", out)
    # Every attempt: 3 to classify, then 5 samples of which two needed a second try.
    assert [(a["sample"], a["number"]) for a in attempts if a["sample"] is None] == [
        (None, 1),
        (None, 2),
        (None, 3),
    ]
    per_sample = sorted((a["sample"], a["number"]) for a in attempts if a["sample"] is not None)
    assert sorted({sample for sample, _ in per_sample}) == [0, 1, 2, 3, 4]
    assert len(per_sample) == 7
    failures = sorted(
        a["failure"]["kind"] + ":" + a["failure"]["detail"] for a in attempts if not a["ok"]
    )
    assert failures == ["sections:duplicated", "sections:missing", "type:", "validator:code_check"]
    assert all(a["feedback"] for a in attempts if not a["ok"])
    assert sum(a["stage"] == "repaired" for a in attempts) == 1
    (end,) = read_trace(trace, "run_end")
    assert end["error"] is None
    assert end["attempts"] == len(attempts)


def test_demo_takes_samples_and_a_trace_path(cli: Cli, tmp_path: Path) -> None:
    trace = tmp_path / "traces" / "demo.jsonl"
    out_dir = tmp_path / "out"
    code, out, err = cli(
        "demo", "--agent", "native", "--samples", "3", "--out", str(out_dir),
        "--trace", str(trace), "--limit", "1",
    )  # fmt: skip
    assert code == 0, err
    assert "solution 1: 3 votes (samples 1, 2, 3)  <- chosen" in out
    assert f"trace: {trace.resolve()}" in out
    assert not (out_dir / "retort-demo.trace.jsonl").exists()
    assert {a["sample"] for a in read_trace(trace)} == {None, 0, 1, 2}
    check_solution(out, out_dir, ("slugify.py", "test_slugify.py"))


def test_demo_with_an_endpoint_that_refuses_fails_in_one_line(
    cli: Cli, tmp_path: Path, closed_url: str
) -> None:
    code, out, err = cli(
        "demo", "--agent", "native", "--base-url", closed_url, "--retries", "0",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 1
    assert err.startswith("retort: error: ")
    assert "Traceback" not in err
    assert f"the endpoint {closed_url}" in out
    assert list(tmp_path.glob("*.py")) == []
    (end,) = read_trace(tmp_path / "retort-demo.trace.jsonl", "run_end")
    assert end["error"].startswith("Transport")


# ---------------------------------------------------------------------- retort create


def test_create_against_a_configured_endpoint(
    cli: Cli, server: ServerHandle, tmp_path: Path
) -> None:
    problem = tmp_path / "problem.md"
    problem.write_text("Implement slugify(text) in slugify.py, with tests.\n")
    skeleton = tmp_path / "skeleton"
    (skeleton / "pkg").mkdir(parents=True)
    (skeleton / "pkg" / "api.py").write_text("def slugify(text):\n    ...\n")
    (skeleton / ".git").mkdir()
    (skeleton / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    out_dir, trace = tmp_path / "out", tmp_path / "create.jsonl"

    code, out, err = cli(
        "create", "--problem-file", str(problem), "--skeleton", str(skeleton),
        "--out", str(out_dir), "--base-url", server.url, "--agent", "native",
        "--samples", "3", "--quorum", "2", "--trace", str(trace),
    )  # fmt: skip

    assert code == 0, err
    assert "solution 1: " in out
    check_solution(out, out_dir, ("slugify.py", "test_slugify.py"))
    assert f"trace: {trace.resolve()}" in out
    prompts = [r.last_message for r in server.model.requests]
    first = next(p for p in prompts if p.startswith("Write a complete"))
    assert "Implement slugify(text) in slugify.py, with tests." in first
    assert "--- pkg/api.py\ndef slugify(text):\n    ...\n--- end of pkg/api.py" in first
    assert "refs/heads" not in first
    assert {request.agent_id for request in server.model.requests} == {"create:local"}


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("create", "--out", "x"), "exactly one"),
        (("create", "p", "--problem-file", "f", "--out", "x"), "exactly one"),
        (("create", "p"), "--out"),
        (("create", "p", "--out", "x", "--samples", "2", "--quorum", "3"), "--quorum 3"),
        (("create", "  ", "--out", "x"), "empty"),
        (("create", "p", "--out", "x", "--skeleton", "/nonexistent.invalid"), "not a directory"),
        (("demo", "--samples", "0"), "--samples"),
    ],
)
def test_usage_errors_exit_2(cli: Cli, argv: tuple[str, ...], needle: str) -> None:
    code, _out, err = cli(*argv)
    assert code == 2
    first = err.splitlines()[0]
    assert first.startswith("retort: error: ")
    assert needle in first


def test_read_skeleton_reads_text_files_and_refuses_binary(tmp_path: Path) -> None:
    (tmp_path / "a" / "__pycache__").mkdir(parents=True)
    (tmp_path / "a" / "__pycache__" / "m.pyc").write_bytes(b"\x00\xff")
    (tmp_path / "a" / "m.py").write_text("X = 1\n")
    (tmp_path / "README.md").write_text("# hi\n")
    assert read_skeleton(tmp_path) == {"README.md": "# hi\n", "a/m.py": "X = 1\n"}
    (tmp_path / "blob.bin").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(UsageError, match=r"blob\.bin is not UTF-8 text"):
        read_skeleton(tmp_path)


def test_progress_draws_a_live_table_on_a_terminal(tmp_path: Path) -> None:
    good = SCRIPT.read_text(encoding="utf-8").rsplit("reply: |\n", 1)[1].strip()
    agent = ScriptedAgent(lambda message: good if message.startswith("Write") else "no")
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120)
    with CreateProgress(console, samples=2) as progress:
        pm = make_plugin_manager(autoload=False, plugins=[progress])
        result = asyncio.run(create(agent, "Slugify.", out_dir=tmp_path, samples=2, plugins=pm))
    assert [row.status for row in progress.rows.values()] == ["ok", "ok"]
    assert "\x1b[" in screen.getvalue()  # drawn with terminal control codes
    assert "accepted" in screen.getvalue()
    assert result.votes.counts == {files_key(result.value): 2}
