"""Small validators and combinators for :class:`~retort.core.expect.Expect`.

A validator takes the typed value and returns ``None`` (or ``True`` / ``"success"``) to
accept it, or an error message to reject it; raising ``ValueError`` works too. The
helpers here build common ones and combine them, attrs-style::

    Expect.json(list[FileSpec], validators=[each(fields(code=non_empty))])
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from retort.core.expect import Validator, check_value

__all__ = ["all_of", "each", "fields", "matches", "non_empty", "predicate"]


def _named(name: str, fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    fn.__name__ = name
    fn.__qualname__ = name
    return fn


def predicate(test: Callable[[Any], bool], message: str) -> Validator:
    """Reject values for which ``test(value)`` is false, with ``message``."""

    def check(value: Any) -> str | None:
        return None if test(value) else message

    return _named(f"predicate({getattr(test, '__name__', 'test')})", check)


def non_empty(value: Any) -> str | None:
    """Reject ``None``, empty or whitespace-only strings and empty containers."""
    if value is None:
        return "the value is missing"
    if isinstance(value, str):
        return None if value.strip() else "the value is empty"
    try:
        return None if len(value) else "the value is empty"
    except TypeError:
        return None


def matches(pattern: str | re.Pattern[str]) -> Validator:
    """Reject strings that do not contain ``pattern`` (``re.search``; anchor with ^$)."""
    compiled = re.compile(pattern) if isinstance(pattern, str) else pattern

    def check(value: Any) -> str | None:
        if isinstance(value, str) and compiled.search(value) is not None:
            return None
        return f"{value!r:.80} does not match {compiled.pattern!r}"

    return _named(f"matches({compiled.pattern!r})", check)


def all_of(*validators: Validator) -> Validator:
    """Every validator in order; the first rejection wins. Async validators allowed."""

    async def check(value: Any) -> str | None:
        failure = await check_value(validators, value)
        return None if failure is None else failure.message

    return _named("all_of", check)


def each(*validators: Validator) -> Validator:
    """Apply validators to every item of an iterable value; messages name the index."""

    async def check(value: Iterable[Any]) -> str | None:
        for index, item in enumerate(value):
            failure = await check_value(validators, item)
            if failure is not None:
                return f"item {index}: {failure.message}"
        return None

    return _named("each", check)


def fields(**validators: Validator) -> Validator:
    """Validate attributes (or keys) of the value by name: ``fields(code=non_empty)``."""

    async def check(value: Any) -> str | None:
        for name, validator in validators.items():
            item = value.get(name) if isinstance(value, dict) else getattr(value, name, None)
            failure = await check_value([validator], item)
            if failure is not None:
                return f"{name}: {failure.message}"
        return None

    return _named("fields", check)
