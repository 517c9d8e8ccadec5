"""Built-in plugin: ask the model to fix JSON the lenient parser could not repair.

Opt-in per spec (``Expect.json(..., llm_fix=True)``): one call, on a fork of the agent
(so the solve's own conversation is untouched), under the run's shared limiter, with the
text capped. Only an answer that strict ``json.loads`` parses is returned, and it is
counted in ``metrics.json_llm_used``; the fixer's tokens go to the run's metrics.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable

from retort.core.errors import JSONParseError
from retort.core.expect import Expect
from retort.core.hookspecs import hookimpl
from retort.core.ports import Agent
from retort.core.run import current_run
from retort.parsers import strip_fences

__all__ = ["MAX_CHARS", "fix_prompt", "retort_repair_json"]

MAX_CHARS = 64_000
"""Longer text is not sent: an LLM rewrite of that much JSON is slow and unreliable."""


def fix_prompt(text: str, error: JSONParseError) -> str:
    """The one message sent to the fixer."""
    return (
        "The following text should be one valid JSON value but it does not parse: "
        f"{error.message}\n"
        "Reply with the corrected JSON only - no explanation, no code fence - keeping every "
        "key and value as they are except what is needed to make it valid.\n\n"
        f"{text}"
    )


async def _fix(text: str, error: JSONParseError, agent: Agent) -> str | None:
    fixer = agent.fork()
    try:
        run = current_run()
        if run is None:
            reply = await fixer.ask(fix_prompt(text, error))
        else:
            async with run.limiter:
                reply = await fixer.ask(fix_prompt(text, error))
            run.metrics.add_usage(reply.usage)
    finally:
        await fixer.aclose()
    fixed = strip_fences(reply.text)
    try:
        json.loads(fixed)
    except (ValueError, RecursionError):
        return None  # the next repair step (or the feedback) gets its chance
    if run is not None:
        run.metrics.json_llm_used += 1
    return fixed


@hookimpl(trylast=True)
def retort_repair_json(
    text: str, error: JSONParseError, expect: Expect, agent: Agent | None
) -> Awaitable[str | None] | None:
    """Answer only for specs with ``llm_fix=True``, with an agent, and text under MAX_CHARS."""
    if not expect.llm_fix or agent is None or len(text) > MAX_CHARS:
        return None
    return _fix(text, error, agent)
