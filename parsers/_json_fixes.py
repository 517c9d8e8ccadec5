"""Fix records of the lenient JSON chain: what changed, which changes were guesses.

``SAFE_KINDS`` cannot change what a text means; ``GUESS_KINDS`` read an intent into it.
``_Fixes`` collects the fixes of one repair, caps what it keeps and refuses noise.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from retort.core.errors import JSONParseError

__all__ = ["GUESS_KINDS", "SAFE_KINDS", "STAGES", "Fix", "Fixes", "Repaired"]

STAGES = ("strict", "extracted", "python", "repaired")

# Fixes that cannot change what the text means: taking the value out of its wrapping,
# dialects (Python, JSON5, comments, quote styles), and closers missing at the very end.
SAFE_KINDS = frozenset(
    {
        "fence",
        "prose",
        "whitespace",
        "double_encoded",
        "escaped_json",
        "python_literal",
        "literal_case",
        "single_quotes",
        "curly_quotes",
        "tuple",
        "python_set",
        "python_escape",
        "trailing_comma",
        "extra_comma",
        "extra_colon",
        "comment",
        "unquoted_key",
        "missing_colon",
        "missing_comma",
        "missing_opener",
        "closed_container",
        "raw_newline",
        "control_char",
        "invalid_escape",
        "hex_number",
        "octal_number",
        "binary_number",
        "leading_zero",
        "plus_sign",
        "number_format",
        "undefined",
        "key_whitespace",
    }
)
# Fixes that read an intent into the text: another reading was possible, and the value
# may not be what the model meant. ``Repaired.guessed`` lists these.
GUESS_KINDS = frozenset(
    {
        "inner_quote",
        "unclosed_string",
        "mixed_quotes",
        "unquoted_value",
        "adjacent_strings",
        "early_closer",
        "mismatched_closer",
        "extra_closer",
        "array_members",
        "missing_closer",
        "missing_value",
        "truncated_string",
        "truncated_literal",
        "truncated_number",
        "doubled_quotes",
        "stray_quote",
        "ellipsis",
        "garbage",
        "multiple_values",
    }
)

_MAX_FIXES = 1000
_GUESS_FLOOR = 1000
_CHARS_PER_GUESS = 32
# Guesses about the structure, not about a string's content: a flood of these is noise.
_STRUCTURE_GUESSES = frozenset(
    {
        "early_closer",
        "mismatched_closer",
        "extra_closer",
        "missing_closer",
        "array_members",
        "missing_value",
        "truncated_literal",
        "truncated_number",
        "stray_quote",
        "ellipsis",
        "garbage",
    }
)
_STAGE_OF_KIND = {
    "double_encoded": 0,
    "fence": 1,
    "prose": 1,
    "python_literal": 2,
    "single_quotes": 2,
    "tuple": 2,
    "python_set": 2,
    "python_escape": 2,
    "whitespace": 1,
    "escaped_json": 3,
}


class Fix(NamedTuple):
    """One change the repair made.

    Attributes:
        kind: a short code, e.g. ``trailing_comma``, ``single_quotes``, ``fence``.
        position: the character offset in the input where the change applies.
        detail: what was changed, for people (``removed ',' before '}'``).
    """

    kind: str
    position: int
    detail: str


class Repaired(NamedTuple):
    """The outcome of :func:`repair`.

    Attributes:
        value: the parsed value.
        stage: the stage that succeeded, one of ``STAGES``.
        fixes: every change made, in the order they were made (at most 1000).
        guessed: the fixes that guessed at an intent (kinds in ``GUESS_KINDS``): inner
            quotes, bare multi-word values, early closers, truncation... Empty when every
            fix was safe (kinds in ``SAFE_KINDS``), which cannot change the meaning.
    """

    value: Any
    stage: str
    fixes: tuple[Fix, ...]
    guessed: tuple[Fix, ...] = ()

    @property
    def safe(self) -> bool:
        """Whether no fix guessed (every fix is in ``SAFE_KINDS``, or there was none)."""
        return not self.guessed


class Fixes:
    """Collects fixes with positions shifted by ``offset``; keeps every kind, caps entries."""

    __slots__ = ("guess_limit", "guesses", "items", "kinds", "offset", "total_guesses")

    def __init__(self, length: int = 0) -> None:
        self.items: list[Fix] = []
        self.guesses: list[Fix] = []
        self.kinds: set[str] = set()
        self.offset = 0
        self.total_guesses = 0
        # A text that needs a guess about its structure every few characters is not JSON
        # that went wrong: past this many, reading it would only spend time on noise.
        self.guess_limit = max(_GUESS_FLOOR, length // _CHARS_PER_GUESS)

    def add(self, kind: str, position: int, detail: str) -> None:
        self.kinds.add(kind)
        if len(self.items) < _MAX_FIXES:
            self.items.append(Fix(kind, position + self.offset, detail))
        if kind not in SAFE_KINDS:
            if len(self.guesses) < _MAX_FIXES:
                self.guesses.append(Fix(kind, position + self.offset, detail))
            if kind not in _STRUCTURE_GUESSES:
                return
            self.total_guesses += 1
            if self.total_guesses > self.guess_limit:
                raise JSONParseError(
                    f"Expected JSON, found text that needs more than {self.guess_limit} "
                    f"guesses about its structure (one every {_CHARS_PER_GUESS} characters "
                    "or more) to read as JSON: it is not a JSON value",
                    position=position + self.offset,
                    stage="repaired",
                )

    def merge(self, other: Fixes) -> None:
        """Take the fixes of a trial read that was kept (their offsets are final)."""
        self.kinds |= other.kinds
        self.items.extend(other.items[: _MAX_FIXES - len(self.items)])
        self.guesses.extend(other.guesses[: _MAX_FIXES - len(self.guesses)])
        self.total_guesses += other.total_guesses

    def stage(self) -> str:
        if not self.kinds:
            return "strict"
        return STAGES[max(_STAGE_OF_KIND.get(kind, 3) for kind in self.kinds)]
