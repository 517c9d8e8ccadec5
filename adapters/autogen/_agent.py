"""AutoGenAgent: retort's :class:`~retort.core.ports.Agent` port around a real ``AssistantAgent``.

```python
agent = AutoGenAgent(client, system_message="You are terse.", tools=[get_file_content])
solved = await solve(agent, "Solve ...", Expect.sections("THOUGHT", "ANSWER"))
agent.assistant      # the AutoGen AssistantAgent doing the work
```

Policies:

- **Turns.** ``ask(message)`` runs the assistant once (``run(task=message)``, or
  ``run_stream`` through AutoGen's ``Console`` with ``console=True``) and records the
  turn: its id, its kind (``"feedback"`` right after a rejected turn, else ``"task"``),
  where it starts in the AutoGen model context and how many messages it added.
- **The reply** is the last message of the ``TaskResult`` that is neither a
  ``ToolCallSummaryMessage`` nor an event (the original program's rule) and comes from
  the assistant; its text is ``to_model_text()``. A turn that ended on tool calls (with
  ``reflect_on_tool_use=False``) has the text ``""`` and those calls in
  ``Reply.tool_calls``. ``Reply.messages`` are the messages the turn added to the model
  context, as retort messages (prompt, assistant turns, tool calls, tool results);
  ``Reply.usage`` sums ``models_usage`` over the result's messages.
- **Reject** edits the model context through the public ``save_state()`` /
  ``load_state()``: the turn's assistant and tool messages go, and its prompt too when it
  was feedback. The saved state holds every message even under a windowed context
  (``BufferedChatCompletionContext``, ``HeadAndTailChatCompletionContext``), whose
  ``get_messages()`` returns only the window, so rebuilding from it would lose history.
- **Failures.** When a run fails (a transport error, a cancellation...) the context is
  cut back to what it held before the ask and the error propagates unchanged.
- **Forks** get a new ``AssistantAgent`` with the same client (shared), system message,
  tools (built once, shared), settings and a fresh, empty model context. A wrapped
  assistant is forked by ``factory()`` when one was given, else rebuilt from its settings.
- **Ownership.** An agent built from a client (or a transport) closes it in
  :meth:`aclose` unless ``owns_client=False``; a wrapped assistant's client is the
  caller's to close; forks never close the shared client.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import TaskResult
from autogen_agentchat.messages import (
    BaseAgentEvent,
    BaseChatMessage,
    ToolCallRequestEvent,
    ToolCallSummaryMessage,
)
from autogen_agentchat.ui import Console
from autogen_core import CancellationToken
from autogen_core.model_context import ChatCompletionContext, ChatCompletionContextState
from autogen_core.models import ChatCompletionClient

from retort.adapters.autogen._convert import to_messages
from retort.adapters.autogen._tools import autogen_tools
from retort.core.context import TurnKind
from retort.core.errors import ConfigurationError
from retort.core.messages import Message, Reply, ToolCall, Usage
from retort.core.ports import Agent, Transport
from retort.core.tools import Tool, ToolRegistry

__all__ = ["AutoGenAgent"]

ContextSource = ChatCompletionContext | Callable[[], ChatCompletionContext]
AssistantFactory = Callable[[], AssistantAgent]

# One counter for every AutoGenAgent of the process: a turn id of another agent is never
# mistaken for one of this agent's.
_turn_ids = itertools.count(1)


@dataclass(slots=True)
class _Turn:
    id: int
    kind: TurnKind
    prompt: str
    start: int  # index of the prompt in the model context's messages
    count: int  # messages of this turn in the model context now, prompt included


class AutoGenAgent(Agent):
    """A retort agent whose conversation is a real AutoGen ``AssistantAgent``.

    Build one from a model client, or wrap an assistant you built
    (:meth:`wrap` / ``assistant=``). See the module docstring for the policies.

    Args:
        client: an AutoGen ``ChatCompletionClient``, or a retort
            :class:`~retort.core.ports.Transport` (wrapped in a
            ``TransportChatCompletionClient``).
        system_message: the system message, or ``None`` for none.
        tools: a :class:`~retort.core.tools.ToolRegistry` (shared, not copied), or
            functions / :class:`~retort.core.tools.Tool` objects to register in a new one.
        name: the assistant's name.
        assistant: an ``AssistantAgent`` to wrap instead of building one (then
            ``client``, ``system_message``, ``tools`` and the settings must be left out).
        factory: for a wrapped assistant, how forks build theirs (``None``: rebuilt from
            the wrapped assistant's settings).
        model_context: the model context (e.g. ``BufferedChatCompletionContext(20)``) or a
            callable returning a new one; forks get a fresh one made the same way.
        reflect_on_tool_use: after tool calls, ask the model for a text reply (AutoGen's
            setting; ``True`` here, so a turn ends on text as the Agent port expects).
        max_tool_iterations: the most tool rounds per ask (AutoGen's setting).
        stream: use the client's ``create_stream`` (``model_client_stream``).
        console: print the run through ``autogen_agentchat.ui.Console``, as the
            original program did.
        owns_client: close the client in :meth:`aclose` (default: ``True`` for an agent
            built here, ``False`` for a wrapped assistant).
        **assistant_options: more ``AssistantAgent`` keyword arguments
            (``description``, ``tool_call_summary_format``, ``memory``, ``metadata``...).

    Attributes:
        assistant: the AutoGen ``AssistantAgent``.
        tools: the tool registry (empty when no tools were given or the assistant was
            wrapped).
        console: whether runs are printed through ``Console``.
        last_result: the ``TaskResult`` of the last successful ask, or ``None``.
    """

    def __init__(
        self,
        client: ChatCompletionClient | Transport | None = None,
        system_message: str | None = None,
        tools: ToolRegistry | Iterable[Callable[..., Any] | Tool] | None = None,
        *,
        name: str = "assistant",
        assistant: AssistantAgent | None = None,
        factory: AssistantFactory | None = None,
        model_context: ContextSource | None = None,
        reflect_on_tool_use: bool | None = None,
        max_tool_iterations: int | None = None,
        stream: bool = False,
        console: bool = False,
        owns_client: bool | None = None,
        **assistant_options: Any,
    ) -> None:
        self.tools = tools if isinstance(tools, ToolRegistry) else ToolRegistry(tools or ())
        self.console = console
        self.last_result: TaskResult | None = None
        self._turns: list[_Turn] = []
        # The context length after this agent's own last edit (None: unknown, read it),
        # so an ask needs one save_state() instead of two; checked after every run.
        self._length: int | None = None
        self._rejected = False  # the last turn stands rejected: the next ask is feedback
        self._closed = False
        self._transport: Transport | None = None
        self._client: ChatCompletionClient | None = None
        if assistant is not None:
            given = {
                "client": client,
                "system_message": system_message,
                "tools": tools,
                "model_context": model_context,
                "reflect_on_tool_use": reflect_on_tool_use,
                "max_tool_iterations": max_tool_iterations,
                "stream": stream or None,
                **assistant_options,
            }
            self._wrap(assistant, [key for key, value in given.items() if value is not None])
            self._factory: AssistantFactory = factory or _cloner(assistant)
            if owns_client:
                raise ConfigurationError(
                    "owns_client=True needs the client: a wrapped assistant's client is "
                    "yours to close (or build the agent from the client instead)"
                )
            return
        if factory is not None:
            raise ConfigurationError("factory= is for a wrapped assistant: pass assistant= too")
        new_context = _context_maker(model_context)
        settings: dict[str, Any] = {
            "name": name,
            "model_client": self._model_client(client),
            "system_message": system_message,
            # Built once here, shared by every fork (their schemas are computed once).
            "tools": autogen_tools(self.tools) or None,
            "reflect_on_tool_use": True if reflect_on_tool_use is None else reflect_on_tool_use,
            "max_tool_iterations": 8 if max_tool_iterations is None else max_tool_iterations,
            "model_client_stream": stream,
            **assistant_options,
        }

        def build(context: ChatCompletionContext | None = None) -> AssistantAgent:
            fresh = new_context() if context is None else context
            return AssistantAgent(model_context=fresh, **settings)

        # The agent uses the context it was given; each fork gets a fresh one like it.
        own = model_context if isinstance(model_context, ChatCompletionContext) else None
        self.assistant = build(own)
        self._factory = build
        self._owns_client = True if owns_client is None else owns_client

    def _wrap(self, assistant: AssistantAgent, given: list[str]) -> None:
        if not isinstance(assistant, AssistantAgent):
            raise TypeError(f"assistant must be an AssistantAgent, got {type(assistant).__name__}")
        if given:
            raise ConfigurationError(
                f"assistant= was given together with {', '.join(given)}: a wrapped assistant "
                "keeps its own settings; configure the AssistantAgent instead"
            )
        self.assistant = assistant
        self._owns_client = False

    # ------------------------------------------------------------------ construction

    @classmethod
    def wrap(
        cls,
        assistant: AssistantAgent,
        *,
        factory: AssistantFactory | None = None,
        console: bool = False,
    ) -> AutoGenAgent:
        """An agent around an ``AssistantAgent`` you built.

        Args:
            assistant: the assistant; its model context holds the conversation.
            factory: how forks build their assistant; by default a fork is rebuilt from
                the assistant's settings (same client, tools, system message, a fresh
                context of the same kind).
            console: print runs through AutoGen's ``Console``.
        """
        return cls(assistant=assistant, factory=factory, console=console)

    def _model_client(
        self, client: ChatCompletionClient | Transport | None
    ) -> ChatCompletionClient:
        if isinstance(client, ChatCompletionClient):
            self._client = client
            return client
        if isinstance(client, Transport):
            from retort.adapters.autogen._client import TransportChatCompletionClient

            self._transport = client
            self._client = TransportChatCompletionClient(client)
            return self._client
        raise TypeError(
            "AutoGenAgent needs an AutoGen ChatCompletionClient or a retort Transport "
            f"(or assistant=...), got {type(client).__name__}"
        )

    def __repr__(self) -> str:
        return f"AutoGenAgent(name={self.assistant.name!r}, turns={len(self._turns)})"

    @property
    def name(self) -> str:
        """The assistant's name."""
        return self.assistant.name

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    # ------------------------------------------------------------------ the port

    async def ask(self, message: str) -> Reply:
        """Run the assistant on ``message`` and return its final reply.

        Returns:
            The reply text (``""`` when the turn ended on tool calls), the tool calls of a
            turn that ended on calls, the usage summed over the run, the messages the
            turn added to the model context (prompt first) and the turn id.

        Raises:
            RuntimeError: the agent was closed.
            TypeError: ``message`` is not a str.
            Exception: whatever the model client raised (the context is restored first).
        """
        if self._closed:
            raise RuntimeError(f"AutoGenAgent {self.name!r}: ask() after aclose()")
        if not isinstance(message, str):
            raise TypeError(f"AutoGenAgent.ask takes a str, got {type(message).__name__}")
        if self._length is None:
            self._length = len(_context_messages(await self.assistant.save_state()))
        start = self._length
        try:
            result = await self._run(message)
        except BaseException:
            self._length = None
            await self._truncate(start)
            raise
        messages = _context_messages(await self.assistant.save_state())
        start = _turn_start(messages, start, message)
        added = messages[start:]
        self._length = len(messages)
        turn = _Turn(
            next(_turn_ids), "feedback" if self._rejected else "task", message, start, len(added)
        )
        self._turns.append(turn)
        self._rejected = False
        self.last_result = result
        text, calls = _final_reply(result.messages, self.assistant.name)
        return Reply(
            text=text,
            tool_calls=calls,
            usage=_usage(result.messages),
            messages=tuple(_as_retort(added)),
            turn_id=turn.id,
        )

    async def _run(self, message: str) -> TaskResult:
        if self.console:
            return await Console(self.assistant.run_stream(task=message))
        return await self.assistant.run(task=message)

    async def _truncate(self, length: int) -> None:
        state = await self.assistant.save_state()
        messages = _context_messages(state)
        if len(messages) > length:
            await self.assistant.load_state(_with_messages(state, messages[:length]))

    async def reject(self, reply: Reply) -> None:
        """Drop a failed reply from the model context (and its prompt, if it was feedback).

        Raises:
            ValueError: the reply is not from this agent (another agent's reply, a turn
                already removed by a reject or a reset), or the model context no longer
                holds the turn where it was (it was changed outside this agent).
        """
        index = self._find(reply)
        turn = self._turns[index]
        state = await self.assistant.save_state()
        messages = list(_context_messages(state))
        self._check_in_place(turn, messages)
        cut = turn.start if turn.kind == "feedback" else turn.start + 1
        end = turn.start + turn.count
        del messages[cut:end]
        await self.assistant.load_state(_with_messages(state, messages))
        self._length = len(messages)
        if index == len(self._turns) - 1:
            self._rejected = True
        if turn.kind == "feedback":
            del self._turns[index]
            later = self._turns[index:]
        else:
            turn.count = 1
            later = self._turns[index + 1 :]
        for other in later:
            other.start -= end - cut

    def _find(self, reply: Reply) -> int:
        if reply.turn_id is not None:
            for index in range(len(self._turns) - 1, -1, -1):
                turn = self._turns[index]
                # The prompt check catches a reply of another kind of agent whose own
                # counter happened to produce the same number.
                if turn.id == reply.turn_id and (
                    not reply.messages or reply.messages[0].content == turn.prompt
                ):
                    return index
        raise ValueError(
            f"AutoGenAgent {self.name!r}.reject: turn {reply.turn_id!r} is not in this "
            "agent's context (a reply of another agent, or a turn already removed by "
            "reject or reset)"
        )

    def _check_in_place(self, turn: _Turn, messages: Sequence[Mapping[str, Any]]) -> None:
        end = turn.start + turn.count
        first = messages[turn.start] if turn.start < len(messages) else {}
        if (
            end > len(messages)
            or first.get("type") != "UserMessage"
            or first.get("content") != turn.prompt
        ):
            raise ValueError(
                f"AutoGenAgent {self.name!r}.reject: the model context no longer holds turn "
                f"{turn.id} where it was recorded (message {turn.start} of {len(messages)}); "
                "it was changed outside this agent (load_state, on_reset, add_message...). "
                "Use the agent's reset() rather than the assistant's on_reset()"
            )

    async def reset(self) -> None:
        """Forget the conversation (``on_reset``); the system message and tools stay."""
        await self.assistant.on_reset(CancellationToken())
        self._turns.clear()
        self._rejected = False
        self._length = 0  # on_reset clears the model context (the system message lives apart)

    def fork(self) -> AutoGenAgent:
        """A fresh agent: a new ``AssistantAgent`` with the same client, system message,
        tools and settings, and an empty model context. It never closes the shared client.

        Raises:
            ConfigurationError: a wrapped assistant cannot be rebuilt (pass ``factory=``).
        """
        assistant = self._factory()
        if not isinstance(assistant, AssistantAgent):
            raise ConfigurationError(
                f"the fork factory returned {type(assistant).__name__}, not an AssistantAgent"
            )
        fork = AutoGenAgent(assistant=assistant, factory=self._factory, console=self.console)
        fork.tools = self.tools
        return fork

    async def aclose(self) -> None:
        """Refuse further asks; close the client (and transport) this agent owns. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._owns_client and self._client is not None:
            await self._client.close()
            if self._transport is not None:
                await self._transport.aclose()


# ---------------------------------------------------------------------- model context


def _turn_start(messages: Sequence[Mapping[str, Any]], expected: int, prompt: str) -> int:
    """Where the turn just run starts: ``expected`` (the length before the run) when the
    user message there is the prompt; else - the context was edited outside this agent
    meanwhile - the last user message holding the prompt."""
    if expected < len(messages) and _is_prompt(messages[expected], prompt):
        return expected
    for index in range(len(messages) - 1, -1, -1):
        if _is_prompt(messages[index], prompt):
            return index
    return len(messages)


def _is_prompt(message: Mapping[str, Any], prompt: str) -> bool:
    return message.get("type") == "UserMessage" and message.get("content") == prompt


def _context_messages(state: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The message dicts of an ``AssistantAgentState`` (``llm_context`` -> ``messages``)."""
    llm = state.get("llm_context")
    messages = llm.get("messages") if isinstance(llm, Mapping) else None
    if not isinstance(messages, list):
        raise RuntimeError(
            "the assistant's saved state has no llm_context.messages list (found keys "
            f"{sorted(state)}); retort.adapters.autogen expects AutoGen 0.7's "
            "AssistantAgentState - see retort.adapters.autogen.check_autogen_version()"
        )
    return messages


def _with_messages(state: Mapping[str, Any], messages: list[Mapping[str, Any]]) -> dict[str, Any]:
    llm = dict(state["llm_context"])
    llm["messages"] = messages
    return {**state, "llm_context": llm}


def _as_retort(messages: Sequence[Mapping[str, Any]]) -> list[Message]:
    typed = ChatCompletionContextState.model_validate({"messages": list(messages)}).messages
    return to_messages(typed, include_name=False)


def _context_maker(source: ContextSource | None) -> Callable[[], ChatCompletionContext | None]:
    """How forks get a fresh context of the configured kind (``None``: AutoGen's default)."""
    if source is None:
        return lambda: None  # AssistantAgent's default: a new unbounded context
    if isinstance(source, ChatCompletionContext):
        _fresh_context(source)  # fail now, not at the first fork
        return lambda: _fresh_context(source)
    if callable(source):
        return source
    raise TypeError(
        "model_context must be a ChatCompletionContext or a callable returning one, "
        f"got {type(source).__name__}"
    )


def _fresh_context(context: ChatCompletionContext) -> ChatCompletionContext:
    """An empty context configured like ``context`` (through its component config)."""
    try:
        return ChatCompletionContext.load_component(context.dump_component())
    except Exception as exc:
        raise ConfigurationError(
            f"cannot make a fresh {type(context).__name__} for forks from its component "
            f"config ({type(exc).__name__}: {exc}); pass model_context=a callable "
            "returning a new context instead"
        ) from exc


def _cloner(assistant: AssistantAgent) -> AssistantFactory:
    """A factory of assistants with ``assistant``'s settings and a fresh context."""

    def clone() -> AssistantAgent:
        if type(assistant) is not AssistantAgent:
            raise ConfigurationError(
                f"cannot rebuild a {type(assistant).__name__} for a fork: pass "
                "factory=a callable returning a new one to AutoGenAgent.wrap()"
            )
        try:
            # AutoGen 0.7 keeps these settings as attributes; _to_config() would
            # serialise the client and the tools instead of sharing them.
            system = assistant._system_messages
            return AssistantAgent(
                assistant.name,
                assistant._model_client,
                workbench=list(assistant._workbench),
                handoffs=list(assistant._handoffs.values()) or None,
                model_context=_fresh_context(assistant.model_context),
                description=assistant.description,
                system_message=str(system[0].content) if system else None,
                model_client_stream=assistant._model_client_stream,
                reflect_on_tool_use=assistant._reflect_on_tool_use,
                max_tool_iterations=assistant._max_tool_iterations,
                tool_call_summary_format=assistant._tool_call_summary_format,
                tool_call_summary_formatter=assistant._tool_call_summary_formatter,
                output_content_type=assistant._output_content_type,
                output_content_type_format=assistant._output_content_type_format,
                memory=assistant._memory,
                metadata=dict(assistant._metadata),
            )
        except AttributeError as exc:
            raise ConfigurationError(
                f"cannot rebuild the AssistantAgent for a fork ({exc}); this AutoGen version "
                "keeps its settings elsewhere: pass factory= to AutoGenAgent.wrap()"
            ) from exc

    return clone


# ---------------------------------------------------------------------- task results


def _final_reply(
    messages: Sequence[BaseAgentEvent | BaseChatMessage], source: str
) -> tuple[str, tuple[ToolCall, ...]]:
    """The reply text, or ``""`` and the last calls when the turn ended on tool calls."""
    for message in reversed(messages):
        if isinstance(message, ToolCallSummaryMessage | BaseAgentEvent):
            continue
        if message.source == source:
            return message.to_model_text(), ()
        break  # the prompt itself: the assistant wrote no chat message after it
    for message in reversed(messages):
        if isinstance(message, ToolCallRequestEvent):
            calls = (ToolCall(id=c.id, name=c.name, arguments=c.arguments) for c in message.content)
            return "", tuple(calls)
    return "", ()


def _usage(messages: Sequence[BaseAgentEvent | BaseChatMessage]) -> Usage:
    prompt = completion = 0
    for message in messages:
        usage = message.models_usage
        if usage is not None:
            prompt += usage.prompt_tokens
            completion += usage.completion_tokens
    return Usage(prompt_tokens=prompt, completion_tokens=completion)
