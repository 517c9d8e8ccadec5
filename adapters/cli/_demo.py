"""``retort demo``: the CREATE flow end to end, against a scripted model that misbehaves.

```
retort demo                                   # local scripted model, AutoGen agents
retort demo --agent native --transport openai # the same over the OpenAI-compatible endpoint
retort demo --base-url http://127.0.0.1:8000/v1 --transport openai --model Qwen/Qwen3-8B
```

What it does:

1. Unless ``--base-url`` names a real endpoint, starts the reference proxy server on a
   free loopback port with the scripted model shipped as ``demo_model.yaml``, whose
   replies go wrong the way real models' do: a section missing, a section given twice,
   JSON in a fence with a trailing comma, an object without its ``code``, a function
   with an empty body, and one sample with a different (wrong) solution.
2. Asks the model to classify the built-in problem as FIX or CREATE
   (``Expect.sections("THOUGHT", "ANSWER")``, as the original program did).
3. Runs the CREATE flow (:func:`retort.plugins.create.create`) on the problem:
   ``--samples`` solutions on fresh agents under ``--limit``, feedback and retries,
   the vote, the files written inside ``--out``.
4. Shows progress per sample while it runs, then the summary (attempts, feedback sent by
   kind, repairs by stage, the vote, files written, time), the chosen solution, the
   paths of its files and the trace file, where every attempt is a JSON line.

Defaults: ``--out`` a new temporary directory; ``--trace`` ``retort-demo.trace.jsonl``
inside ``--out`` (appended to). Against the local server the model name defaults to
the proxy's default model, for both transports.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.resources
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy
from rich.console import Console

from retort.adapters.cli._create import (
    CREATE_SYSTEM_MESSAGE,
    CreateProgress,
    open_trace,
    plugins_for,
    print_report,
)
from retort.adapters.cli._options import (
    add_backend_options,
    choose_agent,
    configured_base_url,
    open_backend,
    positive_int,
)
from retort.adapters.proxy._transport import DEFAULT_MODEL
from retort.core.expect import Expect
from retort.core.run import Run
from retort.core.solve import solve
from retort.plugins.create import CreateResult, create

__all__ = ["CLASSIFY_EXPECT", "DEMO_MODEL", "DEMO_PROBLEM", "classify_prompt", "register"]

DEMO_MODEL = "demo_model.yaml"
"""The scripted model's file, shipped in this package."""

DEMO_PROBLEM = (
    'Implement `slugify(text, separator="-")` in slugify.py. It turns any text into a URL '
    "slug: accented letters are transliterated to ASCII (é becomes e), everything is "
    "lower-case, and each run of characters that are not letters or digits becomes one "
    "separator, with none at either end. Write pytest tests for it in test_slugify.py."
)
"""The built-in problem the demo solves."""


_EXAMPLES = """\
examples:
  retort demo                                   # local scripted model, AutoGen agents
  retort demo --agent native --transport openai # the same over the OpenAI-compatible endpoint
  retort demo --out demo-out/ --trace demo.jsonl
  retort demo --transport openai --base-url http://127.0.0.1:8000/v1 --model Qwen/Qwen3-8B
"""


def _fix_or_create(value: tuple[str, str]) -> str | None:
    answer = value[1].strip().upper()
    if answer in ("FIX", "CREATE"):
        return None
    return f"ANSWER must be exactly FIX or CREATE, got {value[1].strip()[:80]!r}"


CLASSIFY_EXPECT = Expect.sections(
    "THOUGHT",
    "ANSWER",
    hints={"THOUGHT": "your reasoning, in a sentence or two", "ANSWER": "FIX or CREATE"},
    validators=[_fix_or_create],
)
"""The classification step's spec: two named sections, the answer FIX or CREATE."""


def classify_prompt(problem: str) -> str:
    """The classification task for ``problem`` (FIX existing code, or CREATE new code)."""
    return (
        "Classify the task below: does it ask to FIX existing code, or to CREATE new code?"
        f"\n\nTask:\n{problem.strip()}"
    )


