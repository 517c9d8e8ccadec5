"""extract_tool_calls: every source shape, the id rules, the python-call form, and errors."""

from __future__ import annotations

import json
import uuid
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retort.core import ToolCall, stable_tool_call_ids
from retort.parsers import (
    JSONParseError,
    ParseError,
    ToolCallError,
    extract_tool_calls,
    stable_tool_call_id,
)

READ_A = {"name": "get_file_content", "arguments": {"file_path": "a.py"}}
# uuid5(NAMESPACE_URL, 'get_file_content:{"file_path": "a.py"}'), the original's id.
READ_A_ID = "b3fd0340-6123-5e85-bbbe-5db811426cf8"


def _original_id(name: str, arguments: Any, suffix: str = "") -> str:
    """The formula of proxy-protocol.md, written out independently of retort."""
    key = f"{name}:{json.dumps(arguments, sort_keys=True)}{suffix}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, key))


def _only(source: Any) -> ToolCall:
    calls = extract_tool_calls(source)
    assert len(calls) == 1
    return calls[0]


# ------------------------------------------------------------------ ids


def test_stable_id_is_the_original_programs_formula() -> None:
    assert stable_tool_call_id("get_file_content", {"file_path": "a.py"}) == READ_A_ID
    assert _original_id("get_file_content", {"file_path": "a.py"}) == READ_A_ID
    assert _only(READ_A).id == READ_A_ID


def test_id_ignores_key_order_of_the_arguments() -> None:
    one = _only({"name": "f", "arguments": {"a": 1, "b": 2}})
    two = _only({"name": "f", "arguments": {"b": 2, "a": 1}})
    assert one.id == two.id == _original_id("f", {"a": 1, "b": 2})


def test_duplicate_calls_in_one_reply_get_unique_ordinal_ids() -> None:
    calls = extract_tool_calls([READ_A, READ_A, READ_A])
    assert [call.id for call in calls] == [
        READ_A_ID,
        _original_id("get_file_content", {"file_path": "a.py"}, "#2"),
        _original_id("get_file_content", {"file_path": "a.py"}, "#3"),
    ]
    assert [call.id for call in calls] == [
        stable_tool_call_id("get_file_content", {"file_path": "a.py"}, n) for n in (1, 2, 3)
    ]


def test_ordinals_count_each_pair_separately() -> None:
    other = {"name": "get_file_content", "arguments": {"file_path": "b.py"}}
    calls = extract_tool_calls([READ_A, other, READ_A, other])
    ids = [call.id for call in calls]
    assert ids[0] == READ_A_ID
    assert ids[1] == _original_id("get_file_content", {"file_path": "b.py"})
    assert ids[2] == _original_id("get_file_content", {"file_path": "a.py"}, "#2")
    assert ids[3] == _original_id("get_file_content", {"file_path": "b.py"}, "#2")


def test_ids_are_equal_across_replies() -> None:
    first = extract_tool_calls([READ_A, {"name": "ls", "arguments": {}}])
    second = extract_tool_calls(json.dumps([READ_A, {"name": "ls"}]))
    assert [call.id for call in first] == [call.id for call in second]


def test_same_arguments_under_another_name_get_another_id() -> None:
    one = _only({"name": "read", "arguments": {"p": 1}})
    two = _only({"name": "write", "arguments": {"p": 1}})
    assert one.id != two.id


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["read", "write", "ls"]),
            st.dictionaries(st.sampled_from("abc"), st.integers(0, 2), max_size=2),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_ids_match_core_and_are_unique_within_a_reply(
    pairs: list[tuple[str, dict[str, int]]],
) -> None:
    calls = extract_tool_calls([{"name": name, "arguments": args} for name, args in pairs])
    ids = [call.id for call in calls]
    assert ids == stable_tool_call_ids(pairs)
    assert len(set(ids)) == len(ids)
    assert [call.parsed_arguments() for call in calls] == [args for _, args in pairs]


# ------------------------------------------------------------------ proxy replies


