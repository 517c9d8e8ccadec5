"""The reference server's model backends: what a request looks like to them, what they answer.

A backend is any object with ``async def reply(request: ModelRequest) -> ModelReply``
(:class:`ModelBackend`). The server turns both of its inference endpoints - the proxy
protocol and the OpenAI-compatible one - into a :class:`ModelRequest`, and a
:class:`ModelReply` back into the endpoint's wire shape, so one backend serves both.

```python
model = FunctionModel(lambda request: f"turn {request.turn}: {request.last_message}")
model = ReplayModel.from_file("run.cassette.jsonl")     # answers recorded traffic
model = EchoModel()                                     # the last message, verbatim
```

Policies:

- A backend that has no answer raises :class:`NoReply` (the server answers 404 with a
  JSON error naming what was asked); :class:`InvalidRequest` becomes 422. Any other
  exception becomes a 500 JSON error naming its type.
- Tool-call ``arguments`` are a decoded JSON value; a ``str`` is taken as the
  arguments' JSON text: sent verbatim by the OpenAI endpoint (so a script can send
  malformed arguments) and decoded for the proxy endpoint.
- A reply's ``status`` other than 200 makes the server answer that status with a JSON
  error body (and ``Retry-After`` when ``retry_after`` is set): a scripted failure, as
  opposed to the random ones of :class:`~retort.adapters.proxy.Faults`.
- Sync callables given to :class:`FunctionModel` run on the server's event loop: keep
  them quick, or make them ``async``.
"""

from __future__ import annotations

import inspect
import json
import math
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable

from pydantic import ValidationError

from retort.adapters.proxy._wire import request_key, wire_key
from retort.core.errors import ConfigurationError, RetortError
from retort.core.messages import ChatReply, ChatRequest, Message, ToolCall, Usage

__all__ = [
    "EchoModel",
    "Endpoint",
    "FunctionModel",
    "InvalidRequest",
    "ModelBackend",
    "ModelError",
    "ModelReply",
    "ModelRequest",
    "ModelToolCall",
    "NoReply",
    "ReplayModel",
    "coerce_reply",
    "excerpt",
    "load_data",
]

Endpoint: TypeAlias = Literal["proxy", "openai"]

_EXCERPT = 120
_REPLY_KEYS = frozenset({"text", "tool_calls", "delay", "status", "retry_after"})
_SERVER_EXTRA = "pip install 'retort[server]'"