def register(subparsers: Any) -> None:
    """Add ``retort demo`` to the command's subparsers."""
    parser = subparsers.add_parser(
        "demo",
        help="run the CREATE flow against a scripted model that misbehaves",
        description="Start the reference proxy server with a scripted model (unless "
        "--base-url names a real endpoint), classify a built-in problem, run the CREATE "
        "flow on it with live progress, and print the summary, the chosen solution, its "
        "files and the trace file.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_EXAMPLES,
    )
    group = parser.add_argument_group("demo")
    group.add_argument(
        "--out", metavar="DIR", help="where the solution's files go (default: a new temp dir)"
    )
    group.add_argument(
        "--samples",
        type=positive_int,
        default=5,
        metavar="N",
        help="solutions generated on fresh agents (default 5)",
    )
    add_backend_options(parser)
    parser.set_defaults(run=run)


@dataclass(frozen=True)
class _Outcome:
    run: Run
    classified: str
    classify_attempts: int
    result: CreateResult
    elapsed: float


def run(args: argparse.Namespace) -> int:
    """Run ``retort demo``; the exit code."""
    base_url = configured_base_url(args) if args.base_url is not None else None
    choose_agent(args.agent)  # fail on a missing extra before a server starts
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="retort-demo-"))
    out = out.resolve()
    trace = open_trace(args.trace or out / "retort-demo.trace.jsonl")
    console = Console()
    try:
        with CreateProgress(console, args.samples) as progress:
            pm = plugins_for(trace, progress)
            outcome = asyncio.run(_demo(args, base_url, out, pm, progress, console))
    finally:
        trace.close()
    console.print(
        f"classified as {outcome.classified} in {outcome.classify_attempts} attempt(s)",
        highlight=False,
    )
    print_report(console, progress, outcome.run, outcome.result, outcome.elapsed, trace.path)
    return 0


@asynccontextmanager
async def _endpoint(args: argparse.Namespace, base_url: str | None) -> AsyncIterator[str]:
    """The endpoint's URL: the one given, or a local server with the scripted model."""
    if base_url is not None:
        yield base_url
        return
    from retort.adapters.proxy import ScriptedModel, serve

    with importlib.resources.as_file(
        importlib.resources.files(__package__ or "retort.adapters.cli") / DEMO_MODEL
    ) as script:
        model = ScriptedModel.from_file(script)
    # Both endpoints of the local server take any model name; the proxy's default
    # keeps the OpenAI transport, which needs one, happy without --model.
    args.model = args.model or DEFAULT_MODEL
    server = await asyncio.to_thread(serve, model)
    async with server:
        yield server.url


async def _demo(
    args: argparse.Namespace,
    base_url: str | None,
    out: Path,
    pm: pluggy.PluginManager,
    progress: CreateProgress,
    console: Console,
) -> _Outcome:
    started = time.monotonic()
    async with _endpoint(args, base_url) as url:
        where = "the endpoint" if base_url is not None else "a scripted model on"
        agent_kind = choose_agent(args.agent)
        console.print(
            f"retort demo: {agent_kind} agents, {args.transport} transport, {where} {url}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        async with (
            Run(limit=args.limit, plugins=pm) as run_,
            open_backend(
                args, system_message=CREATE_SYSTEM_MESSAGE, agent_prefix="demo", base_url=url
            ) as agent,
        ):
            with progress.step("classify"):
                classified = await solve(
                    agent,
                    classify_prompt(DEMO_PROBLEM),
                    CLASSIFY_EXPECT.but(attempts=args.attempts),
                    run=run_,
                )
            result = await create(
                agent,
                DEMO_PROBLEM,
                out_dir=out,
                samples=args.samples,
                attempts=args.attempts,
                run=run_,
            )
    return _Outcome(
        run_,
        classified.value[1].strip().upper(),
        len(classified.attempts),
        result,
        time.monotonic() - started,
    )
