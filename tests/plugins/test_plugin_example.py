"""The example third-party plugin (docs/examples/retort-plugin-example), really installed.

pip installs a copy of it into a temporary directory (``--target``, no build isolation,
no index: offline, and the shared .venv is left alone); subprocesses with that directory
on ``PYTHONPATH`` then show what a user who ran ``pip install`` gets: discovery through
the ``retort`` entry point, the ``RETORT_LOAD_PLUGINS`` / ``RETORT_DISABLE_PLUGIN_AUTOLOAD``
switches, the validator rejecting a reply in a solve, the ``echo`` transport by name, and
the example's own test suite passing with retort's pytest fixtures.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retort.core import ENTRY_POINT_GROUP, make_plugin_manager, plugin_sources, transport_factories

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "retort-plugin-example"
DIST = "retort-plugin-example"
ENTRY_POINT = "example"
TIMEOUT = 120

# Run in a fresh interpreter: builds the managers the environment asks for and reports.
PROBE = textwrap.dedent(
    """
    import asyncio, json
    from retort.core import (
        ChatRequest, ConfigurationError, Expect, Message, create_transport,
        make_plugin_manager, plugin_sources, solve, transport_factories,
    )
    from retort.plugins.testing import ScriptedAgent

    SKELETON = "def area(w, h):\\n    # TODO: validate the sizes\\n    return w * h\\n"
    try:
        pm = make_plugin_manager()
    except ConfigurationError as exc:
        print(json.dumps({"error": str(exc)}))
        raise SystemExit(0)
    report = {
        "entry_points": [
            [info.name, info.plugin, info.dist_name, info.dist_version]
            for info in plugin_sources(pm) if info.source == "entry point"
        ],
        "transports": sorted(transport_factories(pm)),
    }
    if "echo" in report["transports"]:
        # The process-wide default manager, built from the same environment.
        agent = ScriptedAgent([SKELETON, "def area(w, h):\\n    return w * h"])
        solved = asyncio.run(solve(agent, "Write area().", Expect.text(tags={"code"})))
        report["solve"] = [len(solved.attempts), solved.value, agent.history[1]]
        echo = create_transport("echo", prefix="> ")
        request = ChatRequest(messages=[Message(role="user", content="hi")])
        report["echo"] = asyncio.run(echo.send(request)).content
    print(json.dumps(report))
    """
)


def _missing_build_backend() -> str | None:
    """Why pip cannot build the example offline here, or ``None`` when it can."""
    if importlib.util.find_spec("wheel") is not None:
        return None
    try:
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return "setuptools is not installed, so the example cannot be built offline"
    parts = [int(part) if part.isdigit() else 0 for part in version.split(".")]
    major, minor = [*parts, 0, 0][:2]
    if (major, minor) >= (70, 1):
        return None
    return (
        f"setuptools {version} needs the 'wheel' package to build the example offline "
        "(--no-build-isolation); install wheel or setuptools>=70.1 in the environment"
    )


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without retort's and pytest's variables, plus ``extra``."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("RETORT_", "PYTEST_"))
    }
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the example: building it in place would leave build/ and egg-info in docs/."""
    work = tmp_path_factory.mktemp("plugin-example")
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", ".pytest_cache")
    shutil.copytree(EXAMPLE, work / "src", ignore=ignore)
    return work


@pytest.fixture(scope="module")
def site(workdir: Path) -> Path:
    """The directory pip installed the example into."""
    reason = _missing_build_backend()
    if reason is not None:
        pytest.skip(reason)
    target = workdir / "site"
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(target),
        str(workdir / "src"),
    ]
    result = subprocess.run(
        command, env=_clean_env(), capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert result.returncode == 0, f"pip failed:\n{result.stdout}\n{result.stderr}"
    return target


def probe(site: Path, **env: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=_clean_env(PYTHONPATH=str(site), **env),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def example_entry_points(report: dict[str, Any]) -> list[list[Any]]:
    return [row for row in report["entry_points"] if row[2] == DIST]


# -------------------------------------------------------------------- without installing


@pytest.fixture
def source_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The plugin module imported from the source tree (then forgotten again)."""
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    yield importlib.import_module("retort_plugin_example.plugin")
    for name in [name for name in sys.modules if name.startswith("retort_plugin_example")]:
        del sys.modules[name]


def test_the_module_its_entry_point_names_is_a_valid_plugin(source_module: Any) -> None:
    import tomllib

    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["name"] == DIST
    entry_points = project["project"]["entry-points"][ENTRY_POINT_GROUP]
    assert entry_points == {ENTRY_POINT: source_module.__name__}
    pm = make_plugin_manager(defaults=(), autoload=False, plugins=[source_module])
    assert sorted(transport_factories(pm)) == ["echo"]
    assert [info.name for info in plugin_sources(pm)] == ["retort_plugin_example.plugin"]


# -------------------------------------------------------------------- installed with pip


def test_pip_installs_its_entry_point(site: Path) -> None:
    found = [
        dist
        for dist in importlib.metadata.distributions(path=[str(site)])
        if dist.metadata["Name"] == DIST
    ]
    assert len(found) == 1
    entry_points = found[0].entry_points.select(group=ENTRY_POINT_GROUP)
    assert [(ep.name, ep.value) for ep in entry_points] == [
        (ENTRY_POINT, "retort_plugin_example.plugin")
    ]


def test_a_new_manager_discovers_it_and_its_hooks_work(site: Path) -> None:
    report = probe(site)
    assert example_entry_points(report) == [
        [ENTRY_POINT, "retort_plugin_example.plugin", DIST, "0.1.0"]
    ]
    assert "echo" in report["transports"]
    attempts, value, feedback = report["solve"]
    assert (attempts, value) == (2, "def area(w, h):\n    return w * h")
    assert "line 2: '# TODO: validate the sizes'" in feedback
    assert report["echo"] == "> hi"


def test_the_allowlist_loads_exactly_the_names_it_lists(site: Path) -> None:
    listed = probe(site, RETORT_LOAD_PLUGINS=ENTRY_POINT)
    assert [row[0] for row in listed["entry_points"]] == [ENTRY_POINT]
    assert "echo" in listed["transports"]

    other = probe(site, RETORT_LOAD_PLUGINS="other")
    assert "RETORT_LOAD_PLUGINS names 'other'" in other["error"]
    installed = other["error"].rpartition("installed: ")[2].split(", ")
    assert ENTRY_POINT in installed


def test_the_disable_switch_keeps_it_out_unless_listed(site: Path) -> None:
    disabled = probe(site, RETORT_DISABLE_PLUGIN_AUTOLOAD="1")
    assert disabled["entry_points"] == []
    assert "echo" not in disabled["transports"]
    assert "solve" not in disabled

    listed = probe(site, RETORT_DISABLE_PLUGIN_AUTOLOAD="1", RETORT_LOAD_PLUGINS=ENTRY_POINT)
    assert example_entry_points(listed) != []


def test_its_own_tests_pass_with_retorts_pytest_fixtures(site: Path, workdir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=workdir / "src",
        env=_clean_env(PYTHONPATH=str(site), PYTHONDONTWRITEBYTECODE="1"),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout
    for problem in ("failed", "error", "skipped"):
        assert problem not in result.stdout
