"""The AutoGen versions this adapter is tested with, and a guard that says so when they differ.

The adapter relies on AutoGen details that are public but not frozen: the
``AssistantAgent`` state format (``llm_context`` -> ``messages``), the message types of a
``TaskResult`` and the settings a fork copies. It is tested with the 0.7 series
(:data:`SUPPORTED`); outside it, :func:`check_autogen_version` warns once per process with
an :class:`AutoGenVersionWarning` naming the package, the version found and the range.

This module imports nothing from AutoGen, so ``retort doctor`` can report the versions
(or their absence) without the extra.
"""

from __future__ import annotations

import importlib.metadata
import re
import warnings

__all__ = [
    "CHECKED",
    "SUPPORTED",
    "AutoGenVersionWarning",
    "autogen_versions",
    "check_autogen_version",
]

SUPPORTED = ">=0.7.5,<0.8"
"""The range of autogen-agentchat / autogen-core versions the adapter is tested with."""

_LOWEST = (0, 7, 5)
_BELOW = (0, 8, 0)

CHECKED = ("autogen-agentchat", "autogen-core")
"""The distributions :func:`check_autogen_version` compares with :data:`SUPPORTED`."""

_REPORTED = (*CHECKED, "autogen-ext")
_RELEASE = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")

# Once per process: a warning per agent built would drown the output of a long run.
_warned = False


class AutoGenVersionWarning(RuntimeWarning):
    """The installed AutoGen is outside the range the adapter is tested with."""


def _installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution``, or ``None`` when it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def autogen_versions() -> dict[str, str | None]:
    """The installed versions of the AutoGen distributions (``None``: not installed).

    Returns:
        ``{"autogen-agentchat": "0.7.5", "autogen-core": "0.7.5", "autogen-ext": ...}``.
    """
    return {name: _installed_version(name) for name in _REPORTED}


def _release(version: str) -> tuple[int, int, int] | None:
    # Pre- and dev-releases compare by their release numbers: 0.7.6rc1 counts as 0.7.6.
    match = _RELEASE.match(version)
    if match is None:
        return None
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def _problems() -> list[str]:
    problems = []
    for name in CHECKED:
        version = _installed_version(name)
        if version is None:
            problems.append(f"{name} is not installed: pip install 'retort[autogen]'")
            continue
        release = _release(version)
        if release is None or not _LOWEST <= release < _BELOW:
            problems.append(
                f"{name} {version} is installed; retort.adapters.autogen is tested with "
                f"{name}{SUPPORTED}: pip install 'retort[autogen]' to get a tested version"
            )
    return problems


def check_autogen_version(*, warn: bool = True) -> list[str]:
    """Compare the installed AutoGen with :data:`SUPPORTED`.

    Args:
        warn: emit one :class:`AutoGenVersionWarning` (once per process) when a version
            is outside the range. A missing distribution is reported but not warned
            about: importing the adapter already fails with an ImportError then.

    Returns:
        One line per problem found; empty when every checked version is in range.
    """
    global _warned
    problems = _problems()
    outside = [line for line in problems if "is not installed" not in line]
    if warn and outside and not _warned:
        _warned = True
        warnings.warn(
            "; ".join(outside) + ". The adapter may misbehave (state format, message types).",
            AutoGenVersionWarning,
            stacklevel=2,
        )
    return problems
