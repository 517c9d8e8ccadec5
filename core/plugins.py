"""The plugin manager: hookspecs, built-ins, entry points, named factories, async calls.

:func:`make_plugin_manager` builds a :class:`RetortPluginManager` (a pluggy manager that
validates each plugin as it is registered) with the hookspecs of
:mod:`retort.core.hookspecs`, the built-ins (:data:`DEFAULT_PLUGINS`), the ``retort``
entry points (sorted by name, filtered by ``RETORT_LOAD_PLUGINS`` /
``RETORT_DISABLE_PLUGIN_AUTOLOAD``) and the caller's plugins, in that order; pluggy calls
the last registered first. ``RETORT_TRACE_HOOKS`` traces every hook call to stderr.

Hooks that may be async are called through :func:`call_all`, :func:`call_until` and
:func:`call_chain`: one implementation at a time, each result awaited before the next.
docs/plugins.md and docs/hooks.md tell the whole story.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import os
import sys
import threading
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

import pluggy

from retort.core import hookspecs
from retort.core._hookcalls import call_all, call_chain, call_until
from retort.core.errors import ConfigurationError
from retort.core.hookspecs import PROJECT, hookimpl

__all__ = [
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "PluginInfo",
    "RetortPluginManager",
    "active_plugin_manager",
    "agent_factories",
    "call_all",
    "call_chain",
    "call_until",
    "create_agent",
    "create_transport",
    "get_plugin_manager",
    "hookimpl",
    "make_plugin_manager",
    "plugin_sources",
    "set_plugin_manager",
    "transport_factories",
]

ENTRY_POINT_GROUP: Final = "retort"
"""The entry-point group third-party plugins publish under (``[project.entry-points.retort]``)."""

DEFAULT_PLUGINS: tuple[str, ...] = (
    "retort.plugins.feedback",
    "retort.plugins.llm_fix",
    "retort.plugins.code_check",
    "retort.adapters.proxy._plugin",
    "retort.adapters.openai._plugin",
    "retort.adapters.replay._plugin",
    "retort.adapters.native._plugin",
)
"""Module names of the built-in plugins, registered before anything else."""

_HOOK_PREFIX: Final = "retort_"
_ENV_DISABLE: Final = "RETORT_DISABLE_PLUGIN_AUTOLOAD"
_ENV_ALLOW: Final = "RETORT_LOAD_PLUGINS"
_ENV_TRACE: Final = "RETORT_TRACE_HOOKS"


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """Where a registered plugin came from (for diagnostics: what is loaded, from where).

    Attributes:
        name: the name the plugin is registered under (the entry-point name for entry
            points, the module name for modules).
        plugin: the module name, or the ``repr`` of the plugin object.
        dist_name: the distribution that provides it, or ``None`` when unknown (a plugin
            defined in a script or a test).
        dist_version: that distribution's version, or ``None``.
        source: ``"default"`` (a built-in or the ``defaults`` argument), ``"entry point"``
            or ``"code"`` (the ``plugins`` argument or a direct ``pm.register``).
    """

    name: str
    plugin: str
    dist_name: str | None
    dist_version: str | None
    source: str = "code"


# -------------------------------------------------------------------- the manager


class RetortPluginManager(pluggy.PluginManager):
    """A pluggy manager for project ``"retort"`` that rejects invalid plugins up front.

    It starts with the hookspecs of :mod:`retort.core.hookspecs` and no plugins.
    :meth:`register` raises :class:`~retort.core.errors.ConfigurationError` (naming the
    plugin and the hook) when a plugin:

    - marks with ``@hookimpl`` a hook retort does not have (unless ``optionalhook=True``,
      pluggy's opt-in for hooks of a newer retort);
    - has a ``retort_*`` function that is not marked with ``@hookimpl`` (a forgotten
      decorator would otherwise make it silently dead);
    - takes an argument the hook does not provide;
    - is a wrapper (``wrapper=True``/``hookwrapper=True``) of a hook that may be async,
      because retort calls those implementations one at a time and cannot wrap them;
    - is an ``async def`` implementation of a hook that must answer synchronously;
    - or is already registered, or its name is taken.
    """

    def __init__(self) -> None:
        super().__init__(PROJECT)
        self.add_hookspecs(hookspecs)
        # name -> (plugin, info): the plugin is kept to spot a name reused after unregister.
        self._sources: dict[str, tuple[object, PluginInfo]] = {}

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Validate and register a plugin; return the name it is registered under.

        Args:
            plugin: a module, or an object whose methods carry ``@hookimpl``.
            name: the registration name; by default the module name, or the class's
                qualified name (with ``-2``, ``-3``... for further instances).

        Returns:
            The name, or ``None`` when ``plugin`` is ``None`` or the name is blocked.

        Raises:
            ConfigurationError: the plugin is invalid (see the class docstring).
        """
        return self._register(plugin, name, origin="")

    def _register(self, plugin: object, name: str | None, origin: str) -> str | None:
        """:meth:`register`, naming where the plugin came from in any error."""
        if plugin is None:
            return None
        plugin_name = name or self.get_canonical_name(plugin)
        if self.is_blocked(plugin_name):
            return None
        where = f" (plugin from {origin})" if origin else ""
        problem = self._problem(plugin, plugin_name)
        if problem is not None:
            raise ConfigurationError(problem + where)
        try:
            registered = super().register(plugin, plugin_name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise ConfigurationError(
                f"cannot register plugin {plugin_name!r}{where}: {exc}"
            ) from exc
        try:
            # check_pending only sees hooks without a spec: the optionalhook ones pass,
            # anything else that slipped past _problem fails here.
            self.check_pending()
        except pluggy.PluginValidationError as exc:
            self.unregister(plugin)
            raise ConfigurationError(
                f"cannot register plugin {plugin_name!r}{where}: {exc}"
            ) from exc
        return registered

    def get_canonical_name(self, plugin: object) -> str:
        """The default registration name: module or class name, else the type's name.

        pluggy falls back to ``str(id(plugin))``, which makes error messages and
        diagnostics unreadable; instances get their class's qualified name instead.
        """
        if isinstance(plugin, types.ModuleType | type):
            return plugin.__name__
        base = f"{type(plugin).__module__}.{type(plugin).__qualname__}"
        name, number = base, 1
        while name in dict(self.list_name_plugin()):
            number += 1
            name = f"{base}-{number}"
        return name

    def _hook_names(self) -> list[str]:
        return sorted(name for name, caller in vars(self.hook).items() if caller.spec is not None)

    def _problem(self, plugin: object, plugin_name: str) -> str | None:
        """What makes the plugin invalid, or ``None``; pluggy checks the arguments later."""
        for attr in dir(plugin):
            opts = self.parse_hookimpl_opts(plugin, attr)
            if opts is None:
                if attr.startswith(_HOOK_PREFIX) and _is_function(plugin, attr):
                    return (
                        f"plugin {plugin_name!r}: {attr!r} looks like a hook but is not "
                        "marked with @hookimpl; decorate it with `@hookimpl` "
                        "(from retort.core import hookimpl) or rename it"
                    )
                continue
            hook_name = opts.get("specname") or attr
            problem = self._hookimpl_problem(plugin_name, hook_name, getattr(plugin, attr), opts)
            if problem is not None:
                return problem
        return None

    def _hookimpl_problem(
        self,
        plugin_name: str,
        hook_name: str,
        function: Callable[..., object],
        opts: pluggy.HookimplOpts,
    ) -> str | None:
        caller: pluggy.HookCaller | None = getattr(self.hook, hook_name, None)
        spec = caller.spec if caller is not None else None
        if spec is None:
            if opts.get("optionalhook"):
                return None
            return (
                f"plugin {plugin_name!r} implements {hook_name!r}, which is not a retort "
                f"hook; the hooks are: {', '.join(self._hook_names())}"
            )
        may_be_async = _may_be_async(spec.function)
        if may_be_async and (opts.get("wrapper") or opts.get("hookwrapper")):
            return (
                f"plugin {plugin_name!r}: hook {hook_name!r} may be async, and retort calls "
                "its implementations one at a time, so it cannot be wrapped; drop "
                "wrapper=True/hookwrapper=True and order it with tryfirst/trylast"
            )
        if not may_be_async and (
            inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)
        ):
            return (
                f"plugin {plugin_name!r}: hook {hook_name!r} must answer synchronously, "
                "but its implementation is `async def`; make it a plain `def`"
            )
        return None

    def _record(self, plugin: object, info: PluginInfo) -> None:
        self._sources[info.name] = (plugin, info)

    def _recorded(self, name: str, plugin: object) -> PluginInfo | None:
        recorded, info = self._sources.get(name, (None, None))
        return info if recorded is plugin else None

    def _add(self, plugin: object, name: str | None, source: str, origin: str) -> str | None:
        registered = self._register(plugin, name, origin)
        if registered is not None:
            self._record(plugin, PluginInfo(registered, _describe(plugin), None, None, source))
        return registered


def _is_function(plugin: object, attr: str) -> bool:
    static = inspect.getattr_static(plugin, attr, None)
    return isinstance(static, types.FunctionType | types.MethodType | staticmethod | classmethod)


def _may_be_async(spec_function: Callable[..., object]) -> bool:
    """Whether a hookspec allows awaitable results: its return annotation says so."""
    returns = inspect.get_annotations(spec_function).get("return", "")
    return "Awaitable" in (returns if isinstance(returns, str) else repr(returns))


def _describe(plugin: object) -> str:
    if isinstance(plugin, types.ModuleType):
        return plugin.__name__
    return repr(plugin)


# -------------------------------------------------------------------- building a manager


def make_plugin_manager(
    *,
    defaults: Iterable[str | object] | None = None,
    autoload: bool | None = None,
    plugins: Iterable[object] = (),
) -> RetortPluginManager:
    """Build a new manager: hookspecs, default plugins, entry points, then ``plugins``.

    Args:
        defaults: the built-in plugins; ``None`` means :data:`DEFAULT_PLUGINS`. Strings
            are module names (imported); anything else is registered as it is.
        autoload: ``False`` loads no entry points whatever the environment says; ``True``
            ignores ``RETORT_DISABLE_PLUGIN_AUTOLOAD``; ``None`` obeys it. When
            ``RETORT_LOAD_PLUGINS="a,b"`` is set and ``autoload`` is not ``False``,
            exactly the entry points named there load.
        plugins: more plugin objects or modules, registered last (so called first).

    Returns:
        The manager. With ``RETORT_TRACE_HOOKS`` set, it writes every hook call to stderr.

    Raises:
        ConfigurationError: a default module or an entry point cannot be imported, a
            plugin is invalid, or ``RETORT_LOAD_PLUGINS`` names an entry point that is
            not installed.
    """
    pm = RetortPluginManager()
    for default in DEFAULT_PLUGINS if defaults is None else defaults:
        if isinstance(default, str):
            pm._add(_import_default(default), default, "default", f"module {default!r}")
        else:
            pm._add(default, None, "default", "the defaults")
    for entry_point in _select_entry_points(autoload):
        _load_entry_point(pm, entry_point)
    for plugin in plugins:
        pm._add(plugin, None, "code", "the plugins argument")
    if _env_flag(_ENV_TRACE):
        pm.trace.root.setwriter(_write_stderr)
        pm.enable_tracing()
    return pm


def _import_default(module_name: str) -> object:
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigurationError(
            f"cannot import the default plugin module {module_name!r}: {type(exc).__name__}: {exc}"
        ) from exc


def _env_flag(name: str) -> bool:
    value = os.environ.get(name, "").strip()
    return bool(value) and value.lower() not in {"0", "false"}


def _allowlist() -> list[str] | None:
    names = [part.strip() for part in os.environ.get(_ENV_ALLOW, "").split(",")]
    unique = list(dict.fromkeys(name for name in names if name))
    return unique or None


def _write_stderr(text: str) -> None:
    # Looked up per write so redirect_stderr and pytest's capture see the trace.
    sys.stderr.write(text)


def _select_entry_points(autoload: bool | None) -> list[importlib.metadata.EntryPoint]:
    if autoload is False:
        return []
    installed = sorted(
        importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name
    )
    wanted = _allowlist()
    if wanted is not None:
        available = {ep.name for ep in installed}
        unknown = [name for name in wanted if name not in available]
        if unknown:
            listing = ", ".join(sorted(available)) or "none"
            raise ConfigurationError(
                f"{_ENV_ALLOW} names {', '.join(map(repr, unknown))}, but no installed "
                f"distribution has a {ENTRY_POINT_GROUP!r} entry point of that name; "
                f"installed: {listing}"
            )
        selected = [ep for name in wanted for ep in installed if ep.name == name]
    elif autoload is None and _env_flag(_ENV_DISABLE):
        return []
    else:
        selected = installed
    _reject_clashes(selected)
    return selected


def _reject_clashes(entry_points: list[importlib.metadata.EntryPoint]) -> None:
    seen: dict[str, importlib.metadata.EntryPoint] = {}
    for ep in entry_points:
        other = seen.setdefault(ep.name, ep)
        if other is not ep:
            first, second = sorted([_dist_label(other), _dist_label(ep)])
            raise ConfigurationError(
                f"two distributions publish the {ENTRY_POINT_GROUP!r} entry point "
                f"{ep.name!r}: {first} and {second}; uninstall one"
            )


def _dist_of(ep: importlib.metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = ep.dist
    if dist is None:
        return None, None
    return dist.name, dist.version


def _dist_label(ep: importlib.metadata.EntryPoint) -> str:
    name, version = _dist_of(ep)
    return f"{name} {version}" if name else "an unknown distribution"


def _load_entry_point(pm: RetortPluginManager, ep: importlib.metadata.EntryPoint) -> None:
    origin = f"entry point {ep.name!r} = {ep.value!r} of {_dist_label(ep)}"
    try:
        plugin = ep.load()
    except Exception as exc:
        raise ConfigurationError(
            f"cannot load the plugin {origin}: {type(exc).__name__}: {exc}; fix or "
            f"uninstall it, or leave it out with {_ENV_ALLOW} or {_ENV_DISABLE}"
        ) from exc
    if plugin is None:
        raise ConfigurationError(f"the plugin {origin} is None; point it at a module")
    name = pm._add(plugin, ep.name, "entry point", origin)
    if name is not None:
        dist_name, dist_version = _dist_of(ep)
        info = PluginInfo(name, _describe(plugin), dist_name, dist_version, "entry point")
        pm._record(plugin, info)


def plugin_sources(pm: pluggy.PluginManager | None = None) -> list[PluginInfo]:
    """Every registered plugin, in registration order, with where it came from.

    Args:
        pm: the manager; ``None`` means :func:`get_plugin_manager`.

    Returns:
        One :class:`PluginInfo` per plugin. The distribution of a plugin that did not come
        from an entry point is found from its module's top-level package, when installed.
    """
    pm = pm if pm is not None else get_plugin_manager()
    packages: dict[str, list[str]] | None = None
    infos = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:  # a blocked name
            continue
        recorded = pm._recorded(name, plugin) if isinstance(pm, RetortPluginManager) else None
        info = recorded or PluginInfo(name, _describe(plugin), None, None)
        if info.dist_name is None:
            if packages is None:
                packages = dict(importlib.metadata.packages_distributions())
            info = _with_dist(info, plugin, packages)
        infos.append(info)
    return infos


def _with_dist(info: PluginInfo, plugin: object, packages: dict[str, list[str]]) -> PluginInfo:
    module = plugin.__name__ if isinstance(plugin, types.ModuleType) else type(plugin).__module__
    # retort is a namespace package: "retort" maps to the retort distribution itself.
    dists = packages.get(module.partition(".")[0], [])
    if not dists:
        return info
    try:
        version: str | None = importlib.metadata.version(dists[0])
    except importlib.metadata.PackageNotFoundError:
        version = None
    return PluginInfo(info.name, info.plugin, dists[0], version, info.source)


# -------------------------------------------------------------------- the default manager

_default_manager: pluggy.PluginManager | None = None
_default_building = False  # part of the same state: both change only under the lock
_default_lock = threading.RLock()


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide manager, built by :func:`make_plugin_manager` on first use.

    The environment is read when it is built. Building happens once, even when threads
    race for it; a build that raises is not cached, so the next call tries again.

    Raises:
        ConfigurationError: building it failed, or a plugin asked for it while it was
            being built (e.g. from its module's import), which can never finish.
    """
    global _default_manager, _default_building
    manager = _default_manager
    if manager is not None:
        return manager
    with _default_lock:  # reentrant, so the same thread gets the error below, not a hang
        if _default_manager is None:
            if _default_building:
                raise ConfigurationError(
                    "get_plugin_manager() was called while the default plugin manager was "
                    "being built (by a plugin, at import or registration); plugins must not "
                    "ask for the manager before their hooks are called"
                )
            _default_building = True
            try:
                _default_manager = make_plugin_manager()
            finally:
                _default_building = False
        return _default_manager


def active_plugin_manager(plugins: pluggy.PluginManager | None = None) -> pluggy.PluginManager:
    """The manager whose hooks apply here: ``plugins`` when given, else the manager of the
    run in progress (:func:`retort.core.run.current_run`), else the process default.

    Transports use it to find the ``retort_before_send`` / ``retort_after_receive`` hooks.
    """
    if plugins is not None:
        return plugins
    from retort.core.run import current_run  # run imports this module lazily too

    run = current_run()
    return run.plugins if run is not None else get_plugin_manager()


def set_plugin_manager(pm: pluggy.PluginManager | None) -> None:
    """Replace the process-wide manager (tests, embedding); ``None`` rebuilds it lazily."""
    global _default_manager
    with _default_lock:
        _default_manager = pm


from retort.core._factories import (  # noqa: E402 - re-exported; it imports this module lazily
    agent_factories,
    create_agent,
    create_transport,
    transport_factories,
)
