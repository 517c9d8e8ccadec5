"""A tool loop over THOUGHT / TOOL_CALL replies, for agents without native tool calling.

Each step asks the model for a sectioned reply::

    =======THOUGHT
    I need to see the failing test first.
    =======TOOL_CALL
    {"name": "read_file", "arguments": {"path": "tests/test_app.py"}}

runs the call and sends the observation back as the next message, until the model
calls the ``finish`` tool (its arguments are the result) or the step budget is spent::

    result = await run_tool_loop(agent, "Fix the failing test.", Workspace(".").registry())
    if result.finished:
        print(result.result["answer"])

Policies:

- Each step is one :func:`~retort.core.solve.solve` with
  ``Expect.sections("THOUGHT", "TOOL_CALL")``, so a reply in the wrong format - or whose
  TOOL_CALL section holds no readable tool call - gets retort's feedback and is retried
  within that step's attempt budget; the failed reply is dropped from the context.
- The first step resets the agent (unless ``keep_context=True``); later steps continue
  the conversation. All steps share one :class:`~retort.core.run.Run`: one limiter, one
  set of metrics.
- The TOOL_CALL text is read by :func:`retort.parsers.extract_tool_calls` (JSON, a list
  of calls, fences, ``name(key=value)``). Several calls in one section run in order.
  Each call runs through :meth:`ToolRegistry.execute
  <retort.core.tools.ToolRegistry.execute>`: an unknown tool, bad arguments or a tool's
  exception becomes the ``"Error: ..."`` observation, counted in
  ``metrics.tool_call_failed``; every call counts in ``metrics.tool_calls``.
- ``finish``: when the registry has no tool of that name, a built-in
  ``finish(answer: str)`` is added. A finish call whose arguments fail validation (or
  whose tool raises) is an ordinary failed call: the model sees the error and goes on.
  Calls after a successful finish in the same section are not run.
- Ending without a finish is a result, not an exception: ``finished=False`` with
  ``reason="max_steps"`` when the budget ran out, or ``reason="no_valid_reply"`` (and the
  step's :class:`~retort.core.errors.SolveFailed` as ``error``) when a step got no
  usable reply within its attempts. Transport errors and configuration errors raise.
- Observations longer than ``max_observation`` characters are cut, with a note; when
  two steps or fewer remain, the observation says so, so the model can finish in time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from retort import parsers
from retort.core.errors import ConfigurationError, SolveFailed, ToolCallError
from retort.core.expect import Expect
from retort.core.messages import ToolCall
from retort.core.ports import Agent
from retort.core.run import Attempt, Metrics, Run
from retort.core.solve import solve
from retort.core.tools import Tool, ToolRegistry, ToolResult

__all__ = ["STEP_SPEC", "StopReason", "ToolLoopResult", "ToolStep", "run_tool_loop"]

StopReason = Literal["finished", "max_steps", "no_valid_reply"]

STEP_SPEC = Expect.sections(
    "THOUGHT",
    "TOOL_CALL",
    hints={
        "THOUGHT": "<your reasoning about what to do next>",
        "TOOL_CALL": '{"name": "<tool name>", "arguments": {<the arguments as JSON>}}',
    },
)
"""The default spec of one step: a THOUGHT section, then a TOOL_CALL section."""

_CALL_SECTION = "TOOL_CALL"
_STEPS_WARNING = 2  # from this many steps left, observations remind the model to finish


@dataclass(frozen=True, slots=True)
class ToolStep:
    """One step of the loop: the model's reply and what running its calls gave.

    Attributes:
        number: 1-based step number.
        thought: the THOUGHT section (``""`` when the spec has none).
        calls: the tool calls read from the TOOL_CALL section, in order.
        results: the result of each call that ran (calls after a finish do not run).
        observation: the message sent back to the model (``""`` after the finish).
        attempts: the solve attempts of this step, the accepted one last.
    """

    number: int
    thought: str
    calls: tuple[ToolCall, ...]
    results: tuple[ToolResult, ...]
    observation: str
    attempts: tuple[Attempt, ...]

    @property
    def call(self) -> ToolCall:
        """The first (usually the only) call of the step."""
        return self.calls[0]

    @property
    def ok(self) -> bool:
        """Whether every call that ran succeeded."""
        return all(result.ok for result in self.results)


@dataclass(frozen=True, slots=True)
class ToolLoopResult:
    """How a tool loop ended.

    Attributes:
        finished: whether the model called the finish tool successfully.
        result: the finish call's arguments (``{"answer": ...}`` for the built-in
            finish), or ``None`` when not finished.
        reason: ``"finished"``, ``"max_steps"`` or ``"no_valid_reply"``.
        steps: every completed step, in order.
        metrics: the counters of the run the loop belongs to.
        error: the :class:`SolveFailed` of the step that ended a ``"no_valid_reply"`` loop.
    """

    finished: bool
    result: dict[str, Any] | None
    reason: StopReason
    steps: tuple[ToolStep, ...]
    metrics: Metrics
    error: SolveFailed | None = None

    @property
    def tool_calls(self) -> int:
        """How many tool calls ran, the finish included."""
        return sum(len(step.results) for step in self.steps)


def _builtin_finish(answer: str) -> str:
    """Finish the task. Call this once the task is done, and only then.

    Args:
        answer: the final answer, or a short summary of what was done.
    """
    return answer


async def run_tool_loop(
    agent: Agent,
    task: str,
    tools: ToolRegistry | Iterable[Callable[..., Any] | Tool],
    *,
    max_steps: int = 20,
    finish: str = "finish",
    expect: Expect | None = None,
    run: Run | None = None,
    keep_context: bool = False,
    max_observation: int = 20_000,
) -> ToolLoopResult:
    """Let ``agent`` work on ``task`` with ``tools`` until it calls ``finish``.

    Args:
        agent: any :class:`~retort.core.ports.Agent`; it writes its calls as text.
        task: what to do; the prompt adds the tool docs and the reply format.
        tools: a registry (not modified) or the functions / tools to offer.
        max_steps: the most steps (model turns that ran tools).
        finish: the name of the tool that ends the loop; a built-in
            ``finish(answer: str)`` is added under this name when ``tools`` has none.
        expect: the spec of one step; default :data:`STEP_SPEC`. It must be a sections
            spec with a ``TOOL_CALL`` section (and, with ``last_only``, that section
            last); its ``attempts`` is the budget of each step.
        run: the run to count in (shared limiter and metrics); a new one when ``None``.
        keep_context: continue the agent's conversation instead of resetting it first.
        max_observation: observations longer than this many characters are cut.

    Returns:
        A :class:`ToolLoopResult`; check ``finished``.

    Raises:
        ConfigurationError: bad arguments (an empty task, ``max_steps`` < 1, a spec
            without a TOOL_CALL section...).
        TransportError: the transport failed after its own retries.
    """
    spec = _step_spec(expect if expect is not None else STEP_SPEC)
    if not isinstance(task, str) or not task.strip():
        raise ConfigurationError(f"task must be a non-empty string, got {task!r}")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ConfigurationError(f"max_steps must be 1 or more, got {max_steps!r}")
    if max_observation < 1:
        raise ConfigurationError(f"max_observation must be 1 or more, got {max_observation!r}")
    registry = _registry(tools, finish)
    loop = _Loop(agent, spec, registry, finish, max_steps, max_observation, keep_context)
    if run is not None:
        return await loop.run(task, run)
    async with Run() as own:
        return await loop.run(task, own)


def _step_spec(expect: Expect) -> Expect:
    if expect.format != "sections" or _CALL_SECTION not in expect.names:
        raise ConfigurationError(
            "the step spec must be a sections spec with a TOOL_CALL section, such as "
            f'Expect.sections("THOUGHT", "TOOL_CALL"); got {expect.format} {expect.names}'
        )
    if expect.last_only and expect.names[-1] != _CALL_SECTION:
        raise ConfigurationError("with last_only=True the TOOL_CALL section must be the last one")
    names = expect.names

    def tool_call(value: Any) -> str | None:
        try:
            parsers.extract_tool_calls(_sections(value, names).get(_CALL_SECTION, ""))
        except ToolCallError as exc:
            return f"The TOOL_CALL section holds no tool call I can run: {exc.message}"
        return None

    return expect.but(validators=(*expect.validators, tool_call))


def _sections(value: Any, names: Sequence[str]) -> dict[str, str]:
    """The step's sections by name, from the solved value."""
    if isinstance(value, str):  # one section, or only the last (last_only)
        return {names[-1]: value}
    if isinstance(value, tuple) and len(value) == len(names):
        return dict(zip(names, (str(item) for item in value), strict=True))
    raise ConfigurationError(
        f"the step spec must produce the section texts (a tuple of str), got "
        f"{type(value).__name__}; do not set a custom type on it"
    )