def excerpt(text: str, limit: int = _EXCERPT) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def message_text(content: Any) -> str:
    """The text of an OpenAI message ``content``: a string, ``None`` or a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return json.dumps(content, ensure_ascii=False)


class ModelError(RetortError):
    """A backend's refusal, which the server turns into a JSON error with ``status``.

    Attributes:
        status: the HTTP status the server answers.
        kind: the ``error.type`` of the JSON body.
        detail: extra fields for the JSON body's ``error`` object.
    """

    status = 500
    kind = "model_error"

    def __init__(self, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.detail = detail


class NoReply(ModelError):
    """The backend has no reply for this request (HTTP 404)."""

    status = 404
    kind = "no_reply"


class InvalidRequest(ModelError):
    """The request cannot be understood by the backend (HTTP 422)."""

    status = 422
    kind = "invalid_request"


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One inference request, whichever endpoint it came through.

    Attributes:
        endpoint: ``"proxy"`` (``POST /api/inference``) or ``"openai"``
            (``POST /v1/chat/completions``).
        messages: the wire messages as received (dicts with ``role`` and ``content``).
        model: the requested model name.
        agent_id: the proxy body's ``agent_id``; for OpenAI requests the body's ``user``
            field when a client sets it, else ``None``.
        run_id: the proxy body's ``run_id`` (``None`` for OpenAI requests).
        temperature: the requested temperature, if any.
        tools: OpenAI tool definitions (OpenAI endpoint only).
        response_format: the OpenAI ``response_format`` (OpenAI endpoint only).
    """

    endpoint: Endpoint
    messages: tuple[Mapping[str, Any], ...]
    model: str
    agent_id: str | None = None
    run_id: str | None = None
    temperature: float | None = None
    tools: tuple[Mapping[str, Any], ...] | None = None
    response_format: Any = None

    @property
    def turn(self) -> int:
        """1 + the number of assistant messages in the request."""
        return 1 + sum(1 for m in self.messages if m.get("role") == "assistant")

    @property
    def last_message(self) -> str:
        """The text of the last message (any role), ``""`` when there is none."""
        return message_text(self.messages[-1].get("content")) if self.messages else ""

    def describe(self) -> dict[str, Any]:
        """Agent, turn and a last-message excerpt, for error messages and bodies."""
        return {
            "agent_id": self.agent_id,
            "turn": self.turn,
            "last_message": excerpt(self.last_message),
        }

    def chat_request(self) -> ChatRequest:
        """The request as a :class:`ChatRequest` (messages, tools, response format).

        Raises:
            InvalidRequest: a message does not fit :class:`Message`.
        """
        try:
            messages = [_message_from_wire(m) for m in self.messages]
            return ChatRequest(
                messages=messages,
                model=self.model,
                tools=[dict(t) for t in self.tools] if self.tools else None,
                response_format=self.response_format,
                temperature=self.temperature,
            )
        except (ValidationError, TypeError, AttributeError) as exc:
            raise InvalidRequest(f"the messages do not fit retort's Message model: {exc}") from exc


def _message_from_wire(wire: Mapping[str, Any]) -> Message:
    calls = tuple(
        ToolCall(
            id=call["id"],
            name=call["function"]["name"],
            arguments=call["function"].get("arguments") or "{}",
        )
        for call in wire.get("tool_calls") or ()
    )
    content = wire.get("content")
    return Message(
        role=wire["role"],
        content=None if content is None else message_text(content),
        tool_calls=calls,
        tool_call_id=wire.get("tool_call_id"),
        name=wire.get("name"),
    )


