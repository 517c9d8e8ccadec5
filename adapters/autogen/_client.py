"""An AutoGen ``ChatCompletionClient`` over any retort :class:`~retort.core.ports.Transport`.

```python
from autogen_agentchat.agents import AssistantAgent
from retort.adapters.autogen._client import TransportChatCompletionClient
from retort.adapters.proxy import ProxyTransport

client = TransportChatCompletionClient(ProxyTransport(model="zai-org/GLM-4.6-FP8"))
agent = AssistantAgent("coder", model_client=client, tools=[get_file_content])
result = await agent.run(task="Fix the bug in a.py")
await client.close()                     # closes the transport too
```

Every AutoGen feature an ``AssistantAgent`` uses goes through the transport: text
replies, tool rounds (with or without ``reflect_on_tool_use``), ``run_stream`` with
``Console``, structured output, cancellation. The transport keeps what it already does:
retries, timeouts, hooks and typed errors (a :class:`~retort.core.errors.TransportError`
propagates out of ``create`` and out of the agent's ``run``).

Policies (the message conversions are listed in ``_convert``'s docstring):

- ``model_info`` defaults are safe for any text model: no vision, function calling and
  JSON mode on (the proxy and OpenAI transports carry tools and response formats),
  family ``unknown``, no structured output, multiple system messages allowed. A given
  ``model_info`` is checked with AutoGen's ``validate_model_info``; ``vision=True`` is
  refused, since transports carry text only (images become ``<image>``).
- ``tool_choice="none"`` sends no tools and never returns calls: calls the model makes
  anyway are dropped, and when the reply has no text they become its text as JSON
  (``[{"name", "arguments"}]``), so nothing the model said is lost. A ``Tool`` choice
  sends only that tool; ``"required"`` sends all (a transport cannot force a call).
- Tool calls always carry an id (the transport's, or retort's stable id when missing or
  repeated) and JSON text arguments; the text a model writes beside its calls goes into
  ``thought``, after the reply's reasoning.
- ``json_output=True`` sends ``{"type": "json_object"}``; a pydantic model class sends a
  ``json_schema`` format (built once per class), whatever ``structured_output`` says: the
  transport passes it on or renders it as an instruction.
- ``extra_create_args`` may set ``model``, ``temperature`` and ``response_format`` for
  one call; other keys are refused, because a transport request has nowhere to put them.
- Usage is what the transport reports (zero when the endpoint reports none);
  ``count_tokens`` and ``remaining_tokens`` estimate offline with
  :func:`~retort.core.context.approx_tokens` and never load a tokenizer.
- ``create_stream`` yields the reply text as one chunk (when there is text) and ends with
  the ``CreateResult``: transports answer whole replies.
- ``close()`` closes the transport unless ``close_transport=False``; it is idempotent,
  and a closed client refuses further calls. ``dump_component`` is not supported: a
  transport is a live object, not configuration.
"""

from __future__ import annotations

import asyncio
import json
import math
import warnings
from collections.abc import AsyncGenerator, Mapping, Sequence
from types import MappingProxyType, TracebackType
from typing import Any, Self

from autogen_core import CancellationToken
from autogen_core.models import (
    ChatCompletionClient,
    CreateResult,
    LLMMessage,
    ModelCapabilities,  # deprecated in AutoGen, but the property is still abstract
    ModelFamily,
    ModelInfo,
    RequestUsage,
    validate_model_info,
)
from autogen_core.tools import Tool, ToolSchema
from pydantic import BaseModel

from retort.adapters.autogen._convert import (
    ToolChoice,
    finish_reason,
    reply_parts,
    response_format,
    select_tools,
    to_messages,
    tool_definition,
)
from retort.core.context import approx_tokens
from retort.core.errors import ConfigurationError
from retort.core.messages import ChatReply, ChatRequest
from retort.core.ports import Transport

__all__ = ["DEFAULT_CONTEXT_WINDOW", "TransportChatCompletionClient", "default_model_info"]

DEFAULT_CONTEXT_WINDOW = 128_000
"""Tokens ``remaining_tokens`` counts from when no ``context_window`` is given."""

_EXTRA_ARGS = ("model", "temperature", "response_format")
_NO_EXTRA_ARGS: Mapping[str, Any] = MappingProxyType({})


def default_model_info() -> ModelInfo:
    """The ``ModelInfo`` a client gets when none is given (a fresh dict each call)."""
    return ModelInfo(
        vision=False,
        function_calling=True,
        json_output=True,
        family=ModelFamily.UNKNOWN,
        structured_output=False,
        multiple_system_messages=True,
    )


