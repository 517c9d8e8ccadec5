"""The reference server's ASGI app: routes, wire shapes, counters and the fault layer.

Routes:

- ``POST /api/inference`` - the proxy protocol (``docs/proxy-protocol``): a body of
  exactly ``model``, ``messages``, ``run_id``, ``temperature``, ``agent_id``; answers 200
  with a JSON string (the reply text) or ``{"response_type": "tool", "tool_calls":
  [{"name", "arguments"}], "content"?}``.
- ``POST /v1/chat/completions`` - OpenAI-compatible (``stream: true`` answers SSE).
- ``GET /health`` -> ``{"status": "ok"}``; ``GET /stats`` -> :class:`ServerStats` as JSON.
- ``GET``/``POST /admin/faults`` - read or replace the fault layer (a ``Faults`` mapping;
  ``{}`` or ``null`` turns faults off); ``POST /admin/reset`` zeroes the counters.

Every error is JSON: ``{"error": {"type", "message", ...}}``. A body that is not a JSON
object, or misses or mistypes a field, is a 422 naming the fields (``missing``,
``invalid``). Token counts are estimates (characters / 4), not a tokenizer's.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

try:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route
except ImportError as exc:  # pragma: no cover - exercised by a test that hides starlette
    raise ImportError(
        f"retort's reference proxy server needs the 'server' extra ({exc.name} is missing): "
        "pip install 'retort[server]'"
    ) from exc

from retort.adapters.proxy._faults import (
    INFERENCE_PATHS,
    FaultDecision,
    FaultInjector,
    Faults,
    Receive,
    Send,
    TruncatingSend,
    await_disconnect,
    connection_transport,
    drop_connection,
    format_seconds,
    read_body,
    replaying_receive,
)
from retort.adapters.proxy._models import (
    ModelBackend,
    ModelError,
    ModelReply,
    ModelRequest,
    message_text,
)
from retort.core.errors import ConfigurationError
from retort.core.ids import stable_tool_call_ids

__all__ = ["ProxyServerApp", "ServerState", "ServerStats", "create_app"]

logger = logging.getLogger("retort.adapters.proxy.server")


_PROXY_FIELDS: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "messages": (list,),
    "run_id": (str,),
    "temperature": (int, float),
    "agent_id": (str,),
}
_OPENAI_REQUIRED: dict[str, tuple[type, ...]] = {"model": (str,), "messages": (list,)}
_OPENAI_OPTIONAL: dict[str, tuple[type, ...]] = {
    "tools": (list,),
    "stream": (bool,),
    "temperature": (int, float),
    "user": (str,),
    "response_format": (dict, str),
    "stream_options": (dict,),
}
_HTML_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_JSON_NAMES = {
    str: "a string",
    list: "a list",
    dict: "an object",
    bool: "a boolean",
    int: "a number",
    float: "a number",
}
_STREAM_PIECE = 16


@dataclass(frozen=True, slots=True)
class ServerStats:
    """A snapshot of the server's counters.

    Attributes:
        in_flight: inference requests being handled now.
        peak: the most inference requests in flight at once since the last reset.
        requests: requests received on every path.
        by_path: requests per path.
        by_status: responses per status sent (a reset sends none).
        faults: faults injected, by kind: ``status:<code>``, ``reset``, ``truncate``,
            ``non_json``, ``delay``.
    """

    in_flight: int
    peak: int
    requests: int
    by_path: dict[str, int]
    by_status: dict[int, int]
    faults: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """The JSON form served at ``GET /stats`` (status keys as strings)."""
        return {
            "in_flight": self.in_flight,
            "peak": self.peak,
            "requests": self.requests,
            "by_path": dict(self.by_path),
            "by_status": {str(status): n for status, n in self.by_status.items()},
            "faults": dict(self.faults),
        }


class _Counters:
    """The live counters; a lock because the handle reads them from another thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.in_flight = 0
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.peak = self.in_flight
            self.requests = 0
            self.by_path: Counter[str] = Counter()
            self.by_status: Counter[int] = Counter()
            self.faults: Counter[str] = Counter()

    def begin(self, path: str, inference: bool) -> None:
        with self._lock:
            self.requests += 1
            self.by_path[path] += 1
            if inference:
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)

    def end(self, inference: bool) -> None:
        if inference:
            with self._lock:
                self.in_flight -= 1

    def status(self, status: int) -> None:
        with self._lock:
            self.by_status[status] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def snapshot(self) -> ServerStats:
        with self._lock:
            return ServerStats(
                self.in_flight,
                self.peak,
                self.requests,
                dict(self.by_path),
                dict(sorted(self.by_status.items())),
                dict(self.faults),
            )


