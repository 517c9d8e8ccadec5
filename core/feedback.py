"""The feedback message sent to the model after a failed attempt.

Precedence: the spec's own template for the failure (``Expect.feedback``, by label such
as ``"sections:missing"`` and then by kind) -> the ``retort_feedback`` hook (plugins; the
built-in wording is registered ``trylast``) -> :func:`default_feedback`. Whatever the
source, the message is never empty and never the text ``"None"``: a silent re-ask at
temperature 0 would only get the same reply again. A type or validator failure of a value
that was read from JSON by guessing also names the guesses: the fault may be the syntax.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pluggy

    from retort.core.expect import Expect, Failure

__all__ = ["default_feedback", "word_feedback"]

_LISTED = 5  # fixes named one by one; the rest are counted
# What to do instead, by fix kind; kinds not here fall back to _ADVICE_DEFAULT.
_ADVICE = {
    "inner_quote": 'escape quotes inside strings as \\"',
    "doubled_quotes": 'escape quotes inside strings as \\"',
    "stray_quote": 'escape quotes inside strings as \\"',
    "adjacent_strings": 'escape quotes inside strings as \\"',
    "unclosed_string": "close every string",
    "unquoted_value": "quote every string value",
    "early_closer": "close every bracket, in order",
    "mismatched_closer": "close every bracket, in order",
    "extra_closer": "close every bracket, in order",
    "closed_container": "close every bracket, in order",
    "missing_value": "give every key a value",
    "truncated_string": "send the whole value (yours was cut off)",
    "truncated_literal": "send the whole value (yours was cut off)",
    "truncated_number": "send the whole value (yours was cut off)",
    "ellipsis": "write out every item instead of '...'",
    "garbage": "send one JSON value and nothing else",
    "multiple_values": "send one JSON value and nothing else",
    "fence": "no code fence",
    "prose": "no text around the value",
    "trailing_comma": "no trailing commas",
    "comment": "no comments",
    "python_literal": "true, false and null rather than Python literals",
    "literal_case": "true, false and null in lower case",
    "single_quotes": "double quotes around strings and keys",
    "curly_quotes": "straight double quotes",
    "unquoted_key": "quote every key",
}
_ADVICE_DEFAULT = "escape quotes inside strings, quote every string value, close every bracket"


def _again(expect: Expect, lead: str) -> str:
    if not expect.instructions:
        return lead
    return f"{lead}\n\n{expect.instructions}"


def default_feedback(failure: Failure, expect: Expect) -> str:
    """retort's own wording: the problem, precisely, then the format to use."""
    message = failure.message.strip() or f"the reply failed the {failure.kind} check"
    if failure.kind == "empty":
        return _again(expect, "Your reply was empty. Answer the task in the required format.")
    if failure.kind == "regex":
        return _again(
            expect, f"Your reply did not match the required format. {message} Reply again in it."
        )
    if failure.kind == "sections":
        return _again(
            expect,
            f"Your reply could not be read: {message}\nReply again in exactly this format.",
        )
    if failure.label in ("json:guessed", "json:not_strict"):
        return _again(expect, message)  # the message already names each fix and the remedy
    if failure.kind == "json":
        return _again(
            expect,
            f"Invalid JSON: {message}\n"
            "Reply again with the JSON value only, in the required format.",
        )
    if failure.kind == "type":
        return _again(
            expect,
            f"The JSON has the wrong structure. {message}\nFix these fields and reply again with "
            "the whole JSON value.",
        )
    return _again(
        expect, f"Invalid response: {message}\nFix it and reply again in the same format."
    )


def _usable(text: object) -> bool:
    return isinstance(text, str) and bool(text.strip()) and text.strip() != "None"


def word_feedback(
    failure: Failure,
    expect: Expect,
    plugins: pluggy.PluginManager,
    *,
    text: str = "",
    guessed: Sequence[tuple[str, int, str]] = (),
) -> str:
    """The feedback message for ``failure`` (see the module docs for the precedence).

    When the value that failed was read from JSON by guessing (``guessed``, positions
    into ``text``), a paragraph naming the guesses goes before the format instructions:
    the fault may be in the JSON syntax rather than in the content.
    """
    worded = _worded(failure, expect, plugins)
    if not guessed or failure.kind not in ("type", "validator"):
        return worded
    note = guess_note(text, guessed)
    tail = expect.instructions
    if tail and worded.endswith(tail):  # keep the format instructions last
        return f"{worded[: -len(tail)].rstrip()}\n\n{note}\n\n{tail}"
    return f"{worded}\n\n{note}"


def _worded(failure: Failure, expect: Expect, plugins: pluggy.PluginManager) -> str:
    template = expect.feedback.get(failure.label) or expect.feedback.get(failure.kind)
    if template:
        text = template.format(
            message=failure.message, instructions=expect.instructions, kind=failure.kind
        )
        if _usable(text):
            return text
    worded = plugins.hook.retort_feedback(failure=failure, expect=expect)
    if _usable(worded):
        return str(worded)
    return default_feedback(failure, expect)


# ------------------------------------------------------------------ naming JSON fixes


def _where(text: str, position: int) -> str:
    line = text.count("\n", 0, position) + 1
    column = position - text.rfind("\n", 0, position)  # 1-based: rfind is -1 on line 1
    return f"at line {line}, column {column}"


def describe_fixes(text: str, fixes: Sequence[tuple[str, int, str]]) -> str:
    """``at line L, column C <detail> (<kind>); ...``: the first few fixes, then a count.

    Args:
        text: the text the fixes' positions point into.
        fixes: ``(kind, position, detail)`` triples, as on :class:`~retort.core.run.Attempt`.
    """
    named = [
        " ".join(filter(None, (_where(text, position), detail, f"({kind})")))
        for kind, position, detail in fixes[:_LISTED]
    ]
    more = len(fixes) - _LISTED
    return "; ".join(named) + (f"; and {more} more" if more > 0 else "")


def _advice(kinds: Iterable[str]) -> str:
    advice = list(dict.fromkeys(_ADVICE[kind] for kind in kinds if kind in _ADVICE))
    return ", ".join(advice) if advice else _ADVICE_DEFAULT


def guessed_message(text: str, guessed: Sequence[tuple[str, int, str]]) -> str:
    """The problem of a reply whose JSON could only be read by guessing."""
    return (
        f"Your JSON could only be read by guessing: {describe_fixes(text, guessed)}. "
        f"Send valid JSON: {_advice(kind for kind, _, _ in guessed)}."
    )


def not_strict_message(text: str, fixes: Sequence[tuple[str, int, str]]) -> str:
    """The problem of a reply that needed any fix where valid JSON was required."""
    return (
        f"Your reply is not valid JSON as it stands; reading it needed: "
        f"{describe_fixes(text, fixes)}. Send only the JSON value, valid as written: "
        f"{_advice(kind for kind, _, _ in fixes)}."
    )


def guess_note(text: str, guessed: Sequence[tuple[str, int, str]]) -> str:
    """The paragraph added to a type or validator failure of a value read by guessing."""
    return (
        f"Note: your JSON could only be read by guessing: {describe_fixes(text, guessed)}. "
        "If a guess was wrong, the fix is in the JSON syntax, not the content: "
        f"{_advice(kind for kind, _, _ in guessed)}."
    )
