"""The package layout: setuptools' package list, the folders and the public names stay in step."""

from __future__ import annotations

import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE_FOLDERS = ("core", "parsers", "adapters", "plugins")


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _folder_packages() -> dict[str, str]:
    """Every folder holding an __init__.py below the source folders, as retort.* names."""
    found = {}
    for top in SOURCE_FOLDERS:
        for init in sorted((ROOT / top).rglob("__init__.py")):
            folder = init.parent.relative_to(ROOT)
            if "__pycache__" in folder.parts:
                continue
            found["retort." + ".".join(folder.parts)] = folder.as_posix()
    return found


def test_every_folder_is_a_listed_package_and_back() -> None:
    setuptools = _pyproject()["tool"]["setuptools"]
    assert sorted(setuptools["packages"]) == sorted(_folder_packages())


def test_package_dir_maps_each_package_to_its_folder() -> None:
    setuptools = _pyproject()["tool"]["setuptools"]
    assert setuptools["package-dir"] == _folder_packages()


def test_retort_is_a_namespace_package() -> None:
    import retort

    assert not (ROOT / "retort").exists()
    assert getattr(retort, "__file__", None) is None  # namespace packages have no file


def test_source_folders_have_no_stray_modules_outside_packages() -> None:
    for top in SOURCE_FOLDERS:
        for module in (ROOT / top).rglob("*.py"):
            assert (module.parent / "__init__.py").exists(), f"{module} is in no package"


def test_dev_extra_holds_the_tools_make_test_runs() -> None:
    extras = _pyproject()["project"]["optional-dependencies"]
    dev = " ".join(extras["dev"])
    for tool in ("ruff", "mypy", "retort[all]"):
        assert tool in dev
    testing = " ".join(extras["testing"])
    for tool in ("pytest", "hypothesis"):
        assert tool in testing
    assert {"autogen", "server", "testing", "all", "dev"} <= set(extras)


@pytest.mark.parametrize("package", ["retort.core", "retort.parsers"])
def test_public_names_are_exactly_all(package: str) -> None:
    # dir(), not vars(): retort.core binds its names on first use (PEP 562).
    module = importlib.import_module(package)
    public = {name for name in dir(module) if not name.startswith("_")}
    submodules = {name for name in public if isinstance(getattr(module, name), type(sys))}
    assert sorted(public - submodules) == sorted(module.__all__)
    for name in module.__all__:
        assert getattr(module, name) is not None
    # Once every name is loaded, the module's own namespace holds exactly the same.
    loaded = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, type(sys))
    }
    assert sorted(loaded) == sorted(module.__all__)


def _fresh(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_core_loads_each_name_from_the_module_that_defines_it() -> None:
    """Lazy names are the very objects of their modules, and each loads only its module."""
    import retort.core

    for name in retort.core.__all__:
        value = getattr(retort.core, name)
        home = importlib.import_module(f"retort.core.{retort.core._HOME[name]}")
        assert value is getattr(home, name), name
    # In a fresh interpreter: the package alone loads no submodule, an error class only errors
    # (and the private _records, which FieldError is built on).
    code = (
        "import sys, retort.core\n"
        "before = sorted(m for m in sys.modules if m.startswith('retort.core.'))\n"
        "error = retort.core.ParseError\n"
        "after = sorted(m for m in sys.modules if m.startswith('retort.core.'))\n"
        "print(before, after, error.__module__, 'pydantic' in sys.modules)"
    )
    expected = "[] ['retort.core._records', 'retort.core.errors'] retort.core.errors False"
    assert _fresh(code) == expected


def test_core_unknown_name_is_an_attribute_error() -> None:
    import retort.core

    with pytest.raises(AttributeError, match="no_such_name"):
        _ = retort.core.no_such_name
    assert not hasattr(retort.core, "no_such_name")


@pytest.mark.parametrize("name", ["solve", "consensus"])
def test_a_function_named_like_its_module_stays_the_function(name: str) -> None:
    """Importing retort.core.solve (the module) must not turn retort.core.solve into it."""
    code = (
        f"import retort.core.{name}, retort.core\n"
        f"from retort.core import {name}\n"
        f"print(callable({name}), type({name}).__name__, retort.core.{name} is {name})"
    )
    assert _fresh(code) == "True function True"
    # And the other order: the name first, then a module importing from the submodule.
    code = (
        f"from retort.core import {name}\n"
        f"import retort.adapters.cli._solve, retort.core\n"
        f"print(retort.core.{name} is {name}, type({name}).__name__)"
    )
    assert _fresh(code) == "True function"


def test_testing_exports_its_doubles_and_its_public_submodules() -> None:
    testing = importlib.import_module("retort.plugins.testing")
    assert testing.__all__ == [
        "AgentReplySpec",
        "ReplySpec",
        "ScriptExhausted",
        "ScriptedAgent",
        "ScriptedTransport",
        "adversarial",
        "contract",
        "strategies",
    ]
    for name in testing.__all__:  # submodules are listed, imported on first use
        assert getattr(testing, name, None) or importlib.import_module(f"{testing.__name__}.{name}")


ARCHITECTURE_NAMES = {
    "retort.core": [
        "Expect",
        "solve",
        "solve_sync",
        "consensus",
        "Solved",
        "SolveFailed",
        "Reply",
        "Message",
        "ToolCall",
        "ChatRequest",
        "ChatReply",
        "Transport",
        "Agent",
        "ParseError",
        "TransportError",
        "ConfigurationError",
        "stable_tool_call_id",
    ],
    "retort.parsers": [
        "loads",
        "repair",
        "parse_sections",
        "render_sections",
        "strip_fences",
        "extract_tool_calls",
        "stable_tool_call_id",
    ],
    "retort.plugins.testing": ["ScriptedAgent", "ScriptedTransport"],
}


@pytest.mark.parametrize("package", sorted(ARCHITECTURE_NAMES))
def test_names_outside_checks_call_are_exported(package: str) -> None:
    module = importlib.import_module(package)
    missing = [name for name in ARCHITECTURE_NAMES[package] if name not in module.__all__]
    assert not missing
    for name in ARCHITECTURE_NAMES[package]:
        assert getattr(module, name) is not None


@pytest.mark.parametrize("first", ["retort.parsers", "retort.core", "retort.plugins.testing"])
def test_any_package_can_be_imported_first(first: str) -> None:
    """core and parsers import each other's leaf modules; neither order may break."""
    code = f"import {first}; import retort.core, retort.parsers; print('ok')"
    assert _fresh(code) == "ok"


def test_core_and_parsers_import_no_framework_or_network_library() -> None:
    code = (
        "import sys, retort.core, retort.parsers\n"
        "bad = [m for m in ('httpx', 'autogen_core', 'autogen_agentchat', 'openai', 'asyncio')\n"
        "       if m in sys.modules and m != 'asyncio']\n"
        "print(','.join(bad))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == ""


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make test" in ci
    assert "make test" in readme
    assert "make demo" in readme
