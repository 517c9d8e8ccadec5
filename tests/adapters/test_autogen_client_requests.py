"""TransportChatCompletionClient requests and results: conversions, tools, JSON, config.

What the transport receives for each AutoGen input, and what ``create`` returns for each
reply. The agent-level tests (real ``AssistantAgent`` runs, streaming, cancellation) are
in ``test_autogen_client.py``. Every call is bounded by ``asyncio.wait_for`` (``_run``),
so a hang fails the test instead of blocking CI.
"""

from __future__ import annotations

import json
import warnings
from functools import partial
from typing import Any

import pytest
from _autogen_support import ADD, add
from _autogen_support import calls_reply as _calls_reply
from _autogen_support import scripted_client as _client
from _autogen_support import tool_call as _call
from _support import bounded_run
from autogen_agentchat.messages import TextMessage
from autogen_core import FunctionCall, Image
from autogen_core.models import (
    AssistantMessage,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    LLMMessage,
    ModelFamily,
    RequestUsage,
    SystemMessage,
    UserMessage,
)
from autogen_core.tools import FunctionTool
from PIL import Image as PILImage
from pydantic import BaseModel

from retort.adapters.autogen import TransportChatCompletionClient
from retort.adapters.autogen._client import default_model_info
from retort.core import (
    ChatReply,
    ChatRequest,
    ConfigurationError,
    Message,
    ToolCall,
    stable_tool_call_id,
)
from retort.core.messages import Usage
from retort.plugins.testing import ScriptedTransport

_run = partial(bounded_run, timeout=10)


# ---------------------------------------------------------------- messages


def test_every_message_type_is_converted() -> None:
    image = Image.from_pil(PILImage.new("RGB", (1, 1)))
    call = FunctionCall(id="call-1", name="add", arguments='{"a": 1, "b": 2}')
    messages: list[LLMMessage] = [
        SystemMessage(content="sys"),
        UserMessage(content=["look", image, "here"], source="alice"),
        AssistantMessage(content="plain text", thought="hidden reasoning", source="bot"),
        AssistantMessage(content=[call], thought="I will add.", source="bot"),
        FunctionExecutionResultMessage(
            content=[FunctionExecutionResult(content="3", name="add", call_id="call-1")]
        ),
        AssistantMessage(content=[FunctionCall(id="c2", name="add", arguments="")], source="b"),
    ]
    client, transport = _client(["ok"])
    _run(lambda: client.create(messages))

    assert transport.history[0].messages == [
        Message(role="system", content="sys"),
        Message(role="user", content="look\n<image>\nhere", name="alice"),
        Message(role="assistant", content="plain text"),  # reasoning is not sent back
        Message(
            role="assistant",
            content="I will add.",
            tool_calls=(ToolCall(id="call-1", name="add", arguments='{"a": 1, "b": 2}'),),
        ),
        Message(role="tool", content="3", tool_call_id="call-1"),
        Message(
            role="assistant", content=None, tool_calls=(ToolCall(id="c2", name="add"),)
        ),  # empty arguments become "{}"
    ]


def test_odd_inputs_are_converted_or_refused_clearly() -> None:
    dict_arguments = FunctionCall(id="c", name="add", arguments={"a": 1})  # type: ignore[arg-type]
    client, transport = _client(["ok"])
    messages: list[LLMMessage] = [
        UserMessage(content="no name", source=""),
        AssistantMessage(content=[dict_arguments], source="b"),
    ]
    _run(lambda: client.create(messages))
    assert transport.history[0].messages == [
        Message(role="user", content="no name"),
        Message(role="assistant", tool_calls=(ToolCall(id="c", name="add", arguments='{"a": 1}'),)),
    ]
    with pytest.raises(TypeError, match=r"expected an AutoGen LLMMessage.*got TextMessage"):
        client.count_tokens([TextMessage(content="x", source="u")])  # type: ignore[list-item]