def test_proxy_example_reply_object() -> None:
    reply = {
        "response_type": "tool",
        "tool_calls": [{"name": "get_file_content", "arguments": {"file_path": "a.py"}}],
    }
    assert extract_tool_calls(reply) == [
        ToolCall(id=READ_A_ID, name="get_file_content", arguments='{"file_path": "a.py"}')
    ]


def test_proxy_example_tool_call_section_text_gives_the_same_call() -> None:
    section = '{"name": "get_file_content", "arguments": {"file_path": "a.py"}}'
    assert extract_tool_calls(section) == extract_tool_calls(
        {"response_type": "tool", "tool_calls": [READ_A]}
    )


def test_proxy_reply_extra_keys_are_ignored() -> None:
    reply = {
        "response_type": "tool",
        "content": "reading",
        "thought": "I need a.py",
        "tool_calls": [READ_A],
    }
    assert _only(reply).id == READ_A_ID


def test_proxy_reply_as_json_text() -> None:
    text = json.dumps({"response_type": "tool", "tool_calls": [READ_A, READ_A]})
    assert [call.name for call in extract_tool_calls(text)] == ["get_file_content"] * 2


def test_dict_and_list_arguments_are_serialised_with_default_separators() -> None:
    call = _only({"name": "f", "arguments": {"a": [1, 2], "b": {"c": None}}})
    assert call.arguments == '{"a": [1, 2], "b": {"c": null}}'
    listed = _only({"name": "f", "arguments": [1, "x"]})
    assert listed.arguments == '[1, "x"]'
    assert listed.id == _original_id("f", [1, "x"])


def test_arguments_keep_non_ascii_text() -> None:
    call = _only({"name": "write", "arguments": {"text": "héllo ✓"}})
    assert call.arguments == '{"text": "héllo ✓"}'
    assert call.id == _original_id("write", {"text": "héllo ✓"})


def test_lone_surrogates_stay_escaped_in_the_arguments_text() -> None:
    call = _only('{"name": "f", "arguments": {"s": "\\ud800", "t": "é"}}')
    assert call.arguments == '{"s": "\\ud800", "t": "\\u00e9"}'
    assert call.arguments.encode("utf-8")
    assert call.parsed_arguments() == {"s": "\ud800", "t": "é"}


def test_mapping_and_tuple_arguments() -> None:
    assert _only({"name": "f", "arguments": MappingProxyType({"a": 1})}).arguments == '{"a": 1}'
    assert _only({"name": "f", "arguments": (1, 2)}).arguments == "[1, 2]"


@pytest.mark.parametrize(
    ("arguments", "decoded"),
    [
        ('{"file_path": "a.py"}', {"file_path": "a.py"}),
        ("[1, 2]", [1, 2]),
        ("42", {"input": 42}),
        ('"quoted"', {"input": "quoted"}),
        ("read the file", {"input": "read the file"}),
        (42, {"input": 42}),
        (2.5, {"input": 2.5}),
        (True, {"input": True}),
        ("", {}),
        ("   ", {}),
        (None, {}),
    ],
)
def test_argument_values_follow_the_protocol_rule(arguments: Any, decoded: Any) -> None:
    call = _only({"name": "f", "arguments": arguments})
    assert call.parsed_arguments() == decoded
    assert call.id == _original_id("f", decoded)


def test_missing_arguments_mean_no_arguments() -> None:
    call = _only({"name": "list_files"})
    assert call.arguments == "{}"
    assert call.id == _original_id("list_files", {})


# ------------------------------------------------------------------ OpenAI shapes


def _openai(name: str, arguments: str, call_id: str | None = "call_1") -> dict[str, Any]:
    call: dict[str, Any] = {
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }
    if call_id is not None:
        call["id"] = call_id
    return call


def test_openai_message_keeps_provider_ids() -> None:
    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [_openai("read", '{"p": "a"}', "call_1"), _openai("ls", "{}", "call_2")],
    }
    calls = extract_tool_calls(message)
    assert [(c.id, c.name, c.parsed_arguments()) for c in calls] == [
        ("call_1", "read", {"p": "a"}),
        ("call_2", "ls", {}),
    ]


