"""Hypothesis strategies for JSON as models write it, valid and malformed.

- :func:`json_values`: values ``json.loads`` can return (no NaN): None, booleans, ints,
  floats, text, lists and dicts, nested.
- :func:`json_documents`: ``(text, value)`` pairs of valid JSON, dumped with a random
  indent, separators and ``ensure_ascii``; ``json.loads(text) == value``.
- :func:`malformed_json`: ``(text, value)`` pairs where ``text`` is ``value`` written with
  the slips models make: trailing commas, single quotes, Python literals and tuples,
  unquoted keys, comments, missing commas between lines, a fence, prose around it,
  the final closers cut off. ``retort.parsers.loads(text)`` recovers ``value``.

Use them to test code that consumes model replies::

    @given(malformed_json())
    def test_my_handler(case):
        text, value = case
        assert my_handler(text) == expected_for(value)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

__all__ = ["json_documents", "json_values", "malformed_json"]

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_RESERVED = frozenset({"true", "false", "null", "True", "False", "None", "NaN", "Infinity"})
_KEYS = st.one_of(
    st.text(max_size=10),
    st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True),
)
_PROSE_BEFORE = ("Here is the JSON you asked for:", "Sure! Result:", "Output:")
_PROSE_AFTER = ("Let me know if you need anything else.", "Hope this helps!")
_COMMENTS = ("// note", "# note", "/* note */")


def json_values(*, max_leaves: int = 20) -> st.SearchStrategy[Any]:
    """Values ``json.loads`` can return, without NaN or infinities."""
    return _values(_KEYS, max_leaves)


def _values(keys: st.SearchStrategy[str], max_leaves: int) -> st.SearchStrategy[Any]:
    return st.recursive(
        _SCALARS,
        lambda children: st.one_of(
            st.lists(children, max_size=5),
            st.dictionaries(keys, children, max_size=5),
        ),
        max_leaves=max_leaves,
    )


# In a malformed document the parser strips raw white space around a key ({"name ": 1,}
# means "name"), so the keys of malformed_json have none, except all-blank ones it keeps.
_KEY_SPACE = " \t\r\n"
_MALFORMED_KEYS = _KEYS.filter(lambda key: key.strip(_KEY_SPACE) in (key, ""))


@st.composite
def json_documents(draw: st.DrawFn, *, max_leaves: int = 20) -> tuple[str, Any]:
    """``(text, value)``: ``value`` dumped as valid JSON in a random layout."""
    value = draw(json_values(max_leaves=max_leaves))
    indent = draw(st.sampled_from([None, 0, 2, 4, "\t"]))
    separators = draw(st.sampled_from([None, (",", ":"), (", ", ": "), (" ,", " : ")]))
    ensure_ascii = draw(st.booleans())
    text = json.dumps(value, indent=indent, separators=separators, ensure_ascii=ensure_ascii)
    return text, value


@dataclass(frozen=True)
class _Style:
    """Which slips to make while writing a value."""

    single_quotes: bool
    python_literals: bool
    tuples: bool
    unquoted_keys: bool
    trailing_commas: bool
    comments: bool
    missing_commas: bool


_STYLES = st.builds(
    _Style,
    single_quotes=st.booleans(),
    python_literals=st.booleans(),
    tuples=st.booleans(),
    unquoted_keys=st.booleans(),
    trailing_commas=st.booleans(),
    comments=st.booleans(),
    missing_commas=st.booleans(),
)


def _string(text: str, style: _Style) -> str:
    encoded = json.dumps(text)
    if not style.single_quotes:
        return encoded
    inner = encoded[1:-1].replace('\\"', '"').replace("'", "\\'")
    return f"'{inner}'"


def _scalar(value: Any, style: _Style) -> str:
    if isinstance(value, str):
        return _string(value, style)
    if style.python_literals and (value is None or isinstance(value, bool)):
        return repr(value)
    return json.dumps(value)


def _key(key: str, style: _Style) -> str:
    if style.unquoted_keys and _IDENTIFIER.fullmatch(key) and key not in _RESERVED:
        return key
    return _string(key, style)


def _join(items: list[str], style: _Style, opener: str, closer: str) -> str:
    """Members one per line, with the style's commas and comments."""
    if not items:
        return opener + closer
    lines = []
    for n, item in enumerate(items):
        last = n == len(items) - 1
        if opener == "(" and len(items) == 1:
            comma = ","  # (x,) is how Python writes a one-element tuple
        elif last:
            comma = "," if style.trailing_commas else ""
        elif style.missing_commas and n % 2 == 1:
            comma = ""  # a line break still separates the members
        else:
            comma = ","
        comment = f" {_COMMENTS[n % len(_COMMENTS)]}" if style.comments and n % 2 == 0 else ""
        lines.append(f"  {item}{comma}{comment}")
    return opener + "\n" + "\n".join(lines) + "\n" + closer


def _render(value: Any, style: _Style, *, top: bool = True) -> str:
    """``value`` written in ``style``. Recursion is fine: generated values are shallow.

    Tuples are used for nested lists only: a reply is a list or an object.
    """
    if isinstance(value, dict):
        members = [f"{_key(k, style)}: {_render(v, style, top=False)}" for k, v in value.items()]
        return _join(members, style, "{", "}")
    if isinstance(value, list):
        items = [_render(v, style, top=False) for v in value]
        if style.tuples and not top:
            return _join(items, style, "(", ")")
        return _join(items, style, "[", "]")
    return _scalar(value, style)


@st.composite
def malformed_json(draw: st.DrawFn, *, max_leaves: int = 20) -> tuple[str, Any]:
    """``(text, value)``: ``value`` written with the slips models make.

    The slips keep the meaning recoverable, so ``retort.parsers.loads(text) == value``.
    """
    value = draw(_values(_MALFORMED_KEYS, max_leaves))
    text = _render(value, draw(_STYLES))
    if not isinstance(value, dict | list):
        return text, value
    # Text is cut off at its end: nothing may follow the cut, not even a closing fence.
    cut = draw(st.integers(min_value=0, max_value=4))
    if cut:
        text = _cut_closers(text, cut)
    if draw(st.booleans()):
        text = f"```json\n{text}" if cut else f"```json\n{text}\n```"
    if draw(st.booleans()):
        text = f"{draw(st.sampled_from(_PROSE_BEFORE))}\n{text}"
    if not cut and draw(st.booleans()):
        text = f"{text}\n{draw(st.sampled_from(_PROSE_AFTER))}"
    return text, value


def _cut_closers(text: str, count: int) -> str:
    """Drop up to ``count`` closing brackets (and the whitespace between) from the end."""
    end = len(text)
    for _ in range(count):
        stripped = text[:end].rstrip()
        if not stripped or stripped[-1] not in "]})":
            break
        end = len(stripped) - 1
    return text[:end]
