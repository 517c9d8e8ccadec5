"""A framework-neutral conversation context: turns, the reject rule, a token budget.

```python
context = Context("You are a careful engineer.", budget=8_000)
turn = context.begin("Solve ...")              # a "task" turn
context.add(Message(role="assistant", content="..."))
context.reject(turn.id)                        # keeps the task, drops the reply
context.begin("You are missing a section")     # a "feedback" turn
context.window()                               # what to send: trimmed to the budget
```

Policies:

- A *turn* is one user message (its ``prompt``) and everything that answered it
  (assistant messages and tool results, in order). A turn opened right after the previous
  turn was rejected is ``"feedback"``; any other turn is a ``"task"``.
- :meth:`Context.reject` drops a turn's answer always, and the whole turn when it is
  feedback, so the original task is never dropped and after k failed attempts the
  context holds the task plus at most the current feedback and its reply.
- Turn ids come from one process-wide counter: they increase within a context and a
  turn id of another context (another agent) is never mistaken for one of this
  context's; it raises ``KeyError`` instead of removing the wrong turn.
- :meth:`Context.window` keeps the system message, the first turn's prompt and the whole
  last turn, then the most recent turns that fit the budget (see its docstring).
- :meth:`Context.snapshot` returns plain JSON-able data; :meth:`Context.restore` reads it
  back and raises ``ValueError`` naming the offending key. The token counter is code,
  not data: pass it again to ``restore``.
- Token counts are a cheap approximation by default (:func:`approx_tokens`), never a
  tokenizer download.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from retort.core.messages import Message

__all__ = ["Context", "Turn", "TurnKind", "approx_tokens", "to_wire"]

TurnKind = Literal["task", "feedback"]

_SNAPSHOT_VERSION = 1
_SNAPSHOT_KEYS = frozenset(
    {"version", "system_message", "budget", "last_id", "last_rejected", "turns"}
)
_TURN_KEYS = frozenset({"id", "kind", "prompt", "messages"})
# Roughly what chat templates add around each message (role markers, separators).
_MESSAGE_OVERHEAD = 4
# One counter for every context of the process: see the module docstring.
_turn_ids = itertools.count(1)


def approx_tokens(message: Message) -> int:
    """A cheap token estimate of one message: characters / 4, rounded up, plus 4.

    Counts the content, the tool calls' names and arguments, and the ``name`` field. It
    is meant for budgets and metrics, not billing: real tokenizers differ by tens of
    percent, in both directions.
    """
    chars = len(message.content or "")
    for call in message.tool_calls:
        chars += len(call.name) + len(call.arguments)
    if message.name:
        chars += len(message.name)
    return math.ceil(chars / 4) + _MESSAGE_OVERHEAD


def to_wire(messages: Iterable[Message], *, fallback_none: bool = True) -> list[dict[str, Any]]:
    """OpenAI-shaped dicts of ``messages``, for a transport's request body.

    Args:
        messages: the messages, in order.
        fallback_none: rewrite a message whose content is ``None`` as the inference proxy
            protocol asks: ``{"role": role, "content": "key: value\\n" ...}`` with one line
            per other key of the OpenAI shape (``tool_calls``, ``tool_call_id``,
            ``name``), in that order. String values are written as they are, other values
            (the ``tool_calls`` list) as JSON text, so a tool-call turn stays readable to
            a model that never sees structured calls.

    Returns:
        One dict per message; other messages keep every key, extra keys included.
    """
    wire: list[dict[str, Any]] = []
    for message in messages:
        shape = message.to_openai()
        if fallback_none and shape.get("content") is None:
            lines = [
                f"{key}: {_wire_text(value)}\n"
                for key, value in shape.items()
                if key not in ("role", "content")
            ]
            shape = {"role": shape["role"], "content": "".join(lines)}
        wire.append(shape)
    return wire


def _wire_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@dataclass(slots=True)
class Turn:
    """One user message and everything that answered it.

    Attributes:
        id: unique within the context (and the process), increasing.
        kind: ``"feedback"`` when the turn was opened right after a rejected turn,
            ``"task"`` otherwise.
        prompt: the user message that opened the turn.
        messages: what came after, in order: assistant messages and tool results.
    """

    id: int
    kind: TurnKind
    prompt: Message
    messages: list[Message] = field(default_factory=list)


class Context:
    """A conversation: an optional system message and a list of turns.

    The context is a plain data structure: it does no I/O, holds no lock and is not
    meant to be shared by two conversations at once (agents serialise their calls).

    Args:
        system_message: the system message, or ``None`` for none.
        budget: the token budget :meth:`window` trims to, or ``None`` for no limit.
        count_tokens: the token counter for budgets and usage; defaults to
            :func:`approx_tokens`.
    """

    __slots__ = ("_budget", "_count", "_last_id", "_rejected", "_system", "_system_text", "_turns")

    def __init__(
        self,
        system_message: str | None = None,
        *,
        budget: int | None = None,
        count_tokens: Callable[[Message], int] | None = None,
    ) -> None:
        self._system_text: str | None = None
        self._system: Message | None = None
        self.system_message = system_message
        self._budget: int | None = None
        self.budget = budget
        self._count: Callable[[Message], int] = count_tokens or approx_tokens
        self._turns: list[Turn] = []
        self._last_id = 0
        # True while the last turn stands rejected: the next begin() opens feedback.
        self._rejected = False

    # ------------------------------------------------------------------ settings

    @property
    def system_message(self) -> str | None:
        """The system message text, or ``None``. Settable."""
        return self._system_text

    @system_message.setter
    def system_message(self, text: str | None) -> None:
        if text is not None and not isinstance(text, str):
            raise TypeError(f"system_message must be a str or None, got {type(text).__name__}")
        self._system_text = text
        self._system = None if text is None else Message(role="system", content=text)

    @property
    def budget(self) -> int | None:
        """The token budget of :meth:`window`, or ``None`` for no limit. Settable."""
        return self._budget

    @budget.setter
    def budget(self, value: int | None) -> None:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"budget must be an int or None, got {type(value).__name__}")
        if value is not None and value < 1:
            raise ValueError(f"budget must be a positive number of tokens, got {value}")
        self._budget = value

    @property
    def count_tokens(self) -> Callable[[Message], int]:
        """The token counter this context uses for its budget."""
        return self._count

    # ------------------------------------------------------------------ turns

    @property
    def turns(self) -> tuple[Turn, ...]:
        """The turns, oldest first (the live objects: read them, do not mutate them)."""
        return tuple(self._turns)

    @property
    def next_kind(self) -> TurnKind:
        """The kind the next :meth:`begin` will give its turn."""
        return "feedback" if self._rejected else "task"

    @property
    def open_turn(self) -> Turn | None:
        """The turn :meth:`add` appends to: the last one, unless it was rejected."""
        return self._turns[-1] if self._turns and not self._rejected else None

    def begin(self, prompt: str) -> Turn:
        """Open a turn with ``prompt`` as the user's message.

        Returns:
            The new turn: ``"feedback"`` when the previous turn was rejected, else ``"task"``.

        Raises:
            TypeError: ``prompt`` is not a str (a ``None`` must never become the text "None").
        """
        if not isinstance(prompt, str):
            raise TypeError(f"a turn's prompt must be a str, got {type(prompt).__name__}")
        # Ids come from the process-wide counter but must still increase after restore().
        self._last_id = max(next(_turn_ids), self._last_id + 1)
        turn = Turn(self._last_id, self.next_kind, Message(role="user", content=prompt))
        self._turns.append(turn)
        self._rejected = False
        return turn

    def add(self, message: Message, *, turn_id: int | None = None) -> None:
        """Append ``message`` to the open turn (or to the turn ``turn_id``).

        Raises:
            TypeError: ``message`` is not a :class:`Message`.
            RuntimeError: no turn is open (none begun, or the last one was rejected).
            KeyError: ``turn_id`` names no turn of this context.
        """
        if not isinstance(message, Message):
            raise TypeError(f"Context.add takes a Message, got {type(message).__name__}")
        turn = self._open() if turn_id is None else self._find(turn_id)
        turn.messages.append(message)

    def reject(self, turn_id: int) -> None:
        """Drop a failed turn's answer, and the whole turn when it was feedback.

        The assistant and tool messages of the turn always go; a ``"feedback"`` turn loses
        its prompt too, while a ``"task"`` turn keeps it, so the original task stays.
        Rejecting the last turn makes the next :meth:`begin` a feedback turn; rejecting an
        older one removes it the same way and leaves that state alone.

        Raises:
            KeyError: ``turn_id`` names no turn of this context.
        """
        turn = self._find(turn_id)
        is_last = turn is self._turns[-1]
        if turn.kind == "feedback":
            self._turns.remove(turn)
        else:
            turn.messages.clear()
        if is_last:
            self._rejected = True

    def discard(self, turn_id: int) -> None:
        """Remove a turn entirely, as if it had never been begun.

        For a turn that failed before the model answered (a transport error, a
        cancellation): a retry then does not repeat the prompt. Discarding the last turn
        restores the state :meth:`begin` found, so a discarded feedback turn is followed
        by feedback again.

        Raises:
            KeyError: ``turn_id`` names no turn of this context.
        """
        turn = self._find(turn_id)
        if turn is self._turns[-1]:
            self._rejected = turn.kind == "feedback"
        self._turns.remove(turn)

    def reset(self) -> None:
        """Forget every turn; keep the system message, the budget and the counter."""
        self._turns.clear()
        self._rejected = False

    def _open(self) -> Turn:
        turn = self.open_turn
        if turn is None:
            state = "the last turn was rejected" if self._turns else "no turn was begun"
            raise RuntimeError(f"Context.add: no open turn ({state}); call begin() first")
        return turn

    def _find(self, turn_id: int) -> Turn:
        for turn in reversed(self._turns):
            if turn.id == turn_id:
                return turn
        raise KeyError(
            f"turn {turn_id!r} is not in this context: it belongs to another context, "
            "or it was removed (a rejected feedback turn, a discard, a reset)"
        )

    # ------------------------------------------------------------------ views

    def messages(self) -> list[Message]:
        """The system message (if any), then every turn's prompt and messages, in order."""
        out: list[Message] = [] if self._system is None else [self._system]
        for turn in self._turns:
            out.append(turn.prompt)
            out.extend(turn.messages)
        return out

    def window(self) -> list[Message]:
        """:meth:`messages`, trimmed to the token budget.

        What always stays (the *minimum*): the system message, the first turn's prompt
        (the original task) and the whole last turn (the one being answered). What goes,
        oldest first, until the rest fits: the first turn's answer, one *block* at a time,
        then each turn between the first and the last, whole. A block is a message and the
        ``tool`` messages after it, so a tool call and its results leave together and a
        tool result never outlives its call. When even the minimum is over budget the
        minimum is returned: dropping the task or the question would make the request
        meaningless, and the endpoint is the judge of its own context length.
        """
        full = self.messages()
        if self._budget is None or len(self._turns) < 2:
            return full
        count = self._count
        total = sum(count(message) for message in full)
        if total <= self._budget:
            return full
        first, middle, last = self._turns[0], self._turns[1:-1], self._turns[-1]
        units = [*_blocks(first.messages), *([turn.prompt, *turn.messages] for turn in middle)]
        dropped = 0
        while dropped < len(units) and total > self._budget:
            total -= sum(count(message) for message in units[dropped])
            dropped += 1
        out: list[Message] = [] if self._system is None else [self._system]
        out.append(first.prompt)
        for unit in units[dropped:]:
            out.extend(unit)
        out.append(last.prompt)
        out.extend(last.messages)
        return out

    def __len__(self) -> int:
        return (self._system is not None) + sum(1 + len(turn.messages) for turn in self._turns)

    def __repr__(self) -> str:
        return f"Context(turns={len(self._turns)}, messages={len(self)}, budget={self._budget})"

    # ------------------------------------------------------------------ persistence

    def snapshot(self) -> dict[str, Any]:
        """The context as plain data (``json.dumps`` works on it); see :meth:`restore`."""
        return {
            "version": _SNAPSHOT_VERSION,
            "system_message": self._system_text,
            "budget": self._budget,
            "last_id": self._last_id,
            "last_rejected": self._rejected,
            "turns": [
                {
                    "id": turn.id,
                    "kind": turn.kind,
                    "prompt": _dump(turn.prompt),
                    "messages": [_dump(message) for message in turn.messages],
                }
                for turn in self._turns
            ],
        }

    @classmethod
    def restore(
        cls,
        data: Mapping[str, Any],
        *,
        count_tokens: Callable[[Message], int] | None = None,
    ) -> Context:
        """Rebuild a context from :meth:`snapshot` data.

        Only ``turns`` is required; ``version`` (1), ``system_message``, ``budget``,
        ``last_id`` and ``last_rejected`` default to a fresh context's values.

        Args:
            data: the snapshot, e.g. after a ``json.dumps``/``json.loads`` round trip.
            count_tokens: the token counter (code is not part of a snapshot).

        Raises:
            ValueError: the data is malformed; the message names the key, e.g.
                ``turns[2].messages[0]``.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a context snapshot is a mapping, got {type(data).__name__}")
        unknown = sorted(str(key) for key in data if key not in _SNAPSHOT_KEYS)
        if unknown:
            raise ValueError(f"context snapshot: unknown keys {unknown}")
        if data.get("version", _SNAPSHOT_VERSION) != _SNAPSHOT_VERSION:
            raise ValueError(f"context snapshot: version {data['version']!r} is not supported")
        system = data.get("system_message")
        if system is not None and not isinstance(system, str):
            raise ValueError("context snapshot: system_message must be a string or null")
        budget = data.get("budget")
        if budget is not None and (not _is_int(budget) or budget < 1):
            raise ValueError("context snapshot: budget must be a positive integer or null")
        context = cls(system, budget=budget, count_tokens=count_tokens)
        if "turns" not in data:
            raise ValueError("context snapshot: missing key 'turns'")
        context._turns = _load_turns(data["turns"])
        last_id = data.get("last_id", 0)
        if not _is_int(last_id) or last_id < 0:
            raise ValueError("context snapshot: last_id must be a non-negative integer")
        context._last_id = max([last_id, *(turn.id for turn in context._turns)])
        rejected = data.get("last_rejected", False)
        if not isinstance(rejected, bool):
            raise ValueError("context snapshot: last_rejected must be true or false")
        context._rejected = rejected
        return context


def _blocks(messages: Sequence[Message]) -> list[list[Message]]:
    # A tool message joins the block before it: that is where its call is.
    blocks: list[list[Message]] = []
    for message in messages:
        if message.role == "tool" and blocks:
            blocks[-1].append(message)
        else:
            blocks.append([message])
    return blocks


def _dump(message: Message) -> dict[str, Any]:
    return message.model_dump(mode="json", exclude_defaults=True)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _load_turns(raw: Any) -> list[Turn]:
    if not isinstance(raw, list):
        raise ValueError(f"context snapshot: turns must be a list, got {type(raw).__name__}")
    turns: list[Turn] = []
    for index, item in enumerate(raw):
        where = f"turns[{index}]"
        if not isinstance(item, Mapping):
            raise ValueError(f"context snapshot: {where} must be an object")
        missing = sorted(_TURN_KEYS - item.keys())
        extra = sorted(str(key) for key in item.keys() - _TURN_KEYS)
        if missing or extra:
            raise ValueError(f"context snapshot: {where} missing keys {missing}, unknown {extra}")
        turn_id, kind = item["id"], item["kind"]
        if not _is_int(turn_id) or (turns and turn_id <= turns[-1].id):
            raise ValueError(f"context snapshot: {where}.id must be an integer above the last id")
        if kind not in ("task", "feedback"):
            raise ValueError(f"context snapshot: {where}.kind must be 'task' or 'feedback'")
        prompt = _load_message(item["prompt"], f"{where}.prompt")
        if prompt.role != "user" or prompt.content is None:
            raise ValueError(f"context snapshot: {where}.prompt must be a user message with text")
        messages = item["messages"]
        if not isinstance(messages, list):
            raise ValueError(f"context snapshot: {where}.messages must be a list")
        loaded = [_load_message(m, f"{where}.messages[{n}]") for n, m in enumerate(messages)]
        turns.append(Turn(turn_id, kind, prompt, loaded))
    return turns


def _load_message(raw: Any, where: str) -> Message:
    if not isinstance(raw, Mapping):
        raise ValueError(f"context snapshot: {where} must be a message object")
    try:
        return Message.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'message'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ValueError(f"context snapshot: {where}: {problems}") from exc
