"""The solve loop: ask, check, give precise feedback, retry.

Per attempt the reply goes through, in order: present (not empty) -> regex -> format
(sections / JSON, with the JSON repair hooks when the parser gives up, and the spec's
``repair`` mode's verdict on the parser's fixes) -> typed parse ->
the spec's validators -> every ``retort_validate`` hook. The first failure becomes one
feedback message specific to its kind; the failed reply is rejected from the agent's
context (unless the spec keeps failures) and the feedback is the next prompt, until the
budget is spent and :class:`~retort.core.errors.SolveFailed` carries every attempt.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pluggy

from retort.core.errors import (
    ConfigurationError,
    JSONParseError,
    SectionError,
    SolveFailed,
    TypeParseError,
)
from retort.core.expect import Expect, Failure, check_value
from retort.core.feedback import word_feedback
from retort.core.messages import Reply, Usage
from retort.core.plugins import call_until
from retort.core.ports import Agent
from retort.core.run import Attempt, Metrics, Run

__all__ = ["Solved", "solve", "solve_sync"]

T = TypeVar("T")
_PLAIN_TEXT = Expect.text()  # immutable; the spec of solve(..., expect=None)


@dataclass(frozen=True)
class Solved(Generic[T]):
    """A solve that succeeded.

    Attributes:
        value: the parsed, typed, validated value.
        attempts: every attempt of this solve, the accepted one last.
        metrics: the counters of the run this solve belongs to.
        text: the accepted reply's text.
        stage: the JSON repair stage that produced the value (JSON specs), else ``None``.
    """

    value: T
    attempts: tuple[Attempt, ...]
    metrics: Metrics
    text: str
    stage: str | None = None

    @property
    def usage(self) -> Usage:
        """Tokens spent over all attempts of this solve."""
        total = Usage()
        for attempt in self.attempts:
            total = total + attempt.usage
        return total


async def solve(
    agent: Agent,
    task: str,
    expect: Expect | None = None,
    *,
    keep_context: bool = False,
    fresh: bool = False,
    run: Run | None = None,
    limit: int | None = None,
    plugins: pluggy.PluginManager | None = None,
    sample: int | None = None,
) -> Solved[Any]:
    """Ask ``agent`` to solve ``task`` until a reply passes ``expect`` or the budget ends.

    Args:
        agent: any :class:`~retort.core.ports.Agent`.
        task: the task text; the spec's format instructions are appended to it.
        expect: what the reply must be; plain text when ``None``.
        keep_context: continue the agent's conversation (the original's
            ``disable_reset``); by default the context is reset first.
        fresh: solve on ``agent.fork()`` - a fresh agent with an empty context, closed
            afterwards (the original's ``is_parallel``).
        run: the run this solve belongs to (shared limiter, metrics, attempts); a new run
            is made when ``None``.
        limit: with a new run, the most concurrent model calls.
        plugins: with a new run, the plugin manager (the process default otherwise).
        sample: the consensus sample index, recorded on each attempt.

    Returns:
        :class:`Solved` with the value, every attempt and the run's metrics.

    Raises:
        SolveFailed: no reply passed within ``expect.attempts``; carries every attempt.
        TransportError: the transport failed after its own retries (the attempt is
            recorded in the run).
        ConfigurationError: ``task`` is empty or not text, or ``run`` was given together
            with ``limit`` or ``plugins``.
    """
    if not isinstance(task, str) or not task.strip():
        raise ConfigurationError(f"task must be a non-empty string, got {task!r}")
    spec = expect if expect is not None else _PLAIN_TEXT
    if run is not None:
        if limit is not None or plugins is not None:
            raise ConfigurationError("pass limit and plugins to the Run, not to solve()")
        with run.active():
            return await _solve(agent, task, spec, run, keep_context, fresh, sample)
    async with Run(limit=limit, plugins=plugins) as own:
        return await _solve(agent, task, spec, own, keep_context, fresh, sample)


async def _solve(
    agent: Agent,
    task: str,
    expect: Expect,
    run: Run,
    keep_context: bool,
    fresh: bool,
    sample: int | None,
) -> Solved[Any]:
    target = agent.fork() if fresh else agent
    try:
        async with target.lock:
            if not keep_context and not fresh:
                await target.reset()
            return await _attempts(target, task, expect, run, sample)
    finally:
        if fresh:
            await target.aclose()


async def _attempts(
    agent: Agent, task: str, expect: Expect, run: Run, sample: int | None
) -> Solved[Any]:
    attempts: list[Attempt] = []
    prompt = expect.prompt(task)
    for number in range(1, expect.attempts + 1):
        attempt = Attempt(number, prompt, sample=sample)
        attempts.append(attempt)
        run.attempts.append(attempt)
        run.metrics.attempts += 1
        try:
            async with run.limiter:
                reply = await agent.ask(prompt)
        except BaseException as exc:
            attempt.error = f"{type(exc).__name__}: {exc}"
            _finish(attempt, run)
            raise
        attempt.reply = reply
        run.metrics.add_usage(reply.usage)
        value, failure = await _evaluate(reply, expect, agent, run, attempt)
        if failure is None:
            run.metrics.solved += 1
            _finish(attempt, run)
            return Solved(value, tuple(attempts), run.metrics, reply.text, attempt.stage)
        attempt.failure = failure
        last = number == expect.attempts
        if not last:
            attempt.feedback = word_feedback(
                failure, expect, run.plugins, text=reply.text.strip(), guessed=attempt.guessed
            )
            run.metrics.feedback[failure.label] += 1
        _finish(attempt, run)
        if last:
            break
        if not expect.keep_failed:
            await agent.reject(reply)
        prompt = attempt.feedback or ""
    run.metrics.failed += 1
    problem = attempts[-1].failure
    reason = problem.message if problem is not None else "no reply"
    raise SolveFailed(
        f"no valid reply in {expect.attempts} attempt{'s' * (expect.attempts > 1)}; "
        f"the last one failed with: {reason}",
        attempts=attempts,
    )


def _finish(attempt: Attempt, run: Run) -> None:
    attempt.duration = time.monotonic() - attempt.started
    run.plugins.hook.retort_attempt(attempt=attempt, run=run)


async def _evaluate(
    reply: Reply, expect: Expect, agent: Agent, run: Run, attempt: Attempt
) -> tuple[Any, Failure | None]:
    text = reply.text.strip()
    if not text:
        return None, Failure("empty", "The reply was empty.")
    if expect.regex is not None and expect.regex.search(text) is None:
        message = f"The reply does not match the regular expression {expect.regex.pattern!r}."
        return None, Failure("regex", message)
    try:
        parsed, attempt.stage, attempt.fixes, attempt.guessed = expect.parse(text)
    except SectionError as exc:
        run.metrics.markdown_failed += 1
        if exc.duplicated or exc.unexpected:
            run.metrics.too_many_sections += 1
        return None, Failure("sections", exc.message, exc.kind, exc)
    except JSONParseError as exc:
        llm_before = run.metrics.json_llm_used
        # A repair step rewrites text the parser could not read: a guess only "full" takes.
        fixed = (
            await _repair_with_hooks(text, exc, expect, agent, run)
            if expect.repair == "full"
            else None
        )
        if fixed is None:
            return None, Failure("json", exc.message, exc.stage, exc)
        # The built-in LLM fixer counts its own successes; any other repair step is a "hook".
        stage = "llm" if run.metrics.json_llm_used > llm_before else "hook"
        parsed, attempt.stage, attempt.fixes = json.loads(fixed), stage, ()
    if attempt.stage is not None:
        run.metrics.repairs[attempt.stage] += 1
        if attempt.stage == "python":
            run.metrics.json_literal_used += 1
    if attempt.fixes:
        if attempt.guessed:
            run.metrics.json_guessed += 1
        refused = expect.check_repair(text, attempt.fixes, attempt.guessed)
        if refused is not None:
            return None, refused
    try:
        value = expect.fit(parsed)
    except TypeParseError as exc:
        return None, Failure("type", exc.message, "", exc)
    failure = await check_value(expect.validators, value)
    if failure is not None:
        return None, failure
    return value, await _plugin_validators(value, reply, expect, run)


def _rejects(verdict: object) -> bool:
    """A plugin validator's verdict rejects: ``False`` or an error message."""
    if verdict is False:
        return True
    return isinstance(verdict, str) and verdict.strip() not in ("", "success")


async def _plugin_validators(value: Any, reply: Reply, expect: Expect, run: Run) -> Failure | None:
    """The ``retort_validate`` hooks, with the same verdicts as the spec's validators."""
    hook = run.plugins.hook.retort_validate
    if not hook.get_hookimpls():
        return None
    try:
        verdict = await call_until(hook, _rejects, value=value, reply=reply, expect=expect)
    except (ValueError, AssertionError) as exc:
        message = str(exc) or f"{type(exc).__name__} from a plugin validator"
        return Failure("validator", message, "plugin", exc)
    if verdict is None:
        return None
    message = verdict.strip() if isinstance(verdict, str) else "a plugin validator rejected it"
    return Failure("validator", message, "plugin")


def _strict_json(text: object) -> bool:
    if not isinstance(text, str):
        return False
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


async def _repair_with_hooks(
    text: str, error: JSONParseError, expect: Expect, agent: Agent, run: Run
) -> str | None:
    hook = run.plugins.hook.retort_repair_json
    result = await call_until(
        hook, _strict_json, text=text, error=error, expect=expect, agent=agent
    )
    return result if isinstance(result, str) else None


def solve_sync(
    agent: Agent, task: str, expect: Expect | None = None, **options: Any
) -> Solved[Any]:
    """:func:`solve` for scripts: runs its own event loop.

    Raises:
        ConfigurationError: called from inside a running event loop (``await solve``
            there instead); plus everything :func:`solve` raises.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(solve(agent, task, expect, **options))
    raise ConfigurationError("solve_sync() cannot run inside an event loop: use `await solve(...)`")
