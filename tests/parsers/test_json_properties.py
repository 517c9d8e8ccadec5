"""Lenient JSON, properties: valid JSON is json.loads, totality, malformed input recovered.

Also the big inputs: deep nesting, 10 MB, and the adversarial shapes of the benchmark.
Times are not asserted here (the benchmark does that); the inputs only have to come back
as a value or a JSONParseError, quickly enough to keep the suite fast.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retort.parsers import JSONParseError, loads, repair
from retort.plugins.testing._strategies_json import json_documents, malformed_json

JSONISH = "{}[]\":,' \n0123abcTrueNone#/*\\"
MORE_JSONISH = "{}[]():,.-+eE'\"“”…`\n\t xNaInfity0123#/*\\"


def _same(got: Any, want: Any) -> bool:
    """Equality that also tells True from 1 and 1.0 from 1, at every level."""
    if type(got) is not type(want):
        return False
    if isinstance(want, dict):
        return got.keys() == want.keys() and all(_same(got[k], want[k]) for k in want)
    if isinstance(want, list):
        return len(got) == len(want) and all(map(_same, got, want))
    return bool(got == want)


def _total(text: str, **options: Any) -> None:
    """Parse ``text``: a value or a JSONParseError, nothing else may come out."""
    try:
        loads(text, **options)
    except JSONParseError as error:
        caught = error
    else:
        return
    assert 0 <= caught.position <= len(text)
    assert caught.stage in ("strict", "extracted", "python", "repaired", "limits")
    assert caught.message


# ----------------------------------------------------------------- valid JSON


@given(json_documents())
def test_valid_json_equals_json_loads_without_nested_decoding(case: tuple[str, Any]) -> None:
    text, _ = case
    assert _same(loads(text, decode_nested=False), json.loads(text))


@given(json_documents())
def test_valid_json_is_strict_and_unchanged_unless_a_top_level_string(
    case: tuple[str, Any],
) -> None:
    text, value = case
    result = repair(text)
    if isinstance(value, str) and value.strip()[:1] in ("{", "[", '"'):
        return  # the documented double-encoding exception
    assert _same(result.value, json.loads(text))
    assert (result.stage, result.fixes) == ("strict", ())


@given(st.text())
def test_json_strings_round_trip_through_lenient_parts(text: str) -> None:
    # In a broken container, each string still decodes exactly as json.loads would.
    document = "[" + json.dumps(text) + ", " + json.dumps(text, ensure_ascii=False) + ","
    assert loads(document) == [text, text]


# ------------------------------------------------------------------ totality


@given(st.text())
def test_any_text_gives_a_value_or_a_parse_error(text: str) -> None:
    _total(text)


@given(st.text(JSONISH, max_size=60))
def test_jsonish_text_gives_a_value_or_a_parse_error(text: str) -> None:
    _total(text)
    _total(text, allow_nan=False, max_depth=4, decode_nested=False)


@given(st.text(MORE_JSONISH, max_size=80))
def test_json5ish_text_gives_a_value_or_a_parse_error(text: str) -> None:
    _total(text)
    _total("```json\n" + text)


def _outcome(data: str | bytes) -> str:
    try:
        return repr(loads(data))  # repr: NaN compares equal to itself
    except JSONParseError as error:
        return f"error at {error.position}"


@given(st.text("0123456789xXoObBeE_.+-aIN", max_size=12))
def test_number_like_tokens_give_a_value_or_a_parse_error(token: str) -> None:
    _total(token)
    _total(f"[{token}]")
    _total(f'{{"n": {token}, "m": 1}}')


@given(st.binary(max_size=60))
def test_bytes_parse_like_their_utf8_text(data: bytes) -> None:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        with pytest.raises(JSONParseError):
            loads(data)
    else:
        assert _outcome(data) == _outcome(text)


# -------------------------------------------------------------- malformed JSON


@given(malformed_json())
def test_malformed_documents_recover_the_value(case: tuple[str, Any]) -> None:
    text, value = case
    assert _same(loads(text), value)


# ------------------------------------------------ the classes models get wrong

_KEY = st.from_regex(r"[a-z][a-z_]{0,7}", fullmatch=True)
_WORD = st.from_regex(r"[A-Za-z]{1,8}", fullmatch=True)
_PHRASE = st.lists(_WORD, min_size=2, max_size=5).map(" ".join)
_RECORD = st.dictionaries(_KEY, _PHRASE, min_size=2, max_size=6)


@given(_RECORD, st.data())
def test_one_unescaped_inner_quote_keeps_every_key(record: dict[str, str], data: Any) -> None:
    # Quote one word of one value without escaping the quotes: "say "hi" now".
    key = data.draw(st.sampled_from(sorted(record)))
    words = record[key].split(" ")
    at = data.draw(st.integers(min_value=1, max_value=len(words) - 1))
    words[at] = f'"{words[at]}"'
    meant = {**record, key: " ".join(words)}
    text = "{" + ", ".join(f'"{k}": "{v}"' for k, v in meant.items()) + "}"
    result = repair(text)
    assert result.value == meant
    assert "inner_quote" in {fix.kind for fix in result.guessed}


@given(_RECORD, st.data())
def test_an_object_closed_too_early_gets_its_members_back(
    record: dict[str, str], data: Any
) -> None:
    members = [f'"{k}": "{v}"' for k, v in record.items()]
    cut = data.draw(st.integers(min_value=1, max_value=len(members) - 1))
    text = "{" + ", ".join(members[:cut]) + "}, " + ", ".join(members[cut:]) + "}"
    result = repair(text)
    assert result.value == record
    assert "early_closer" in {fix.kind for fix in result.guessed}


@given(st.lists(st.sampled_from(["true", "false", "null", "none"]), min_size=1), st.data())
def test_literals_in_any_case_are_literals(words: list[str], data: Any) -> None:
    cased = [
        "".join(data.draw(st.sampled_from([c.lower(), c.upper()])) for c in word) for word in words
    ]
    meant = [{"true": True, "false": False}.get(word) for word in words]
    assert _same(loads("[" + ", ".join(cased) + "]"), meant)


@given(st.lists(st.tuples(_KEY, st.integers()), min_size=1, max_size=6, unique_by=lambda m: m[0]))
def test_a_list_of_members_is_an_object(members: list[tuple[str, int]]) -> None:
    text = "[" + ", ".join(f'"{k}": {v}' for k, v in members) + "]"
    result = repair(text)
    assert result.value == dict(members)
    assert "array_members" in {fix.kind for fix in result.guessed}


def _replies() -> ModuleType:
    path = Path(__file__).parents[1] / "benchmarks" / "_replies.py"
    spec = importlib.util.spec_from_file_location("bench_replies_for_tests", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("size", [10_000, 100_000, 1_000_000])
def test_benchmark_replies_recover_every_record(size: int) -> None:
    # The replies make_bench times: every complete record comes back, in order.
    replies = _replies()
    text, records = replies.reply(size)
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    result = repair(text)
    assert result.value[: len(records)] == records
    assert replies.recovered(result.value, records) == len(records)
    assert result.value[-1]["file_name"]  # and what the cut kept of the last one
    assert result.stage == "repaired"
    kinds = {fix.kind for fix in result.fixes}
    assert {"fence", "single_quotes", "python_literal", "unquoted_key", "raw_newline"} <= kinds
    assert {"comment", "trailing_comma", "missing_comma"} <= kinds


# ---------------------------------------------------------------- big inputs

MB = 1024 * 1024


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 100_000,
        "{'a': (" * 50_000,
    ],
    ids=["open-brackets", "balanced", "objects", "python"],
)
def test_100k_deep_nesting_is_a_limits_error(text: str) -> None:
    with pytest.raises(JSONParseError) as caught:
        loads(text)
    assert caught.value.stage == "limits"


def test_deep_nesting_within_a_raised_limit_parses_without_recursion() -> None:
    depth = 5_000
    value = loads("[" * depth + "]" * (depth - 1), max_depth=depth)
    for _ in range(depth - 1):
        value = value[0]
    assert value == []


def test_a_10_mb_truncated_document_parses() -> None:
    record = {"id": 1, "code": "x = 1\n" * 150, "tags": ["a", "b"]}
    row = json.dumps(record) + ","
    count = 10_000_000 // len(row) - 1
    value = loads("[" + row * count)  # cut off before the closing bracket
    assert len(value) == count
    assert value[-1] == record


def test_over_10_mb_is_a_limits_error() -> None:
    with pytest.raises(JSONParseError) as caught:
        loads("[" + "1," * 5_000_001 + "1]")
    assert caught.value.stage == "limits"


ADVERSARIAL = {
    "quote-a": "[" + '"a' * (MB // 2),
    "brace-in-string": '{"k": "' + "a}, " * (MB // 4),
    "unclosed-comma-fragments": '{"a": "open' + ', "b' * (MB // 4),
    "open-keys": '{"a' * (MB // 3),
    "colons": ":" * MB,
    "key-colons": '{"a"' + ":" * MB,
    "brackets": "[" * MB,
    "nested-keys": '{"a":' * (MB // 5),
    "single-quotes": "['" + "a', '" * (MB // 5),
    "comments": "[1, /*" + "*" * MB,
    "records-trailing-commas": "[" + '{"a": 1,},' * (MB // 10),
    "escapes": '["' + "\\n" * (MB // 2),
}


@pytest.mark.parametrize("text", list(ADVERSARIAL.values()), ids=list(ADVERSARIAL))
def test_adversarial_1mb_inputs_give_a_value_or_a_parse_error(text: str) -> None:
    _total(text)