class ServerState:
    """What one app instance owns: its backend, fault layer and counters (no globals).

    Attributes:
        model: the backend answering inference requests.
    """

    def __init__(self, model: ModelBackend, faults: Faults | None = None) -> None:
        self.model = model
        self.injector = FaultInjector(faults)
        self.counters = _Counters()
        self._ids = itertools.count(1)

    @property
    def faults(self) -> Faults:
        """The fault configuration in force."""
        return self.injector.faults

    @property
    def stats(self) -> ServerStats:
        """A snapshot of the counters."""
        return self.counters.snapshot()

    def set_faults(self, faults: Faults | Mapping[str, Any] | str | None) -> Faults:
        """Replace the fault layer (a fresh RNG from its seed); ``None`` turns faults off."""
        if faults is None:
            faults = Faults()
        elif isinstance(faults, str):
            faults = Faults.parse(faults)
        elif not isinstance(faults, Faults):
            faults = Faults.from_mapping(faults)
        # One assignment: a request in progress keeps the injector it drew from.
        self.injector = FaultInjector(faults)
        return faults

    def reset_stats(self) -> None:
        """Zero the counters (``peak`` restarts from the requests in flight now)."""
        self.counters.reset()

    def completion_id(self) -> str:
        """A new OpenAI completion id, unique within this app."""
        return f"chatcmpl-retort-{next(self._ids)}"


def error_response(
    status: int, kind: str, message: str, headers: Mapping[str, str] | None = None, **detail: Any
) -> JSONResponse:
    """The JSON error every route answers: ``{"error": {"type", "message", ...}}``."""
    return JSONResponse(
        {"error": {"type": kind, "message": message, **detail}}, status, headers=headers
    )