def test_openai_list_itself() -> None:
    calls = extract_tool_calls([_openai("read", '{"p": "a"}', "call_9")])
    assert calls == [ToolCall(id="call_9", name="read", arguments='{"p": "a"}')]


@pytest.mark.parametrize("call_id", [None, "", "  ", 7])
def test_openai_missing_or_empty_id_gets_the_stable_id(call_id: Any) -> None:
    raw = _openai("read", '{"p": "a"}', None)
    if call_id is not None:
        raw["id"] = call_id
    assert _only(raw).id == _original_id("read", {"p": "a"})


def test_openai_empty_arguments_text_means_no_arguments() -> None:
    assert _only(_openai("ls", "")).arguments == "{}"


def test_duplicated_provider_id_is_replaced_by_a_stable_one() -> None:
    calls = extract_tool_calls([_openai("a", "{}", "call_1"), _openai("b", "{}", "call_1")])
    assert calls[0].id == "call_1"
    assert calls[1].id == _original_id("b", {})


def test_openai_round_trip_keeps_everything() -> None:
    calls = extract_tool_calls([READ_A, READ_A, {"name": "ls"}])
    again = extract_tool_calls({"tool_calls": [call.to_openai() for call in calls]})
    assert again == calls


def test_tool_call_objects_are_accepted() -> None:
    call = ToolCall(id="x1", name="read", arguments='{"p": 1}')
    assert extract_tool_calls(call) == [call]
    assert extract_tool_calls([call, call])[1].id == _original_id("read", {"p": 1}, "#2")


def test_openai_message_as_text() -> None:
    text = json.dumps({"role": "assistant", "tool_calls": [_openai("ls", "{}", "c1")]})
    assert _only(text) == ToolCall(id="c1", name="ls", arguments="{}")


def test_an_item_id_outside_openai_shape_is_kept_too() -> None:
    block = {"type": "tool_use", "id": "toolu_1", "name": "read", "input": {"p": "a"}}
    assert _only(block) == ToolCall(id="toolu_1", name="read", arguments='{"p": "a"}')


# ------------------------------------------------------------------ key variants and text


@pytest.mark.parametrize("name_key", ["name", "tool_name", "function", "tool"])
@pytest.mark.parametrize("arguments_key", ["arguments", "args", "parameters", "input"])
def test_key_variants(name_key: str, arguments_key: str) -> None:
    call = _only({name_key: "read", arguments_key: {"p": "a"}})
    assert (call.name, call.parsed_arguments()) == ("read", {"p": "a"})


def test_first_key_variant_wins() -> None:
    call = _only({"name": "read", "tool": "other", "arguments": {"a": 1}, "args": {"b": 2}})
    assert (call.name, call.parsed_arguments()) == ("read", {"a": 1})


def test_name_is_stripped() -> None:
    assert _only({"name": " read\n", "arguments": {}}).name == "read"


def test_text_with_one_call_and_with_a_list() -> None:
    one = '  {"name": "read", "arguments": {"p": "a"}}\n'
    assert _only(one).name == "read"
    many = '[{"name": "read", "args": {"p": "a"}}, {"tool": "ls"}]'
    assert [call.name for call in extract_tool_calls(many)] == ["read", "ls"]


# These need the lenient parser (retort.parsers.loads).


@pytest.mark.parametrize(
    "text",
    [
        '```json\n{"name": "read", "arguments": {"p": "a"}}\n```',
        '{"name": "read", "arguments": {"p": "a"},}',
        "{'name': 'read', 'arguments': {'p': 'a'}}",
        'I will read it now.\n{"name": "read", "arguments": {"p": "a"}}',
        'Sure (see below): {"name": "read", "arguments": {"p": "a"}}',
    ],
)
def test_lenient_text(text: str) -> None:
    call = _only(text)
    assert (call.name, call.parsed_arguments()) == ("read", {"p": "a"})


