"""A run: one ``solve`` or ``consensus`` call and everything under it.

A :class:`Run` owns the one limiter every call and sample of the run shares, the run's
metrics (never globals) and the record of every attempt. Code below the solve loop - a
transport counting its retries, an agent counting failed tool calls - reaches the run in
progress through :func:`current_run`, a context variable, so no layer has to pass it on.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from retort.core.messages import Reply, Usage

if TYPE_CHECKING:
    import pluggy

    from retort.core.expect import Failure

__all__ = ["Attempt", "Limiter", "Metrics", "Run", "current_run"]

_current: ContextVar[Run | None] = ContextVar("retort_current_run", default=None)
_run_ids = itertools.count(1)


def current_run() -> Run | None:
    """The run in progress in this task, or ``None`` outside any solve."""
    return _current.get()


class Limiter:
    """A semaphore that also reports how many holders it has and had at most.

    Args:
        limit: the most concurrent holders; ``None`` for no limit.
    """

    __slots__ = ("_semaphore", "active", "limit", "peak")

    def __init__(self, limit: int | None) -> None:
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be 1 or more (or None for no limit), got {limit}")
        self.limit = limit
        self._semaphore = asyncio.Semaphore(limit) if limit is not None else None
        self.active = 0
        self.peak = 0

    async def __aenter__(self) -> Limiter:
        if self._semaphore is not None:
            await self._semaphore.acquire()
        self.active += 1
        self.peak = max(self.peak, self.active)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.active -= 1
        if self._semaphore is not None:
            self._semaphore.release()


@dataclass
class Metrics:
    """The counters of one run.

    The first five keep the original program's meaning (they were process-wide globals
    there): ``markdown_failed`` counts replies whose sections did not parse,
    ``too_many_sections`` those among them with a duplicated or unexpected section,
    ``tool_call_failed`` tool calls that ended in an error observation,
    ``json_literal_used`` JSON that needed Python-literal parsing, ``json_llm_used`` JSON
    an LLM repair step fixed. ``json_guessed`` counts replies whose JSON the parser could
    only read by guessing (see ``Expect.repair``), whether or not the spec accepted them.
    """

    markdown_failed: int = 0
    too_many_sections: int = 0
    tool_call_failed: int = 0
    json_literal_used: int = 0
    json_llm_used: int = 0
    json_guessed: int = 0
    attempts: int = 0
    solved: int = 0
    failed: int = 0
    transport_retries: int = 0
    tool_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    feedback: Counter[str] = field(default_factory=Counter)
    repairs: Counter[str] = field(default_factory=Counter)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add_usage(self, usage: Usage) -> None:
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens

    def as_dict(self) -> dict[str, Any]:
        """Plain data: counters as ints, ``feedback`` and ``repairs`` as dicts."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = dict(value) if isinstance(value, Counter) else value
        out["tokens"] = self.tokens
        return out


@dataclass
class Attempt:
    """One ask of the model and what retort made of the reply.

    Attributes:
        number: 1-based number within its solve.
        prompt: what was sent: the task with its format instructions, or the feedback.
        reply: the agent's reply (``None`` when the agent raised).
        failure: what was wrong, or ``None`` when the reply was accepted.
        feedback: the message sent back to the model because of ``failure``.
        stage: the JSON repair stage that produced the value (JSON specs only), or ``"llm"``.
        fixes: what the JSON repairer changed, as ``(kind, position, detail)``.
        guessed: those of ``fixes`` that guessed an intent (an inner quote escaped, a bare
            value quoted, a cut-off string closed...), in the same shape.
        error: the text of a transport or agent error that ended the solve.
        sample: the consensus sample index, when the solve is one.
        started: ``time.monotonic()`` when the ask started.
        duration: seconds from ask to verdict.
    """

    number: int
    prompt: str
    reply: Reply | None = None
    failure: Failure | None = None
    feedback: str | None = None
    stage: str | None = None
    fixes: tuple[tuple[str, int, str], ...] = ()
    guessed: tuple[tuple[str, int, str], ...] = ()
    error: str | None = None
    sample: int | None = None
    started: float = field(default_factory=time.monotonic)
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.reply is not None and self.failure is None and self.error is None

    @property
    def text(self) -> str | None:
        return self.reply.text if self.reply is not None else None

    @property
    def usage(self) -> Usage:
        return self.reply.usage if self.reply is not None else Usage()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data, for traces."""
        return {
            "number": self.number,
            "sample": self.sample,
            "ok": self.ok,
            "prompt": self.prompt,
            "text": self.text,
            "failure": None if self.failure is None else self.failure.to_dict(),
            "feedback": self.feedback,
            "stage": self.stage,
            "fixes": [list(fix) for fix in self.fixes],
            "guessed": [list(fix) for fix in self.guessed],
            "error": self.error,
            "usage": self.usage.model_dump(),
            "duration": round(self.duration, 6),
        }


class Run:
    """The shared state of one run: limiter, metrics, plugins, every attempt.

    ``solve`` and ``consensus`` make their own run unless given one. To share a run (one
    limiter, one set of metrics) across several calls, make it yourself and use it as a
    context manager: entering makes it the :func:`current_run` and fires
    ``retort_run_start``; leaving fires ``retort_run_end`` with the exception, if any::

        async with Run(limit=3) as run:
            await asyncio.gather(solve(a, task, run=run), solve(b, task, run=run))

    Args:
        limit: the most concurrent model calls across the whole run (``None``: no limit).
        plugins: the plugin manager; the process default when ``None``.
    """

    def __init__(self, *, limit: int | None = None, plugins: pluggy.PluginManager | None = None):
        if plugins is None:
            from retort.core.plugins import get_plugin_manager

            plugins = get_plugin_manager()
        self.id = next(_run_ids)
        self.limiter = Limiter(limit)
        self.plugins = plugins
        self.metrics = Metrics()
        self.attempts: list[Attempt] = []
        self.started = time.monotonic()
        self._token: Token[Run | None] | None = None

    async def __aenter__(self) -> Run:
        self._token = _current.set(self)
        self.plugins.hook.retort_run_start(run=self)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        token, self._token = self._token, None
        try:
            self.plugins.hook.retort_run_end(run=self, error=exc)
        finally:
            if token is not None:
                _current.reset(token)

    @contextmanager
    def active(self) -> Iterator[Run]:
        """Make this the :func:`current_run` of the enclosed code (and its tasks)."""
        token = _current.set(self)
        try:
            yield self
        finally:
            _current.reset(token)

    def __repr__(self) -> str:
        return f"<Run {self.id} attempts={len(self.attempts)} limit={self.limiter.limit}>"
