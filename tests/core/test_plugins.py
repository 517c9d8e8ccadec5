"""The plugin manager: building, entry points, validation, registries, async hook calls."""

from __future__ import annotations

import asyncio
import importlib
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pluggy
import pytest

from retort.core import plugins as plugins_module
from retort.core.errors import ConfigurationError
from retort.core.plugins import (
    ENTRY_POINT_GROUP,
    PluginInfo,
    RetortPluginManager,
    agent_factories,
    call_all,
    call_chain,
    call_until,
    create_agent,
    create_transport,
    get_plugin_manager,
    hookimpl,
    make_plugin_manager,
    plugin_sources,
    set_plugin_manager,
    transport_factories,
)

ENV_VARS = ("RETORT_DISABLE_PLUGIN_AUTOLOAD", "RETORT_LOAD_PLUGINS", "RETORT_TRACE_HOOKS")
HOOKS = (
    "retort_register_transports",
    "retort_register_agents",
    "retort_validate",
    "retort_repair_json",
    "retort_before_send",
    "retort_after_receive",
    "retort_feedback",
    "retort_run_start",
    "retort_attempt",
    "retort_run_end",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    yield
    set_plugin_manager(None)


def bare(*plugins: object) -> RetortPluginManager:
    """A manager with only the given plugins: no built-ins, no entry points."""
    return make_plugin_manager(defaults=(), autoload=False, plugins=plugins)


def names(pm: pluggy.PluginManager) -> list[str]:
    return [name for name, _ in pm.list_name_plugin()]


# -------------------------------------------------------------------- temporary distributions


class Site:
    """A directory on sys.path holding fake installed distributions and their modules."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules: list[str] = []

    def module(self, name: str, source: str) -> None:
        (self.root / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        self.modules.append(name)
        importlib.invalidate_caches()

    def dist(self, name: str, entry_points: dict[str, str], version: str = "1.0") -> None:
        info = self.root / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        (info / "METADATA").write_text(metadata, encoding="utf-8")
        lines = [f"[{ENTRY_POINT_GROUP}]", *(f"{k} = {v}" for k, v in entry_points.items())]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        importlib.invalidate_caches()  # importlib.metadata caches directory listings


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    made = Site(root)
    yield made
    for module in made.modules:
        sys.modules.pop(module, None)
    importlib.invalidate_caches()


TRANSPORT_PLUGIN = """
from retort.core.plugins import hookimpl

@hookimpl
def retort_register_transports(register):
    register({name!r}, lambda **options: ({name!r}, options))
"""


@pytest.fixture
def two_dists(site: Site) -> Site:
    site.module("rt_alpha_plugin", TRANSPORT_PLUGIN.format(name="alpha"))
    site.module("rt_beta_plugin", TRANSPORT_PLUGIN.format(name="beta"))
    site.dist("rt-alpha", {"alpha": "rt_alpha_plugin"}, version="1.2.3")
    site.dist("rt-beta", {"beta": "rt_beta_plugin"}, version="0.9")
    return site


# -------------------------------------------------------------------- building a manager


def test_a_new_manager_has_every_hookspec_and_no_plugins() -> None:
    pm = bare()
    assert isinstance(pm, pluggy.PluginManager)
    assert pm.project_name == "retort"
    for hook in HOOKS:
        assert getattr(pm.hook, hook).spec is not None
    assert names(pm) == []
    assert pm.hook.retort_feedback.spec.opts["firstresult"] is True


def test_each_call_builds_a_new_manager() -> None:
    assert bare() is not bare()


def test_defaults_are_imported_by_name_or_registered_as_objects(site: Site) -> None:
    site.module("rt_default_mod", TRANSPORT_PLUGIN.format(name="from-module"))

    class Extra:
        @hookimpl
        def retort_register_transports(self, register: Callable[..., None]) -> None:
            register("from-object", object)

    pm = make_plugin_manager(defaults=["rt_default_mod", Extra()], autoload=False)
    assert names(pm)[0] == "rt_default_mod"
    assert sorted(transport_factories(pm)) == ["from-module", "from-object"]
    sources = {info.name: info.source for info in plugin_sources(pm)}
    assert set(sources.values()) == {"default"}


def test_default_plugins_is_used_when_defaults_is_not_given(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.module("rt_builtin_mod", TRANSPORT_PLUGIN.format(name="builtin"))
    monkeypatch.setattr(plugins_module, "DEFAULT_PLUGINS", ("rt_builtin_mod",))
    assert "builtin" in transport_factories(make_plugin_manager(autoload=False))
    assert "builtin" not in transport_factories(make_plugin_manager(defaults=(), autoload=False))


def test_a_default_module_that_fails_to_import_is_a_configuration_error(site: Site) -> None:
    site.module("rt_broken_default", "raise RuntimeError('boom at import')\n")
    with pytest.raises(ConfigurationError, match=r"rt_broken_default.*boom at import") as info:
        make_plugin_manager(defaults=["rt_broken_default"], autoload=False)
    assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(ConfigurationError, match="rt_no_such_module"):
        make_plugin_manager(defaults=["rt_no_such_module"], autoload=False)


def test_registration_order_is_defaults_then_entry_points_then_plugins(two_dists: Site) -> None:
    class Late:
        pass

    late = Late()
    two_dists.module("rt_first_default", "")
    pm = make_plugin_manager(defaults=["rt_first_default"], plugins=[late])
    registered = names(pm)
    assert registered[0] == "rt_first_default"
    assert registered.index("alpha") < registered.index("beta")  # entry points by name
    assert registered[-1] == pm.get_name(late)


# -------------------------------------------------------------------- entry points


def test_entry_points_are_discovered_with_their_distribution(two_dists: Site) -> None:
    pm = make_plugin_manager(defaults=())
    assert {"alpha", "beta"} <= set(transport_factories(pm))
    infos = {info.name: info for info in plugin_sources(pm)}
    assert infos["alpha"] == PluginInfo(
        "alpha", "rt_alpha_plugin", "rt-alpha", "1.2.3", "entry point"
    )
    assert infos["beta"].dist_version == "0.9"


@pytest.mark.parametrize("value", ["1", "yes", "TRUE"])
def test_the_disable_switch_stops_autoload(
    two_dists: Site, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("RETORT_DISABLE_PLUGIN_AUTOLOAD", value)
    assert names(make_plugin_manager(defaults=())) == []


@pytest.mark.parametrize("value", ["", "0", "false", "False"])
def test_falsy_disable_values_keep_autoload(
    two_dists: Site, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("RETORT_DISABLE_PLUGIN_AUTOLOAD", value)
    assert {"alpha", "beta"} <= set(names(make_plugin_manager(defaults=())))


def test_autoload_argument_overrides_the_disable_switch(
    two_dists: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETORT_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert {"alpha", "beta"} <= set(names(make_plugin_manager(defaults=(), autoload=True)))
    monkeypatch.delenv("RETORT_DISABLE_PLUGIN_AUTOLOAD")
    assert names(make_plugin_manager(defaults=(), autoload=False)) == []


def test_the_allowlist_loads_exactly_its_entry_points_in_its_order(
    two_dists: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETORT_LOAD_PLUGINS", " beta , alpha ")
    assert names(make_plugin_manager(defaults=())) == ["beta", "alpha"]
    monkeypatch.setenv("RETORT_LOAD_PLUGINS", "alpha")
    assert names(make_plugin_manager(defaults=())) == ["alpha"]
    # The allowlist wins over the disable switch, and autoload=False wins over both.
    monkeypatch.setenv("RETORT_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert names(make_plugin_manager(defaults=())) == ["alpha"]
    assert names(make_plugin_manager(defaults=(), autoload=True)) == ["alpha"]
    assert names(make_plugin_manager(defaults=(), autoload=False)) == []


def test_an_unknown_allowlisted_name_lists_the_installed_ones(
    two_dists: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETORT_LOAD_PLUGINS", "alpha,gamma")
    with pytest.raises(ConfigurationError, match="RETORT_LOAD_PLUGINS") as info:
        make_plugin_manager(defaults=())
    message = str(info.value)
    assert "'gamma'" in message
    assert "installed: " in message
    assert "alpha" in message
    assert "beta" in message


def test_an_entry_point_that_fails_to_import_names_it_and_its_distribution(
    site: Site,
) -> None:
    site.module("rt_crashing_plugin", "import rt_module_that_is_not_there\n")
    site.dist("rt-crashing", {"crashing": "rt_crashing_plugin"}, version="2.0")
    with pytest.raises(ConfigurationError) as info:
        make_plugin_manager(defaults=())
    message = str(info.value)
    assert "'crashing'" in message
    assert "rt-crashing 2.0" in message
    assert "rt_module_that_is_not_there" in message
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


def test_an_entry_point_with_a_bad_hookimpl_names_plugin_hook_and_distribution(
    site: Site,
) -> None:
    site.module(
        "rt_bad_args_plugin",
        """
        from retort.core.plugins import hookimpl

        @hookimpl
        def retort_validate(value, reply, expect, colour):
            return None
        """,
    )
    site.dist("rt-bad-args", {"badargs": "rt_bad_args_plugin"})
    with pytest.raises(ConfigurationError) as info:
        make_plugin_manager(defaults=())
    message = str(info.value)
    assert "'badargs'" in message
    assert "retort_validate" in message
    assert "colour" in message
    assert "rt-bad-args 1.0" in message


def test_an_entry_point_with_an_unknown_hook_is_rejected(site: Site) -> None:
    site.module(
        "rt_typo_plugin",
        """
        from retort.core.plugins import hookimpl

        @hookimpl
        def retort_validat(value):
            return None
        """,
    )
    site.dist("rt-typo", {"typo": "rt_typo_plugin"})
    with pytest.raises(ConfigurationError, match=r"'typo' implements 'retort_validat'"):
        make_plugin_manager(defaults=())


def test_two_distributions_with_one_entry_point_name_are_a_configuration_error(
    site: Site,
) -> None:
    site.module("rt_same_one", "")
    site.module("rt_same_two", "")
    site.dist("rt-same-one", {"same": "rt_same_one"})
    site.dist("rt-same-two", {"same": "rt_same_two"})
    with pytest.raises(ConfigurationError, match=r"rt-same-one 1\.0 and rt-same-two 1\.0"):
        make_plugin_manager(defaults=())


# -------------------------------------------------------------------- validation


class Validator:
    @hookimpl
    def retort_validate(self, value: Any) -> str | None:  # a subset of the arguments is fine
        return None if value else "empty"

    def helper(self) -> str:  # neither prefixed nor marked: not a hook
        return "ok"


def test_a_valid_plugin_with_helpers_registers() -> None:
    plugin = Validator()
    pm = bare(plugin)
    assert pm.is_registered(plugin)
    assert pm.hook.retort_validate(value="", reply=None, expect=None) == ["empty"]


def test_an_unknown_marked_hook_is_rejected_naming_plugin_and_hook() -> None:
    class Typo:
        @hookimpl
        def retort_validat(self, value: Any) -> None:
            return None

    class NoPrefix:
        @hookimpl
        def validate(self, value: Any) -> None:
            return None

    with pytest.raises(ConfigurationError, match=r"Typo' implements 'retort_validat'.*hooks are"):
        bare(Typo())
    with pytest.raises(ConfigurationError, match=r"NoPrefix' implements 'validate'"):
        bare(NoPrefix())


def test_an_unmarked_retort_function_is_rejected() -> None:
    class Forgot:
        def retort_validate(self, value: Any) -> None:
            return None

    with pytest.raises(ConfigurationError, match=r"'retort_validate'.*not marked with @hookimpl"):
        bare(Forgot())


def test_a_non_function_retort_attribute_is_not_a_hook() -> None:
    class Versioned:
        retort_api = 1

    assert names(bare(Versioned())) == [f"{__name__}.{Versioned.__qualname__}"]


def test_arguments_the_hook_does_not_provide_are_rejected() -> None:
    class Greedy:
        @hookimpl
        def retort_run_start(self, run: Any, colour: str) -> None:
            return None

    with pytest.raises(ConfigurationError) as info:
        bare(Greedy())
    message = str(info.value)
    assert "Greedy" in message
    assert "retort_run_start" in message
    assert "colour" in message
    assert isinstance(info.value.__cause__, pluggy.PluginValidationError)


def test_optionalhook_accepts_a_hook_this_retort_does_not_have() -> None:
    class Future:
        @hookimpl(optionalhook=True)
        def retort_from_the_future(self, thing: Any) -> None:
            return None

    plugin = Future()
    assert bare(plugin).is_registered(plugin)


def test_wrappers_are_rejected_on_may_be_async_hooks_only() -> None:
    class AsyncWrapper:
        @hookimpl(wrapper=True)
        def retort_validate(self, value: Any) -> Iterator[None]:
            return (yield)

    with pytest.raises(ConfigurationError, match="'retort_validate' may be async"):
        bare(AsyncWrapper())

    seen: list[str] = []

    class SyncWrapper:
        @hookimpl(wrapper=True)
        def retort_feedback(self, failure: Any, expect: Any) -> Iterator[None]:
            worded = yield
            return f"{worded}!"

    class Wording:
        @hookimpl
        def retort_feedback(self, failure: Any) -> str:
            seen.append(failure)
            return "try again"

    pm = bare(Wording(), SyncWrapper())
    assert pm.hook.retort_feedback(failure="f", expect=None) == "try again!"
    assert seen == ["f"]


def test_async_implementations_of_synchronous_hooks_are_rejected() -> None:
    class AsyncWording:
        @hookimpl
        async def retort_feedback(self, failure: Any) -> str:
            return "late"

    with pytest.raises(ConfigurationError, match="'retort_feedback' must answer synchronously"):
        bare(AsyncWording())

    class AsyncValidator:
        @hookimpl
        async def retort_validate(self, value: Any) -> None:
            return None

    plugin = AsyncValidator()
    assert bare(plugin).is_registered(plugin)


def test_a_rejected_plugin_leaves_the_manager_as_it_was() -> None:
    class Broken:
        @hookimpl
        def retort_validate(self, value: Any) -> str:
            return "never"

        @hookimpl
        def retort_validat(self, value: Any) -> None:
            return None

    pm = bare()
    broken = Broken()
    with pytest.raises(ConfigurationError):
        pm.register(broken)
    assert not pm.is_registered(broken)
    assert pm.hook.retort_validate(value=1, reply=None, expect=None) == []
    pm.register(Validator())  # the manager is still usable
    assert pm.hook.retort_validate(value=0, reply=None, expect=None) == ["empty"]


def test_registering_twice_is_a_configuration_error_and_instances_get_distinct_names() -> None:
    first, second = Validator(), Validator()
    pm = bare(first, second)
    base = f"{__name__}.Validator"
    assert names(pm) == [base, f"{base}-2"]
    with pytest.raises(ConfigurationError, match="already registered"):
        pm.register(first)
    with pytest.raises(ConfigurationError, match="already registered"):
        pm.register(Validator(), name=base)


def test_blocked_names_are_skipped() -> None:
    pm = bare()
    pm.set_blocked("blocked")
    assert pm.register(Validator(), name="blocked") is None
    assert plugin_sources(pm) == []


def test_plugin_sources_of_code_plugins() -> None:
    plugin = Validator()
    pm = bare(plugin)
    pm.register(importlib.import_module("retort.core.ids"))  # a retort module, no hooks
    first, second = plugin_sources(pm)
    assert first == PluginInfo(f"{__name__}.Validator", repr(plugin), None, None, "code")
    assert (second.name, second.plugin, second.dist_name) == (
        "retort.core.ids",
        "retort.core.ids",
        "retort",
    )


# -------------------------------------------------------------------- tracing


class Accepting:
    @hookimpl
    def retort_repair_json(self, text: str) -> str:
        return text.upper()


def test_trace_hooks_writes_every_call_to_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RETORT_TRACE_HOOKS", "1")
    pm = bare(Validator(), Accepting())
    pm.hook.retort_validate(value=1, reply=None, expect=None)
    asyncio.run(
        call_until(pm.hook.retort_repair_json, bool, text="x", error=None, expect=None, agent=None)
    )
    err = capsys.readouterr().err
    assert "retort_validate [hook]" in err
    assert "retort_repair_json [hook]" in err  # the async helpers are traced too
    assert "finish retort_repair_json --> ['X']" in err


def test_trace_hooks_off_by_default_and_when_zero(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bare(Validator()).hook.retort_validate(value=1, reply=None, expect=None)
    monkeypatch.setenv("RETORT_TRACE_HOOKS", "0")
    bare(Validator()).hook.retort_validate(value=1, reply=None, expect=None)
    assert capsys.readouterr().err == ""


def test_async_helpers_report_to_hookcall_monitoring() -> None:
    pm = bare(Accepting())
    calls: list[tuple[str, list[str]]] = []
    pm.add_hookcall_monitoring(
        lambda name, impls, kwargs: calls.append((name, [i.plugin_name for i in impls])),
        lambda outcome, name, impls, kwargs: None,
    )
    asyncio.run(
        call_until(pm.hook.retort_repair_json, bool, text="x", error=None, expect=None, agent=None)
    )
    assert calls == [("retort_repair_json", [f"{__name__}.Accepting"])]


# -------------------------------------------------------------------- the default manager


def test_the_default_manager_is_built_once_and_can_be_replaced(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.module("rt_default_env", TRANSPORT_PLUGIN.format(name="env"))
    site.dist("rt-default-env", {"envplugin": "rt_default_env"})
    set_plugin_manager(None)
    monkeypatch.setenv("RETORT_LOAD_PLUGINS", "envplugin")  # read when it is built
    default = get_plugin_manager()
    assert get_plugin_manager() is default
    assert names(default)[-1] == "envplugin"

    mine = bare()
    set_plugin_manager(mine)
    assert get_plugin_manager() is mine
    set_plugin_manager(None)
    rebuilt = get_plugin_manager()
    assert rebuilt is not default
    assert rebuilt is not mine


def test_racing_threads_build_the_default_manager_once(monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[RetortPluginManager] = []

    def slow_build() -> RetortPluginManager:
        time.sleep(0.05)  # widen the race window
        builds.append(bare())
        return builds[-1]

    monkeypatch.setattr(plugins_module, "make_plugin_manager", slow_build)
    set_plugin_manager(None)
    got: list[pluggy.PluginManager] = []
    threads = [threading.Thread(target=lambda: got.append(get_plugin_manager())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1
    assert got == [builds[0]] * 8


def test_a_failed_default_build_is_not_cached(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    set_plugin_manager(None)
    monkeypatch.setenv("RETORT_LOAD_PLUGINS", "missing-plugin")
    with pytest.raises(ConfigurationError):
        get_plugin_manager()
    monkeypatch.delenv("RETORT_LOAD_PLUGINS")
    monkeypatch.setenv("RETORT_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert isinstance(get_plugin_manager(), RetortPluginManager)


def test_a_plugin_asking_for_the_default_manager_while_it_is_built_fails_clearly(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    site.module(
        "rt_eager_plugin",
        """
        from retort.core.plugins import get_plugin_manager

        get_plugin_manager()
        """,
    )
    monkeypatch.setattr(plugins_module, "DEFAULT_PLUGINS", ("rt_eager_plugin",))
    set_plugin_manager(None)
    with pytest.raises(ConfigurationError, match=r"rt_eager_plugin.*while the default"):
        get_plugin_manager()
    monkeypatch.setattr(plugins_module, "DEFAULT_PLUGINS", ())
    assert isinstance(get_plugin_manager(), RetortPluginManager)  # the flag was reset


def test_plugin_sources_forget_an_unregistered_plugin() -> None:
    pm = make_plugin_manager(defaults=[Validator()], autoload=False)
    (name,) = names(pm)
    pm.unregister(name=name)
    replacement = Validator()
    pm.register(replacement, name=name)
    (info,) = plugin_sources(pm)
    assert (info.plugin, info.source) == (repr(replacement), "code")


# -------------------------------------------------------------------- named factories


class Transports:
    def __init__(self, *names: str) -> None:
        self.names = names

    @hookimpl
    def retort_register_transports(self, register: Callable[..., None]) -> None:
        for name in self.names:
            register(name, lambda name=name, **options: SimpleNamespace(name=name, **options))


class Agents:
    @hookimpl
    def retort_register_agents(self, register: Callable[..., None]) -> None:
        register("echo", lambda transport, **options: SimpleNamespace(t=transport, **options))


def test_factories_are_gathered_from_every_plugin() -> None:
    pm = bare(Transports("proxy", "openai"), Transports("replay"), Agents())
    assert sorted(transport_factories(pm)) == ["openai", "proxy", "replay"]
    assert list(agent_factories(pm)) == ["echo"]


def test_create_transport_and_agent_pass_the_options() -> None:
    pm = bare(Transports("proxy"), Agents())
    transport: Any = create_transport("proxy", pm, model="m", timeout=3)
    assert (transport.name, transport.model, transport.timeout) == ("proxy", "m", 3)
    agent: Any = create_agent("echo", transport, pm=pm, system_message="hi")
    assert agent.t is transport
    assert agent.system_message == "hi"


def test_create_uses_the_default_manager_when_none_is_given() -> None:
    set_plugin_manager(bare(Transports("only")))
    transport: Any = create_transport("only")
    assert transport.name == "only"


def test_an_unknown_name_lists_the_registered_ones() -> None:
    pm = bare(Transports("proxy", "openai"))
    with pytest.raises(ConfigurationError, match="'nope'; registered: openai, proxy"):
        create_transport("nope", pm)
    with pytest.raises(ConfigurationError, match=r"no agent is registered as 'native'.*none"):
        create_agent("native", SimpleNamespace(), pm)  # type: ignore[arg-type]


def test_a_duplicate_name_names_both_plugins() -> None:
    pm = make_plugin_manager(defaults=(), autoload=False)
    pm.register(Transports("proxy"), name="first-plugin")
    pm.register(Transports("proxy"), name="second-plugin")
    with pytest.raises(ConfigurationError) as info:
        transport_factories(pm)
    message = str(info.value)
    assert "'proxy' is registered twice" in message
    assert "'first-plugin'" in message
    assert "'second-plugin'" in message


@pytest.mark.parametrize(
    ("name", "factory", "match"),
    [("", object, "non-empty"), (3, object, "non-empty"), ("ok", "not callable", "not callable")],
)
def test_bad_registrations_are_configuration_errors(name: Any, factory: Any, match: str) -> None:
    class Bad:
        @hookimpl
        def retort_register_agents(self, register: Callable[..., None]) -> None:
            register(name, factory)

    with pytest.raises(ConfigurationError, match=match):
        agent_factories(bare(Bad()))


# -------------------------------------------------------------------- async helpers


def ordered(log: list[str], label: str, result: Any, **options: Any) -> object:
    """A plugin implementing retort_validate with hookimpl options, logging its calls."""

    class Plugin:
        @hookimpl(**options)
        def retort_validate(self, value: Any) -> Any:
            log.append(label)
            return result

    Plugin.__qualname__ = label
    return Plugin()


def test_call_all_follows_pluggy_order_and_drops_none() -> None:
    log: list[str] = []
    pm = bare(
        ordered(log, "last", "L", trylast=True),
        ordered(log, "early", "E"),
        ordered(log, "first", "F", tryfirst=True),
        ordered(log, "late", None),
    )
    expected = pm.hook.retort_validate(value=1, reply=None, expect=None)
    log.clear()
    results = asyncio.run(call_all(pm.hook.retort_validate, value=1, reply=None, expect=None))
    assert results == expected == ["F", "E", "L"]
    assert log == ["first", "late", "early", "last"]


def test_call_all_awaits_each_result_before_calling_the_next() -> None:
    log: list[str] = []

    def slow(label: str) -> object:
        class Plugin:
            @hookimpl
            async def retort_validate(self, value: Any) -> str:
                log.append(f"{label} start")
                await asyncio.sleep(0)
                log.append(f"{label} end")
                return label

        return Plugin()

    pm = bare(slow("a"), slow("b"))
    results = asyncio.run(call_all(pm.hook.retort_validate, value=1, reply=None, expect=None))
    assert results == ["b", "a"]
    assert log == ["b start", "b end", "a start", "a end"]


def test_call_all_lets_exceptions_through_and_stops() -> None:
    log: list[str] = []

    class Failing:
        @hookimpl(tryfirst=True)
        def retort_validate(self, value: Any) -> None:
            raise KeyError("from the plugin")

    pm = bare(ordered(log, "after", "x"), Failing())
    with pytest.raises(KeyError, match="from the plugin"):
        asyncio.run(call_all(pm.hook.retort_validate, value=1, reply=None, expect=None))
    assert log == []


def test_call_until_stops_at_the_first_accepted_result() -> None:
    fixer_calls: list[str] = []

    class Repairer:
        @hookimpl
        async def retort_repair_json(self, text: str) -> str | None:
            await asyncio.sleep(0)
            return text.replace("'", '"')

    class Useless:
        @hookimpl(tryfirst=True)
        def retort_repair_json(self, text: str) -> str:
            return "still not json"

    class Passing:
        @hookimpl(tryfirst=True)
        def retort_repair_json(self, text: str) -> None:
            return None

    class LLMFixer:
        @hookimpl(trylast=True)
        async def retort_repair_json(self, text: str, agent: Any) -> str:
            fixer_calls.append(text)
            return "{}"

    def is_json(text: str) -> bool:
        return text.startswith("{") and "'" not in text

    pm = bare(LLMFixer(), Repairer(), Useless(), Passing())
    hook = pm.hook.retort_repair_json
    kwargs: dict[str, Any] = {"error": None, "expect": None, "agent": None}
    assert asyncio.run(call_until(hook, is_json, text="{'a': 1}", **kwargs)) == '{"a": 1}'
    assert fixer_calls == []  # the LLM fixer never ran: an earlier repair succeeded
    assert asyncio.run(call_until(hook, is_json, text="nothing", **kwargs)) == "{}"
    assert fixer_calls == ["nothing"]
    assert asyncio.run(call_until(hook, lambda text: False, text="x", **kwargs)) is None


def test_call_chain_threads_the_value_through_every_implementation() -> None:
    class AddModel:
        @hookimpl(tryfirst=True)
        def retort_before_send(self, request: dict[str, Any]) -> dict[str, Any]:
            return {**request, "model": "m"}

    class KeepIt:
        @hookimpl
        def retort_before_send(self, request: dict[str, Any], transport: Any) -> None:
            assert transport == "t"

    class AddTemperature:
        @hookimpl(trylast=True)
        async def retort_before_send(self, request: dict[str, Any]) -> dict[str, Any]:
            assert request["model"] == "m"  # sees what the earlier one returned
            return {**request, "temperature": 0}

    pm = bare(AddTemperature(), KeepIt(), AddModel())
    chained = asyncio.run(
        call_chain(pm.hook.retort_before_send, "request", {"messages": []}, transport="t")
    )
    assert chained == {"messages": [], "model": "m", "temperature": 0}
    assert asyncio.run(call_chain(bare().hook.retort_before_send, "request", 7, transport="t")) == 7


def test_helpers_reject_missing_or_doubled_arguments() -> None:
    hook = bare(Validator()).hook
    with pytest.raises(TypeError, match=r"retort_validate needs the argument.*expect"):
        asyncio.run(call_all(hook.retort_validate, value=1, reply=None))
    with pytest.raises(TypeError, match="'request' both"):
        asyncio.run(call_chain(hook.retort_before_send, "request", 1, request=2, transport=None))


def test_helpers_refuse_wrappers_of_synchronous_hooks() -> None:
    class Wrapper:
        @hookimpl(wrapper=True)
        def retort_run_start(self, run: Any) -> Iterator[None]:
            return (yield)

    pm = bare(Wrapper())
    with pytest.raises(ConfigurationError, match="Wrapper' wraps 'retort_run_start'"):
        asyncio.run(call_all(pm.hook.retort_run_start, run=None))
    assert pm.hook.retort_run_start(run=None) == []  # pluggy itself still runs it
