"""The stock-client path: AutoGen's own ``OpenAIChatCompletionClient`` over retort transports.

```python
client = stock_proxy_client("zai-org/GLM-4.6-FP8", agent_prefix="coder")
agent = AssistantAgent("coder", model_client=client, tools=[get_file_content])
result = await agent.run(task="Fix the bug in a.py")
await client.close()                     # closes the proxy transport too
```

The stock client speaks OpenAI chat completions over an HTTP client; the OpenAI SDK in
the ``autogen`` extra (openai 3.x) is built on ``httpx2`` and accepts an
``httpx2.AsyncClient`` as ``http_client=``. :class:`RetortHTTPTransport` is the
``httpx2.AsyncBaseTransport`` of such a client: it answers ``POST .../chat/completions``
by converting the OpenAI body into a :class:`~retort.core.messages.ChatRequest`, sending
it through a retort :class:`~retort.core.ports.Transport` - a
:class:`~retort.adapters.proxy.ProxyTransport` for the proxy protocol, so the proxy
request is built by the proxy transport itself - and converting the reply back into an
OpenAI ``chat.completion`` (or its SSE stream).

What works with the installed versions (openai 3.57, httpx2 2.16, httpx 0.28), as tried
out: an ``httpx2.AsyncClient`` with an ``httpx2`` transport, always; a legacy
``httpx.AsyncClient`` with an ``httpx`` transport, because openai recognises it through
``sys.modules["httpx"]`` (you imported httpx to build one); an ``httpx2.AsyncClient``
around an ``httpx`` transport does not work (openai fails an assertion). Hence ``httpx2``.

Policies:

- **Requests.** ``model``, ``messages``, ``temperature``, ``tools``, ``tool_choice`` and
  ``response_format`` are carried (the proxy transport renders tools and the response
  format into the system message); ``tool_choice="none"`` sends no tools and a named
  function sends only that one. ``n`` other than 1 is refused (one reply per request).
  Options a transport request has no field for (``max_tokens``, ``top_p``, ``seed``,
  ``stop``, ``user``...) are dropped, and logged at debug level.
- **Replies.** Text becomes the message content and the proxy's ``thought`` its
  ``reasoning_content``; tool calls get ids (the transport's, or retort's stable ids when
  missing or repeated) and JSON text arguments; ``finish_reason`` is ``"tool_calls"``
  with calls, else the reply's (``"stop"`` when unknown). Usage is what the transport
  reports, zero otherwise. Calls made under ``tool_choice="none"`` become the text, as
  JSON, when there is no other text.
- **Streaming** (``stream: true``, used by ``AssistantAgent(model_client_stream=True)``)
  is answered as server-sent events: the role, the text in one chunk, the tool calls, the
  finish reason, and the usage when ``stream_options.include_usage`` asks for it, then
  ``[DONE]`` - the transports answer whole replies.
- **Errors.** A body this transport cannot carry gets an OpenAI-shaped error response
  (400, or 404 for another path), which the OpenAI SDK raises as ``BadRequestError`` /
  ``NotFoundError``. A failure of the inner transport - after *its* retries - propagates
  unchanged as retort's typed :class:`~retort.core.errors.TransportError`: the SDK only
  retries its own HTTP errors, so nothing is retried twice, and the error reaches the
  caller of ``AssistantAgent.run`` as it does with ``TransportChatCompletionClient``.
- **Timeouts** are the inner transport's (``timeout=``, ``deadline=``); the SDK's
  per-request timeout does not apply to a custom transport.
- **Tokens.** ``AssistantAgent`` never calls ``count_tokens`` unless its model context is
  a ``TokenLimitedChatCompletionContext``; the stock client's ``count_tokens`` uses
  tiktoken, which may download an encoding. Use ``TransportChatCompletionClient`` (offline
  estimates) with token-limited contexts.
- **Credentials.** The stock client's ``api_key`` is a placeholder that never leaves the
  process (the transport ignores request headers), so ``OPENAI_API_KEY`` is never read;
  a proxy key goes to the proxy transport (``api_key=``), which sends and redacts it.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx2
from autogen_core.models import ModelInfo
from autogen_ext.models.openai import OpenAIChatCompletionClient

from retort.adapters._http_support import check_http_url
from retort.adapters.autogen._client import default_model_info
from retort.adapters.autogen._convert import calls_as_text, function_calls
from retort.adapters.proxy._models import ModelError, ModelRequest
from retort.adapters.proxy._transport import DEFAULT_AGENT_PREFIX, DEFAULT_MODEL, ProxyTransport
from retort.core.errors import ConfigurationError
from retort.core.messages import ChatReply, ChatRequest
from retort.core.ports import Transport

__all__ = [
    "PLACEHOLDER_API_KEY",
    "STOCK_BASE_URL",
    "RetortHTTPTransport",
    "proxy_http_client",
    "stock_openai_client",
    "stock_proxy_client",
]

logger = logging.getLogger("retort.adapters.autogen.stock")

STOCK_BASE_URL = "http://retort.invalid/v1"
"""The base URL a stock client over :class:`RetortHTTPTransport` is given. Requests never
leave through it (the transport answers them); ``.invalid`` can never resolve anyway."""

PLACEHOLDER_API_KEY = "retort-no-key"
"""The stock client's ``api_key`` when none is given: never sent over the network by the
custom transport, and it keeps the OpenAI SDK from reading ``OPENAI_API_KEY``."""

_CARRIED = frozenset(
    {
        "model",
        "messages",
        "temperature",
        "tools",
        "tool_choice",
        "response_format",
        "stream",
        "stream_options",
        "n",
    }
)
_FINISH = frozenset({"stop", "length", "content_filter"})
_CLIENT_KEYS = frozenset({"model", "base_url", "api_key", "http_client", "model_info"})


class _Refused(Exception):
    """A request body this transport cannot carry; becomes an OpenAI-shaped error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class RetortHTTPTransport(httpx2.AsyncBaseTransport):
    """An ``httpx2`` transport that answers OpenAI chat completions through a retort transport.

    Give it to an ``httpx2.AsyncClient`` (``httpx2.AsyncClient(transport=...)``) and the
    client to a stock OpenAI client as ``http_client=``; see the module docstring for
    the policies.

    Args:
        transport: where requests go (``ProxyTransport``, ``OpenAITransport``, a replay
            transport, ``ScriptedTransport``...).
        close_transport: whether :meth:`aclose` (called when the HTTP client closes)
            closes ``transport`` too.

    Raises:
        TypeError: ``transport`` is not a retort :class:`~retort.core.ports.Transport`.
    """

    def __init__(self, transport: Transport, *, close_transport: bool = True) -> None:
        if not isinstance(transport, Transport):
            raise TypeError(
                "RetortHTTPTransport needs a retort Transport (e.g. ProxyTransport), "
                f"got {type(transport).__name__}"
            )
        self._transport = transport
        self._close_transport = close_transport
        self._ids = itertools.count(1)
        self._closed = False

    @property
    def transport(self) -> Transport:
        """The retort transport requests go through."""
        return self._transport

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Answer one OpenAI request.

        Returns:
            A ``chat.completion`` JSON response, an SSE stream of ``chat.completion.chunk``
            events for ``stream: true``, or an OpenAI-shaped error response (400, 404).

        Raises:
            TransportError: the inner transport failed after its own retries.
            RuntimeError: the transport was closed.
        """
        if self._closed:
            raise RuntimeError(
                "RetortHTTPTransport: a request after aclose() (the HTTP client or the stock "
                "client was closed); build a new client"
            )
        try:
            body = await _body(request)
            chat, allow_calls = _chat_request(body)
        except _Refused as refused:
            return _error(refused.status, str(refused), request)
        reply = await self._transport.send(chat)
        parts = _completion_parts(reply, allow_calls=allow_calls)
        head = {
            "id": f"chatcmpl-retort-{next(self._ids)}",
            "created": int(time.time()),
            "model": body["model"],
        }
        if body.get("stream"):
            options = body.get("stream_options")
            usage = isinstance(options, Mapping) and bool(options.get("include_usage"))
            events = _sse_events(_completion_chunks(head, parts, include_usage=usage))
            headers = {"content-type": "text/event-stream", "cache-control": "no-cache"}
            return httpx2.Response(200, headers=headers, content=events, request=request)
        completion = {
            **head,
            "object": "chat.completion",
            "choices": [
                {"index": 0, "message": parts["message"], "finish_reason": parts["finish_reason"]}
            ],
            "usage": parts["usage"],
        }
        return httpx2.Response(200, json=completion, request=request)

    async def aclose(self) -> None:
        """Close the inner transport when this one owns it. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._close_transport:
            await self._transport.aclose()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} over {self._transport!r}>"


