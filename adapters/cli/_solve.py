"""``retort solve``: one solve (or a consensus of several) from the command line.

Policies:

- The task is the argument, or stdin when the argument is absent or ``-``; an empty task,
  or none with stdin a terminal, is a usage error (exit 2).
- ``--format text`` (default) prints the text; ``--format json`` prints the JSON value;
  ``--format sections:A,B`` prints a JSON object ``{"A": ..., "B": ...}`` (one section:
  its text). ``--regex`` applies to every format.
- ``--samples N`` (N > 1) runs a consensus on forks of the agent under ``--limit`` and
  prints the vote to stderr; stdout holds only the value.
- ``--json`` prints an envelope instead: ``{"ok", "value", "text", "stage", "attempts",
  "metrics"}`` plus ``"votes"``/``"samples"`` for a consensus - also when the solve
  fails (``"ok": false`` and ``"error"``), so scripts can read every attempt.
- A solve that runs out of attempts exits 1 with one line naming the last failure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from collections.abc import Hashable
from typing import Any

import pluggy

from retort.adapters.cli._errors import UsageError
from retort.adapters.cli._options import (
    add_backend_options,
    open_backend,
    plugin_manager,
    positive_int,
)
from retort.core.consensus import Votes, consensus
from retort.core.errors import SolveFailed
from retort.core.expect import Expect
from retort.core.run import Attempt
from retort.core.solve import Solved, solve

__all__ = ["build_expect", "parse_format", "read_task", "register", "render_value"]

_EXAMPLES = """\
examples:
  retort solve "What is 6 x 7? Reply with the number only." --regex '^\\d+$'
  echo "List three primes as a JSON array." | retort solve --format json
  retort solve --format sections:THOUGHT,ANSWER --samples 5 "Which is larger, 2**10 or 10**3?"
