"""Calling hooks whose implementations may return awaitables (pluggy itself is sync).

The public names are exported by :mod:`retort.core.plugins`. Each helper runs the
implementations one at a time in pluggy's order (``tryfirst`` ones, then the others from
the last registered to the first, then ``trylast`` ones) and awaits each result before
the next implementation is called. Hook wrappers cannot wrap calls made this way, so the
helpers refuse them; the manager already refuses wrappers on the hooks that may be async.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar, cast

import pluggy

from retort.core.errors import ConfigurationError

__all__ = ["call_all", "call_chain", "call_impl", "call_until", "plain_impls"]

_T = TypeVar("_T")


async def call_all(hook_caller: pluggy.HookCaller, **kwargs: Any) -> list[Any]:
    """Call every implementation in pluggy's order, awaiting each result before the next.

    Args:
        hook_caller: the hook, e.g. ``pm.hook.retort_validate``.
        **kwargs: the hook's arguments, by name.

    Returns:
        The results in call order, awaitables awaited, ``None`` results dropped.

    Raises:
        Exception: whatever an implementation raises propagates unchanged; the later
            implementations are not called.
        TypeError: an argument of the hookspec is missing.
        ConfigurationError: the hook has a wrapper implementation (not supported here).
    """
    _check_arguments(hook_caller, kwargs)
    results = []
    for impl in plain_impls(hook_caller):
        result = await _acall_impl(hook_caller, impl, kwargs)
        if result is not None:
            results.append(result)
    return results


async def call_until(
    hook_caller: pluggy.HookCaller, accept: Callable[[Any], bool], **kwargs: Any
) -> Any | None:
    """Call implementations one at a time until one returns a result ``accept`` takes.

    Order is pluggy's: ``tryfirst`` ones, then the rest from the last registered to the
    first, then ``trylast`` ones. Later implementations are not called at all.

    Args:
        hook_caller: the hook, e.g. ``pm.hook.retort_repair_json``.
        accept: decides whether a (non-``None``, awaited) result is good enough.
        **kwargs: the hook's arguments, by name.

    Returns:
        The first accepted result, or ``None`` when no implementation produced one.

    Raises:
        Exception: whatever an implementation or ``accept`` raises propagates unchanged.
        TypeError: an argument of the hookspec is missing.
        ConfigurationError: the hook has a wrapper implementation (not supported here).
    """
    _check_arguments(hook_caller, kwargs)
    for impl in plain_impls(hook_caller):
        result = await _acall_impl(hook_caller, impl, kwargs)
        if result is not None and accept(result):
            return result
    return None


async def call_chain(hook_caller: pluggy.HookCaller, name: str, value: _T, **kwargs: Any) -> _T:
    """Thread a value through every implementation (``retort_before_send`` and friends).

    Each implementation receives the current value as the keyword argument ``name``; a
    result other than ``None`` (awaited if needed) becomes the current value.

    Args:
        hook_caller: the hook, e.g. ``pm.hook.retort_before_send``.
        name: the argument that carries the value, e.g. ``"request"``.
        value: the initial value.
        **kwargs: the hook's other arguments.

    Returns:
        The value as the last implementation left it.

    Raises:
        Exception: whatever an implementation raises propagates unchanged.
        TypeError: ``name`` is also among ``kwargs``, or a hookspec argument is missing.
        ConfigurationError: the hook has a wrapper implementation (not supported here).
    """
    if name in kwargs:
        raise TypeError(f"call_chain got {name!r} both as the chained value and in kwargs")
    current = value
    _check_arguments(hook_caller, {**kwargs, name: current})
    for impl in plain_impls(hook_caller):
        result = await _acall_impl(hook_caller, impl, {**kwargs, name: current})
        if result is not None:
            current = cast("_T", result)
    return current


def _check_arguments(hook_caller: pluggy.HookCaller, kwargs: dict[str, Any]) -> None:
    if hook_caller.spec is None:
        return
    missing = [arg for arg in hook_caller.spec.argnames if arg not in kwargs]
    if missing:
        raise TypeError(f"{hook_caller.name} needs the argument(s) {', '.join(missing)}")


def plain_impls(hook_caller: pluggy.HookCaller) -> list[pluggy.HookImpl]:
    """The implementations in pluggy's call order (it iterates its list in reverse)."""
    impls = list(reversed(hook_caller.get_hookimpls()))
    for impl in impls:
        if impl.wrapper or impl.hookwrapper:
            raise ConfigurationError(
                f"plugin {impl.plugin_name!r} wraps {hook_caller.name!r}, but retort calls "
                "that hook's implementations one at a time and cannot run wrappers"
            )
    return impls


def call_impl(hook_caller: pluggy.HookCaller, impl: pluggy.HookImpl, kwargs: dict[str, Any]) -> Any:
    """Call one implementation; return its result (``None`` included), not awaited."""
    # Going through the caller's hook executor (pluggy's private but stable 1.x seam)
    # rather than calling impl.function keeps pluggy's argument passing, its
    # HookCallError, and add_hookcall_monitoring / RETORT_TRACE_HOOKS for every call.
    outcome = hook_caller._hookexec(hook_caller.name, [impl], kwargs, False)
    results = cast("list[Any]", outcome)
    return results[0] if results else None


async def _acall_impl(
    hook_caller: pluggy.HookCaller, impl: pluggy.HookImpl, kwargs: dict[str, Any]
) -> Any:
    result = call_impl(hook_caller, impl, kwargs)
    if inspect.isawaitable(result):
        result = await result
    return result
