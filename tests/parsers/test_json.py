"""Lenient JSON: every repair kind, the stage and fixes reported, the policies, the errors."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retort.parsers import STAGES, Fix, JSONParseError, ParseError, Repaired, loads, repair


def _kinds(result: Repaired) -> list[str]:
    return [fix.kind for fix in result.fixes]


def _fix(result: Repaired, kind: str) -> Fix:
    matching = [fix for fix in result.fixes if fix.kind == kind]
    assert matching, f"no {kind!r} fix in {result.fixes}"
    return matching[0]


def _error(text: Any, **options: Any) -> JSONParseError:
    with pytest.raises(JSONParseError) as caught:
        loads(text, **options)
    return caught.value


# ------------------------------------------------------------------------- stages


def test_stages_are_the_documented_chain() -> None:
    assert STAGES == ("strict", "extracted", "python", "repaired")


def test_valid_json_is_the_strict_stage_with_no_fixes() -> None:
    result = repair('{"a": [1, 2.5, "x", null, true]}')
    assert result == Repaired({"a": [1, 2.5, "x", None, True]}, "strict", ())


def test_fenced_valid_json_is_extracted() -> None:
    text = 'Here you go:\n```json\n{"a": 1}\n```\nAnything else?'
    result = repair(text)
    assert (result.value, result.stage) == ({"a": 1}, "extracted")
    assert _fix(result, "fence").position == text.index("```")


def test_prose_around_valid_json_is_extracted() -> None:
    text = 'Sure! The answer is {"a": [1, 2]} - hope it helps.'
    result = repair(text)
    assert (result.value, result.stage) == ({"a": [1, 2]}, "extracted")
    assert [(f.kind, f.position) for f in result.fixes] == [
        ("prose", 0),
        ("prose", text.index(" - hope")),
    ]


def test_python_literals_are_the_python_stage() -> None:
    result = repair("{'a': True, 'b': None, 'c': (1, 2), 'd': False}")
    assert result.value == {"a": True, "b": None, "c": [1, 2], "d": False}
    assert result.stage == "python"
    assert set(_kinds(result)) == {"single_quotes", "python_literal", "tuple"}


def test_heuristic_repairs_are_the_repaired_stage() -> None:
    result = repair('{"a": 1,}')
    assert (result.value, result.stage) == ({"a": 1}, "repaired")


def test_the_latest_stage_wins_when_fixes_mix() -> None:
    result = repair("```json\n{'a': True,}\n```")
    assert result.value == {"a": True}
    assert result.stage == "repaired"
    assert {"fence", "single_quotes", "trailing_comma"} <= set(_kinds(result))


# ------------------------------------------------------------------ repair kinds

REPAIRS = [
    # (text, expected value, fix kind, offset of the fix)
    ('{"a": 1,}', {"a": 1}, "trailing_comma", 7),
    ("[1, 2, ]", [1, 2], "trailing_comma", 5),
    ('{"a": 1 // one\n}', {"a": 1}, "comment", 8),
    ('{"a": 1 # one\n}', {"a": 1}, "comment", 8),
    ('{"a": /* one */ 1}', {"a": 1}, "comment", 6),
    ("{'a': 'b'}", {"a": "b"}, "single_quotes", 1),
    ("{“a”: “b”}", {"a": "b"}, "curly_quotes", 1),
    ("{a: 1, b_c: 2}", {"a": 1, "b_c": 2}, "unquoted_key", 1),
    ('{"a": yes please}', {"a": "yes please"}, "unquoted_value", 6),
    ('{"a": 1 "b": 2}', {"a": 1, "b": 2}, "missing_comma", 8),
    ("[1 2]", [1, 2], "missing_comma", 3),
    ('{"a" 1}', {"a": 1}, "missing_colon", 5),
    ('{"a": [1, 2', {"a": [1, 2]}, "closed_container", 11),
    ('{"a": "hel', {"a": "hel"}, "truncated_string", 10),
    ('{"t": "He said "hi" to me"}', {"t": 'He said "hi" to me'}, "inner_quote", 15),
    ('{"t": "a\nb"}', {"t": "a\nb"}, "raw_newline", 8),
    ('{""a"": ""b""}', {"a": "b"}, "doubled_quotes", 1),
    ("[1, 2, ...]", [1, 2], "ellipsis", 7),
    ('{"a": True}', {"a": True}, "python_literal", 6),
    ("[0x1F]", [31], "hex_number", 1),
    ("[0o17]", [15], "octal_number", 1),
    ("[+1]", [1], "plus_sign", 1),
    ("[017]", [17], "leading_zero", 1),
    ("[.5, 5., 1_000]", [0.5, 5.0, 1000], "number_format", 1),
    ('{"a": 1}\n{"b": 2}', [{"a": 1}, {"b": 2}], "multiple_values", 0),
    ('{"a": 1}}', {"a": 1}, "prose", 8),
    ("[(1, 2)]", [[1, 2]], "tuple", 1),
    ('{"a", "b"}', ["a", "b"], "python_set", 4),
    ('{"a": undefined}', {"a": None}, "undefined", 6),
    ('{"a": tru', {"a": True}, "truncated_literal", 6),
    ('{"a": }', {"a": ""}, "missing_value", 6),
    ('{"a": 1,, "b": 2}', {"a": 1, "b": 2}, "extra_comma", 8),
    ('{"a": [1]]}', {"a": [1]}, "extra_closer", 9),
    ('{"a"::: 1}', {"a": 1}, "extra_colon", 5),
    ('{"a": "\\x41"}', {"a": "A"}, "python_escape", 7),
    ('{"a": "\\d+"}', {"a": "\\d+"}, "invalid_escape", 7),
    ('{"a": "hello,\n "b": 2}', {"a": "hello", "b": 2}, "unclosed_string", 12),
    ('{"a": "x\ty"}', {"a": "x\ty"}, "control_char", 8),
    ('  "a": 1, "b": [2]}', {"a": 1, "b": [2]}, "missing_opener", 2),
    ('{\\"a\\": 1}', {"a": 1}, "escaped_json", 0),
]


@pytest.mark.parametrize(
    ("text", "expected", "kind", "position"), REPAIRS, ids=[r[2] + "-" + r[0] for r in REPAIRS]
)
def test_each_repair_kind_recovers_the_value_and_reports_where(
    text: str, expected: Any, kind: str, position: int
) -> None:
    result = repair(text)
    assert result.value == expected
    assert _fix(result, kind).position == position
    assert result.stage in STAGES[1:]


def test_fix_details_say_what_changed() -> None:
    result = repair('{"a": 1,}')
    assert result.fixes == (Fix("trailing_comma", 7, "removed ',' before '}'"),)


def test_double_encoded_json_is_decoded_with_a_fix() -> None:
    result = repair(json.dumps(json.dumps({"a": [1, 2]})))
    assert result.value == {"a": [1, 2]}
    assert result.stage == "strict"
    assert _kinds(result) == ["double_encoded"]


def test_triple_encoding_is_decoded_twice_at_most() -> None:
    twice = json.dumps(json.dumps(json.dumps({"a": 1})))
    assert loads(twice) == {"a": 1}
    thrice = json.dumps(twice)
    assert loads(thrice) == twice  # beyond two decodes the string is left alone


def test_decode_nested_false_keeps_the_string() -> None:
    text = json.dumps('{"a": 1}')
    assert loads(text, decode_nested=False) == '{"a": 1}'


def test_nested_strings_holding_json_are_never_decoded() -> None:
    assert loads('{"args": "{\\"a\\": 1}"}') == {"args": '{"a": 1}'}
    assert loads('["[1, 2]"]') == ["[1, 2]"]


def test_a_top_level_string_that_is_not_an_object_stays_a_string() -> None:
    assert loads('"[not json"') == "[not json"
    assert loads('"  42 "') == "  42 "


# --------------------------------------------------------------------- policies


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_floats_like_json_loads(literal: str) -> None:
    got = loads(f"[{literal}]")[0]
    want = json.loads(f"[{literal}]")[0]
    assert isinstance(got, float)
    assert (math.isnan(got) and math.isnan(want)) or got == want


@pytest.mark.parametrize("text", ["[NaN]", '{"a": Infinity}', "-Infinity", "{'a': NaN,}"])
def test_allow_nan_false_rejects_nan_and_infinity(text: str) -> None:
    error = _error(text, allow_nan=False)
    assert "allow_nan" in error.message
    assert text[error.position :].lstrip("-").startswith(("NaN", "Infinity"))


def test_prose_before_a_repairable_value_is_skipped() -> None:
    text = "Here is my answer:\n{'a': 1, 'b': [1, 2,],}"
    result = repair(text)
    assert result.value == {"a": 1, "b": [1, 2]}
    assert _fix(result, "prose").position == 0


def test_braces_in_prose_do_not_start_the_value() -> None:
    assert loads('Use {braces} and [this] like so: {"a": 1}') == {"a": 1}


def test_fence_tagged_json_is_preferred_over_earlier_blocks() -> None:
    text = '```python\nx = {"not": "this"}\n```\nand\n```json\n{"a": 1}\n```'
    assert loads(text) == {"a": 1}


def test_untagged_fence_holding_a_value_is_used() -> None:
    text = "```\nnot json\n```\n```\n{'a': 1,}\n```"
    assert loads(text) == {"a": 1}


def test_unclosed_fence_of_truncated_output() -> None:
    assert loads('```json\n{"a": [1, 2') == {"a": [1, 2]}


def test_fence_markers_inside_json_strings_are_content() -> None:
    text = '{"code": "```python\\nprint(1)\\n```",}'
    assert loads(text) == {"code": "```python\nprint(1)\n```"}


def test_dangling_key_at_the_end_is_dropped() -> None:
    assert loads('{"a": 1, "b": ') == {"a": 1}
    assert loads('{"a": 1, "b"') == {"a": 1}


def test_raw_newlines_in_code_strings_are_kept() -> None:
    text = '[{"file_name": "a.py", "code": "def f():\n    return "x"\n"}]'
    assert loads(text) == [{"file_name": "a.py", "code": 'def f():\n    return "x"\n'}]


def test_big_integers_keep_json_loads_precision() -> None:
    assert loads("[123456789012345678901234567890,]") == [123456789012345678901234567890]


def test_surrogate_pair_escapes_join_like_json_loads() -> None:
    assert loads("{'e': '\\ud83d\\ude00'}") == {"e": "😀"}


# ------------------------------------------------------------------ input types


def test_bytes_are_decoded_as_utf8() -> None:
    assert loads('{"é": 1,}'.encode()) == {"é": 1}
    assert loads(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


def test_undecodable_bytes_raise_a_parse_error() -> None:
    error = _error(b'{"a": "\xff"}')
    assert error.position == 7
    assert "UTF-8" in error.message


@pytest.mark.parametrize("value", [None, 1, 1.5, ["[]"], {"a": 1}])
def test_non_text_raises_type_error_like_json_loads(value: Any) -> None:
    with pytest.raises(TypeError, match="must be str or bytes"):
        loads(value)


# ----------------------------------------------------------------------- errors


def test_prose_only_says_what_was_expected_and_found() -> None:
    error = _error("Sorry, I cannot help with that request today.")
    assert error.message == (
        "Expected a JSON value, found 'Sorry, I cannot help with that...' at line 1, column 1"
    )
    assert (error.position, error.line, error.column, error.stage) == (0, 1, 1, "repaired")
    assert error.excerpt.startswith("Sorry, I cannot")


def test_error_position_is_line_and_column_of_the_input() -> None:
    error = _error("\n\n   nothing here")
    assert (error.position, error.line, error.column) == (5, 3, 4)


@pytest.mark.parametrize("text", ["", "   \n\t"])
def test_empty_text_is_an_error(text: str) -> None:
    assert "Expected a JSON value" in _error(text).message


def test_errors_are_parse_errors_and_value_errors() -> None:
    error = _error("nope")
    assert isinstance(error, ParseError)
    assert isinstance(error, ValueError)


def test_errors_inside_a_fence_point_into_the_whole_text() -> None:
    text = "Result:\n```json\n[NaN]\n```"
    error = _error(text, allow_nan=False)
    assert error.position == text.index("NaN")
    assert (error.line, error.column) == (3, 2)


# ----------------------------------------------------------------------- limits


def test_input_over_max_bytes_is_a_limits_error() -> None:
    error = _error('{"a": "' + "é" * 600 + '"}', max_bytes=1000)
    assert error.stage == "limits"
    assert "max_bytes=1000" in error.message


def test_bytes_over_max_bytes_is_a_limits_error() -> None:
    assert _error(b"[" + b"1," * 600 + b"1]", max_bytes=1000).stage == "limits"


def test_input_at_max_bytes_is_accepted() -> None:
    text = '["' + "a" * 96 + '"]'
    assert loads(text, max_bytes=100) == ["a" * 96]


@pytest.mark.parametrize(
    "text",
    [
        "[" * 600,
        '{"a":' * 600,
        "[" * 100_000,
        "{'a': " * 600 + "1",
    ],
    ids=["open-600", "objects-600", "open-100k", "python-600"],
)
def test_nesting_deeper_than_max_depth_is_a_limits_error(text: str) -> None:
    error = _error(text)
    assert error.stage == "limits"
    assert "max_depth=512" in error.message


def test_valid_json_depth_is_left_to_json_unless_max_depth_is_given() -> None:
    # The default policy: valid JSON costs what json.loads costs, so its depth is bounded
    # by json's own recursion guard; an explicit max_depth is enforced on it too.
    valid = "[" * 600 + "]" * 600
    assert loads(valid) == json.loads(valid)
    assert _error(valid, max_depth=512).stage == "limits"
    too_deep_for_json = "[" * 5000 + "]" * 5000
    assert _error(too_deep_for_json).stage == "limits"
    nested = json.dumps("[" * 600 + "]" * 600)  # a string holding deep JSON
    assert loads(nested) == json.loads(valid)
    assert _error(nested, max_depth=100).stage == "limits"


def test_max_depth_is_configurable() -> None:
    assert loads("[[[1]]]", max_depth=3) == [[[1]]]
    assert _error("[[[[1]]]]", max_depth=3).stage == "limits"
    assert _error("[[[[1,]]]]", max_depth=3).stage == "limits"


def test_nesting_at_max_depth_is_accepted_on_every_path() -> None:
    deep = "[" * 512 + "]" * 512
    assert loads(deep) == json.loads(deep)
    assert loads(deep[:-1]) == json.loads(deep)  # the repair path


# ------------------------------------------------------------- model habits


def test_reasoning_before_think_end_is_ignored() -> None:
    text = '<think>\nMaybe {"a": 1}? Or [1, 2]?\n</think>\n\n{"answer": 42}'
    result = repair(text)
    assert result.value == {"answer": 42}
    assert (result.fixes[0].kind, result.fixes[0].position) == ("prose", 0)


def test_errors_after_think_point_into_the_whole_text() -> None:
    text = "<think>hmm</think>\nI cannot answer."
    error = _error(text)
    assert error.position == text.index("I cannot")
    assert (error.line, error.column) == (2, 1)


def test_json_written_with_string_escapes_is_unescaped() -> None:
    result = repair('{\\n  \\"a\\": 1,\\n  \\"b\\": [\\"x\\"]\\n}')
    assert result.value == {"a": 1, "b": ["x"]}
    assert _kinds(result) == ["escaped_json"]


def test_invisible_whitespace_is_ignored_with_a_fix() -> None:
    text = '\ufeff{"a": 1,\u200b "b": 2}'
    result = repair(text)
    assert result.value == {"a": 1, "b": 2}
    assert result.fixes[0] == Fix("whitespace", 0, "ignored whitespace JSON does not allow")


def test_python_sets_keep_their_item_types() -> None:
    result = repair("{'tags': {1, 2}, 'names': {'a', 'b'}}")
    assert result.value == {"tags": [1, 2], "names": ["a", "b"]}
    assert result.stage == "python"


def test_value_then_prose_with_braces_is_the_value() -> None:
    text = '{"a": 1}\n\nLet me know if you need {anything} else.'
    assert repair(text) == Repaired(
        {"a": 1}, "extracted", (Fix("prose", 8, "ignored the text after the value"),)
    )


def test_comment_after_a_bare_value_is_not_part_of_it() -> None:
    assert loads('{"mode": fast // the default\n}') == {"mode": "fast"}
    assert loads('{"url": http://example.com/a#b}') == {"url": "http://example.com/a#b"}


def test_unescaped_quotes_in_code_strings() -> None:
    text = '{"code": "print("hello")", "query": "SELECT * FROM t WHERE n = "x""}'
    assert loads(text) == {"code": 'print("hello")', "query": 'SELECT * FROM t WHERE n = "x"'}


def test_a_quoted_phrase_before_the_value_is_prose() -> None:
    result = repair('"Sure!" Here it is:\n\n[1, 2,]')
    assert result.value == [1, 2]
    assert result.fixes[0] == Fix("prose", 0, "ignored the text before the value")


def test_a_python_string_wrapping_json_is_decoded() -> None:
    result = repair("'{\"a\": [1, 2]}'")
    assert result.value == {"a": [1, 2]}
    assert _kinds(result) == ["single_quotes", "double_encoded"]


def test_fixes_are_capped_at_1000_but_the_stage_counts_them_all() -> None:
    result = repair("[" + "True, " * 1000 + "1,]")
    assert result.value == [True] * 1000 + [1]
    assert len(result.fixes) == 1000
    assert {fix.kind for fix in result.fixes} == {"python_literal"}
    assert result.stage == "repaired"  # the trailing comma came after the cap


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1, COMMENT "b": 2}', {"a": 1, "b": 2}),
        ('{"a": "data" AAAA }', {"a": "data"}),
        ('{"w": abcdef", "n": 12345", "x": 1}', {"w": "abcdef", "n": 12345, "x": 1}),
        ('{"reason": "According...""ans": "YES"}', {"reason": "According...", "ans": "YES"}),
        ('{"key": "value",,}', {"key": "value"}),
        (
            '{"date": 2024-01-31, "part": 1/3, "at": 10:30}',
            {"date": "2024-01-31", "part": "1/3", "at": "10:30"},
        ),
    ],
)
def test_noise_around_values_is_dropped(text: str, expected: Any) -> None:
    assert loads(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"name": "x", "vals"', {"name": "x"}),
        ('{"name": "x", "vals":', {"name": "x"}),
        ('{"name": "x", "va', {"name": "x"}),
        ('{"vals": [1, -', {"vals": [1]}),
        ('{"name": "caf\\u00', {"name": "caf"}),
        ('{"name": "caf\\', {"name": "caf"}),
        ('{"ok": fal', {"ok": False}),
        ('{"n": 2.', {"n": 2.0}),
    ],
)
def test_text_cut_off_anywhere_keeps_what_was_complete(text: str, expected: Any) -> None:
    assert loads(text) == expected


@given(st.integers(min_value=1, max_value=120))
def test_every_prefix_of_an_object_is_an_object_with_its_keys(cut: int) -> None:
    document = json.dumps(
        {"name": "x\u00e9y", "vals": [1, -2.5e3, True, None, 's\\q"t'], "n": {"k": [], "e": {}}}
    )
    value = loads(document[:cut])
    assert isinstance(value, dict)
    assert set(value) <= {"name", "vals", "n"}
    if cut > document.index('", "vals"'):  # the name was complete
        assert value["name"] == "x\u00e9y"
    if cut >= len(document):
        assert value == json.loads(document)


def test_a_closer_then_a_key_on_the_next_line_still_ends_the_string() -> None:
    # Found by the thorough fuzz profile: an empty string before "]\n  " and the next key
    # must close there; only a quote followed by closers on the next line is code.
    text = '{\n  "0": null,\n  "00": [\n  null,\n  null\n  ""\n]\n  "": null\n'
    assert loads(text) == {"0": None, "00": [None, None, ""], "": None}
    code = '[{"code": "RUN x\nCMD ["a"]\n"}]'
    assert loads(code) == [{"code": 'RUN x\nCMD ["a"]\n'}]
