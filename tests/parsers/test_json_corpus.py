"""Accuracy corpus for ``retort.parsers.loads``: realistic model replies and what they meant.

Every line of ``data/json_corpus.jsonl`` is one reply a model could send when asked for
JSON (fenced, wrapped in prose, truncated, Python-flavoured, ...) and the value a careful
human reads in it. The corpus was written independently of the parser, so a failing case
is a disagreement to look at, never a reason to edit the expectation to fit.

Comparison is strict about types: ``True`` is not ``1``, ``5.0`` is not ``5`` and a tuple
is not a list, because ``==`` alone would let those slips through.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from retort.parsers import ParseError, loads

CORPUS_PATH = Path(__file__).parent / "data" / "json_corpus.jsonl"
CASE_KEYS = {"id", "category", "input", "expected"}
OPTIONAL_KEYS = {"note"}
CONTROL_CATEGORY = "valid"
MIN_CASES = 150
MIN_PER_CATEGORY = 5
# Share of non-control inputs that json.loads must reject; the rest are the double-encoded
# controls, which are valid JSON text but mean something else.
MIN_MALFORMED_SHARE = 0.9


def _load_corpus() -> list[dict[str, Any]]:
    cases = []
    with CORPUS_PATH.open(encoding="utf-8") as corpus:
        for line_no, line in enumerate(corpus, start=1):
            if line.strip():
                case = json.loads(line)
                case["line"] = line_no
                cases.append(case)
    return cases


CASES = _load_corpus()


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


def _describe(case: dict[str, Any], outcome: str) -> str:
    note = f"\n  note:     {case['note']}" if "note" in case else ""
    return (
        f"corpus case {case['id']!r} ({case['category']}, line {case['line']}){note}\n"
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


def test_control_cases_mean_exactly_what_json_loads_returns() -> None:
    # The policy: valid JSON comes back exactly as json.loads returns it.
    controls = [case for case in CASES if case["category"] == CONTROL_CATEGORY]
    assert controls
    wrong = [c["id"] for c in controls if not _same(json.loads(c["input"]), c["expected"])]
    assert wrong == []


def _json_loads_rejects(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


def test_most_non_control_cases_are_really_malformed() -> None:
    faulty = [case for case in CASES if case["category"] != CONTROL_CATEGORY]
    rejected = [case for case in faulty if _json_loads_rejects(case["input"])]
    assert len(rejected) >= MIN_MALFORMED_SHARE * len(faulty), (
        f"json.loads accepts {len(faulty) - len(rejected)} of {len(faulty)} non-control cases"
    )
