"""``max_bytes`` on every parser taking text: checked first, in UTF-8 bytes, typed errors.

Each entry point is driven through the public API with a text just over the limit, one
exactly at it, a custom limit either way, and multi-byte characters.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from retort.parsers import (
    JSONParseError,
    ParseError,
    SectionError,
    ToolCallError,
    TypeParseError,
    coerce,
    extract_tool_calls,
    find_fences,
    loads,
    parse_sections,
    repair,
    strip_fences,
)
from retort.parsers._limits import DEFAULT_MAX_BYTES, check_size


@dataclass(frozen=True)
class EntryPoint:
    name: str
    call: Callable[..., Any]  # call(text, **options)
    wrap: tuple[str, str]  # valid input is wrap[0] + filler + wrap[1]
    error: type[ParseError]
    detail: Callable[[ParseError], str]  # the "limits" marker of the error, "" when none

    def text(self, size: int, char: str = "é") -> str:
        """A valid input of exactly ``size`` UTF-8 bytes, filled with ``char``."""
        head, tail = self.wrap
        room = size - len((head + tail).encode())
        width = len(char.encode("utf-8", "surrogatepass"))
        filler = char * (room // width) + "a" * (room % width)
        text = head + filler + tail
        assert len(text.encode("utf-8", "surrogatepass")) == size
        return text


def _no_detail(error: ParseError) -> str:
    return "limits"


ENTRY_POINTS = [
    EntryPoint(
        "find_fences",
        find_fences,
        ("```\n", "\n```"),
        ParseError,
        _no_detail,
    ),
    EntryPoint("strip_fences", strip_fences, ("```\n", "\n```"), ParseError, _no_detail),
    EntryPoint(
        "parse_sections",
        lambda text, **options: parse_sections(text, ["A"], **options),
        ("=======A\n", ""),
        SectionError,
        lambda error: error.kind if isinstance(error, SectionError) else "",
    ),
    EntryPoint(
        "extract_tool_calls",
        extract_tool_calls,
        ('{"name": "ls", "arguments": {"p": "', '"}}'),
        ToolCallError,
        _no_detail,
    ),
    EntryPoint(
        "coerce",
        lambda text, **options: coerce(text, str, **options),
        ("", ""),
        TypeParseError,
        lambda error: error.errors[0].kind if isinstance(error, TypeParseError) else "",
    ),
    EntryPoint(
        "loads",
        loads,
        ('["', '"]'),
        JSONParseError,
        lambda error: error.stage if isinstance(error, JSONParseError) else "",
    ),
    EntryPoint(
        "repair",
        repair,
        ('["', '"]'),
        JSONParseError,
        lambda error: error.stage if isinstance(error, JSONParseError) else "",
    ),
]
BY_NAME = pytest.mark.parametrize("entry", ENTRY_POINTS, ids=[e.name for e in ENTRY_POINTS])


def _over(entry: EntryPoint, text: str, **options: int) -> ParseError:
    with pytest.raises(entry.error) as caught:
        entry.call(text, **options)
    error = caught.value
    assert type(error) is entry.error  # the parser's own class, not a wider one
    assert entry.detail(error) == "limits"
    assert "max_bytes=" in error.message
    return error


@pytest.fixture(scope="module")
def huge() -> str:
    """100 MB of text: ten times the default limit."""
    return "a" * (10 * DEFAULT_MAX_BYTES)


@BY_NAME
def test_a_huge_text_fails_first_in_bounded_memory(entry: EntryPoint, huge: str) -> None:
    tracemalloc.start()
    try:
        error = _over(entry, huge)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # nothing was copied, encoded or parsed
    assert f"max_bytes={DEFAULT_MAX_BYTES}" in error.message
    assert f"found {len(huge)}" in error.message


@BY_NAME
def test_one_byte_over_the_limit_fails_and_exactly_at_it_passes(entry: EntryPoint) -> None:
    error = _over(entry, entry.text(1001), max_bytes=1000)
    assert "max_bytes=1000" in error.message
    assert "found 1001" in error.message
    entry.call(entry.text(1000), max_bytes=1000)


@BY_NAME
def test_the_default_limit_is_ten_million_bytes(entry: EntryPoint) -> None:
    entry.call(entry.text(DEFAULT_MAX_BYTES))
    _over(entry, entry.text(DEFAULT_MAX_BYTES + 1))


@BY_NAME
def test_a_larger_custom_limit_accepts_more_than_the_default(entry: EntryPoint) -> None:
    text = entry.text(DEFAULT_MAX_BYTES + 10, char="a")
    entry.call(text, max_bytes=DEFAULT_MAX_BYTES + 10)


# 2, 3 and 4 bytes, and a lone surrogate (3 bytes, as "surrogatepass" writes it), which no
# JSON text can hold raw.
MULTIBYTE = [
    pytest.param(entry, char, id=f"{entry.name}-{char.encode('unicode_escape').decode()}")
    for entry in ENTRY_POINTS
    for char in ("é", "€", "🙂", "\ud800")
    if char != "\ud800" or entry.name not in ("extract_tool_calls", "loads", "repair")
]


@pytest.mark.parametrize(("entry", "char"), MULTIBYTE)
def test_multibyte_characters_count_as_bytes(entry: EntryPoint, char: str) -> None:
    width = len(char.encode("utf-8", "surrogatepass"))
    at_limit = entry.text(400 * width, char=char)
    entry.call(at_limit, max_bytes=400 * width)
    # Fewer characters than max_bytes, but more bytes: rejected.
    over = entry.text(400 * width + 1, char=char)
    assert len(over) < 400 * width
    _over(entry, over, max_bytes=400 * width)


@BY_NAME
def test_ascii_text_longer_than_a_quarter_of_the_limit_passes(entry: EntryPoint) -> None:
    entry.call(entry.text(999, char="a"), max_bytes=1000)


def test_coerce_checks_bytes_by_length() -> None:
    assert coerce(b"x" * 10, bytes, max_bytes=10) == b"x" * 10
    with pytest.raises(TypeParseError, match="found 11 bytes"):
        coerce(b"x" * 11, bytes, max_bytes=10)
    with pytest.raises(TypeParseError, match="max_bytes=10 "):
        coerce(bytearray(11), bytes, max_bytes=10)


def test_coerce_does_not_limit_values_that_are_not_text() -> None:
    assert coerce(["a" * 100], list[str], max_bytes=10) == ["a" * 100]


def test_tool_call_arguments_in_a_dict_are_decoded_within_the_limit() -> None:
    # Over the limit, an arguments string is not parsed: it is kept as the text it is.
    call = {"name": "ls", "arguments": "{'path': 'x'}"}
    [decoded] = extract_tool_calls(call)
    assert decoded.arguments == '{"path": "x"}'
    [kept] = extract_tool_calls(call, max_bytes=5)
    assert kept.arguments == "{\"input\": \"{'path': 'x'}\"}"


def test_section_error_for_limits_names_the_expected_sections() -> None:
    with pytest.raises(SectionError) as caught:
        parse_sections("=======A\nxx", ["a", "b"], max_bytes=5)
    assert caught.value.expected == ("A", "B")
    assert caught.value.kind == "limits"
    assert caught.value.missing == ()


# ------------------------------------------------------------------ the helper itself


def test_check_size_stops_encoding_once_past_the_limit() -> None:
    text = "é" * 3_000_000  # 6 MB, measured in slices of 2**20 characters
    with pytest.raises(ParseError, match="found 4194304 bytes or more;"):
        check_size(text, 4_000_000, ParseError)  # stops after the second slice
    with pytest.raises(ParseError, match="found 6000000 bytes;"):
        check_size(text, 5_999_999, ParseError)
    check_size(text, 6_000_000, ParseError)


def test_check_size_names_what_it_measured() -> None:
    with pytest.raises(ParseError, match="bytes of JSON"):
        check_size("x" * 11, 10, ParseError, what="JSON")
    with pytest.raises(ParseError, match="found 11 bytes;"):
        check_size(b"x" * 11, 10, ParseError)


@pytest.mark.parametrize("name", ["loads", "extract_tool_calls"])
def test_a_limit_above_the_default_reaches_the_lenient_json_path(name: str) -> None:
    size = DEFAULT_MAX_BYTES + 100
    if name == "loads":
        assert loads('["' + "x" * size + '",]', max_bytes=2 * size) == ["x" * size]
    else:
        text = '{"name": "ls", "arguments": {"p": "' + "x" * size + '",},}'
        [call] = extract_tool_calls(text, max_bytes=2 * size)
        assert call.name == "ls"
