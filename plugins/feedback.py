"""Built-in plugin: retort's feedback wording, registered ``trylast`` so any plugin that
words a failure itself takes precedence."""

from __future__ import annotations

from retort.core.expect import Expect, Failure
from retort.core.feedback import default_feedback
from retort.core.hookspecs import hookimpl

__all__ = ["retort_feedback"]


@hookimpl(trylast=True)
def retort_feedback(failure: Failure, expect: Expect) -> str:
    """The default wording of :func:`retort.core.feedback.default_feedback`."""
    return default_feedback(failure, expect)