# ---------------------------------------------------------------- OpenAI body -> ChatRequest


async def _body(request: httpx2.Request) -> dict[str, Any]:
    path = request.url.path
    if request.method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
        raise _Refused(
            404,
            f"RetortHTTPTransport answers POST .../chat/completions only, got "
            f"{request.method} {path}; use this client for chat completions",
        )
    try:
        body = json.loads(await request.aread())
    except ValueError as exc:
        raise _Refused(400, f"the request body is not JSON ({exc})") from None
    if not isinstance(body, dict):
        raise _Refused(400, f"the request body must be a JSON object, got {type(body).__name__}")
    return body


def _chat_request(body: Mapping[str, Any]) -> tuple[ChatRequest, bool]:
    """The retort request an OpenAI chat-completions body asks for.

    Args:
        body: the decoded JSON body.

    Returns:
        The request, and whether tool calls may be returned (``False`` for
        ``tool_choice="none"``).

    Raises:
        _Refused: the body misses ``model`` or ``messages``, asks for several choices, or
            names a tool choice that is not among its tools.
    """
    model, messages = body.get("model"), body.get("messages")
    if not isinstance(model, str) or not isinstance(messages, list) or not messages:
        raise _Refused(
            400,
            "expected a chat-completions body with a string 'model' and a non-empty "
            f"'messages' list, got model={model!r} and {type(messages).__name__} messages",
        )
    if body.get("n", 1) != 1:
        raise _Refused(400, f"n={body['n']!r} asks for several choices; a transport gives one")
    dropped = sorted(set(body) - _CARRIED)
    if dropped:
        logger.debug("dropped request options a transport cannot carry: %s", ", ".join(dropped))
    temperature, tools = body.get("temperature"), body.get("tools") or []
    if temperature is not None and (
        isinstance(temperature, bool) or not isinstance(temperature, int | float)
    ):
        raise _Refused(400, f"temperature must be a number, got {temperature!r}")
    if not isinstance(tools, list) or not all(isinstance(tool, Mapping) for tool in tools):
        raise _Refused(400, f"tools must be a list of tool objects, got {tools!r:.80}")
    tools, allow_calls = _chosen_tools(tools, body.get("tool_choice"))
    response_format = body.get("response_format")
    if isinstance(response_format, Mapping) and response_format.get("type") == "text":
        response_format = None
    # The reference server's OpenAI endpoint reads bodies the same way: one conversion.
    wire = ModelRequest(
        endpoint="openai",
        messages=tuple(messages),
        model=model,
        temperature=None if temperature is None else float(temperature),
        tools=tuple(tools) or None,
        response_format=response_format,
    )
    try:
        return wire.chat_request(), allow_calls
    except (ModelError, KeyError, TypeError) as exc:  # a message without role, a call without id
        raise _Refused(400, f"the messages cannot be read: {exc!r}") from exc