class TransportChatCompletionClient(ChatCompletionClient):
    """An AutoGen model client that sends every request through a retort transport.

    Args:
        transport: where requests go (``ProxyTransport``, ``OpenAITransport``, a replay
            transport, ``ScriptedTransport``...).
        model_info: what the model supports; defaults to :func:`default_model_info`.
            Checked with AutoGen's ``validate_model_info``.
        model: the model name put in each request; ``None`` lets the transport choose.
        temperature: the temperature of each request; ``None`` lets the transport choose.
        context_window: the model's context size in tokens, for ``remaining_tokens``.
        include_name: send a user message's ``source`` as its ``name``, as AutoGen's
            OpenAI client does.
        close_transport: whether :meth:`close` closes the transport too.

    Raises:
        TypeError: ``transport`` is not a :class:`~retort.core.ports.Transport`.
        ConfigurationError: ``model_info`` is incomplete or asks for vision, or
            ``context_window`` is not positive.
    """

    component_type = "model"

    def __init__(
        self,
        transport: Transport,
        model_info: ModelInfo | Mapping[str, Any] | None = None,
        *,
        model: str | None = None,
        temperature: float | None = None,
        context_window: int = DEFAULT_CONTEXT_WINDOW,
        include_name: bool = True,
        close_transport: bool = True,
    ) -> None:
        if not isinstance(transport, Transport):
            raise TypeError(
                "TransportChatCompletionClient needs a retort Transport (e.g. ProxyTransport, "
                f"OpenAITransport), got {type(transport).__name__}"
            )
        if isinstance(context_window, bool) or context_window < 1:
            raise ConfigurationError(
                f"context_window must be a positive number of tokens, got {context_window!r}"
            )
        self._transport = transport
        self._model_info = _checked_model_info(model_info)
        self._model = model
        self._temperature = temperature
        self._context_window = context_window
        self._include_name = include_name
        # AutoGen's OpenAI client reads a missing key as "one system message only".
        self._merge_system = not self._model_info.get("multiple_system_messages", False)
        self._close_transport = close_transport
        self._closed = False
        self._last = RequestUsage(prompt_tokens=0, completion_tokens=0)
        self._total = RequestUsage(prompt_tokens=0, completion_tokens=0)

    @property
    def transport(self) -> Transport:
        """The transport requests go through."""
        return self._transport

    @property
    def model(self) -> str | None:
        """The model name put in each request (``None``: the transport's)."""
        return self._model

    @property
    def model_info(self) -> ModelInfo:
        """What the model supports (AutoGen reads ``vision`` and ``function_calling``)."""
        return self._model_info

    @property
    def capabilities(self) -> ModelCapabilities:
        """Deprecated in AutoGen (use :attr:`model_info`); kept because it is abstract."""
        warnings.warn(
            "capabilities is deprecated, use model_info instead", DeprecationWarning, stacklevel=2
        )
        info = self._model_info
        return ModelCapabilities(
            vision=info["vision"],
            function_calling=info["function_calling"],
            json_output=info["json_output"],
        )

    # ------------------------------------------------------------ requests

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: ToolChoice = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = _NO_EXTRA_ARGS,
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        """Send ``messages`` through the transport and return the model's result.

        Args:
            messages: the conversation, in AutoGen's message types.
            tools: tools the model may call (``Tool`` objects or ``ToolSchema`` dicts).
            tool_choice: ``"auto"``, ``"required"``, ``"none"`` or one of ``tools``.
            json_output: ``True`` for JSON mode, a pydantic model class for structured
                output, ``None``/``False`` for text.
            extra_create_args: per-call ``model``, ``temperature`` or ``response_format``.
            cancellation_token: cancelling it cancels the request in flight.

        Returns:
            A ``CreateResult`` with text, or a list of ``FunctionCall`` with ids and JSON
            arguments; ``finish_reason`` is one of AutoGen's; ``cached`` is ``False``.

        Raises:
            TransportError: the transport failed after its own retries.
            ConfigurationError: the call asks for something ``model_info`` rules out, or
                ``extra_create_args`` holds a key a transport request cannot carry.
            asyncio.CancelledError: the token was cancelled.
            RuntimeError: the client was closed.
        """
        request = self._request(messages, tools, tool_choice, json_output, extra_create_args)
        reply = await self._send(request, cancellation_token)
        allow_calls = not (isinstance(tool_choice, str) and tool_choice == "none")
        return self._result(reply, allow_calls=allow_calls)

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: ToolChoice = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = _NO_EXTRA_ARGS,
        cancellation_token: CancellationToken | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        """Like :meth:`create`, as a stream: the text (one chunk), then the ``CreateResult``.

        A result that is a list of tool calls yields no text chunk, only the result.
        """
        result = await self.create(
            messages,
            tools=tools,
            tool_choice=tool_choice,
            json_output=json_output,
            extra_create_args=extra_create_args,
            cancellation_token=cancellation_token,
        )
        if isinstance(result.content, str) and result.content:
            yield result.content
        yield result

    def _request(
        self,
        messages: Sequence[LLMMessage],
        tools: Sequence[Tool | ToolSchema],
        tool_choice: ToolChoice,
        json_output: bool | type[BaseModel] | None,
        extra: Mapping[str, Any],
    ) -> ChatRequest:
        if self._closed:
            raise RuntimeError("TransportChatCompletionClient: create() after close()")
        unknown = sorted(set(extra) - set(_EXTRA_ARGS))
        if unknown:
            raise ConfigurationError(
                f"extra_create_args may set {', '.join(_EXTRA_ARGS)}; got {', '.join(unknown)}, "
                "which a transport request cannot carry: configure them on the transport"
            )
        definitions = select_tools(tools, tool_choice)
        if definitions and not self._model_info["function_calling"]:
            raise ConfigurationError(
                f"{len(definitions)} tool(s) passed, but model_info['function_calling'] is "
                "False; set it to True or pass no tools"
            )
        if json_output is True and not self._model_info["json_output"]:
            raise ConfigurationError(
                "json_output=True, but model_info['json_output'] is False; set it to True "
                "or ask for JSON in the prompt"
            )
        fmt = response_format(json_output)
        return ChatRequest(
            messages=to_messages(
                messages, include_name=self._include_name, merge_system=self._merge_system
            ),
            model=extra.get("model", self._model),
            tools=definitions,
            response_format=fmt if fmt is not None else extra.get("response_format"),
            temperature=extra.get("temperature", self._temperature),
        )

    async def _send(self, request: ChatRequest, token: CancellationToken | None) -> ChatReply:
        if token is None:
            return await self._transport.send(request)
        # A task the token can cancel; cancelling the caller cancels it too (await).
        task = asyncio.ensure_future(self._transport.send(request))
        token.link_future(task)
        return await task

    def _result(self, reply: ChatReply, *, allow_calls: bool) -> CreateResult:
        content, thought = reply_parts(reply, allow_calls=allow_calls)
        if isinstance(content, list):
            reason = "function_calls"
        else:
            reason = finish_reason(reply.finish_reason)
            # Calls dropped under tool_choice="none": the text is the whole answer.
            if reason == "function_calls":
                reason = "stop"
        usage = RequestUsage(
            prompt_tokens=reply.usage.prompt_tokens,
            completion_tokens=reply.usage.completion_tokens,
        )
        self._last = usage
        self._total = RequestUsage(
            prompt_tokens=self._total.prompt_tokens + usage.prompt_tokens,
            completion_tokens=self._total.completion_tokens + usage.completion_tokens,
        )
        return CreateResult(
            finish_reason=reason, content=content, usage=usage, cached=False, thought=thought
        )

    # ------------------------------------------------------------ usage and tokens

    def actual_usage(self) -> RequestUsage:
        """Tokens of the last call (zeros before the first)."""
        return RequestUsage(self._last.prompt_tokens, self._last.completion_tokens)

    def total_usage(self) -> RequestUsage:
        """Tokens of every call so far, summed."""
        return RequestUsage(self._total.prompt_tokens, self._total.completion_tokens)

    def count_tokens(
        self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = ()
    ) -> int:
        """An offline estimate of the tokens ``messages`` and ``tools`` take.

        Uses :func:`~retort.core.context.approx_tokens` on the converted messages and
        characters / 4 on each tool definition: no tokenizer, no download.
        """
        converted = to_messages(
            messages, include_name=self._include_name, merge_system=self._merge_system
        )
        total = sum(map(approx_tokens, converted))
        for tool in tools:
            total += math.ceil(len(json.dumps(tool_definition(tool))) / 4)
        return total

    def remaining_tokens(
        self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = ()
    ) -> int:
        """``context_window`` minus :meth:`count_tokens`, never below zero."""
        return max(0, self._context_window - self.count_tokens(messages, tools=tools))

    # ------------------------------------------------------------ lifecycle

    async def close(self) -> None:
        """Close the client, and the transport when it owns it. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._close_transport:
            await self._transport.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({type(self._transport).__name__}, model={self._model!r}, "
            f"family={self._model_info['family']!r})"
        )


def _checked_model_info(info: ModelInfo | Mapping[str, Any] | None) -> ModelInfo:
    if info is None:
        return default_model_info()
    # A copy: the caller may go on changing theirs.
    checked: ModelInfo = ModelInfo(**info)  # type: ignore[typeddict-item]
    try:
        validate_model_info(checked)
    except ValueError as exc:
        raise ConfigurationError(
            f"model_info is incomplete: {exc} Give vision, function_calling, json_output, "
            "family and structured_output (see autogen_core.models.ModelInfo), or pass "
            "model_info=None for safe defaults"
        ) from exc
    if checked["vision"]:
        raise ConfigurationError(
            "model_info['vision'] is True, but retort transports carry text only (images "
            "become '<image>'); set vision=False"
        )
    return checked
