"""The feedback message sent to the model after a failed attempt.

Precedence: the spec's own template for the failure (``Expect.feedback``, by label such
as ``"sections:missing"`` and then by kind) -> the ``retort_feedback`` hook (plugins; the
built-in wording is registered ``trylast``) -> :func:`default_feedback`. Whatever the
source, the message is never empty and never the text ``"None"``: a silent re-ask at
temperature 0 would only get the same reply again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pluggy

    from retort.core.expect import Expect, Failure

__all__ = ["default_feedback", "word_feedback"]


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


def word_feedback(failure: Failure, expect: Expect, plugins: pluggy.PluginManager) -> str:
    """The feedback message for ``failure`` (see the module docs for the precedence)."""
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