@dataclass(frozen=True, slots=True)
class ModelToolCall:
    """One tool call of a reply.

    Attributes:
        name: the tool's name.
        arguments: a decoded JSON value, or a ``str`` holding the arguments' JSON text.
        id: the call id for the OpenAI endpoint; ``None`` gives the stable id
            (:func:`retort.core.stable_tool_call_id`).
    """

    name: str
    arguments: Any = field(default_factory=dict)
    id: str | None = None

    def decoded_arguments(self) -> Any:
        """The arguments as a JSON value (JSON text decoded; kept as text if it is not JSON)."""
        if isinstance(self.arguments, str):
            try:
                return json.loads(self.arguments)
            except ValueError:
                return self.arguments
        return self.arguments

    def arguments_text(self) -> str:
        """The arguments as OpenAI sends them: JSON text of an object.

        Text is sent verbatim; dicts and lists are serialised; any other value becomes
        ``{"input": value}``, as the proxy protocol maps it.
        """
        if isinstance(self.arguments, str):
            return self.arguments
        if isinstance(self.arguments, dict | list):
            return json.dumps(self.arguments, ensure_ascii=False)
        return json.dumps({"input": self.arguments}, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class ModelReply:
    """What a backend answers.

    Attributes:
        text: the reply text (``None`` with tool calls only).
        tool_calls: the tool calls, in order.
        delay: seconds the server waits before answering (simulated model latency).
        status: 200, or an error status to answer instead of a reply.
        retry_after: the ``Retry-After`` seconds sent with an error status.
        finish_reason: the OpenAI ``finish_reason``; derived from the reply when ``None``.
        usage: token counts; estimated (characters / 4) when ``None``.
    """

    text: str | None = None
    tool_calls: tuple[ModelToolCall, ...] = ()
    delay: float = 0.0
    status: int = 200
    retry_after: float | None = None
    finish_reason: str | None = None
    usage: Usage | None = None

    def __post_init__(self) -> None:
        if self.delay < 0 or not math.isfinite(self.delay):
            raise ConfigurationError(f"a reply's delay must be seconds >= 0, got {self.delay!r}")
        if not 200 <= self.status <= 599 or 201 <= self.status <= 399:
            raise ConfigurationError(
                f"a reply's status must be 200 or an error status (400-599), got {self.status}"
            )


def coerce_reply(spec: Any, where: str = "reply") -> ModelReply:
    """A :class:`ModelReply` from a spec: a reply, a string, a ``ChatReply`` or a mapping.

    A mapping has the keys ``text``, ``tool_calls`` (a list of ``{name, arguments, id?}``),
    ``delay``, ``status`` and ``retry_after``, all optional.

    Raises:
        ConfigurationError: the spec is none of these; ``where`` names it in the message.
    """
    if isinstance(spec, ModelReply):
        return spec
    if isinstance(spec, str):
        return ModelReply(text=spec)
    if isinstance(spec, ChatReply):
        calls = tuple(ModelToolCall(c.name, c.arguments, c.id) for c in spec.tool_calls)
        usage = spec.usage if spec.usage.total_tokens else None
        return ModelReply(spec.content, calls, finish_reason=spec.finish_reason, usage=usage)
    if isinstance(spec, Mapping):
        return _reply_from_mapping(spec, where)
    raise ConfigurationError(
        f"{where}: expected a string, a mapping with text/tool_calls or a ModelReply, "
        f"got {type(spec).__name__}"
    )


def _reply_from_mapping(spec: Mapping[str, Any], where: str) -> ModelReply:
    unknown = sorted(set(spec) - _REPLY_KEYS)
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"a reply mapping has {', '.join(sorted(_REPLY_KEYS))}"
        )
    text = spec.get("text")
    if text is not None and not isinstance(text, str):
        raise ConfigurationError(f"{where}: 'text' must be a string, got {type(text).__name__}")
    calls = []
    raw_calls = spec.get("tool_calls") or []
    if not isinstance(raw_calls, list):
        raise ConfigurationError(f"{where}: 'tool_calls' must be a list of {{name, arguments}}")
    for index, call in enumerate(raw_calls):
        if not isinstance(call, Mapping) or not isinstance(call.get("name"), str):
            raise ConfigurationError(
                f"{where}: tool_calls[{index}] must be a mapping with a string 'name', got {call!r}"
            )
        calls.append(ModelToolCall(call["name"], call.get("arguments", {}), call.get("id")))
    try:
        return ModelReply(
            text=text,
            tool_calls=tuple(calls),
            delay=float(spec.get("delay", 0.0)),
            status=int(spec.get("status", 200)),
            retry_after=None if spec.get("retry_after") is None else float(spec["retry_after"]),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"{where}: {exc}") from exc


@runtime_checkable
class ModelBackend(Protocol):
    """What the reference server asks for replies."""

    async def reply(self, request: ModelRequest) -> ModelReply:
        """The reply to ``request``; raise :class:`ModelError` to answer an error."""
        ...


class EchoModel:
    """Replies with the last message's text, verbatim: the default backend of ``serve()``."""

    async def reply(self, request: ModelRequest) -> ModelReply:
        """The last message's text."""
        return ModelReply(text=request.last_message)


class FunctionModel:
    """A backend that calls a function: ``FunctionModel(lambda request: "hi")``.

    The function takes the :class:`ModelRequest` and returns (or, when async, resolves
    to) anything :func:`coerce_reply` accepts. ``requests`` records every request.
    """

    def __init__(self, function: Callable[[ModelRequest], Any | Awaitable[Any]]) -> None:
        self.function = function
        self.requests: list[ModelRequest] = []

    async def reply(self, request: ModelRequest) -> ModelReply:
        """Call the function and coerce its result."""
        self.requests.append(request)
        result = self.function(request)
        if inspect.isawaitable(result):
            result = await result
        return coerce_reply(result, where=f"{self.function!r} returned")


