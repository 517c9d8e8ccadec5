"""Accuracy corpus for ``retort.parsers.loads``: realistic model replies and what they meant.

Every line of ``data/json_corpus.jsonl`` is one reply a model could send when asked for
JSON (fenced, wrapped in prose, truncated, Python-flavoured, ...) and the value a careful
human reads in it. The corpus was written independently of the parser, so a failing case
is a disagreement to look at, never a reason to edit the expectation to fit.

Comparison is strict about types: ``True`` is not ``1``, ``5.0`` is not ``5`` and a tuple
is not a list, because ``==`` alone would let those slips through.

``data/json_corpus_models.jsonl`` is a second corpus, also written without looking at the
parser, of what chat models send when asked for JSON: quotes inside strings, containers
closed too early, bare multi-word values, ``key: value`` members in brackets, fences glued
to values, odd-case literals, comments, stray whitespace in keys, several top-level values
and truncation, and ``create_files`` replies with long code. Cases the parser does not read
yet go in ``KNOWN_MISSES`` (empty today) and run as strict xfails, so a case that starts to
pass fails the suite until its id is removed from the list.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from retort.parsers import ParseError, loads

CORPUS_PATH = Path(__file__).parent / "data" / "json_corpus.jsonl"
MODELS_CORPUS_PATH = Path(__file__).parent / "data" / "json_corpus_models.jsonl"
CASE_KEYS = {"id", "category", "input", "expected"}
OPTIONAL_KEYS = {"note"}
CONTROL_CATEGORY = "valid"
MIN_CASES = 150
MIN_PER_CATEGORY = 5
# Share of non-control inputs that json.loads must reject; the rest are the double-encoded
# controls, which are valid JSON text but mean something else.
MIN_MALFORMED_SHARE = 0.9
MODELS_MIN_CASES = 220
MODELS_MIN_PER_CATEGORY = 12
MODELS_CATEGORIES = {
    "inner-quotes",
    "early-closers",
    "unquoted-values",
    "array-members",
    "stuck-fences",
    "literal-case",
    "comments",
    "keys",
    "policies",
    "create-files",
    "realistic-mixed",
    CONTROL_CATEGORY,
}

# Cases of data/json_corpus_models.jsonl that loads() does not read as a human does yet.
# They run as strict xfails: remove an id here once the parser gets the case right (the
# expectation itself is never edited to match the parser).
KNOWN_MISSES: set[str] = set()  # all 253 cases read as a human reads them


def _load_corpus(path: Path = CORPUS_PATH) -> list[dict[str, Any]]:
    cases = []
    with path.open(encoding="utf-8") as corpus:
        for line_no, line in enumerate(corpus, start=1):
            if line.strip():
                case = json.loads(line)
                case["line"] = line_no
                cases.append(case)
    return cases


CASES = _load_corpus()
MODEL_CASES = _load_corpus(MODELS_CORPUS_PATH)


def _same(got: Any, expected: Any) -> bool:
    """``got == expected`` with exact types at every level (bool/int/float, list/tuple)."""
    if type(got) is not type(expected):
        return False
    if isinstance(expected, dict):
        return got.keys() == expected.keys() and all(_same(got[k], expected[k]) for k in expected)
    if isinstance(expected, list):
        return len(got) == len(expected) and all(map(_same, got, expected))
    return bool(got == expected)


def _excerpt(text: str, limit: int = 300) -> str:
    shown = repr(text)
    return shown if len(shown) <= limit else f"{shown[:limit]}... ({len(text)} chars)"


def _describe(case: dict[str, Any], outcome: str, source: str = "corpus") -> str:
    note = f"\n  note:     {case['note']}" if "note" in case else ""
    return (
        f"{source} case {case['id']!r} ({case['category']}, line {case['line']}){note}\n"
        f"  input:    {_excerpt(case['input'])}\n"
        f"  expected: {case['expected']!r}\n"
        f"  {outcome}"
    )


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in CASES])
def test_loads_recovers_what_the_model_meant(case: dict[str, Any]) -> None:
    try:
        got = loads(case["input"])
    except ParseError as exc:
        pytest.fail(_describe(case, f"raised:   {type(exc).__name__}: {exc}"))
    assert _same(got, case["expected"]), _describe(case, f"got:      {got!r}")


def test_corpus_is_large_and_well_formed() -> None:
    assert len(CASES) >= MIN_CASES
    for case in CASES:
        keys = set(case) - {"line"}
        assert CASE_KEYS <= keys <= CASE_KEYS | OPTIONAL_KEYS, case["id"]
        assert isinstance(case["input"], str), case["id"]
    ids = Counter(case["id"] for case in CASES)
    assert [case_id for case_id, n in ids.items() if n > 1] == []


def test_every_category_has_enough_cases() -> None:
    counts = Counter(case["category"] for case in CASES)
    assert CONTROL_CATEGORY in counts
    thin = {category: n for category, n in counts.items() if n < MIN_PER_CATEGORY}
    assert thin == {}


_BOTH = pytest.mark.parametrize("cases", [CASES, MODEL_CASES], ids=["original", "models"])


@_BOTH
def test_control_cases_mean_exactly_what_json_loads_returns(cases: list[dict[str, Any]]) -> None:
    # The policy: valid JSON comes back exactly as json.loads returns it.
    controls = [case for case in cases if case["category"] == CONTROL_CATEGORY]
    assert controls
    wrong = [c["id"] for c in controls if not _same(json.loads(c["input"]), c["expected"])]
    assert wrong == []


def _json_loads_rejects(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


@_BOTH
def test_most_non_control_cases_are_really_malformed(cases: list[dict[str, Any]]) -> None:
    faulty = [case for case in cases if case["category"] != CONTROL_CATEGORY]
    rejected = [case for case in faulty if _json_loads_rejects(case["input"])]
    assert len(rejected) >= MIN_MALFORMED_SHARE * len(faulty), (
        f"json.loads accepts {len(faulty) - len(rejected)} of {len(faulty)} non-control cases"
    )


# --- data/json_corpus_models.jsonl --------------------------------------------------------


def _model_param(case: dict[str, Any]) -> Any:
    marks = []
    if case["id"] in KNOWN_MISSES:
        marks.append(pytest.mark.xfail(strict=True, reason=f"parser: {case['category']}"))
    return pytest.param(case, id=case["id"], marks=marks)


@pytest.mark.parametrize("case", [_model_param(c) for c in MODEL_CASES])
def test_loads_recovers_what_chat_models_meant(case: dict[str, Any]) -> None:
    source = "models corpus"
    try:
        got = loads(case["input"])
    except ParseError as exc:
        pytest.fail(_describe(case, f"raised:   {type(exc).__name__}: {exc}", source))
    assert _same(got, case["expected"]), _describe(case, f"got:      {got!r}", source)


def test_models_corpus_is_large_and_well_formed() -> None:
    assert len(MODEL_CASES) >= MODELS_MIN_CASES
    for case in MODEL_CASES:
        keys = set(case) - {"line"}
        assert CASE_KEYS <= keys <= CASE_KEYS | OPTIONAL_KEYS, case["id"]
        assert isinstance(case["input"], str), case["id"]
        assert case["category"] in MODELS_CATEGORIES, case["id"]


def test_case_ids_are_unique_across_both_corpora() -> None:
    ids = Counter(case["id"] for case in [*CASES, *MODEL_CASES])
    assert [case_id for case_id, n in ids.items() if n > 1] == []


def test_models_corpus_has_enough_cases_per_category() -> None:
    counts = Counter(case["category"] for case in MODEL_CASES)
    thin = {
        category: counts[category]
        for category in MODELS_CATEGORIES
        if counts[category] < MODELS_MIN_PER_CATEGORY
    }
    assert thin == {}


def test_known_misses_name_real_cases() -> None:
    # A stale id (renamed or deleted case) would otherwise sit in the list unnoticed.
    assert KNOWN_MISSES - {case["id"] for case in MODEL_CASES} == set()