class _BadBody(Exception):
    def __init__(self, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.detail = detail


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise _BadBody(f"the body is not JSON ({exc}); send a JSON object") from None
    if not isinstance(body, dict):
        raise _BadBody(f"the body must be a JSON object, got {type(body).__name__}")
    return body


def _check_fields(
    body: Mapping[str, Any],
    required: Mapping[str, tuple[type, ...]],
    optional: Mapping[str, tuple[type, ...]],
    endpoint: str,
) -> None:
    missing = [name for name in required if name not in body]
    invalid: dict[str, str] = {}
    for name, types in {**required, **optional}.items():
        if name not in body or (body[name] is None and name in optional):
            continue
        value = body[name]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            expected = " or ".join(dict.fromkeys(_JSON_NAMES[t] for t in types))
            invalid[name] = f"expected {expected}, got {type(value).__name__}"
    for index, message in enumerate(body.get("messages") or []):
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
            invalid[f"messages[{index}]"] = "expected an object with a string 'role'"
    if missing or invalid:
        parts = []
        if missing:
            parts.append(f"missing field(s): {', '.join(missing)}")
        if invalid:
            parts.append("; ".join(f"{name}: {why}" for name, why in invalid.items()))
        raise _BadBody(
            f"invalid {endpoint} request: {'; '.join(parts)}", missing=missing, invalid=invalid
        )


async def _answer(state: ServerState, request: ModelRequest) -> ModelReply | Response:
    try:
        reply = await state.model.reply(request)
    except ModelError as exc:
        return error_response(exc.status, exc.kind, str(exc), **exc.detail)
    except Exception as exc:
        logger.exception("the model backend failed on %s", request.describe())
        return error_response(
            500, "model_error", f"the model backend raised {type(exc).__name__}: {exc}"
        )
    if reply.delay:
        await asyncio.sleep(reply.delay)
    if reply.status != 200:
        headers = None
        if reply.retry_after is not None:
            headers = {"retry-after": format_seconds(reply.retry_after)}
        message = reply.text or f"scripted status {reply.status}"
        return error_response(reply.status, "scripted_status", message, headers)
    return reply


def proxy_body(reply: ModelReply) -> Any:
    """The proxy protocol's response body for ``reply``: a string, or a tool object."""
    if not reply.tool_calls:
        return reply.text or ""
    body: dict[str, Any] = {
        "response_type": "tool",
        "tool_calls": [
            {"name": call.name, "arguments": call.decoded_arguments()} for call in reply.tool_calls
        ],
    }
    if reply.text:
        body["content"] = reply.text
    return body


def _approx(chars: int) -> int:
    return math.ceil(chars / 4)


def openai_parts(reply: ModelReply, request: ModelRequest) -> dict[str, Any]:
    """The OpenAI message, finish reason and usage of ``reply``."""
    calls = reply.tool_calls
    ids = stable_tool_call_ids((c.name, c.decoded_arguments()) for c in calls)
    tool_calls = [
        {
            "id": call.id or stable,
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments_text()},
        }
        for call, stable in zip(calls, ids, strict=True)
    ]
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if reply.usage is not None:
        prompt, completion = reply.usage.prompt_tokens, reply.usage.completion_tokens
    else:
        prompt = _approx(sum(len(message_text(m.get("content"))) for m in request.messages))
        completion = _approx(
            len(reply.text or "") + sum(len(c.name) + len(c.arguments_text()) for c in calls)
        )
    return {
        "message": message,
        "finish_reason": reply.finish_reason or ("tool_calls" if calls else "stop"),
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


def _sse_chunks(head: dict[str, Any], parts: dict[str, Any], usage: bool) -> list[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {**head, "choices": [choice]}

    message = parts["message"]
    text = message["content"] or ""
    chunks = [chunk({"role": "assistant", "content": ""})]
    chunks += [
        chunk({"content": text[i : i + _STREAM_PIECE]}) for i in range(0, len(text), _STREAM_PIECE)
    ]
    for index, call in enumerate(message.get("tool_calls", [])):
        chunks.append(chunk({"tool_calls": [{"index": index, **call}]}))
    chunks.append(chunk({}, parts["finish_reason"]))
    if usage:
        chunks.append({**head, "choices": [], "usage": parts["usage"]})
    return chunks


async def _sse(chunks: list[dict[str, Any]]) -> AsyncIterator[bytes]:
    for data in chunks:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        yield f"data: {text}\n\n".encode()
    yield b"data: [DONE]\n\n"


def _routes(state: ServerState) -> list[Route]:
    async def proxy(request: Request) -> Response:
        try:
            body = await _json_object(request)
            _check_fields(body, _PROXY_FIELDS, {}, "proxy-protocol")
        except _BadBody as exc:
            return error_response(422, "invalid_request", str(exc), **exc.detail)
        model_request = ModelRequest(
            endpoint="proxy",
            messages=tuple(body["messages"]),
            model=body["model"],
            agent_id=body["agent_id"],
            run_id=body["run_id"],
            temperature=float(body["temperature"]),
        )
        reply = await _answer(state, model_request)
        return reply if isinstance(reply, Response) else JSONResponse(proxy_body(reply))

    async def chat(request: Request) -> Response:
        try:
            body = await _json_object(request)
            _check_fields(body, _OPENAI_REQUIRED, _OPENAI_OPTIONAL, "chat-completions")
            if not body["messages"]:
                raise _BadBody("messages must not be empty", missing=[], invalid={})
        except _BadBody as exc:
            return error_response(422, "invalid_request", str(exc), **exc.detail)
        temperature = body.get("temperature")
        model_request = ModelRequest(
            endpoint="openai",
            messages=tuple(body["messages"]),
            model=body["model"],
            agent_id=body.get("user"),
            temperature=None if temperature is None else float(temperature),
            tools=tuple(body["tools"]) if body.get("tools") else None,
            response_format=body.get("response_format"),
        )
        reply = await _answer(state, model_request)
        if isinstance(reply, Response):
            return reply
        parts = openai_parts(reply, model_request)
        head: dict[str, Any] = {"id": state.completion_id(), "object": "chat.completion"}
        head.update(created=int(time.time()), model=body["model"])
        if body.get("stream"):
            usage = bool((body.get("stream_options") or {}).get("include_usage"))
            chunk_head = {**head, "object": "chat.completion.chunk"}
            return StreamingResponse(
                _sse(_sse_chunks(chunk_head, parts, usage)),
                media_type="text/event-stream",
                headers={"cache-control": "no-cache"},
            )
        choice = {"index": 0, "message": parts["message"], "finish_reason": parts["finish_reason"]}
        return JSONResponse({**head, "choices": [choice], "usage": parts["usage"]})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def stats(request: Request) -> Response:
        return JSONResponse(state.stats.to_dict())

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                state.set_faults(json.loads(await request.body() or b"null"))
            except (ValueError, ConfigurationError) as exc:
                return error_response(422, "invalid_faults", str(exc))
        return JSONResponse({"faults": state.faults.to_dict()})

    async def reset(request: Request) -> Response:
        state.reset_stats()
        return JSONResponse(state.stats.to_dict())

    return [
        Route("/api/inference", proxy, methods=["POST"]),
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/stats", stats, methods=["GET"]),
        Route("/admin/faults", faults, methods=["GET", "POST"]),
        Route("/admin/reset", reset, methods=["POST"]),
    ]


class ProxyServerApp(Starlette):
    """The reference server's Starlette app; ``retort`` is its :class:`ServerState`.

    Its ``__call__`` is the outermost layer, so the counters and the faults see the
    server's own ``send`` before Starlette's middleware wraps it.
    """

    def __init__(self, state: ServerState) -> None:
        super().__init__(routes=_routes(state))
        self.retort = state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        state, path = self.retort, scope["path"]
        inference = path in INFERENCE_PATHS
        state.counters.begin(path, inference)

        async def counted(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                state.counters.status(message["status"])
            await send(message)

        try:
            decision = state.injector.decide(path)
            if decision is None:
                await super().__call__(scope, receive, counted)
            else:
                await self._inject(decision, scope, receive, send, counted)
        finally:
            state.counters.end(inference)

    async def _inject(
        self, decision: FaultDecision, scope: Any, receive: Receive, send: Send, counted: Send
    ) -> None:
        counters = self.retort.counters
        # Read the body before any delay: a client that gives up during the delay must
        # not turn into a ClientDisconnect (and a bogus 500) when the body is read late.
        body = await read_body(receive)
        if decision.delay:
            counters.fault("delay")
            await asyncio.sleep(decision.delay)
        if decision.kind is None:
            await super().__call__(scope, replaying_receive(body, receive), counted)
            return
        counters.fault(f"status:{decision.status}" if decision.kind == "status" else decision.kind)
        if decision.kind == "status":
            status = decision.status or 500
            retry_after = decision.retry_after
            headers = None if retry_after is None else {"retry-after": retry_after}
            response: Response = error_response(
                status, "injected_fault", f"injected fault: status {status}", headers
            )
            await response(scope, replaying_receive(body, receive), counted)
        elif decision.kind == "non_json":
            page = Response(_HTML_PAGE, 200, media_type="text/html")
            await page(scope, replaying_receive(body, receive), counted)
        elif decision.kind == "reset":
            await drop_connection(receive, send)
        else:
            transport = connection_transport(send)
            truncating = TruncatingSend(counted, transport)
            await super().__call__(scope, replaying_receive(body, receive), truncating)
            if transport is not None and truncating.cut:
                await await_disconnect(receive)


def create_app(
    model: ModelBackend, faults: Faults | Mapping[str, Any] | str | None = None
) -> ProxyServerApp:
    """The reference server as a Starlette app, for embedding in any ASGI server.

    Args:
        model: the backend that answers inference requests.
        faults: the fault layer: :class:`Faults`, its mapping form or JSON/YAML text
            (``None``: no faults).

    Returns:
        The app; its ``retort`` attribute is the :class:`ServerState` (stats, faults).
        Dropping a connection (``reset``, ``truncate``) works best under uvicorn; other
        servers see a response that never completes, which they close.
    """
    if not isinstance(model, ModelBackend):
        raise ConfigurationError(
            f"model must have 'async def reply(request) -> ModelReply', got {type(model).__name__}"
        )
    state = ServerState(model)
    state.set_faults(faults)
    return ProxyServerApp(state)