def test_calls_with_unparsable_arguments_still_get_stable_ids() -> None:
    broken = ToolCall(id="", name="add", arguments="a=1")
    client, _ = _client([_calls_reply(broken), _calls_reply(broken)])
    messages = [UserMessage(content="x", source="u")]
    calls = _run(lambda: client.create(messages, tools=[ADD])).content
    expected_id = stable_tool_call_id("add", "a=1")
    assert calls == [FunctionCall(id=expected_id, name="add", arguments="a=1")]
    text = _run(lambda: client.create(messages, tools=[ADD], tool_choice="none")).content
    assert json.loads(text) == [{"name": "add", "arguments": "a=1"}]  # type: ignore[arg-type]


def test_names_can_be_left_out_and_system_messages_merged() -> None:
    info = default_model_info()
    info["multiple_system_messages"] = False
    client, transport = _client(["ok"], model_info=info, include_name=False)
    messages: list[LLMMessage] = [
        SystemMessage(content="one"),
        SystemMessage(content="two"),
        UserMessage(content="hi", source="user"),
    ]
    _run(lambda: client.create(messages))
    assert transport.history[0].messages == [
        Message(role="system", content="one\ntwo"),
        Message(role="user", content="hi"),
    ]


def test_model_temperature_and_extra_create_args_reach_the_request() -> None:
    client, transport = _client(["a", "b"], model="m-1", temperature=0.3)
    messages = [UserMessage(content="hi", source="user")]
    _run(lambda: client.create(messages))
    extra = {"model": "m-2", "temperature": 0.9, "response_format": "Answer in YAML."}
    _run(lambda: client.create(messages, extra_create_args=extra))

    first, second = transport.history
    assert (first.model, first.temperature, first.response_format) == ("m-1", 0.3, None)
    assert (second.model, second.temperature, second.response_format) == (
        "m-2",
        0.9,
        "Answer in YAML.",
    )


def test_unknown_extra_create_args_are_refused() -> None:
    client, transport = _client(["never"])
    messages = [UserMessage(content="hi", source="user")]
    with pytest.raises(ConfigurationError, match="max_tokens"):
        _run(lambda: client.create(messages, extra_create_args={"max_tokens": 5}))
    assert transport.history == []


# ---------------------------------------------------------------- tools


def test_tools_become_openai_definitions() -> None:
    schema = {
        "name": "lookup",
        "description": "Find.",
        "parameters": {
            "type": "object",
            "properties": {"q": {"type": "string"}},
            "required": ["q"],
        },
    }
    bare = {"name": "ping"}
    client, transport = _client(["ok", "ok"])
    messages = [UserMessage(content="hi", source="user")]
    _run(lambda: client.create(messages, tools=[ADD, schema, bare]))  # type: ignore[list-item]
    _run(lambda: client.create(messages, tools=[ADD, schema], tool_choice=ADD))  # type: ignore[list-item]

    tools = transport.history[0].tools
    assert tools is not None
    assert tools[0]["type"] == "function"
    assert tools[0]["function"]["name"] == "add"
    assert tools[0]["function"]["description"] == "Add two integers."
    assert set(tools[0]["function"]["parameters"]["properties"]) == {"a", "b"}
    assert tools[1] == {"type": "function", "function": {**schema}}
    assert tools[2] == {
        "type": "function",
        "function": {
            "name": "ping",
            "description": "",
            "parameters": {"type": "object", "properties": {}},
        },
    }
    # A Tool as tool_choice leaves only that tool to call.
    assert [t["function"]["name"] for t in transport.history[1].tools or []] == ["add"]


def test_tool_choice_must_be_among_the_tools() -> None:
    client, _ = _client([])
    messages = [UserMessage(content="hi", source="user")]
    with pytest.raises(ConfigurationError, match=r"'add'.*not among"):
        _run(lambda: client.create(messages, tools=[{"name": "ping"}], tool_choice=ADD))
    with pytest.raises(ConfigurationError, match="no tools were passed"):
        _run(lambda: client.create(messages, tool_choice=ADD))