def test_lenient_arguments_text() -> None:
    call = _only({"name": "read", "arguments": "{'p': 'a',}"})
    assert call.parsed_arguments() == {"p": "a"}


# ------------------------------------------------------------------ the python-call form


def test_python_call_form() -> None:
    call = _only('get_file_content(file_path="a.py", start=1)')
    assert call.name == "get_file_content"
    assert call.parsed_arguments() == {"file_path": "a.py", "start": 1}
    assert call.id == _original_id("get_file_content", {"file_path": "a.py", "start": 1})


def test_python_call_literals() -> None:
    text = (
        "edit(path='a.py', lines=(1, 2), opts={'dry': True, 'n': None}, ok=true, no=null, f=-1.5)"
    )
    assert _only(text).parsed_arguments() == {
        "path": "a.py",
        "lines": [1, 2],
        "opts": {"dry": True, "n": None},
        "ok": True,
        "no": None,
        "f": -1.5,
    }


def test_python_call_json_names_inside_containers() -> None:
    assert _only("f(xs=[true, {'k': false}, null])").parsed_arguments() == {
        "xs": [True, {"k": False}, None]
    }


def test_python_call_without_arguments_and_dotted_name() -> None:
    call = _only("functions.list_files()")
    assert (call.name, call.arguments) == ("functions.list_files", "{}")


def test_python_calls_on_several_lines_and_in_a_fence() -> None:
    text = '```python\nread(p="a")\nread(p="a"); ls()\n```'
    calls = extract_tool_calls(text)
    assert [call.name for call in calls] == ["read", "read", "ls"]
    assert len({call.id for call in calls}) == 3


@pytest.mark.parametrize(
    ("text", "index", "fragment"),
    [
        ('read("a.py")', None, "positional"),
        ("read(**opts)", None, "**opts"),
        ("read(p=path)", None, "literal value"),
        ("read(p=1 + x)", None, "literal value"),
        ("read(p=1, p=2)", None, "'p' twice"),
        ("read(p=1)\nx = 2", 1, "x = 2"),
        ("read(p=1)\nls(1)", 1, "positional"),
        ("a.b().c(x=1)", None, "tool name"),
        ("read(p=1", None, "not a valid call"),
        ("read(p={1, 2})", None, "JSON can hold"),
        ("read(p=b'x')", None, "JSON can hold"),
    ],
)
def test_python_call_errors(text: str, index: int | None, fragment: str) -> None:
    with pytest.raises(ToolCallError) as caught:
        extract_tool_calls(text)
    assert caught.value.index == index
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "f(" + "(" * 100_000 + ")" * 100_000 + ")",
        "f(a=" + "[" * 50_000 + "]" * 50_000 + ")",
        "f(a=" + "-" * 60_000 + "1)",
        "f(a=" + "1+" * 20_000 + "1)",
        "f(a=" + "9" * 5_000 + ")",
        "f(a=1\x00)",
        'f(a="' + "x" * 70_000 + '")',
        "f(a=1" * 20_000,
        "f(" + "x." * 30_000 + "y=1)",
    ],
)
def test_hostile_python_calls_raise_tool_call_error_only(text: str) -> None:
    with pytest.raises(ToolCallError, match="expected"):
        extract_tool_calls(text)


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ([], "empty list"),
        ((), "empty list"),
        ({"response_type": "tool", "tool_calls": []}, "empty list"),
        ({"tool_calls": None}, "'tool_calls' to be a list"),
        ({"tool_calls": "read"}, "'tool_calls' to be a list"),
        ({"response_type": "tool", "content": "x"}, "non-empty 'tool_calls'"),
        ({"arguments": {"p": 1}}, "with a 'name' key, found keys ['arguments']"),
        ({}, "found keys (none)"),
        ({"name": ""}, "non-empty string"),
        ({"name": "   "}, "non-empty string"),
        ({"name": None}, "found null"),
        ({"name": 3}, "found the number 3"),
        ({"name": "\ud800"}, "valid Unicode"),
        ({"function": {"arguments": "{}"}}, "'name' key"),
        ("", "found empty text"),
        ("   \n", "found empty text"),
        ("42", "found the number 42"),
        ("null", "found null"),
        ("just some words", "found text 'just some words'"),
        (None, "found null"),
        (3.5, "found the number 3.5"),
        (b"{}", "found a bytes"),
        (object(), "found a object"),
    ],
)
def test_malformed_sources(source: Any, fragment: str) -> None:
    with pytest.raises(ToolCallError) as caught:
        extract_tool_calls(source)
    assert fragment in str(caught.value)
    assert caught.value.index is None
    assert "expected" in str(caught.value)


