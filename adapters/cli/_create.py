"""``retort create``: the CREATE flow against a configured endpoint, and its report.

```
retort create "Implement slugify(text) in slugify.py, with pytest tests." --out build/
retort create --problem-file task.md --skeleton skeleton/ --out build/ --samples 5 --limit 3
```

Policies:

- The problem is the argument or ``--problem-file`` (``-`` reads stdin), exactly one.
- ``--skeleton DIR`` sends every text file under DIR (hidden entries and
  ``__pycache__`` skipped) as a file to complete, by its path relative to DIR; more
  than :data:`SKELETON_MAX_FILES` files or :data:`SKELETON_MAX_BYTES` bytes, or a file
  that is not UTF-8 text, is a usage error naming it.
- Files are written only inside ``--out`` (see :func:`retort.plugins.create.write_files`).
- The endpoint is the configured one (``--base-url`` or ``SANDBOX_PROXY_URL``): no
  local server is started (``retort demo`` does that).
- Progress is shown per sample while the samples run - a live table on a terminal, one
  line per attempt otherwise - then a summary: attempts, feedback sent by kind, repairs
  by stage, the vote, the files written and the time. ``--trace FILE`` appends every
  attempt as a JSON line.

The progress display and the summary are shared with ``retort demo``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any

import pluggy
from rich.console import Console
from rich.live import Live
from rich.syntax import Syntax
from rich.table import Table

from retort.adapters.cli._errors import CLIError, UsageError
from retort.adapters.cli._options import add_backend_options, open_backend, positive_int
from retort.core.consensus import Votes
from retort.core.hookspecs import hookimpl
from retort.core.plugins import make_plugin_manager
from retort.core.run import Attempt, Run
from retort.plugins.code_check import FileSpec
from retort.plugins.create import CreateResult, create
from retort.plugins.trace import TraceWriter

__all__ = [
    "CREATE_SYSTEM_MESSAGE",
    "SKELETON_MAX_BYTES",
    "SKELETON_MAX_FILES",
    "CreateProgress",
    "add_create_options",
    "open_trace",
    "plugins_for",
    "print_report",
    "print_solution",
    "read_problem",
    "read_skeleton",
    "register",
    "summary_table",
]

CREATE_SYSTEM_MESSAGE = (
    "You are a careful senior Python developer. You write complete, working code with "
    "tests, and you answer in exactly the format you are asked for."
)
SKELETON_MAX_FILES = 200
SKELETON_MAX_BYTES = 2_000_000
_SKIPPED_DIRS = frozenset({"__pycache__", "node_modules"})

_EXAMPLES = """\
examples:
  retort create "Implement slugify(text) in slugify.py, with pytest tests." --out build/
  retort create --problem-file task.md --skeleton skeleton/ --out build/ --samples 5
  retort create --problem-file - --out build/ --transport openai \\
      --base-url http://127.0.0.1:8000/v1 --model Qwen/Qwen3-8B < task.md
