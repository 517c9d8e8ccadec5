"""The error tree and the stable tool-call ids."""

from __future__ import annotations

import json
import uuid

import pytest

from retort.core import (
    ConfigurationError,
    FieldError,
    JSONParseError,
    ParseError,
    RetortError,
    SectionError,
    SolveFailed,
    ToolCall,
    ToolCallError,
    TransportError,
    TypeParseError,
    stable_tool_call_id,
    stable_tool_call_ids,
)
from retort.core import errors as errors_module


def test_parse_errors_are_value_errors_and_retort_errors() -> None:
    for cls in (ParseError, SectionError, JSONParseError, ToolCallError, TypeParseError):
        assert issubclass(cls, ValueError)
        assert issubclass(cls, RetortError)
    for cls in (ConfigurationError, TransportError, SolveFailed):
        assert issubclass(cls, RetortError)
        assert not issubclass(cls, ParseError)


def test_docstring_map_names_every_error_class() -> None:
    doc = errors_module.__doc__ or ""
    for name in errors_module.__all__:
        obj = getattr(errors_module, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert name in doc, f"{name} missing from the tree in core/errors.py"


def test_section_error_carries_structured_detail() -> None:
    err = SectionError(
        "Missing section TOOL_CALL",
        expected=["THOUGHT", "TOOL_CALL"],
        found=["THOUGHT"],
        missing=["TOOL_CALL"],
    )
    assert err.missing == ("TOOL_CALL",)
    assert err.duplicated == ()
    assert err.kind == "missing"
    assert str(err) == "Missing section TOOL_CALL"
    assert SectionError("x", duplicated=["A"], unexpected=["B"]).kind == "duplicated"
    assert SectionError("x", unexpected=["B"], empty=["A"]).kind == "unexpected"


def test_json_error_carries_position_and_stage() -> None:
    err = JSONParseError("Expected ','", position=7, line=2, column=3, stage="repaired")
    assert (err.position, err.line, err.column, err.stage) == (7, 2, 3, "repaired")
    with pytest.raises(ValueError, match="Expected ','"):
        raise err


def test_type_parse_error_lists_field_errors() -> None:
    errors = [FieldError("files[0].code", "Field required", "missing"), FieldError("", "bad")]
    err = TypeParseError("does not match", errors=errors, target="list[FileSpec]")
    assert [str(e) for e in err.errors] == ["files[0].code: Field required", "bad"]
    assert err.target == "list[FileSpec]"


def _original_id(name: str, args: object) -> str:
    """The original program's formula, written out independently."""
    key = f"{name}:{json.dumps(args, sort_keys=True)}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, key))


def test_stable_id_matches_the_original_formula() -> None:
    args = {"file_path": "a.py", "b": [1, 2]}
    assert stable_tool_call_id("get_file_content", args) == _original_id("get_file_content", args)
    assert (
        stable_tool_call_id("get_file_content", {"file_path": "a.py"})
        == "b3fd0340-6123-5e85-bbbe-5db811426cf8"
    )


def test_stable_id_ignores_key_order() -> None:
    assert stable_tool_call_id("f", {"a": 1, "b": 2}) == stable_tool_call_id("f", {"b": 2, "a": 1})


def test_repeated_calls_in_one_reply_get_unique_ids_and_the_first_keeps_the_original() -> None:
    calls = [("f", {"a": 1}), ("g", {}), ("f", {"a": 1}), ("f", {"a": 1})]
    ids = stable_tool_call_ids(calls)
    assert len(set(ids)) == 4
    assert ids[0] == _original_id("f", {"a": 1})
    key = 'f:{"a": 1}'
    assert ids[2] == str(uuid.uuid5(uuid.NAMESPACE_URL, key + "#2"))
    assert ids[3] == str(uuid.uuid5(uuid.NAMESPACE_URL, key + "#3"))
    assert stable_tool_call_ids(calls) == ids  # deterministic across replies


def test_stable_id_rejects_a_bad_ordinal() -> None:
    with pytest.raises(ValueError, match="ordinal"):
        stable_tool_call_id("f", {}, 0)


def test_tool_call_wire_shape() -> None:
    call = ToolCall(id="x", name="f", arguments='{"a": 1}')
    assert call.parsed_arguments() == {"a": 1}
    assert call.to_openai() == {
        "id": "x",
        "type": "function",
        "function": {"name": "f", "arguments": '{"a": 1}'},
    }