@pytest.mark.parametrize(
    ("items", "index", "fragment"),
    [
        ([READ_A, "read"], 1, "expected a tool call object, found the string 'read'"),
        ([None], 0, "found null"),
        ([READ_A, READ_A, {"args": {}}], 2, "'name' key"),
        ([READ_A, {"name": ["x"]}], 1, "found a list of 1 item(s)"),
        ([{"name": "f", "arguments": {"s": {1, 2}}}], 0, "JSON can hold"),
        ([{"name": "f", "arguments": {1: "a", "b": 2}}], 0, "JSON can hold"),
    ],
)
def test_errors_name_the_offending_item(items: list[Any], index: int, fragment: str) -> None:
    with pytest.raises(ToolCallError) as caught:
        extract_tool_calls({"response_type": "tool", "tool_calls": items})
    assert caught.value.index == index
    assert str(caught.value).startswith(f"call {index}: expected")
    assert fragment in str(caught.value)


def test_errors_are_parse_errors_and_value_errors() -> None:
    with pytest.raises(ParseError):
        extract_tool_calls([])
    with pytest.raises(ValueError, match="empty list"):
        extract_tool_calls([])


def test_deeply_nested_arguments_raise_tool_call_error() -> None:
    nested: list[Any] = []
    for _ in range(100_000):  # built in a loop: no recursion here either
        nested = [nested]
    with pytest.raises(ToolCallError, match="JSON can hold"):
        extract_tool_calls({"name": "f", "arguments": nested})


def test_deeply_nested_json_text_raises_tool_call_error() -> None:
    with pytest.raises(ToolCallError):
        extract_tool_calls("[" * 100_000 + "]" * 100_000)


def test_text_that_is_not_json_is_reraised_from_the_json_error() -> None:
    with pytest.raises(ToolCallError) as caught:
        extract_tool_calls("a [ b")
    assert isinstance(caught.value.__cause__, JSONParseError)


def test_an_object_that_is_not_a_call_says_what_it_found() -> None:
    with pytest.raises(ToolCallError, match="found keys \\['file_path'\\]"):
        extract_tool_calls('{"file_path": "a.py"}')


def _calls_or_error(source: Any) -> list[ToolCall] | ToolCallError:
    try:
        return extract_tool_calls(source)
    except ToolCallError as exc:
        return exc


@given(st.text() | st.text(alphabet="{}[]()\"':,=. \n`\\abfn01_", max_size=40))
def test_any_text_gives_calls_or_tool_call_error(text: str) -> None:
    result = _calls_or_error(text)
    if isinstance(result, ToolCallError):
        assert str(result).startswith(("expected", "call "))
    else:
        assert result
        assert all(isinstance(call, ToolCall) for call in result)
        assert len({call.id for call in result}) == len(result)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["name", "arguments", "args", "id", "x"]), children, max_size=3
        )
    ),
    max_leaves=12,
)


@given(_JSON)
def test_any_json_value_gives_calls_or_tool_call_error(value: Any) -> None:
    result = _calls_or_error(value)
    if isinstance(result, ToolCallError):
        assert str(result).startswith(("expected", "call "))
    else:
        assert all(isinstance(call.parsed_arguments(), dict | list) for call in result)
        assert len({call.id for call in result}) == len(result)