class ReplayModel:
    """Answers from a cassette of recorded replies, keyed by the stable request key.

    A proxy request is keyed with :func:`~retort.adapters.proxy._wire.wire_key` of its
    messages (already in wire form); an OpenAI request with
    :func:`~retort.adapters.proxy._wire.request_key` of the ``ChatRequest`` built from
    its messages, tools and response format - the keys the record/replay transport
    writes. When a key was recorded more than once, successive requests get the
    successive replies and the last one repeats.
    """

    def __init__(self, replies: Mapping[str, Sequence[ModelReply]], *, source: str = "") -> None:
        self._replies = {key: tuple(values) for key, values in replies.items() if values}
        self._uses: dict[str, int] = {}
        self._lock = threading.Lock()
        self.source = source

    @classmethod
    def from_file(cls, path: str | Path) -> ReplayModel:
        """Read a JSON-lines cassette: one ``{"key", "reply", ...}`` object per line.

        Blank lines are skipped and extra keys ignored; ``"reply"`` is a ``ChatReply``
        dump.

        Raises:
            ConfigurationError: the file is missing or a line is not such an object.
        """
        path = Path(path)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigurationError(f"cannot read the cassette {path}: {exc}") from exc
        return cls(_parse_cassette(lines, str(path)), source=str(path))

    @property
    def keys(self) -> frozenset[str]:
        """Every recorded key."""
        return frozenset(self._replies)

    async def reply(self, request: ModelRequest) -> ModelReply:
        """The recorded reply for ``request``; :class:`NoReply` when it was not recorded."""
        if request.endpoint == "proxy":
            key = wire_key(request.messages)
        else:
            key = request_key(request.chat_request())
        replies = self._replies.get(key)
        if replies is None:
            where = f" {self.source}" if self.source else ""
            raise NoReply(
                f"no recorded reply for key {key} (agent {request.agent_id!r}, turn "
                f"{request.turn}, last message {excerpt(request.last_message)!r}); record "
                f"this request into the cassette{where} first",
                key=key,
                **request.describe(),
            )
        with self._lock:
            index = self._uses.get(key, 0)
            self._uses[key] = index + 1
        return replies[min(index, len(replies) - 1)]


def _parse_cassette(lines: Iterable[str], source: str) -> dict[str, list[ModelReply]]:
    replies: dict[str, list[ModelReply]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{source}, line {number}"
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise ConfigurationError(
                f"{where}: not JSON ({exc}); a cassette is JSON lines"
            ) from exc
        if not isinstance(record, dict):
            raise ConfigurationError(f"{where}: expected a JSON object, got {record!r:.60}")
        if "key" not in record:
            raise ConfigurationError(f"{where}: no 'key'; a cassette line is {{key, reply, ...}}")
        try:
            reply = ChatReply.model_validate(record["reply"])
        except (KeyError, ValidationError) as exc:
            raise ConfigurationError(
                f"{where}: 'reply' must be a ChatReply dump (content, tool_calls, ...): {exc}"
            ) from exc
        replies.setdefault(str(record["key"]), []).append(coerce_reply(reply, where))
    return replies


def load_data(path: str | Path) -> Any:
    """The data of a JSON or YAML file (``.json`` is JSON, anything else YAML).

    Raises:
        ConfigurationError: the file cannot be read or parsed.
        ImportError: a YAML file without the ``server`` extra (PyYAML).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from exc
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ConfigurationError(f"{path} is not valid JSON: {exc}") from exc
    return load_yaml(text, str(path))


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML text (JSON is YAML too), naming ``source`` in errors."""
    try:
        import yaml  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:
        raise ImportError(
            f"reading YAML ({source}) needs PyYAML, part of the 'server' extra: {_SERVER_EXTRA}"
        ) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{source} is not valid YAML: {exc}") from exc
