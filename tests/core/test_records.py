"""The frozen records behave as the frozen, slotted dataclasses they replaced."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest

from retort.core._records import Record, fields_of
from retort.core.errors import FieldError
from retort.parsers import FencedBlock, Sections

RECORDS: list[tuple[Record, str]] = [
    (
        FieldError("files[0].code", "Field required", "missing"),
        "FieldError(path='files[0].code', message='Field required', kind='missing')",
    ),
    (
        FencedBlock('{"a": 1}', "json", "json x", 0, 16, True),
        "FencedBlock(body='{\"a\": 1}', lang='json', info='json x', start=0, end=16, closed=True)",
    ),
    (
        Sections(("A", "B"), ("a", "b"), "pre", False, (("X", "x"),)),
        "Sections(names=('A', 'B'), values=('a', 'b'), preamble='pre', partial=False, "
        "extra=(('X', 'x'),))",
    ),
]
IDS = [type(record).__name__ for record, _ in RECORDS]


@pytest.mark.parametrize(("record", "text"), RECORDS, ids=IDS)
def test_keywords_repr_equality_and_hash(record: Record, text: str) -> None:
    fields: dict[str, Any] = fields_of(record)
    assert list(fields) == list(type(record).__match_args__)
    assert type(record)(**fields) == type(record)(*fields.values()) == record
    assert repr(record) == text
    values = tuple(fields.values())
    assert hash(record) == hash(values)  # a frozen dataclass hashed its field tuple
    assert record != values


@pytest.mark.parametrize(("record", "text"), RECORDS, ids=IDS)
def test_frozen_and_slotted(record: Record, text: str) -> None:
    name = type(record).__match_args__[0]
    with pytest.raises(AttributeError, match="frozen"):
        setattr(record, name, "x")
    with pytest.raises(AttributeError, match="frozen"):
        delattr(record, name)
    with pytest.raises(AttributeError):
        record.other = 1  # type: ignore[attr-defined]
    assert not hasattr(record, "__dict__")


@pytest.mark.parametrize(("record", "text"), RECORDS, ids=IDS)
def test_pickle_and_copy(record: Record, text: str) -> None:
    for clone in (pickle.loads(pickle.dumps(record)), copy.copy(record), copy.deepcopy(record)):
        assert clone == record
        assert type(clone) is type(record)


def test_defaults_and_patterns() -> None:
    assert FieldError("", "bad") == FieldError(path="", message="bad", kind="")
    assert FieldError("", "bad") != FieldError("", "bad", "missing")
    assert Sections(("A",), ("a",)) == Sections(("A",), ("a",), "", False, ())
    match FencedBlock("x", "py", "py", 0, 9, False):
        case FencedBlock(body, lang, closed=False):
            assert (body, lang) == ("x", "py")
        case _:
            pytest.fail("a FencedBlock matches its positional fields")