def test_tools_without_function_calling_are_refused() -> None:
    info = default_model_info()
    info["function_calling"] = False
    client, _ = _client([], model_info=info)
    with pytest.raises(ConfigurationError, match="function_calling"):
        _run(lambda: client.create([UserMessage(content="hi", source="u")], tools=[ADD]))


class CountingTool(FunctionTool):
    """A FunctionTool that counts how often its schema is built."""

    builds = 0

    @property
    def schema(self) -> Any:
        CountingTool.builds += 1
        return super().schema


def test_a_tool_schema_is_converted_once_per_tool() -> None:
    tool = CountingTool(add, description="Add two integers.")
    client, transport = _client(["a", "b", "c"])
    messages = [UserMessage(content="x", source="u")]
    for _ in range(3):
        _run(lambda: client.create(messages, tools=[tool]))
    assert CountingTool.builds == 1
    assert transport.history[0].tools == transport.history[2].tools


class UnhashableTool(FunctionTool):
    """A tool with value equality (so no hash): it cannot be cached, only converted."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UnhashableTool) and other.name == self.name

    __hash__ = None  # type: ignore[assignment]


def test_an_unhashable_tool_is_converted_every_time() -> None:
    tool = UnhashableTool(add, description="Add two integers.")
    client, transport = _client(["a", "b"])
    messages = [UserMessage(content="x", source="u")]
    for _ in range(2):
        _run(lambda: client.create(messages, tools=[tool]))
    assert transport.history[0].tools == transport.history[1].tools
    assert transport.history[0].tools[0]["function"]["name"] == "add"  # type: ignore[index]


def test_provider_ids_are_kept_and_arguments_stay_json_text() -> None:
    calls = (
        ToolCall(id="p-1", name="add", arguments='{"a": 5, "b": 6}'),
        ToolCall(id="p-2", name="add", arguments=""),
    )
    client, _ = _client([_calls_reply(*calls)])
    result = _run(lambda: client.create([UserMessage(content="x", source="u")], tools=[ADD]))
    assert result.content == [
        FunctionCall(id="p-1", name="add", arguments='{"a": 5, "b": 6}'),
        FunctionCall(id="p-2", name="add", arguments="{}"),
    ]
    assert result.finish_reason == "function_calls"


def test_tool_choice_none_never_returns_calls() -> None:
    client, transport = _client(
        [_calls_reply(_call(), content="Just text."), _calls_reply(_call())]
    )
    messages = [UserMessage(content="x", source="u")]
    with_text = _run(lambda: client.create(messages, tools=[ADD], tool_choice="none"))
    without_text = _run(lambda: client.create(messages, tools=[ADD], tool_choice="none"))

    assert all(request.tools is None for request in transport.history)
    assert (with_text.content, with_text.finish_reason) == ("Just text.", "stop")
    # No text: the dropped calls become the text, so nothing the model said is lost.
    assert isinstance(without_text.content, str)
    assert json.loads(without_text.content) == [{"name": "add", "arguments": {"a": 1, "b": 2}}]
    assert without_text.finish_reason == "stop"


# ---------------------------------------------------------------- json output


class Answer(BaseModel):
    value: int


def test_json_output_becomes_a_response_format() -> None:
    client, transport = _client(["{}", '{"value": 1}'])
    messages = [UserMessage(content="x", source="u")]
    _run(lambda: client.create(messages, json_output=True))
    _run(lambda: client.create(messages, json_output=Answer))

    assert transport.history[0].response_format == {"type": "json_object"}
    assert transport.history[1].response_format == {
        "type": "json_schema",
        "json_schema": {"name": "Answer", "schema": Answer.model_json_schema()},
    }


def test_json_output_is_refused_when_the_model_has_no_json_mode() -> None:
    info = default_model_info()
    info["json_output"] = False
    client, _ = _client([], model_info=info)
    with pytest.raises(ConfigurationError, match="json_output"):
        _run(lambda: client.create([UserMessage(content="x", source="u")], json_output=True))
    with pytest.raises(TypeError, match="json_output must be"):
        _run(lambda: client.create([UserMessage(content="x", source="u")], json_output=3))  # type: ignore[arg-type]


# ---------------------------------------------------------------- thought, finish reasons, usage


def test_text_beside_calls_goes_into_thought_after_the_reasoning() -> None:
    reply = ChatReply(
        content="Let me add.", reasoning="r", tool_calls=(_call(),), finish_reason="tool_calls"
    )
    client, _ = _client([reply, _calls_reply(_call(), content="only text")])
    messages = [UserMessage(content="x", source="u")]
    assert _run(lambda: client.create(messages, tools=[ADD])).thought == "r\nLet me add."
    assert _run(lambda: client.create(messages, tools=[ADD])).thought == "only text"


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("content_filter", "content_filter"),
        ("unknown", "unknown"),
        ("tool_calls", "stop"),  # a tool_calls reason without calls: the text is the answer
    ],
)
def test_finish_reasons_are_mapped(reason: str, expected: str) -> None:
    client, _ = _client([ChatReply(content="text", finish_reason=reason)])
    result = _run(lambda: client.create([UserMessage(content="x", source="u")]))
    assert result.finish_reason == expected
    assert result.cached is False


def test_usage_last_and_total() -> None:
    replies = [
        ChatReply(content="a", usage=Usage(prompt_tokens=10, completion_tokens=2)),
        ChatReply(content="b", usage=Usage(prompt_tokens=20, completion_tokens=5)),
    ]
    client, _ = _client(replies)
    assert client.actual_usage() == RequestUsage(0, 0)
    messages = [UserMessage(content="x", source="u")]
    first = _run(lambda: client.create(messages))
    assert first.usage == RequestUsage(10, 2)
    _run(lambda: client.create(messages))
    assert client.actual_usage() == RequestUsage(20, 5)
    assert client.total_usage() == RequestUsage(30, 7)
    client.total_usage().prompt_tokens = 0  # a copy: the client's count is not changed
    assert client.total_usage() == RequestUsage(30, 7)


# ---------------------------------------------------------------- configuration


def test_default_model_info_is_safe_and_capabilities_derive_from_it() -> None:
    client, _ = _client([])
    assert client.model_info == {
        "vision": False,
        "function_calling": True,
        "json_output": True,
        "family": ModelFamily.UNKNOWN,
        "structured_output": False,
        "multiple_system_messages": True,
    }
    with pytest.warns(DeprecationWarning, match="model_info"):
        capabilities = client.capabilities
    assert capabilities == {"vision": False, "function_calling": True, "json_output": True}


def test_model_info_is_validated() -> None:
    transport = ScriptedTransport([])
    with pytest.raises(ConfigurationError, match="json_output"):
        TransportChatCompletionClient(transport, {"vision": False, "function_calling": True})
    vision = {**default_model_info(), "vision": True}
    with pytest.raises(ConfigurationError, match="text only"):
        TransportChatCompletionClient(transport, vision)
    with pytest.raises(ConfigurationError, match="context_window"):
        TransportChatCompletionClient(transport, context_window=0)
    with pytest.raises(TypeError, match="retort Transport"):
        TransportChatCompletionClient("http://127.0.0.1:1")  # type: ignore[arg-type]


def test_a_given_model_info_is_copied_and_used() -> None:
    info = {**default_model_info(), "family": "glm-4"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a complete ModelInfo raises no warning
        client = TransportChatCompletionClient(ScriptedTransport([]), info)
    info["family"] = "changed"
    assert client.model_info["family"] == "glm-4"
    assert "ScriptedTransport" in repr(client)
    assert "glm-4" in repr(client)


def test_request_is_a_plain_chat_request() -> None:
    # The client hands the transport retort's own request type, nothing AutoGen-specific.
    client, transport = _client(["x"])
    _run(lambda: client.create([UserMessage(content="x", source="u")]))
    assert type(transport.history[0]) is ChatRequest
