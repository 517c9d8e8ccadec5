"""Adversarial inputs for lenient JSON parsers: shapes that make naive repairers slow.

Each shape is a function ``size -> text`` returning a text of about ``size`` characters
(within 10% from 1 KB up), built from a short pattern repeated ``n`` times. They are the
inputs that turn a careless repairer quadratic (rescanning the rest of the text at every
quote, comma or closer), recursive (one Python frame per bracket) or memory-hungry (a
million-digit number), modelled on what models really send: raw newlines in code,
unescaped inner quotes, comments, fences, Python and JavaScript dialects, text cut off.

Use them to check that a parser stays total and linear::

    from retort.parsers import JSONParseError, loads
    from retort.plugins.testing.adversarial import SHAPES

    for name, shape in SHAPES.items():
        text = shape(1024 * 1024)
        try:
            loads(text)
        except JSONParseError:
            pass  # giving up is fine; RecursionError, MemoryError or minutes are not

Each function's ``__doc__`` spells its pattern, e.g. ``'[' + '"a' * n``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

__all__ = ["SHAPES", "Shape", "texts"]

Shape = Callable[[int], str]
"""A function ``size -> text`` returning about ``size`` characters."""


def _repeat(head: str, unit: str, tail: str = "") -> Shape:
    """``head + unit * n + tail`` with ``n`` chosen so the text is about ``size`` long."""

    def shape(size: int) -> str:
        count = max(1, (size - len(head) - len(tail)) // len(unit))
        return head + unit * count + tail

    shape.__doc__ = (
        (f"{head!r} + " if head else "") + f"{unit!r} * n" + (f" + {tail!r}" if tail else "")
    )
    return shape


def _balanced_brackets(size: int) -> str:
    """'[' * n + ']' * n: valid JSON nested far deeper than any parser's limit."""
    half = max(1, size // 2)
    return "[" * half + "]" * half


_CREATE_RECORD = '{"file_name": "a.py", "code": "def f():\n    return 1\n"}, '

_SHAPES: dict[str, Shape] = {
    # the first eight: where the first versions of retort's repairer went quadratic
    "quote_letter_runs": _repeat("[", '"a'),
    "braces_in_open_string": _repeat('{"k": "', "a}, "),
    "unclosed_string_then_key_fragments": _repeat('{"a": "open', ', "b'),
    "open_key_runs": _repeat("", '{"a'),
    "colons": _repeat("", ":"),
    "key_then_colons": _repeat('{"a"', ":"),
    "open_brackets": _repeat("", "["),
    "open_key_colon_runs": _repeat("", '{"a":'),
    # strings as models write them
    "invalid_escapes": _repeat("[", '"it\\\'s", ', '"end"]'),
    "hex_escapes": _repeat("[", '"\\x41", ', '"end"]'),
    "raw_tabs": _repeat("[", '"a\tb", ', '"end"]'),
    "raw_newlines": _repeat("[", '"a\nb", ', '"end"]'),
    "create_files_raw_newlines": _repeat("[", _CREATE_RECORD, '{"file_name": "b.py"}]'),
    "inner_quotes": _repeat("[", '"say "hi" twice", ', '"end"]'),
    "unclosed_strings": _repeat("[", '"open,\n', '"end"]'),
    "single_quote_letter_runs": _repeat("[", "'a"),
    "curly_quotes": _repeat("{", "“k”: “v”, ", "}"),
    "surrogate_escapes": _repeat("[", '"\\ud800", ', '"end"]'),
    "raw_surrogates": _repeat('["', "\ud800", '"]'),
    "truncated_unicode_escapes": _repeat('["', "\\u12"),
    "string_backslashes": _repeat('{"a": "', "\\"),
    "escaped_json": _repeat("{", '\\"k\\": \\"v\\", ', "}"),
    # nesting
    "open_arrays_in_objects": _repeat("", '{"a":['),
    "alternating_opens": _repeat("", "[{"),
    "balanced_deep_nesting": _balanced_brackets,
    "mismatched_closers": _repeat("[", "[}"),
    # punctuation runs
    "commas": _repeat("[", ",", "]"),
    "quotes": _repeat("", '"'),
    "backslashes": _repeat("[", "\\"),
    "minus_runs": _repeat("[", "-", "]"),
    "ellipsis": _repeat("[", "1, ..., ", "2]"),
    # comments, fences, prose
    "unclosed_block_comments": _repeat("[", "/*"),
    "line_comments": _repeat("[\n", "1, // note\n", "2]"),
    "hash_comments_with_brackets": _repeat("[\n", "1, # note {[\n", "2]"),
    "fences": _repeat("", "```\n"),
    "nested_fences": _repeat("", '```json\n{"a": '),
    "prose_with_braces": _repeat("", "See {x} and [y] here. "),
    "unclosed_think_block": _repeat("<think>", 'maybe {"a": ['),
    # values and keys
    "unquoted_words": _repeat("[", "alpha beta, ", "]"),
    "keys_without_values": _repeat("{", '"key", ', "}"),
    "keys_with_empty_values": _repeat("{", '"k": , ', "}"),
    "top_level_values": _repeat("", "{}"),
    "true_fragments": _repeat("[", "tru, ", "tru"),
    "huge_number": _repeat("[", "1", "]"),
    "huge_exponent": _repeat("[1e", "9", "]"),
    "python_reprs": _repeat("[", "{'a': True, 'b': None, 'c': (1, 2)}, ", "]"),
    "missing_commas": _repeat("[", '{"a": 1}\n', "]"),
    "trailing_commas": _repeat("[", "[1, 2,],\n", "]"),
}

SHAPES: Mapping[str, Shape] = MappingProxyType(_SHAPES)
"""Every shape by name, read-only; iterate it to test a parser on all of them."""


def texts(size: int) -> dict[str, str]:
    """Every shape's text at about ``size`` characters, by shape name.

    Args:
        size: the length wanted, in characters (not UTF-8 bytes: ``curly_quotes`` is
            longer encoded, and ``raw_surrogates`` cannot be encoded at all).

    Returns:
        A new dict from shape name to text, in the order of :data:`SHAPES`.
    """
    return {name: shape(size) for name, shape in SHAPES.items()}
