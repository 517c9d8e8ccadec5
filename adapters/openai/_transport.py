"""A transport for OpenAI-compatible chat completions (OpenAI, vLLM, SGLang, llama.cpp...).

```python
async with OpenAITransport("http://127.0.0.1:8000", model="Qwen/Qwen3-Coder") as transport:
    reply = await transport.send(ChatRequest(messages=[Message(role="user", content="Hi")]))
```

The URL rule: a base URL with no path gets ``/v1`` (``http://h:8000`` and
``http://h:8000/v1`` both post to ``http://h:8000/v1/chat/completions``); a base URL with
a path is used as it is, plus ``/chat/completions`` unless it already ends so
(``http://h/openai`` posts to ``http://h/openai/chat/completions``).

Tools go natively (``tools``, and ``tool_choice`` when configured); a ``response_format``
object goes natively, a text one is appended to the system message. Messages are
:meth:`Message.to_openai` (a tool-call turn keeps ``content: null``). Retries, timeouts,
the deadline, hooks and errors are those of :class:`~retort.adapters._http.HTTPTransport`;
an error body ``{"error": {"message": ...}}`` puts its message in the error.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
import pluggy

from retort.adapters._http import (
    DEFAULT_DEADLINE,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    BodyError,
    HTTPTransport,
    RetryPolicy,
)
from retort.adapters._http_support import check_http_url, join_path, usage_of
from retort.adapters.proxy._wire import render_response_format
from retort.core.errors import ConfigurationError, ToolCallError
from retort.core.messages import ChatReply, ChatRequest, FinishReason
from retort.parsers import extract_tool_calls

__all__ = ["OpenAITransport", "decode_completion"]

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
}
# extra_body may add sampling and server options, not replace what the request says.
_RESERVED = frozenset({"model", "messages", "tools", "tool_choice", "response_format"})


class OpenAITransport(HTTPTransport):
    """A :class:`~retort.core.ports.Transport` over ``POST {base_url}/chat/completions``.

    Args:
        base_url: the server's base URL, normally ending in ``/v1`` (see the module
            docstring for the rule).
        api_key: optional; sent as ``authorization: Bearer ...``, never shown or logged.
            Not read from the environment, so a key is never sent to a server by accident.
        model: the model name, unless a request names its own (one of the two is needed).
        temperature: unless a request sets its own; ``None`` leaves it to the server.
        timeout: seconds one attempt may take in all (default 180).
        retries: how many times a failed attempt is repeated (default 4).
        deadline: seconds one send may take across attempts and waits (default 600).
        client: an ``httpx.AsyncClient`` to use; the caller keeps ownership.
        plugins: the plugin manager for ``retort_before_send``/``retort_after_receive``;
            default the run in progress's, else the process default.
        extra_body: more body fields (``max_tokens``, ``top_p``, ``seed``...), added to
            every request.
        tool_choice: sent as ``tool_choice`` with requests that carry tools.
        policy: back-off, ``Retry-After`` cap, retried statuses, random source, sleep, clock.

    Raises:
        ConfigurationError: the URL is empty, not http(s) or has no host; a number is out
            of range; ``extra_body`` tries to set ``model``, ``messages``, ``tools``,
            ``tool_choice`` or ``response_format``.
    """

    server_name: ClassVar[str] = "the server"

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        model: str | None = None,
        temperature: float | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        deadline: float = DEFAULT_DEADLINE,
        client: httpx.AsyncClient | None = None,
        plugins: pluggy.PluginManager | None = None,
        extra_body: Mapping[str, Any] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        base = check_http_url(base_url, setting="base_url", example="http://127.0.0.1:8000/v1")
        clashes = sorted(_RESERVED & set(extra_body or {}))
        if clashes:
            raise ConfigurationError(
                f"extra_body may not set {', '.join(clashes)}: the request and the "
                "transport's own arguments set those; pass model=/tool_choice= instead"
            )
        super().__init__(
            _completions_url(base),
            timeout=timeout,
            retries=retries,
            deadline=deadline,
            api_key=api_key,
            client=client,
            plugins=plugins,
            policy=policy,
        )
        self.model = model
        self.temperature = temperature
        self.extra_body = dict(extra_body or {})
        self.tool_choice = tool_choice

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        model = request.model or self.model
        if not model:
            raise ConfigurationError(
                "OpenAITransport needs a model: pass model= or set ChatRequest.model"
            )
        messages = [message.to_openai() for message in request.messages]
        body: dict[str, Any] = {"model": model, "messages": messages}
        temperature = request.temperature if request.temperature is not None else self.temperature
        if temperature is not None:
            body["temperature"] = temperature
        if request.tools:
            body["tools"] = request.tools
            if self.tool_choice is not None:
                body["tool_choice"] = self.tool_choice
        if isinstance(request.response_format, dict):
            body["response_format"] = request.response_format
        elif request.response_format:
            _append_system(messages, render_response_format(request.response_format))
        body.update(self.extra_body)
        return body

    def _decode(self, response: httpx.Response) -> ChatReply:
        try:
            completion = json.loads(response.content)
        except ValueError as exc:
            raise BodyError(
                f"expected a chat completion in JSON, found a body that is not JSON ({exc}); "
                "it was probably cut short",
                retryable=True,
            ) from exc
        return decode_completion(completion)

    def _repr_fields(self) -> Mapping[str, object]:
        return {"model": self.model, **super()._repr_fields()}


def decode_completion(completion: Any) -> ChatReply:
    """The reply in a decoded ``chat.completion`` object (its first choice).

    Args:
        completion: the response body, decoded from JSON.

    Returns:
        Content, tool calls (the provider's ids kept, stable ids for missing ones),
        ``finish_reason`` mapped to retort's (``function_call`` -> ``tool_calls``;
        unknown values -> ``unknown``), usage, and reasoning (``reasoning_content`` or
        ``reasoning``, as vLLM and DeepSeek send it).

    Raises:
        BodyError: no choices, no message, or malformed tool calls (not retryable).
    """
    choices = completion.get("choices") if isinstance(completion, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        found = f"keys {sorted(completion)}" if isinstance(completion, dict) else "no object"
        raise BodyError(
            f"expected a chat completion with a non-empty 'choices' list, found {found}",
            retryable=False,
        )
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise BodyError("expected choices[0].message to be an object", retryable=False)
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    return ChatReply(
        content=_text(message.get("content")),
        tool_calls=tuple(_tool_calls(message)),
        finish_reason=_FINISH.get(str(choice.get("finish_reason")), "unknown"),
        usage=usage_of(completion.get("usage")),
        reasoning=reasoning if isinstance(reasoning, str) else None,
    )


def _tool_calls(message: dict[str, Any]) -> list[Any]:
    calls = message.get("tool_calls")
    if not calls:
        legacy = message.get("function_call")  # the pre-tools API: one call, no id
        calls = [legacy] if isinstance(legacy, dict) else None
    if not calls:
        return []
    try:
        return extract_tool_calls(calls)
    except ToolCallError as exc:
        raise BodyError(
            f"malformed tool calls in choices[0].message: {exc}", retryable=False
        ) from exc


def _text(content: Any) -> str | None:
    """Message content: a string, or the text of a list of content parts."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [part.get("text", "") for part in content if isinstance(part, dict)]
        return "".join(part for part in parts if isinstance(part, str))
    return json.dumps(content, ensure_ascii=False)


def _append_system(messages: list[dict[str, Any]], text: str) -> None:
    """Append ``text`` to the first system message, adding one at the start if needed."""
    if messages and messages[0].get("role") == "system":
        first = messages[0]
        first["content"] = f"{first.get('content') or ''}\n\n{text}".lstrip()
    else:
        messages.insert(0, {"role": "system", "content": text})


def _completions_url(base: httpx.URL) -> httpx.URL:
    path = base.path.rstrip("/")
    if path.endswith("/chat/completions"):
        return base.copy_with(path=path)
    if not path:
        return join_path(base, "v1", "chat/completions")
    return join_path(base, "chat/completions")