def _registry(tools: ToolRegistry | Iterable[Callable[..., Any] | Tool], name: str) -> ToolRegistry:
    if not isinstance(tools, ToolRegistry) and (callable(tools) or isinstance(tools, Tool)):
        raise ConfigurationError("tools must be a ToolRegistry or a list of functions or tools")
    registry = ToolRegistry(list(tools))  # a copy: the caller's registry is not modified
    if name not in registry:
        registry.register(_builtin_finish, name=name)
    return registry


def _prompt(task: str, registry: ToolRegistry, finish_name: str) -> str:
    return (
        f"{task}\n\n"
        "Work in steps. In each reply, say in THOUGHT what you will do next and why, then "
        'call one tool in TOOL_CALL as a JSON object {"name": ..., "arguments": {...}}. '
        "The tool's result comes back as the next message. "
        f"When the task is done, call the `{finish_name}` tool.\n\n"
        f"Tools:\n\n{registry.render_docs()}"
    )


class _Loop:
    """The state of one loop run: the agent, the spec, the registry and the budget."""

    def __init__(
        self,
        agent: Agent,
        spec: Expect,
        registry: ToolRegistry,
        finish: str,
        max_steps: int,
        max_observation: int,
        keep_context: bool,
    ) -> None:
        self.agent = agent
        self.spec = spec
        self.registry = registry
        self.finish = finish
        self.max_steps = max_steps
        self.max_observation = max_observation
        self.keep_context = keep_context

    async def run(self, task: str, run: Run) -> ToolLoopResult:
        steps: list[ToolStep] = []
        message = _prompt(task, self.registry, self.finish)
        for number in range(1, self.max_steps + 1):
            try:
                solved = await solve(
                    self.agent,
                    message,
                    self.spec,
                    keep_context=self.keep_context or number > 1,
                    run=run,
                )
            except SolveFailed as exc:
                return ToolLoopResult(False, None, "no_valid_reply", tuple(steps), run.metrics, exc)
            sections = _sections(solved.value, self.spec.names)
            calls = tuple(parsers.extract_tool_calls(sections[_CALL_SECTION]))
            results, outcome = await self._execute(calls, run)
            left = self.max_steps - number
            observation = "" if outcome is not None else self._observation(results, left)
            steps.append(
                ToolStep(
                    number,
                    sections.get("THOUGHT", ""),
                    calls,
                    results,
                    observation,
                    solved.attempts,
                )
            )
            if outcome is not None:
                return ToolLoopResult(True, outcome, "finished", tuple(steps), run.metrics)
            message = observation
        return ToolLoopResult(False, None, "max_steps", tuple(steps), run.metrics)

    async def _execute(
        self, calls: Sequence[ToolCall], run: Run
    ) -> tuple[tuple[ToolResult, ...], dict[str, Any] | None]:
        """Run the calls in order; stop after a successful finish and return its arguments."""
        results = []
        for call in calls:
            result = await self.registry.execute(call)
            results.append(result)
            run.metrics.tool_calls += 1
            if not result.ok:
                run.metrics.tool_call_failed += 1
            elif call.name == self.finish:
                return tuple(results), _arguments(call)
        return tuple(results), None

    def _observation(self, results: Sequence[ToolResult], steps_left: int) -> str:
        blocks = [
            f"OBSERVATION from {result.name}:\n{self._cut(result.content)}" for result in results
        ]
        if 0 < steps_left <= _STEPS_WARNING:
            plural = "step is" if steps_left == 1 else "steps are"
            blocks.append(
                f"Only {steps_left} {plural} left: call `{self.finish}` with your result soon."
            )
        return "\n\n".join(blocks)

    def _cut(self, content: str) -> str:
        if len(content) <= self.max_observation:
            return content
        return (
            f"{content[: self.max_observation]}\n[observation cut: it has {len(content)} "
            f"characters; the first {self.max_observation} are shown]"
        )


def _arguments(call: ToolCall) -> dict[str, Any]:
    # extract_tool_calls writes the arguments as JSON text, and the finish tool accepted
    # them, so they decode to an object; "" and "null" mean no arguments.
    if not call.arguments.strip():
        return {}
    value = json.loads(call.arguments)
    return value if isinstance(value, dict) else {}
