"""Reliability: 1,000 solves through ProxyTransport + NativeAgent against a faulty server,
and the bad configurations that must fail fast, saying what to set.

The solves run the soak harness (``tests/soak/soak.py``, ``make soak``) at a size that
fits ``make test``; its module docstring lists the faults and every invariant checked.
Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import asyncio
import importlib.util
import random
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

from retort.adapters._http import RetryPolicy
from retort.adapters.native import NativeAgent
from retort.adapters.proxy import ProxyTransport
from retort.core import (
    ConfigurationError,
    TransportConnectionError,
    TransportTimeout,
    make_plugin_manager,
    solve,
)


def _load_soak() -> ModuleType:
    # importlib mode puts no test folder on sys.path; the harness is a plain script.
    path = Path(__file__).resolve().parents[1] / "soak" / "soak.py"
    spec = importlib.util.spec_from_file_location("retort_soak", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


soak = _load_soak()


def test_a_thousand_solves_against_a_faulty_server_end_typed_in_time_and_accounted() -> None:
    config = soak.Config(solves=1_000, seconds=120.0, limit=64)
    report = soak.run(config)
    soak.print_table("reliability: 1,000 solves, limit 64, faults", soak.summary(report))
    assert soak.violations(report) == []
    assert report.solves == 1_000
    # The faults were felt, and survived: retries happened, and most solves succeeded.
    assert report.metrics.transport_retries > 0
    assert report.outcomes["solved"] >= 900
    # Malformed replies made feedback attempts, and every 97th task exhausted its budget.
    feedback = report.metrics.feedback
    assert sum(n for label, n in feedback.items() if label.startswith("sections")) > 0
    assert report.outcomes["SolveFailed"] >= 1
    assert {"delay", "reset", "truncate", "status:429", "status:500"} <= set(report.stats.faults)
    assert not report.warnings


# ------------------------------------------------------------------ bad configuration


def _quick_policy() -> RetryPolicy:
    return RetryPolicy(backoff_base=0.01, backoff_cap=0.05, rng=random.Random(0))


async def _solve_through(transport: ProxyTransport) -> None:
    async with NativeAgent(transport) as agent:
        await solve(agent, "Say hello.", plugins=make_plugin_manager(autoload=False))


def test_an_empty_proxy_url_fails_fast_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_PROXY_URL", "")
    with pytest.raises(ConfigurationError, match="SANDBOX_PROXY_URL") as caught:
        ProxyTransport()
    assert "empty" in str(caught.value)


@pytest.mark.parametrize("url", ["ftp://127.0.0.1:21", "sandbox_proxy:8080"])
def test_a_wrong_scheme_fails_fast_naming_the_setting(url: str) -> None:
    with pytest.raises(ConfigurationError, match="SANDBOX_PROXY_URL") as caught:
        ProxyTransport(url)
    assert "http:// or https://" in str(caught.value)


def test_a_closed_port_fails_a_solve_with_a_connection_error_naming_the_setting(
    closed_url: str,
) -> None:
    transport = ProxyTransport(closed_url, retries=2, policy=_quick_policy())
    start = time.monotonic()
    with pytest.raises(TransportConnectionError, match="SANDBOX_PROXY_URL") as caught:
        asyncio.run(_solve_through(transport))
    assert time.monotonic() - start < 5
    assert closed_url in str(caught.value)
    assert caught.value.attempts == 3


def test_a_closed_port_gives_up_within_the_deadline(closed_url: str) -> None:
    # Default retries and back-off: the deadline, not the retry count, ends it.
    transport = ProxyTransport(closed_url, deadline=0.5)
    start = time.monotonic()
    with pytest.raises(TransportTimeout, match="gave up within the deadline") as caught:
        asyncio.run(_solve_through(transport))
    assert time.monotonic() - start < 0.5 + 1
    assert "SANDBOX_PROXY_URL" in str(caught.value)


# An unresolvable host (http://nonexistent.invalid) is not tested here: this machine sends
# every DNS lookup, .invalid included, to a remote resolver (/etc/resolv.conf), and tests
# never leave the machine. A refused connection covers "unreachable" locally.