def _chosen_tools(tools: Sequence[Any], choice: Any) -> tuple[list[dict[str, Any]], bool]:
    if choice is None or choice in ("auto", "required"):
        return [dict(tool) for tool in tools], True
    if choice == "none":
        return [], False
    name = choice.get("function", {}).get("name") if isinstance(choice, Mapping) else None
    chosen = [dict(tool) for tool in tools if tool.get("function", {}).get("name") == name]
    if name is None or not chosen:
        raise _Refused(
            400,
            f"tool_choice {choice!r} is not 'auto', 'required', 'none' or a function among "
            "the tools passed",
        )
    return chosen, True


# ---------------------------------------------------------------- ChatReply -> OpenAI


def _completion_parts(reply: ChatReply, *, allow_calls: bool = True) -> dict[str, Any]:
    """The OpenAI ``message``, ``finish_reason`` and ``usage`` of ``reply``."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls and allow_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in function_calls(reply.tool_calls)
        ]
        finish = "tool_calls"
    else:
        if reply.tool_calls and not (reply.content or "").strip():
            message["content"] = calls_as_text(reply.tool_calls)
        finish = reply.finish_reason if reply.finish_reason in _FINISH else "stop"
    if reply.reasoning:
        message["reasoning_content"] = reply.reasoning
    usage = reply.usage
    return {
        "message": message,
        "finish_reason": finish,
        "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens,
        },
    }


def _completion_chunks(
    head: Mapping[str, Any], parts: Mapping[str, Any], *, include_usage: bool
) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` events of one whole reply, in order."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {**head, "object": "chat.completion.chunk", "choices": [choice]}

    message = parts["message"]
    chunks = [chunk({"role": "assistant", "content": ""})]
    if message.get("reasoning_content"):
        chunks.append(chunk({"reasoning_content": message["reasoning_content"]}))
    if message["content"]:
        chunks.append(chunk({"content": message["content"]}))
    for index, call in enumerate(message.get("tool_calls", [])):
        chunks.append(chunk({"tool_calls": [{"index": index, **call}]}))
    chunks.append(chunk({}, parts["finish_reason"]))
    if include_usage:
        chunks.append(
            {**head, "object": "chat.completion.chunk", "choices": [], "usage": parts["usage"]}
        )
    return chunks


def _sse_events(chunks: Sequence[Mapping[str, Any]]) -> bytes:
    """Server-sent events carrying ``chunks``, ending with ``data: [DONE]``."""
    texts = (json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in chunks)
    return "".join(f"data: {text}\n\n" for text in [*texts, "[DONE]"]).encode("utf-8")


def _error(status: int, message: str, request: httpx2.Request) -> httpx2.Response:
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": None}
    return httpx2.Response(status, json={"error": error}, request=request)


# ---------------------------------------------------------------- clients


def proxy_http_client(
    base_url: str | None = None,
    *,
    model: str = DEFAULT_MODEL,
    agent_prefix: str = DEFAULT_AGENT_PREFIX,
    **proxy_options: Any,
) -> httpx2.AsyncClient:
    """An ``httpx2.AsyncClient`` that answers OpenAI chat completions through the proxy.

    Pass it to a stock client as ``http_client=``; closing the client (or the stock
    client) closes the proxy transport.

    Args:
        base_url: the proxy's base URL (default ``SANDBOX_PROXY_URL``).
        model: the model name when a request names none.
        agent_prefix: names the agent in the proxy's ``agent_id``.
        **proxy_options: more :class:`~retort.adapters.proxy.ProxyTransport` arguments
            (``run_id``, ``agent_id``, ``temperature``, ``timeout``, ``retries``,
            ``deadline``, ``api_key``, ``plugins``, ``policy``).

    Raises:
        ConfigurationError: the proxy transport's settings are wrong.
    """
    proxy = ProxyTransport(base_url, model=model, agent_prefix=agent_prefix, **proxy_options)
    return httpx2.AsyncClient(transport=RetortHTTPTransport(proxy))


def stock_proxy_client(
    model: str = DEFAULT_MODEL,
    *,
    base_url: str | None = None,
    agent_prefix: str = DEFAULT_AGENT_PREFIX,
    transport: Transport | None = None,
    model_info: ModelInfo | None = None,
    client_options: Mapping[str, Any] | None = None,
    **proxy_options: Any,
) -> OpenAIChatCompletionClient:
    """A ready ``OpenAIChatCompletionClient`` whose requests go through the proxy protocol.

    Args:
        model: the model name, sent in every request.
        base_url: the proxy's base URL (default ``SANDBOX_PROXY_URL``).
        agent_prefix: names the agent in the proxy's ``agent_id``.
        transport: a retort transport to send through instead of a new
            ``ProxyTransport`` (then ``base_url`` and proxy options must be left out); the
            stock client owns it and closes it.
        model_info: what the model supports; default
            :func:`~retort.adapters.autogen._client.default_model_info` (text, tools and
            JSON mode, family ``unknown``), so no lookup by model name happens.
        client_options: more ``OpenAIChatCompletionClient`` arguments
            (``include_name_in_message``, ``temperature``...).
        **proxy_options: more :class:`~retort.adapters.proxy.ProxyTransport` arguments.

    Raises:
        ConfigurationError: ``transport`` together with proxy settings, reserved keys in
            ``client_options``, or wrong proxy settings.
    """
    options = _client_options(client_options)
    if transport is None:
        transport = ProxyTransport(
            base_url, model=model, agent_prefix=agent_prefix, **proxy_options
        )
    elif given := [
        *(["base_url"] if base_url is not None else []),
        *(["agent_prefix"] if agent_prefix != DEFAULT_AGENT_PREFIX else []),
        *proxy_options,
    ]:
        raise ConfigurationError(
            f"transport= was given together with {', '.join(given)}: configure the "
            "transport itself, or leave transport= out to build a ProxyTransport"
        )
    settings: dict[str, Any] = {
        "model": model,
        "base_url": STOCK_BASE_URL,
        "api_key": PLACEHOLDER_API_KEY,
        "model_info": model_info if model_info is not None else default_model_info(),
        # The inner transport retried already; the SDK never sees a retryable failure.
        "max_retries": 0,
        # An AsyncOpenAI argument that AutoGen passes through, though its typed
        # configuration does not list it.
        "http_client": httpx2.AsyncClient(transport=RetortHTTPTransport(transport)),
        **options,
    }
    return OpenAIChatCompletionClient(**settings)


def stock_openai_client(
    base_url: str,
    *,
    model: str,
    api_key: str | None = None,
    model_info: ModelInfo | None = None,
    **client_options: Any,
) -> OpenAIChatCompletionClient:
    """A stock ``OpenAIChatCompletionClient`` for an OpenAI-compatible server, as it is.

    No custom transport: the SDK's own HTTP client talks to ``{base_url}/chat/completions``.
    What this adds is safe defaults: ``model_info`` (so an unknown model name works),
    and a placeholder key when ``api_key`` is ``None``, so ``OPENAI_API_KEY`` is not
    read and sent to a server it was not meant for.

    Args:
        base_url: the server's base URL, normally ending in ``/v1``.
        model: the model name.
        api_key: the server's key, if it needs one.
        model_info: what the model supports; default ``default_model_info()``.
        **client_options: more ``OpenAIChatCompletionClient`` arguments.

    Raises:
        ConfigurationError: ``base_url`` is not an http(s) URL with a host, or
            ``client_options`` sets a reserved key.
    """
    checked = check_http_url(base_url, setting="base_url", example="http://127.0.0.1:8000/v1")
    options = _client_options(client_options)
    return OpenAIChatCompletionClient(
        model=model,
        base_url=str(checked),
        api_key=api_key if api_key else PLACEHOLDER_API_KEY,
        model_info=model_info if model_info is not None else default_model_info(),
        **options,
    )


def _client_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    given = dict(options or {})
    reserved = sorted(set(given) & _CLIENT_KEYS)
    if reserved:
        raise ConfigurationError(
            f"client options may not set {', '.join(reserved)}: they are arguments of "
            "their own (or fixed by the stock-client path)"
        )
    return given
