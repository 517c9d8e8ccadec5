"""coerce and type_name: every target kind, Sections, double-encoded text, error paths."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, NewType, Optional, Union

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, field_validator
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from retort.core import ConfigurationError
from retort.core.errors import FieldError
from retort.parsers import ParseError, Sections, TypeParseError, coerce, type_name


class FileSpec(BaseModel):
    file_name: str
    code: str


class Config(BaseModel):
    retries: int = 3
    name: str = "x"


class Job(BaseModel):
    files: list[FileSpec]
    config: Config = Config()


class Point(TypedDict):
    x: int
    y: int


@dataclasses.dataclass
class Pair:
    left: str
    right: str


class Picky(BaseModel):
    value: int

    @field_validator("value")
    @classmethod
    def _no_sevens(cls, value: int) -> int:
        if value == 7:
            raise TypeError("seven is not welcome")
        if value == 8:
            raise ValueError("eight is too many")
        return value


Slug = NewType("Slug", str)


def _error(value: Any, target: Any) -> TypeParseError:
    with pytest.raises(TypeParseError) as caught:
        coerce(value, target)
    return caught.value


def _sections(*pairs: tuple[str, str]) -> Sections:
    return Sections(names=tuple(n for n, _ in pairs), values=tuple(v for _, v in pairs))


# ------------------------------------------------------------------ targets


@pytest.mark.parametrize(
    ("value", "target", "expected"),
    [
        ("hello", str, "hello"),
        (["a", "b", "c"], tuple[str, ...], ("a", "b", "c")),
        (["a", "b"], tuple[str, str], ("a", "b")),
        ({"a": 1}, dict, {"a": 1}),
        ({"a": [1, None]}, dict[str, Any], {"a": [1, None]}),
        ({"a": "1"}, dict[str, int], {"a": 1}),
        ([1, "2"], list[int], [1, 2]),
        ("5", int, 5),
        (None, Optional[int], None),  # noqa: UP045 - the typing spelling is what is tested
        (3, int | str, 3),
        ("x", Union[int, str], "x"),  # noqa: UP007
        ("CREATE", Literal["FIX", "CREATE"], "CREATE"),
        ({"x": 1, "y": "2"}, Point, {"x": 1, "y": 2}),
        ("a-b", Slug, "a-b"),
        ("7", Annotated[int, "meta"], 7),
        ("7", Annotated[int, {"unhashable": "metadata"}], 7),
    ],
)
def test_targets(value: Any, target: Any, expected: Any) -> None:
    result = coerce(value, target)
    assert result == expected
    assert type(result) is type(expected)


def test_any_keeps_the_value_itself() -> None:
    value = {"k": [1, 2]}
    assert coerce(value, Any) is value


def test_models_and_lists_of_models() -> None:
    files = coerce([{"file_name": "a.py", "code": "x = 1"}], list[FileSpec])
    assert files == [FileSpec(file_name="a.py", code="x = 1")]
    job = coerce({"files": [{"file_name": "b", "code": ""}]}, Job)
    assert isinstance(job, Job)
    assert job.config.retries == 3


def test_a_correct_model_instance_comes_back_unchanged() -> None:
    spec = FileSpec(file_name="a", code="b")
    assert coerce(spec, FileSpec) is spec


def test_dataclass_target() -> None:
    assert coerce({"left": "l", "right": "r"}, Pair) == Pair("l", "r")


def test_a_target_pydantic_cannot_handle_is_a_configuration_error() -> None:
    class Opaque:
        pass

    with pytest.raises(ConfigurationError, match="Opaque"):
        coerce(1, Opaque)


# ------------------------------------------------------------------ Sections


def test_sections_to_tuple_and_list() -> None:
    sections = _sections(("THOUGHT", "think"), ("TOOL_CALL", "{}"))
    assert coerce(sections, tuple[str, str]) == ("think", "{}")
    assert coerce(sections, tuple[str, ...]) == ("think", "{}")
    assert coerce(sections, list[str]) == ["think", "{}"]
    assert list(coerce(sections, Sequence[str])) == ["think", "{}"]


def test_one_section_to_str() -> None:
    assert coerce(_sections(("ANSWER", "FIX")), str) == "FIX"
    assert coerce(_sections(("ANSWER", "FIX")), Literal["FIX", "CREATE"]) == "FIX"
    assert coerce(_sections(("ANSWER", "a")), Slug) == "a"


def test_several_sections_to_str_is_an_error_naming_them() -> None:
    error = _error(_sections(("THOUGHT", "t"), ("ANSWER", "a")), str)
    assert error.errors == (
        FieldError("", "expected exactly one section, found 2 (THOUGHT, ANSWER)", "section_count"),
    )
    assert str(error) == (
        "The value does not match str:\n- expected exactly one section, found 2 (THOUGHT, ANSWER)"
    )
    assert error.target == "str"


def test_union_of_tuple_and_str_takes_one_or_two_sections() -> None:
    target = tuple[str, str] | str
    assert coerce(_sections(("TOOL_CALL", "{}")), target) == "{}"
    assert coerce(_sections(("THOUGHT", "t"), ("TOOL_CALL", "{}")), target) == ("t", "{}")


def test_section_count_mismatch_for_a_tuple_is_a_type_error() -> None:
    error = _error(_sections(("A", "1")), tuple[str, str])
    assert [e.kind for e in error.errors] == ["missing"]


def test_sections_to_any_stay_sections() -> None:
    sections = _sections(("A", "1"))
    assert coerce(sections, Any) is sections


# These need Sections.as_dict (retort.parsers._sections).


def test_sections_to_dict_and_models() -> None:
    sections = _sections(("THOUGHT", "think"), ("ANSWER", "42"))
    assert coerce(sections, dict) == {"THOUGHT": "think", "ANSWER": "42"}
    assert coerce(sections, dict[str, str]) == {"THOUGHT": "think", "ANSWER": "42"}

    class Answer(BaseModel):
        THOUGHT: str
        ANSWER: int

    assert coerce(sections, Answer) == Answer(THOUGHT="think", ANSWER=42)


# ------------------------------------------------------------------ double-encoded text


def test_a_str_target_keeps_json_text() -> None:
    assert coerce('{"a": 1}', str) == '{"a": 1}'
    assert coerce('{"a": 1}', str | dict[str, int]) == '{"a": 1}'
    assert coerce('["x"]', Any) == '["x"]'


def test_json_text_is_decoded_for_a_non_str_target() -> None:
    assert coerce('{"a": 1}', dict[str, int]) == {"a": 1}
    assert coerce('["a", "b"]', tuple[str, str]) == ("a", "b")
    text = '[{"file_name": "a.py", "code": "pass"}]'
    assert coerce(text, list[FileSpec]) == [FileSpec(file_name="a.py", code="pass")]


def test_errors_of_decoded_text_have_field_paths() -> None:
    error = _error('[{"file_name": "a.py"}]', list[FileSpec])
    assert [(e.path, e.kind) for e in error.errors] == [("[0].code", "missing")]


def test_text_without_json_reports_the_original_mismatch() -> None:
    error = _error("not a list", list[int])
    assert [(e.path, e.kind) for e in error.errors] == [("", "list_type")]


# These need the lenient parser (retort.parsers.loads).


def test_lenient_and_twice_encoded_text_is_decoded() -> None:
    assert coerce('```json\n{"a": 1,}\n```', dict[str, int]) == {"a": 1}
    assert coerce('"{\\"a\\": 1}"', dict[str, int]) == {"a": 1}


# ------------------------------------------------------------------ errors


def test_field_paths() -> None:
    error = _error(
        {"files": [{"file_name": "a"}, 3], "config": {"retries": "many"}},
        Job,
    )
    assert [(e.path, e.kind) for e in error.errors] == [
        ("files[0].code", "missing"),
        ("files[1]", "model_type"),
        ("config.retries", "int_parsing"),
    ]


def test_index_path_at_the_top() -> None:
    error = _error([1, 2, "x"], list[int])
    assert [e.path for e in error.errors] == ["[2]"]


def test_odd_keys_are_quoted_in_paths() -> None:
    error = _error({"my key": "x", "ok": 1}, dict[str, int])
    assert [e.path for e in error.errors] == ['["my key"]']
    key_error = _error({"k": 1}, dict[int, int])
    assert [e.path for e in key_error.errors] == ["k[key]"]


def test_message_format_for_feedback() -> None:
    error = _error([{"file_name": "a"}, 3], list[FileSpec])
    assert str(error) == (
        "The value does not match list[FileSpec]:\n"
        "- [0].code: Field required\n"
        "- [1]: Input should be a valid dictionary or instance of FileSpec"
    )
    assert error.target == "list[FileSpec]"
    assert isinstance(error, ParseError)
    assert isinstance(error, ValueError)


def test_message_lists_ten_errors_and_counts_the_rest() -> None:
    error = _error(["x"] * 25, list[int])
    assert len(error.errors) == 25
    lines = str(error).splitlines()
    assert len(lines) == 1 + 10 + 1
    assert (
        lines[10] == "- [9]: Input should be a valid integer, unable to parse string as an integer"
    )
    assert lines[-1] == "- ... and 15 more errors"


def test_error_for_the_value_itself_has_no_path() -> None:
    error = _error(3, list[int])
    assert error.errors == (FieldError("", "Input should be a valid list", "list_type"),)
    assert str(error).endswith("\n- Input should be a valid list")


def test_a_validator_raising_value_error_is_a_field_error() -> None:
    error = _error({"value": 8}, Picky)
    assert [(e.path, e.kind) for e in error.errors] == [("value", "value_error")]
    assert "eight is too many" in str(error)


def test_a_validator_raising_another_exception_does_not_leak() -> None:
    error = _error({"value": 7}, Picky)
    assert isinstance(error.__cause__, TypeError)
    assert error.errors == (
        FieldError("", "validation failed with TypeError: seven is not welcome", "exception"),
    )
    assert error.target == "Picky"


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=6),
        lambda children: (
            st.lists(children, max_size=3)
            | st.dictionaries(st.sampled_from(["file_name", "code", "x"]), children, max_size=3)
        ),
        max_leaves=10,
    )
)
def test_any_json_value_fits_or_raises_type_parse_error(value: Any) -> None:
    try:
        result: Any = coerce(value, list[FileSpec])
    except TypeParseError as exc:
        result = exc
    if isinstance(result, TypeParseError):
        assert result.errors
        assert str(result).startswith("The value does not match list[FileSpec]:\n- ")
    else:
        assert all(isinstance(item, FileSpec) for item in result)


# ------------------------------------------------------------------ type_name


@pytest.mark.parametrize(
    ("target", "name"),
    [
        (str, "str"),
        (list[FileSpec], "list[FileSpec]"),
        (tuple[str, str], "tuple[str, str]"),
        (tuple[str, ...], "tuple[str, ...]"),
        (tuple[()], "tuple[()]"),
        (tuple, "tuple"),
        (dict[str, Any], "dict[str, Any]"),
        (dict, "dict"),
        (Optional[int], "int | None"),  # noqa: UP045
        (int | None, "int | None"),
        (Union[int, str, None], "int | str | None"),  # noqa: UP007
        (Literal["FIX", "CREATE"], "Literal['FIX', 'CREATE']"),
        (Annotated[int, "meta"], "int"),
        (FileSpec, "FileSpec"),
        (Point, "Point"),
        (Slug, "Slug"),
        (Any, "Any"),
        (None, "None"),
        (Sequence[int], "Sequence[int]"),
        (Callable[[int], str], "Callable[[int], str]"),
        ("FileSpec", "FileSpec"),
        (list[dict[str, list[FileSpec]]], "list[dict[str, list[FileSpec]]]"),
    ],
)
def test_type_name(target: Any, name: str) -> None:
    assert type_name(target) == name
