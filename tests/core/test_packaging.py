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
    module = importlib.import_module(package)
    public = {name for name in vars(module) if not name.startswith("_")}
    submodules = {name for name in public if isinstance(getattr(module, name), type(sys))}
    assert sorted(public - submodules) == sorted(module.__all__)
    for name in module.__all__:
        assert getattr(module, name) is not None


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
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


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
