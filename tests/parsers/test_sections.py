"""Named ``=======NAME`` sections: tolerant headers, fences, errors by name, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retort.core.errors import ParseError
from retort.parsers import (
    SectionError,
    Sections,
    normalize_section_name,
    parse_sections,
    render_sections,
)
from retort.plugins.testing._strategies_sections import (
    section_contents,
    section_names,
    section_replies,
)

SPEC = ["THOUGHT", "TOOL_CALL"]
CALL = '{"name": "get_file_content", "arguments": {"file_path": "a.py"}}'
REPLY = f"=======THOUGHT\nreasoning\n=======TOOL_CALL\n{CALL}"


def _error(text: str, names: list[str] = SPEC, **options: bool) -> SectionError:
    with pytest.raises(SectionError) as caught:
        parse_sections(text, names, **options)
    return caught.value


# ---------------------------------------------------------------- the basic format


def test_two_sections_unpack_in_spec_order() -> None:
    thought, call = parse_sections(REPLY, SPEC)
    assert (thought, call) == ("reasoning", CALL)


def test_result_fields() -> None:
    sections = parse_sections(REPLY, SPEC)
    assert sections == Sections(("THOUGHT", "TOOL_CALL"), ("reasoning", CALL), "", False, ())


@pytest.mark.parametrize("count", [3, 6, 7, 9, 20])
def test_any_run_of_three_or_more_equals(count: int) -> None:
    text = f"{'=' * count}THOUGHT\na\n{'=' * count}TOOL_CALL\nb"
    assert parse_sections(text, SPEC).values == ("a", "b")


@pytest.mark.parametrize(
    "header",
    [
        "=======THOUGHT ",  # trailing space: plain text for the original
        "=======THOUGHT\t",
        "  =======THOUGHT",
        "\t=======THOUGHT",
        "======= THOUGHT",
        "=======\tTHOUGHT",
        "=======thought",
        "=======Thought",
        "=== THOUGHT ===",
        "===THOUGHT=======  ",
    ],
)
def test_tolerated_header_spellings(header: str) -> None:
    text = f"{header}\na\n=======TOOL_CALL\nb"
    assert parse_sections(text, SPEC).values == ("a", "b")


@pytest.mark.parametrize("header", ["=======tool call", "=======Tool-Call", "=== tool - call ==="])
def test_inner_spaces_and_hyphens_normalise(header: str) -> None:
    text = f"=======THOUGHT\na\n{header}\nb"
    assert parse_sections(text, SPEC)["TOOL_CALL"] == "b"


def test_digits_and_underscores_in_names() -> None:
    text = "=======STEP_1\na\n=======_PRIVATE2\nb"
    assert parse_sections(text, ["step 1", "_private2"]).values == ("a", "b")


def test_crlf_reply() -> None:
    text = REPLY.replace("\n", "\r\n") + "\r\n"
    assert parse_sections(text, SPEC).values == ("reasoning", CALL)


def test_crlf_inside_content_becomes_lf() -> None:
    text = "=======THOUGHT\r\nline 1\r\nline 2\r\n=======TOOL_CALL\r\nx"
    assert parse_sections(text, SPEC)[0] == "line 1\nline 2"


@pytest.mark.parametrize(
    "line", ["=======", "===", "   ====   ", "== THOUGHT", "=== 1 ===", "=== THOUGHT: x"]
)
def test_lines_that_are_not_headers_are_content(line: str) -> None:
    text = f"=======THOUGHT\nTitle\n{line}\nmore\n=======TOOL_CALL\nb"
    assert parse_sections(text, SPEC)[0] == f"Title\n{line}\nmore"


def test_normalize_section_name() -> None:
    assert normalize_section_name("tool call") == "TOOL_CALL"
    assert normalize_section_name("Tool-Call") == "TOOL_CALL"
    assert normalize_section_name("  tool -  call ") == "TOOL_CALL"
    assert normalize_section_name("TOOL_CALL") == "TOOL_CALL"


# ---------------------------------------------------------------- content


def test_content_is_verbatim_but_for_blank_edge_lines() -> None:
    body = "    indented first\n\n  middle blank kept above\nlast with spaces   "
    text = f"=======THOUGHT\n\n  \t\n{body}\n\n   \n=======TOOL_CALL\nb"
    assert parse_sections(text, SPEC)[0] == body


def test_empty_and_blank_sections_are_empty_strings() -> None:
    text = "=======THOUGHT\n=======TOOL_CALL\n  \n\t\n"
    assert parse_sections(text, SPEC).values == ("", "")


def test_preamble_is_kept_stripped() -> None:
    text = f"Sure, here is my answer:\r\n\r\n{REPLY}"
    sections = parse_sections(text, SPEC)
    assert sections.preamble == "Sure, here is my answer:"
    assert sections.values == ("reasoning", CALL)


def test_sections_in_another_order_come_back_in_spec_order() -> None:
    text = f"=======TOOL_CALL\n{CALL}\n=======THOUGHT\nreasoning"
    sections = parse_sections(text, SPEC)
    assert sections.names == ("THOUGHT", "TOOL_CALL")
    assert sections.values == ("reasoning", CALL)


# ---------------------------------------------------------------- fences


def test_fence_inside_a_section_hides_header_lines() -> None:
    code = "```python\n=====\n=======TOOL_CALL\nprint('=== x ===')\n```"
    text = f"=======CODE\n{code}\n=======TOOL_CALL\nb"
    assert parse_sections(text, ["CODE", "TOOL_CALL"]).values == (code, "b")


def test_tilde_and_longer_fences() -> None:
    code = "````md\n```\n=======B\n```\n````"
    tilde = "~~~\n=== B ===\n~~~"
    text = f"=======A\n{code}\n{tilde}\n=======B\nb"
    assert parse_sections(text, ["A", "B"]).values == (f"{code}\n{tilde}", "b")


def test_inline_backtick_line_does_not_open_a_fence() -> None:
    text = '=======A\n```json {"a": 1}```\n=======B\nb'
    assert parse_sections(text, ["A", "B"]).values == ('```json {"a": 1}```', "b")


def test_wrapper_fence_around_the_whole_reply() -> None:
    text = f"```text\n{REPLY}\n```\n"
    sections = parse_sections(text, SPEC)
    assert sections.values == ("reasoning", CALL)
    assert sections.preamble == ""


def test_wrapper_with_preamble_and_inner_fence() -> None:
    text = "Here:\n```\n=======THOUGHT\nt\n=======TOOL_CALL\n```json\n{}\n```\n```"
    sections = parse_sections(text, SPEC)
    assert sections.preamble == "Here:"
    assert sections.values == ("t", "```json\n{}\n```")


def test_text_after_the_wrapper_closer_is_outside_the_reply() -> None:
    text = f"```\n{REPLY}\n```\n\nLet me know if you need more."
    assert parse_sections(text, SPEC).values == ("reasoning", CALL)


def test_complete_block_in_the_preamble_is_not_a_wrapper() -> None:
    text = f"Example:\n```\nx\n```\n{REPLY}\n```"
    sections = parse_sections(text, SPEC)
    assert sections.preamble == "Example:\n```\nx\n```"
    assert sections.values == ("reasoning", CALL + "\n```")


def test_unclosed_fence_error_points_at_the_hidden_header() -> None:
    text = "=======THOUGHT\n```python\nx = 1\n=======TOOL_CALL\n{}"
    error = _error(text)
    assert error.missing == ("TOOL_CALL",)
    assert "'=======TOOL_CALL' on line 4 is inside the code fence opened on line 2" in str(error)


# ---------------------------------------------------------------- errors


def test_missing_section_message_and_attributes() -> None:
    error = _error("=======THOUGHT\nx")
    assert str(error) == (
        "Missing section TOOL_CALL: the reply must contain the sections THOUGHT, TOOL_CALL "
        "in this order, each introduced by a line '=======NAME'. Found: THOUGHT."
    )
    assert (error.kind, error.expected, error.found) == ("missing", tuple(SPEC), ("THOUGHT",))
    assert error.missing == ("TOOL_CALL",)
    assert error.duplicated == error.unexpected == error.empty == ()
    assert isinstance(error, ParseError)
    assert isinstance(error, ValueError)


def test_no_header_at_all() -> None:
    error = _error("I think the answer is 42.")
    assert str(error).startswith("No section header found: the reply must contain")
    assert (error.missing, error.found) == (tuple(SPEC), ())
    assert "(the reply is empty)" in str(_error("  \n"))


def test_duplicated_section() -> None:
    error = _error("=======THOUGHT\na\n=======THOUGHT\nb\n=======thought\nc\n=======TOOL_CALL\nd")
    assert error.kind == "duplicated"
    assert error.duplicated == ("THOUGHT",)
    assert error.found == ("THOUGHT", "THOUGHT", "THOUGHT", "TOOL_CALL")
    assert str(error) == "Section THOUGHT appears 3 times; give each section exactly once."


def test_unexpected_section() -> None:
    error = _error(f"=======PLAN\np\n{REPLY}")
    assert (error.kind, error.unexpected) == ("unexpected", ("PLAN",))
    assert str(error) == "Unexpected section PLAN; allowed: THOUGHT, TOOL_CALL."


def test_empty_section_when_disallowed() -> None:
    error = _error("=======THOUGHT\n\n=======TOOL_CALL\n  \n", allow_empty=False)
    assert (error.kind, error.empty) == ("empty", ("THOUGHT", "TOOL_CALL"))
    assert str(error) == "Sections THOUGHT, TOOL_CALL are empty."
    single = _error("=======THOUGHT\nx\n=======TOOL_CALL\n", allow_empty=False)
    assert str(single) == "Section TOOL_CALL is empty."


def test_every_problem_is_reported_in_one_error() -> None:
    text = "=======THOUGHT\n\n=======THOUGHT\nb\n=======PLAN\nc\n=======NOTES\nd"
    error = _error(text, ["THOUGHT", "TOOL_CALL"], allow_empty=False)
    assert error.kind == "missing"
    assert error.missing == ("TOOL_CALL",)
    assert error.duplicated == ("THOUGHT",)
    assert error.unexpected == ("PLAN", "NOTES")
    message = str(error)
    assert "Missing section TOOL_CALL" in message
    assert "Found: THOUGHT, THOUGHT, PLAN, NOTES." in message
    assert "Section THOUGHT appears 2 times" in message
    assert "Unexpected sections PLAN, NOTES; allowed: THOUGHT, TOOL_CALL." in message


def test_marker_in_messages() -> None:
    with pytest.raises(SectionError, match="introduced by a line '=========NAME'"):
        parse_sections("=========THOUGHT\nx", SPEC, marker="=========")


def test_long_listings_are_cut() -> None:
    text = "\n".join(f"=======S{n}\nx" for n in range(30))
    error = _error(text, ["S0", "MISSING"])
    assert len(error.unexpected) == 29
    assert "and 9 more; allowed: S0, MISSING." in str(error)


@pytest.mark.parametrize(
    ("names", "match"),
    [
        ([], "at least one"),
        ("THOUGHT", "not a string"),
        (["THOUGHT", "thought"], "given twice"),
        (["1ST"], "invalid section name"),
        (["a.b"], "invalid section name"),
        (["   "], "invalid section name"),
    ],
)
def test_bad_specs_are_value_errors(names: list[str], match: str) -> None:
    with pytest.raises(ValueError, match=match) as caught:
        parse_sections(REPLY, names)
    assert not isinstance(caught.value, SectionError)


# ---------------------------------------------------------------- options


def test_last_only_accepts_the_full_set() -> None:
    sections = parse_sections(REPLY, SPEC, allow_last_only=True)
    assert (sections.values, sections.partial) == (("reasoning", CALL), False)


def test_last_only_accepts_only_the_last_section() -> None:
    sections = parse_sections(f"Preamble\n=======tool call\n{CALL}", SPEC, allow_last_only=True)
    assert (sections.names, sections.values, sections.partial) == (("TOOL_CALL",), (CALL,), True)
    assert sections.preamble == "Preamble"
    assert sections["tool_call"] == CALL


def test_last_only_takes_a_reply_without_header_as_the_last_section() -> None:
    sections = parse_sections(f"```json\r\n{CALL}\r\n```", SPEC, allow_last_only=True)
    assert (sections.names, sections.values, sections.partial) == (("TOOL_CALL",), (CALL,), True)
    plain = parse_sections(f"  {CALL}\n", SPEC, allow_last_only=True)
    assert plain.values == (CALL,)


def test_last_only_rejects_other_subsets() -> None:
    error = _error("=======THOUGHT\nx", allow_last_only=True)
    assert error.missing == ("TOOL_CALL",)
    assert "(or only the last one, TOOL_CALL)" in str(error)
    three = _error("=======B\nx", ["A", "B", "C"], allow_last_only=True)
    assert three.missing == ("A", "C")


def test_last_only_reports_strangers_next_to_the_last_section() -> None:
    error = _error(f"=======PLAN\np\n=======TOOL_CALL\n{CALL}", allow_last_only=True)
    assert (error.kind, error.unexpected, error.missing) == ("unexpected", ("PLAN",), ())


def test_last_only_still_checks_emptiness() -> None:
    assert _error("   ", allow_last_only=True, allow_empty=False).empty == ("TOOL_CALL",)
    header_only = _error("=======TOOL_CALL\n", allow_last_only=True, allow_empty=False)
    assert header_only.empty == ("TOOL_CALL",)


def test_single_section_spec_without_header_in_last_only_mode() -> None:
    sections = parse_sections("just the answer", ["ANSWER"], allow_last_only=True)
    assert (sections.values, sections.partial) == (("just the answer",), True)
    assert not parse_sections("=======ANSWER\nx", ["ANSWER"], allow_last_only=True).partial


def test_allow_extra_keeps_unexpected_sections() -> None:
    text = f"=======PLAN\np\n{REPLY}\n=======NOTE\nn1\n=======note\nn2"
    sections = parse_sections(text, SPEC, allow_extra=True)
    assert sections.values == ("reasoning", CALL)
    assert sections.extra == (("PLAN", "p"), ("NOTE", "n1"), ("NOTE", "n2"))
    with pytest.raises(KeyError):
        sections["PLAN"]


def test_allow_extra_still_reports_missing_sections() -> None:
    error = _error("=======PLAN\np\n=======THOUGHT\nt", allow_extra=True)
    assert (error.missing, error.unexpected) == (("TOOL_CALL",), ())


# ---------------------------------------------------------------- the Sections value


def test_sections_lookup_by_index_and_name() -> None:
    sections = parse_sections(REPLY, SPEC)
    assert sections[0] == sections["thought"] == sections["Thought"] == "reasoning"
    assert sections[-1] == sections["tool-call"] == CALL
    assert len(sections) == 2
    assert list(sections) == ["reasoning", CALL]
    assert sections.as_dict() == {"THOUGHT": "reasoning", "TOOL_CALL": CALL}
    with pytest.raises(KeyError):
        sections["PLAN"]
    with pytest.raises(IndexError):
        sections[2]


def test_sections_is_frozen_and_not_a_mapping() -> None:
    sections = parse_sections(REPLY, SPEC)
    with pytest.raises(AttributeError):
        sections.names = ()  # type: ignore[misc]
    assert not hasattr(sections, "keys")
    assert hash(sections) == hash(parse_sections(REPLY, SPEC))


# ---------------------------------------------------------------- render


def test_render_a_reply() -> None:
    assert render_sections(SPEC, ["reasoning", CALL]) == REPLY
    assert render_sections(["thought", "tool call"], {"Tool-Call": CALL, "THOUGHT": "r"}) == (
        f"=======THOUGHT\nr\n=======TOOL_CALL\n{CALL}"
    )
    assert render_sections(["A"], [""], marker="===") == "===A\n"


def test_render_instructions() -> None:
    text = render_sections(SPEC, hints={"tool call": '{"name": ..., "arguments": {...}}'})
    assert text == (
        "Your reply must consist of exactly these 2 sections, in this order: THOUGHT, "
        "TOOL_CALL. Start each section with its header line, on a line of its own, exactly as "
        "shown below, and put the section's content on the lines after it:\n"
        "\n"
        "=======THOUGHT\n"
        "<your THOUGHT here>\n"
        "=======TOOL_CALL\n"
        '{"name": ..., "arguments": {...}}'
    )
    single = render_sections(["answer"], marker="=========")
    assert single.startswith("Your reply must consist of exactly one section, ANSWER.")
    assert single.endswith("\n=========ANSWER\n<your ANSWER here>")


def test_instructions_template_parses_with_the_same_spec() -> None:
    template = render_sections(SPEC).split("\n\n", 1)[1]
    assert parse_sections(template, SPEC).values == ("<your THOUGHT here>", "<your TOOL_CALL here>")


@pytest.mark.parametrize(
    ("values", "options", "match"),
    [
        (["only one"], {}, "one content per name"),
        ("ab", {}, "one content per name"),
        ({"THOUGHT": "t"}, {}, "no content for TOOL_CALL"),
        ({"THOUGHT": "t", "TOOL_CALL": "c", "PLAN": "p"}, {}, "not in the spec: PLAN"),
        (["t", "c"], {"marker": "=="}, "marker"),
        (None, {"hints": {"PLAN": "p"}}, "not in the spec: PLAN"),
    ],
)
def test_render_rejects_mismatched_arguments(
    values: object, options: dict[str, object], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        render_sections(SPEC, values, **options)  # type: ignore[arg-type]


# ---------------------------------------------------------------- properties


@given(st.data())
def test_render_then_parse_round_trips(data: st.DataObject) -> None:
    names = data.draw(section_names())
    values = tuple(data.draw(section_contents()) for _ in names)
    assert parse_sections(render_sections(names, values), names).values == values


@given(st.data())
def test_noisy_valid_replies_parse_to_their_values(data: st.DataObject) -> None:
    names = data.draw(section_names())
    text, values = data.draw(section_replies(names))
    sections = parse_sections(text, names)
    assert sections.values == values
    assert sections.names == tuple(names)


@given(st.data())
def test_a_dropped_section_is_named_as_missing(data: st.DataObject) -> None:
    names = data.draw(section_names(min_size=2))
    values = [data.draw(section_contents()) for _ in names]
    dropped = data.draw(st.integers(0, len(names) - 1))
    text = render_sections(
        names[:dropped] + names[dropped + 1 :], values[:dropped] + values[dropped + 1 :]
    )
    error = _error(text, names)
    assert error.missing == (names[dropped],)
    assert f"Missing section {names[dropped]}:" in str(error)


@given(st.data())
def test_a_duplicated_section_is_named(data: st.DataObject) -> None:
    names = data.draw(section_names())
    values = [data.draw(section_contents()) for _ in names]
    twice = data.draw(st.integers(0, len(names) - 1))
    text = render_sections(names, values) + "\n" + render_sections([names[twice]], [values[twice]])
    error = _error(text, names)
    assert (error.kind, error.duplicated, error.missing) == ("duplicated", (names[twice],), ())
    assert f"Section {names[twice]} appears 2 times" in str(error)


# Reply-shaped noise: header, fence and line-end pieces in any arrangement.
_PIECES = ["\n", "\r\n", "=", "===", "```", "~~~", " ", "\t", "A", "b", "_", "-", "1", "B "]
_STRUCTURED = st.lists(st.sampled_from(_PIECES), max_size=40).map("".join)


def _outcome(text: str, **options: bool) -> Sections | SectionError:
    try:
        return parse_sections(text, ["A", "B"], **options)
    except SectionError as error:
        return error


@given(st.one_of(st.text(), _STRUCTURED), st.booleans(), st.booleans(), st.booleans())
def test_total_over_str(text: str, last_only: bool, extra: bool, empty: bool) -> None:
    outcome = _outcome(text, allow_last_only=last_only, allow_extra=extra, allow_empty=empty)
    if isinstance(outcome, SectionError):
        assert outcome.kind in {"missing", "duplicated", "unexpected", "empty"}
        assert getattr(outcome, outcome.kind)
        assert str(outcome)
    else:
        assert len(outcome.names) == len(outcome.values) in {1, 2}
        assert outcome.partial == (len(outcome) == 1)
        assert outcome.extra == () or extra