"""


def parse_format(text: str) -> tuple[str, tuple[str, ...]]:
    """An argparse type for ``--format``: ``text``, ``json`` or ``sections:NAME,NAME``."""
    kind, _, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind in ("text", "json") and not rest:
        return kind, ()
    if kind == "sections":
        names = tuple(name.strip() for name in rest.split(",") if name.strip())
        if names:
            return kind, names
        raise argparse.ArgumentTypeError(
            "name the sections after a colon, e.g. sections:THOUGHT,ANSWER"
        )
    raise argparse.ArgumentTypeError(f"expected text, json or sections:NAME,NAME..., got {text!r}")


def _regex(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text, re.DOTALL)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"not a valid regular expression ({exc})") from None


def register(subparsers: Any) -> None:
    """Add ``retort solve`` to the command's subparsers."""
    parser = subparsers.add_parser(
        "solve",
        help="ask a model one task; print the validated value",
        description="Ask a model one task until a reply passes the format checks; "
        "print the value (JSON when structured) to stdout.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("task", nargs="?", help="the task; read from stdin when absent or '-'")
    parser.add_argument(
        "--format",
        type=parse_format,
        default=("text", ()),
        metavar="FORMAT",
        help="text (default), json, or sections:NAME,NAME...",
    )
    parser.add_argument(
        "--regex", type=_regex, metavar="PATTERN", help="the reply must contain a match"
    )
    parser.add_argument(
        "--samples",
        type=positive_int,
        default=1,
        metavar="N",
        help="solve N times on fresh agents and vote (default 1)",
    )
    parser.add_argument(
        "--quorum", type=positive_int, metavar="N", help="with --samples: stop at N agreeing"
    )
    parser.add_argument("--system", metavar="TEXT", help="the agent's system message")
    parser.add_argument(
        "--json",
        action="store_true",
        dest="envelope",
        help="print {value, attempts, metrics} as JSON instead of the bare value",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no notes on stderr (attempts, the vote)"
    )
    add_backend_options(parser)
    parser.set_defaults(run=run)


def read_task(argument: str | None) -> str:
    """The task: ``argument``, or stdin when it is ``None`` or ``-``.

    Raises:
        UsageError: no task (stdin is a terminal) or an empty one.
    """
    if argument is not None and argument != "-":
        if not argument.strip():
            raise UsageError("the task is empty", hint='e.g. retort solve "What is 6 x 7?"')
        return argument
    stdin = sys.stdin
    if stdin is None or stdin.isatty():
        raise UsageError(
            "no task: give it as an argument or pipe it on stdin",
            hint='e.g. retort solve "What is 6 x 7?"  or  retort solve < task.txt',
        )
    text = stdin.read()
    if not text.strip():
        raise UsageError("the task read from stdin is empty")
    return text


def build_expect(args: argparse.Namespace) -> Expect:
    """The spec ``--format``, ``--regex`` and ``--attempts`` describe."""
    kind, names = args.format
    if kind == "text":
        return Expect.text(args.regex, attempts=args.attempts)
    if kind == "json":
        return Expect.json(Any, regex=args.regex, attempts=args.attempts)
    return Expect.sections(*names, regex=args.regex, attempts=args.attempts)


def _structured(value: Any, expect: Expect) -> Any:
    """Sections as ``{name: text}`` (the tuple is positional, a mapping says which is which)."""
    if expect.format == "sections" and isinstance(value, tuple):
        return dict(zip(expect.names, value, strict=True))
    return value


def render_value(value: Any, expect: Expect) -> str:
    """What stdout gets: text as it is, anything structured as indented JSON."""
    shown = _structured(value, expect)
    if isinstance(shown, str) and expect.format != "json":
        return shown
    return json.dumps(shown, indent=2, ensure_ascii=False, default=str)


def run(args: argparse.Namespace) -> int:
    """Run ``retort solve``; the exit code."""
    if args.quorum is not None and args.quorum > args.samples:
        raise UsageError(
            f"--quorum {args.quorum} is more than --samples {args.samples}",
            hint="a quorum must be reachable: lower --quorum or raise --samples",
        )
    task = read_task(args.task)
    expect = build_expect(args)
    with plugin_manager(args) as plugins:
        return asyncio.run(_run(args, task, expect, plugins))


async def _run(
    args: argparse.Namespace, task: str, expect: Expect, plugins: pluggy.PluginManager | None
) -> int:
    async with open_backend(args, system_message=args.system, agent_prefix="solve") as agent:
        try:
            if args.samples == 1:
                solved = await solve(agent, task, expect, limit=args.limit, plugins=plugins)
                _emit_solved(args, solved, expect)
            else:
                votes = await consensus(
                    agent,
                    task,
                    expect,
                    samples=args.samples,
                    limit=args.limit,
                    quorum=args.quorum,
                    plugins=plugins,
                )
                _emit_votes(args, votes, expect)
        except SolveFailed as exc:
            if args.envelope:
                _print_json({"ok": False, "error": str(exc), **_attempts(exc.attempts)})
            raise
    return 0


def _attempts(attempts: tuple[Attempt, ...]) -> dict[str, Any]:
    return {"attempts": [attempt.to_dict() for attempt in attempts]}


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _note(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr)


def _emit_solved(args: argparse.Namespace, solved: Solved[Any], expect: Expect) -> None:
    if args.envelope:
        _print_json(
            {
                "ok": True,
                "value": _structured(solved.value, expect),
                "text": solved.text,
                "stage": solved.stage,
                **_attempts(solved.attempts),
                "metrics": solved.metrics.as_dict(),
            }
        )
    else:
        print(render_value(solved.value, expect))
    if len(solved.attempts) > 1:
        failures = ", ".join(
            attempt.failure.label for attempt in solved.attempts if attempt.failure is not None
        )
        _note(
            args,
            f"solved on attempt {len(solved.attempts)} of {expect.attempts} "
            f"(feedback sent for: {failures})",
        )


def _emit_votes(args: argparse.Namespace, votes: Votes, expect: Expect) -> None:
    first: dict[Hashable, Any] = {}
    for sample in votes.samples:
        if sample.solved is not None:
            first.setdefault(sample.key, sample.solved.value)
    tally = [
        {"count": count, "value": _structured(first[key], expect)}
        for key, count in votes.counts.items()
    ]
    if args.envelope:
        samples = [
            {
                "index": sample.index,
                "ok": sample.ok,
                "cancelled": sample.cancelled,
                "error": None if sample.error is None else str(sample.error),
            }
            for sample in votes.samples
        ]
        attempts = tuple(attempt for sample in votes.samples for attempt in sample.attempts)
        _print_json(
            {
                "ok": True,
                "value": _structured(votes.value, expect),
                "votes": tally,
                "samples": samples,
                **_attempts(attempts),
                "metrics": votes.metrics.as_dict(),
            }
        )
    else:
        print(render_value(votes.value, expect))
    cancelled = sum(sample.cancelled for sample in votes.samples)
    extra = f", {cancelled} cancelled at quorum" if cancelled else ""
    _note(
        args,
        f"vote: {votes.counts[votes.key]} of {len(votes.samples)} samples agree "
        f"({len(votes.counts)} distinct value{'s' * (len(votes.counts) != 1)}, "
        f"{len(votes.failed)} failed{extra})",
    )
