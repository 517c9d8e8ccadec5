"""Code fences: every common form found, stripped, linear, total."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from retort.parsers import FencedBlock, find_fences, strip_fences


def test_no_fence_returns_the_text_stripped() -> None:
    assert find_fences("just text") == []
    assert strip_fences('  {"a": 1}\n') == '{"a": 1}'


def test_json_fence() -> None:
    text = '```json\n{"a": 1}\n```'
    [block] = find_fences(text)
    assert block == FencedBlock('{"a": 1}', "json", "json", 0, len(text), True)
    assert strip_fences(text) == '{"a": 1}'


def test_bare_fence_and_language_tags_are_lower_cased() -> None:
    assert strip_fences("```\nx = 1\n```") == "x = 1"
    [block] = find_fences("```Python title=a.py\nx = 1\n```")
    assert (block.lang, block.info) == ("python", "Python title=a.py")


def test_tilde_fence() -> None:
    [block] = find_fences("~~~yaml\na: 1\n~~~\n")
    assert (block.lang, block.body, block.closed) == ("yaml", "a: 1", True)


def test_four_backticks_contain_a_three_backtick_block() -> None:
    text = "````markdown\nExample:\n```python\nprint(1)\n```\n````\nafter"
    [block] = find_fences(text)
    assert block.lang == "markdown"
    assert block.body == "Example:\n```python\nprint(1)\n```"


def test_a_shorter_or_other_character_run_does_not_close() -> None:
    [block] = find_fences("````\na\n```\n~~~~\nb\n````")
    assert block.body == "a\n```\n~~~~\nb"


def test_unclosed_final_fence_runs_to_the_end() -> None:
    text = 'Here:\n```json\n{"a": [1, 2'
    [block] = find_fences(text)
    assert (block.body, block.closed, block.end) == ('{"a": [1, 2', False, len(text))


def test_closer_glued_to_the_last_line_is_cut() -> None:
    [block] = find_fences('```json\n{"a": 1}```\n')
    assert (block.body, block.closed) == ('{"a": 1}', True)


def test_one_line_block() -> None:
    [block] = find_fences('Result: \n```json {"a": 1}```')
    assert (block.lang, block.body) == ("json", '{"a": 1}')
    [block] = find_fences('```{"a": 1}```')
    assert (block.lang, block.body) == ("", '{"a": 1}')


def test_several_blocks_with_prose() -> None:
    text = "Explain\n```python\na = 1\n```\nmore prose\n```json\n[1]\n```\nbye"
    blocks = find_fences(text)
    assert [(b.lang, b.body) for b in blocks] == [("python", "a = 1"), ("json", "[1]")]
    assert strip_fences(text) == "a = 1\n[1]"
    assert text[blocks[1].start : blocks[1].end] == "```json\n[1]\n```\n"


def test_crlf_and_indented_fences() -> None:
    [block] = find_fences("  ```json\r\n  {}\r\n  ```\r\n")
    assert block.lang == "json"
    assert block.body == "  {}"


def test_empty_block() -> None:
    [block] = find_fences("```\n```")
    assert (block.body, block.closed) == ("", True)


def test_inline_backticks_are_not_fences() -> None:
    assert find_fences("use `x` and ``y``") == []


def test_large_input_with_many_fences_is_linear_enough() -> None:
    text = "```py\nx = 1\n```\nprose\n" * 20_000
    assert len(find_fences(text)) == 20_000
    assert len(find_fences("```\n" + "a\n" * 200_000)) == 1


@given(st.text(alphabet=st.sampled_from("`~ \njsonab{}\r\t"), max_size=200))
def test_find_fences_is_total_and_blocks_are_ordered(text: str) -> None:
    blocks = find_fences(text)
    position = 0
    for block in blocks:
        assert position <= block.start <= block.end <= len(text)
        position = block.end
    assert isinstance(strip_fences(text), str)


@given(st.text(max_size=300))
def test_strip_fences_is_total_over_any_text(text: str) -> None:
    assert isinstance(strip_fences(text), str)