"""


def register(subparsers: Any) -> None:
    """Add ``retort create`` to the command's subparsers."""
    parser = subparsers.add_parser(
        "create",
        help="write a program from a problem statement (samples, vote, files)",
        description="Ask for the files that solve a problem, several times on fresh agents; "
        "keep the solution most samples agree on and write it inside --out.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("problem", nargs="?", help="the problem statement")
    add_create_options(parser, out_required=True)
    add_backend_options(parser)
    parser.set_defaults(run=run)


def add_create_options(parser: argparse.ArgumentParser, *, out_required: bool) -> None:
    """The CREATE options: ``--problem-file``, ``--skeleton``, ``--out``, ``--samples``,
    ``--quorum``."""
    group = parser.add_argument_group("create")
    group.add_argument(
        "--problem-file", metavar="FILE", help="read the problem statement from FILE ('-': stdin)"
    )
    group.add_argument("--skeleton", metavar="DIR", help="files to complete, under DIR")
    group.add_argument(
        "--out", required=out_required, metavar="DIR", help="the only directory files go to"
    )
    group.add_argument(
        "--samples",
        type=positive_int,
        default=5,
        metavar="N",
        help="solutions generated on fresh agents (default 5)",
    )
    group.add_argument(
        "--quorum", type=positive_int, metavar="N", help="stop as soon as N samples agree"
    )


# ---------------------------------------------------------------------- inputs


def read_problem(argument: str | None, problem_file: str | None) -> str:
    """The problem statement: the argument, or the text of ``--problem-file``.

    Raises:
        UsageError: neither or both given, the file does not exist, or the statement is
            empty.
        OSError: the file exists but cannot be read.
    """
    if (argument is None) == (problem_file is None):
        raise UsageError(
            "give the problem statement as an argument or with --problem-file, exactly one",
            hint='e.g. retort create "Implement slugify(text) in slugify.py" --out build/',
        )
    if problem_file is None:
        text = argument or ""
    elif problem_file == "-":
        text = sys.stdin.read() if sys.stdin is not None else ""
    else:
        path = Path(problem_file)
        if not path.is_file():
            raise UsageError(
                f"the problem file {problem_file} does not exist",
                hint="pass the path of a text file holding the problem, or '-' to read stdin",
            )
        text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise UsageError("the problem statement is empty")
    return text


def _skeleton_files(root: Path) -> Iterator[Path]:
    stack = [root]
    while stack:
        directory = stack.pop()
        for entry in sorted(directory.iterdir(), reverse=True):
            if entry.name.startswith(".") or entry.name in _SKIPPED_DIRS:
                continue
            if entry.is_dir():
                stack.append(entry)
            elif entry.is_file():
                yield entry


def read_skeleton(directory: str | Path) -> dict[str, str]:
    """The skeleton files under ``directory``, by ``/``-separated relative path.

    Raises:
        UsageError: not a directory, too many or too large files, or a file that is not
            UTF-8 text.
    """
    root = Path(directory)
    if not root.is_dir():
        raise UsageError(f"--skeleton {directory}: not a directory")
    files: dict[str, str] = {}
    total = 0
    for path in _skeleton_files(root):
        name = PurePosixPath(*path.relative_to(root).parts).as_posix()
        if len(files) == SKELETON_MAX_FILES:
            raise UsageError(
                f"--skeleton {directory}: more than {SKELETON_MAX_FILES} files",
                hint="point --skeleton at the files the solution must complete, nothing more",
            )
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise UsageError(
                f"--skeleton {directory}: {name} is not UTF-8 text",
                hint="remove binary files from the skeleton directory",
            ) from None
        total += len(text.encode("utf-8"))
        if total > SKELETON_MAX_BYTES:
            raise UsageError(
                f"--skeleton {directory}: the files exceed {SKELETON_MAX_BYTES} bytes (at {name})",
                hint="a prompt that large would not fit a model's context",
            )
        files[name] = text
    return files


def open_trace(path: str | Path) -> TraceWriter:
    """A trace writer for ``path``, checked writable up front (before any model call).

    Raises:
        CLIError: the file cannot be created or written.
    """
    trace_path = Path(path).resolve()
    try:
        trace_path.parent.mkdir(parents=True, exist_ok=True)
        with trace_path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise CLIError(
            f"cannot write the trace file {trace_path}: {exc.strerror or exc}",
            hint="pass --trace a path in a directory you can write to",
        ) from exc
    return TraceWriter(trace_path)


# ---------------------------------------------------------------------- progress


@dataclass
class _Row:
    attempts: int = 0
    status: str = "running"
    history: str = ""


def _verdict(attempt: Attempt) -> str:
    if attempt.error is not None:
        return f"error: {attempt.error}"
    if attempt.failure is None:
        stage = f" (JSON {attempt.stage})" if attempt.stage not in (None, "strict") else ""
        return f"accepted{stage}"
    if attempt.feedback is not None:
        return f"{attempt.failure.label}, feedback sent"
    return f"failed: {attempt.failure.label}"


class CreateProgress:
    """Live progress per sample: a plugin (``retort_attempt``) and a rich display.

    On a terminal a table (sample, attempts, status, what happened) is redrawn as
    attempts finish; elsewhere each attempt prints one line, so logs stay readable.

    Args:
        console: where to draw.
        samples: how many sample rows to show from the start.
    """

    def __init__(self, console: Console, samples: int) -> None:
        self.console = console
        self.rows: dict[str, _Row] = {
            f"sample {n}": _Row(status="waiting") for n in range(1, samples + 1)
        }
        self._step = "solve"
        self._live: Live | None = None

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        """Attempts outside a consensus (no sample index) are shown as ``label``."""
        self._step = label
        self.rows = {label: _Row(), **self.rows}
        try:
            yield
        finally:
            self._step = "solve"

    def _label(self, attempt: Attempt) -> str:
        return self._step if attempt.sample is None else f"sample {attempt.sample + 1}"

    @hookimpl
    def retort_attempt(self, attempt: Attempt, run: Run) -> None:
        """Record one finished attempt and redraw."""
        label = self._label(attempt)
        row = self.rows.setdefault(label, _Row())
        row.attempts = attempt.number
        verdict = _verdict(attempt)
        row.status = "ok" if attempt.ok else ("retrying" if attempt.feedback else "failed")
        row.history = f"{row.history} → {verdict}" if row.history else verdict
        if self._live is not None:
            self._live.refresh()
        else:
            self.console.print(
                f"{label}: attempt {attempt.number} {verdict} ({attempt.duration:.2f} s)",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )

    def table(self) -> Table:
        """The progress table as it stands."""
        table = Table(title="progress", title_justify="left", expand=False)
        table.add_column("")
        table.add_column("attempts", justify="right")
        table.add_column("status")
        table.add_column("what happened", overflow="fold")
        styles = {"ok": "green", "retrying": "yellow", "failed": "red"}
        for label, row in self.rows.items():
            status = f"[{styles.get(row.status, 'dim')}]{row.status}[/]"
            table.add_row(label, str(row.attempts), status, row.history)
        return table

    def __enter__(self) -> CreateProgress:
        if self.console.is_terminal:
            self._live = Live(get_renderable=self.table, console=self.console, refresh_per_second=8)
            self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


# ---------------------------------------------------------------------- report


def _counts(counter: Counter[str]) -> str:
    # Most first, then by name: the same run always reads the same, whatever the timing.
    ordered = sorted(counter.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{name} {count}" for name, count in ordered) or "none"


def _vote_lines(votes: Votes) -> list[str]:
    lines = []
    for number, (key, count) in enumerate(votes.counts.items(), 1):
        voters = [str(s.index + 1) for s in votes.samples if s.ok and s.key == key]
        chosen = "  <- chosen" if key == votes.key else ""
        plural = "s" if count != 1 else ""
        lines.append(
            f"solution {number}: {count} vote{plural} (sample{plural} {', '.join(voters)}){chosen}"
        )
    failed = [str(s.index + 1) for s in votes.failed]
    cancelled = [str(s.index + 1) for s in votes.samples if s.cancelled]
    if failed:
        lines.append(f"failed, not voting: sample {', '.join(failed)}")
    if cancelled:
        lines.append(f"cancelled at the quorum: sample {', '.join(cancelled)}")
    return lines


def summary_table(run: Run, votes: Votes, paths: Sequence[Path], elapsed: float) -> Table:
    """The summary: attempts, feedback by kind, repairs by stage, vote, files, time."""
    metrics = run.metrics
    table = Table(title="summary", title_justify="left", show_header=False, expand=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    accepted = sum(attempt.ok for attempt in run.attempts)
    by_step: Counter[str] = Counter(
        "classify" if a.sample is None else "create" for a in run.attempts
    )
    table.add_row(
        "attempts",
        f"{metrics.attempts} ({accepted} accepted; {_counts(by_step)})",
    )
    table.add_row("feedback sent", _counts(metrics.feedback))
    table.add_row("JSON repairs by stage", _counts(metrics.repairs))
    table.add_row("vote", "\n".join(_vote_lines(votes)))
    table.add_row("files written", str(len(paths)))
    table.add_row(
        "tokens", f"{metrics.prompt_tokens} prompt, {metrics.completion_tokens} completion"
    )
    table.add_row("transport retries", str(metrics.transport_retries))
    table.add_row("time", f"{elapsed:.2f} s")
    return table


def _lexer(name: str) -> str:
    return {".py": "python", ".md": "markdown", ".toml": "toml", ".json": "json"}.get(
        PurePosixPath(name).suffix, "text"
    )


def print_solution(console: Console, files: Sequence[FileSpec]) -> None:
    """The chosen files, each under a rule with its name (highlighted on a terminal)."""
    console.rule("chosen solution")
    for spec in files:
        console.print(f"--- {spec.file_name}", markup=False, highlight=False)
        if console.is_terminal:
            syntax = Syntax(spec.code, _lexer(spec.file_name), background_color="default")
            console.print(syntax)
        else:
            console.print(spec.code.rstrip("\n"), markup=False, highlight=False, soft_wrap=True)


def print_report(
    console: Console,
    progress: CreateProgress,
    run: Run,
    result: CreateResult,
    elapsed: float,
    trace: Path | None,
) -> None:
    """Everything after the samples: the progress table as it ended (off a terminal,
    where it was not drawn live), the summary, the chosen solution, the files written
    and the trace file."""
    for sample in result.votes.samples:
        if sample.cancelled:
            progress.rows[f"sample {sample.index + 1}"].status = "cancelled"
    if not console.is_terminal:
        console.print(progress.table())
    console.print(summary_table(run, result.votes, result.paths, elapsed))
    print_solution(console, result.value)
    console.rule("files")
    for path in result.paths:
        console.print(f"wrote {path}", markup=False, highlight=False, soft_wrap=True)
    if trace is not None:
        console.print(f"trace: {trace}", markup=False, highlight=False, soft_wrap=True)


def plugins_for(*plugins: object) -> pluggy.PluginManager:
    """A plugin manager with the defaults, the entry points and ``plugins``."""
    return make_plugin_manager(plugins=[plugin for plugin in plugins if plugin is not None])


# ---------------------------------------------------------------------- the command


def run(args: argparse.Namespace) -> int:
    """Run ``retort create``; the exit code."""
    if args.quorum is not None and args.quorum > args.samples:
        raise UsageError(
            f"--quorum {args.quorum} is more than --samples {args.samples}",
            hint="a quorum must be reachable: lower --quorum or raise --samples",
        )
    problem = read_problem(args.problem, args.problem_file)
    skeleton = read_skeleton(args.skeleton) if args.skeleton else None
    trace = open_trace(args.trace) if args.trace else None
    console = Console()
    try:
        with CreateProgress(console, args.samples) as progress:
            pm = plugins_for(trace, progress)
            result, run_, elapsed = asyncio.run(_create(args, problem, skeleton, pm))
    finally:
        if trace is not None:
            trace.close()
    print_report(console, progress, run_, result, elapsed, trace.path if trace else None)
    return 0


async def _create(
    args: argparse.Namespace,
    problem: str,
    skeleton: dict[str, str] | None,
    pm: pluggy.PluginManager,
) -> tuple[CreateResult, Run, float]:
    started = time.monotonic()
    async with (
        Run(limit=args.limit, plugins=pm) as run_,
        open_backend(args, system_message=CREATE_SYSTEM_MESSAGE, agent_prefix="create") as agent,
    ):
        result = await create(
            agent,
            problem,
            skeleton=skeleton,
            out_dir=args.out,
            samples=args.samples,
            attempts=args.attempts,
            quorum=args.quorum,
            run=run_,
        )
    return result, run_, time.monotonic() - started
