"""``solve_task``: the original program's call, parameter for parameter, on retort's ``solve``.

```python
value = await solve_task(
    agent, "Write the tests.", RESPONSE_FORMAT, return_type=tuple[str, str], max_attempts=3
)
```

How the original's parameters map onto an :class:`~retort.core.expect.Expect`:

- ``response_format`` is appended to the task (``task + "\\n\\n\\n" + response_format``,
  as the original did) and is what section names are read from: every ``=======NAME``
  header line in it, in order. When it is empty, retort's own format instructions are
  appended instead (the original appended nothing).
- ``return_type``: ``tuple[str, ...]`` of n items -> n sections (the format must name
  exactly n); ``Union[tuple[str, str], str]`` -> both sections, or only the last (a
  ``str`` then); ``str`` -> the one section the format names, or all of them merged
  (joined by newlines, as the original merged them), or plain text when it names none.
- ``is_json`` -> JSON, repaired leniently and fitted to ``return_type`` (``list[dict]``,
  a pydantic model...; the default ``str`` means any JSON value).
- ``regex`` -> the reply must contain a match (``re.search``, ``re.DOTALL``).
- ``post_process_func(value)`` -> a validator: ``"success"`` accepts, any other string is
  the error sent back to the model.
- ``max_attempts`` -> the attempt budget; ``is_parallel`` -> a fresh fork of the agent
  (``fresh=True``); ``disable_reset`` -> keep the conversation (``keep_context=True``).

It returns the value, or ``None`` when every attempt failed (the original's behaviour),
unless ``raise_errors=True``, which raises :class:`~retort.core.errors.SolveFailed`
carrying every attempt. Transport errors always raise (the original retried them as
attempts, after a blocking sleep).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable
from typing import Any, Union
from weakref import WeakKeyDictionary

from autogen_agentchat.agents import AssistantAgent

from retort import parsers
from retort.adapters.autogen._agent import AutoGenAgent
from retort.core.errors import ConfigurationError, SolveFailed
from retort.core.expect import Expect
from retort.core.ports import Agent
from retort.core.solve import solve

__all__ = ["section_names", "solve_task"]

# A header line as the original wrote them: a run of 3+ '=' and a name on a line of its own.
_HEADER = re.compile(
    r"^[ \t]*={3,}[ \t]*([A-Za-z_][A-Za-z0-9_ -]*?)[ \t]*=*[ \t]*\r?$", re.MULTILINE
)

# One AutoGenAgent per wrapped AssistantAgent: its lock and its record of turns must
# outlive a single call, or two calls on one assistant could share its conversation.
_wrapped: WeakKeyDictionary[AssistantAgent, AutoGenAgent] = WeakKeyDictionary()


def section_names(response_format: str) -> tuple[str, ...]:
    """The section names of the ``=======NAME`` header lines in ``response_format``, in
    order, canonical (upper case) and without repeats."""
    names: dict[str, None] = {}
    for match in _HEADER.finditer(response_format):
        names.setdefault(parsers.normalize_section_name(match.group(1)), None)
    return tuple(names)


async def solve_task(
    agent: Agent | AssistantAgent,
    task: str,
    response_format: str = "",
    is_json: bool = False,
    regex: str | None = None,
    post_process_func: Callable[[Any], Any] | None = None,
    max_attempts: int = 3,
    is_parallel: bool = False,
    disable_reset: bool = False,
    return_type: Any = str,
    *,
    raise_errors: bool = False,
) -> Any:
    """Solve ``task`` with the original program's parameters (see the module docstring).

    Args:
        agent: an :class:`~retort.adapters.autogen.AutoGenAgent`, any retort
            :class:`~retort.core.ports.Agent`, or an AutoGen ``AssistantAgent`` (wrapped
            once and reused, so calls on it share one lock).
        task: the task text.
        response_format: format instructions appended to the task; its ``=======NAME``
            headers name the sections.
        is_json: the reply is JSON.
        regex: a pattern the reply must contain.
        post_process_func: ``f(value) -> "success" | error message``.
        max_attempts: the attempt budget.
        is_parallel: solve on a fresh fork of the agent.
        disable_reset: keep the agent's conversation instead of resetting it.
        return_type: ``str``, ``tuple[str, ...]``, ``Union[tuple[str, str], str]``, or with
            ``is_json`` the type of the JSON value.
        raise_errors: raise :class:`SolveFailed` instead of returning ``None``.

    Returns:
        The parsed, validated value; ``None`` when every attempt failed (unless
        ``raise_errors``).

    Raises:
        SolveFailed: every attempt failed and ``raise_errors`` is true.
        TransportError: the transport failed after its own retries.
        ConfigurationError: ``return_type`` does not fit the headers of ``response_format``.
    """
    target = _as_agent(agent)
    expect, merge = _expect(
        response_format, is_json, regex, post_process_func, max_attempts, return_type
    )
    try:
        solved = await solve(target, task, expect, keep_context=disable_reset, fresh=is_parallel)
    except SolveFailed:
        if raise_errors:
            raise
        return None
    return "\n".join(solved.value) if merge else solved.value


def _as_agent(agent: Agent | AssistantAgent) -> Agent:
    if isinstance(agent, Agent):
        return agent
    if isinstance(agent, AssistantAgent):
        wrapped = _wrapped.get(agent)
        if wrapped is None:
            wrapped = _wrapped[agent] = AutoGenAgent.wrap(agent)
        return wrapped
    raise TypeError(
        f"solve_task needs a retort Agent or an AutoGen AssistantAgent, got {type(agent).__name__}"
    )


def _expect(
    response_format: str,
    is_json: bool,
    regex: str | None,
    post_process_func: Callable[[Any], Any] | None,
    max_attempts: int,
    return_type: Any,
) -> tuple[Expect, bool]:
    """The spec, and whether the sections must be merged into one string afterwards."""
    options: dict[str, Any] = {"attempts": max_attempts}
    if response_format:
        options["instructions"] = response_format
    if regex is not None:
        options["regex"] = re.compile(regex, re.DOTALL)
    if post_process_func is not None:
        options["validators"] = (post_process_func,)
    if is_json:
        return Expect.json(Any if return_type is str else return_type, **options), False
    names = section_names(response_format)
    arity, last_only = _section_shape(return_type)
    if arity is None:  # plain str
        if not names:
            return Expect.text(**options), False
        return Expect.sections(*names, **options), len(names) > 1
    if len(names) != arity:
        raise ConfigurationError(
            f"return_type {_type_name(return_type)} expects {arity} sections, but "
            f"response_format names {len(names)} ({', '.join(names) or 'no =======NAME headers'}); "
            "write one '=======NAME' header line per section in response_format"
        )
    return Expect.sections(*names, last_only=last_only, **options), False


def _section_shape(return_type: Any) -> tuple[int | None, bool]:
    """``(number of sections, last_only)`` for a return type; ``(None, False)`` for ``str``."""
    if return_type is str:
        return None, False
    origin = typing.get_origin(return_type)
    if origin in (Union, types.UnionType):
        members = typing.get_args(return_type)
        tuples = [member for member in members if typing.get_origin(member) is tuple]
        if len(members) == 2 and str in members and len(tuples) == 1:
            arity, _ = _section_shape(tuples[0])
            return arity, True
    if origin is tuple:
        items = typing.get_args(return_type)
        if items and all(item is str for item in items):
            return len(items), False
    raise ConfigurationError(
        f"return_type {_type_name(return_type)} is not supported without is_json: use str, "
        "tuple[str, ...] of n items, or Union[tuple[str, ...], str] (or is_json=True)"
    )


def _type_name(value: Any) -> str:
    return value.__name__ if isinstance(value, type) else repr(value)
