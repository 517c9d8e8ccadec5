"""``retort doctor``: what is installed, what is loaded, and whether the endpoint answers.

Policies:

- **Versions** are compared with the ranges retort's own installed metadata declares (so
  pyproject.toml is the one source): Python with ``Requires-Python``, every dependency
  with its specifier, the extras ``autogen``, ``server`` and ``testing`` included.
- **Plugins**: every plugin of the process's plugin manager (``plugin_sources``) with
  where it came from (built-in, entry point, code), its distribution and its hooks.
- **Endpoint**: the base URL from ``--base-url``, else ``SANDBOX_PROXY_URL`` (proxy);
  one ``GET /health`` (proxy) or ``GET .../models`` (OpenAI-compatible) with a short
  timeout; any HTTP answer means it answers. ``--probe`` also sends one tiny chat
  request through the real transport.
- **Exit code**: 1 when something is broken - Python or a base dependency missing or
  outside its range, the plugin manager cannot be built, or the configured endpoint
  does not answer (or the probe fails); else 0. An extra that is not installed is
  information, an installed extra outside its range and an unconfigured endpoint are
  warnings: neither stops retort from working, so neither fails the check.
- ``--json`` prints the same findings as JSON; the API key is never shown.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import platform
import re
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal

import httpx

from retort.adapters._http_support import check_http_url, join_path, safe_url
from retort.adapters.cli._errors import UsageError, one_line
from retort.adapters.cli._options import (
    API_KEY_ENV,
    PROXY_URL_ENV,
    add_endpoint_options,
    api_key,
    configured_base_url,
    make_transport,
)
from retort.core.errors import ConfigurationError, RetortError
from retort.core.messages import ChatRequest, Message

__all__ = ["Finding", "endpoint_findings", "plugin_findings", "register", "version_findings"]

Status = Literal["ok", "info", "warn", "fail"]
_EXTRAS = ("autogen", "server", "testing")
_REQUIREMENT = re.compile(
    r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;]*)(?:;(.*))?$"
)
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")
_CLAUSE = re.compile(r"^(~=|===|==|!=|<=|>=|<|>)\s*(\S+)$")
_PLUGIN_ENV = ("RETORT_DISABLE_PLUGIN_AUTOLOAD", "RETORT_LOAD_PLUGINS", "RETORT_TRACE_HOOKS")
_PROBE = "Reply with the word OK."


@dataclass(frozen=True, slots=True)
class Finding:
    """One row of the report.

    Attributes:
        section: ``"versions"``, ``"plugins"`` or ``"endpoint"``.
        name: what was checked.
        found: what is there (a version, a source, an HTTP answer).
        wanted: what retort needs or where it came from.
        status: ``"ok"``, ``"info"``, ``"warn"`` or ``"fail"`` (only ``fail`` exits 1).
        note: what to do, or more detail.
    """

    section: str
    name: str
    found: str
    wanted: str
    status: Status
    note: str = ""


# ---------------------------------------------------------------------- versions


def _release(version: str) -> tuple[int, ...]:
    # Pre-, post- and dev-releases compare by their release numbers (0.7.6rc1 ~ 0.7.6),
    # as the AutoGen guard does; enough for ranges of the simple form pyproject uses.
    match = re.match(r"\d+(?:\.\d+)*", version.strip())
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def _padded(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    width = max(len(a), len(b))
    return a + (0,) * (width - len(a)), b + (0,) * (width - len(b))


def _clause_holds(version: str, operator: str, bound: str) -> bool:
    if bound.endswith(".*"):  # ==1.2.* / !=1.2.*: a prefix match
        prefix = _release(bound[:-2])
        same = _release(version)[: len(prefix)] == prefix
        return same if operator == "==" else not same
    have, want = _padded(_release(version), _release(bound))
    if operator == "~=":
        stem = _release(bound)[:-1]
        return have >= want and _release(version)[: len(stem)] == stem
    results = {
        "==": have == want,
        "===": version.strip() == bound,
        "!=": have != want,
        "<=": have <= want,
        ">=": have >= want,
        "<": have < want,
        ">": have > want,
    }
    return results[operator]


def satisfies(version: str, specifier: str) -> bool:
    """Whether ``version`` is inside ``specifier`` (``">=0.7.5,<0.8"``; empty: any).

    Raises:
        ValueError: a clause is not of the form ``<op><version>``.
    """
    for clause in filter(None, (part.strip() for part in specifier.split(","))):
        match = _CLAUSE.match(clause)
        if match is None:
            raise ValueError(f"cannot read the version clause {clause!r}")
        if not _clause_holds(version, match.group(1), match.group(2)):
            return False
    return True


def _requirements() -> list[tuple[str, str, str | None]]:
    """``(distribution, specifier, extra)`` for every dependency retort declares."""
    found = []
    for line in importlib.metadata.requires("retort") or []:
        match = _REQUIREMENT.match(line)
        if match is None:
            continue
        name, specifier, marker = match.group(1), match.group(2).strip(), match.group(3) or ""
        extra_match = _EXTRA_MARKER.search(marker)
        extra = extra_match.group(1) if extra_match else None
        if name.lower() == "retort" or (extra is not None and extra not in _EXTRAS):
            continue
        found.append((name, specifier, extra))
    return found


def _installed(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _dependency(name: str, specifier: str, extra: str | None) -> Finding:
    version = _installed(name)
    wanted = specifier or "any"
    where = f"extra '{extra}'" if extra else "required"
    if version is None:
        if extra is None:
            return Finding(
                "versions",
                name,
                "not installed",
                wanted,
                "fail",
                "reinstall retort: pip install retort",
            )
        return Finding(
            "versions",
            name,
            "not installed",
            wanted,
            "info",
            f"optional ({where}): pip install 'retort[{extra}]'",
        )
    if satisfies(version, specifier):
        return Finding("versions", name, version, wanted, "ok", where)
    advice = "pip install 'retort" + (f"[{extra}]" if extra else "") + "' to get a tested version"
    return Finding(
        "versions",
        name,
        version,
        wanted,
        "fail" if extra is None else "warn",
        f"outside the tested range ({where}): {advice}",
    )


def version_findings() -> list[Finding]:
    """Python, retort and every dependency against the ranges retort declares."""
    python = platform.python_version()
    try:
        retort_version = importlib.metadata.version("retort")
        requires_python = importlib.metadata.metadata("retort")["Requires-Python"] or ""
        requirements = _requirements()
    except importlib.metadata.PackageNotFoundError:
        return [
            Finding("versions", "python", python, "unknown", "info"),
            Finding(
                "versions",
                "retort",
                "not installed as a distribution",
                "",
                "warn",
                "ranges unknown: pip install -e . (or pip install retort)",
            ),
        ]
    ok = satisfies(python, requires_python)
    findings = [
        Finding(
            "versions",
            "python",
            python,
            requires_python or "any",
            "ok" if ok else "fail",
            sys.executable if ok else "use a supported Python",
        ),
        Finding("versions", "retort", retort_version, "", "ok", _location()),
    ]
    findings.extend(_dependency(*requirement) for requirement in requirements)
    return findings


def _location() -> str:
    import retort.core

    return os.path.dirname(os.path.dirname(os.path.abspath(retort.core.__file__)))


# ---------------------------------------------------------------------- plugins


def plugin_findings() -> list[Finding]:
    """The plugins of the process's plugin manager, where each came from, its hooks."""
    from retort.core.plugins import get_plugin_manager, plugin_sources

    findings = [
        Finding("plugins", name, os.environ[name], "environment", "info")
        for name in _PLUGIN_ENV
        if os.environ.get(name)
    ]
    try:
        pm = get_plugin_manager()
    except ConfigurationError as exc:
        note = "fix or uninstall the plugin, or set RETORT_DISABLE_PLUGIN_AUTOLOAD=1"
        return [
            *findings,
            Finding("plugins", "plugin manager", one_line(str(exc)), "", "fail", note),
        ]
    for info in plugin_sources(pm):
        dist = f"{info.dist_name} {info.dist_version or ''}".strip() if info.dist_name else "-"
        plugin = pm.get_plugin(info.name)
        callers = pm.get_hookcallers(plugin) if plugin is not None else None
        hooks = ", ".join(sorted(caller.name for caller in callers or ()))
        findings.append(Finding("plugins", info.name, info.source, dist, "ok", hooks))
    return findings


# ---------------------------------------------------------------------- endpoint


def _health_url(args: argparse.Namespace, base: str) -> str:
    if args.transport == "openai":
        from retort.adapters.openai import OpenAITransport

        # Built only for its URL rule; it opens no connection until a request is sent.
        completions = str(OpenAITransport(base).url)
        return completions.removesuffix("chat/completions") + "models"
    return str(join_path(check_http_url(base, setting="--base-url", example=""), "health"))


def _get(url: str, args: argparse.Namespace) -> Finding:
    shown = "GET " + safe_url(url)
    headers = {}
    key = api_key(args)
    if key:
        headers["authorization"] = f"Bearer {key}"
    started = time.monotonic()
    try:
        with httpx.Client(timeout=args.timeout) as client:
            response = client.get(url, headers=headers)
    except httpx.TimeoutException:
        return Finding(
            "endpoint",
            shown,
            f"no answer in {args.timeout:g} s",
            "an HTTP answer",
            "fail",
            "the server is stuck or unreachable; check it, or raise --timeout",
        )
    except httpx.HTTPError as exc:
        return Finding(
            "endpoint",
            shown,
            one_line(f"{type(exc).__name__}: {exc}", 200),
            "an HTTP answer",
            "fail",
            "is the server running at that URL?",
        )
    elapsed = f"HTTP {response.status_code} in {(time.monotonic() - started) * 1000:.0f} ms"
    if response.is_success:
        return Finding("endpoint", shown, elapsed, "an HTTP answer", "ok", "answers")
    if response.status_code in (401, 403):
        note = f"answers, but refuses the credentials: check --api-key / ${API_KEY_ENV}"
    else:
        note = "answers HTTP (this path is not served, which a proxy may not need)"
    return Finding("endpoint", shown, elapsed, "an HTTP answer", "warn", note)


async def _probe(args: argparse.Namespace, base: str) -> Finding:
    request = ChatRequest(messages=[Message(role="user", content=_PROBE)])
    name = f"probe ({args.transport})"
    started = time.monotonic()
    try:
        async with make_transport(args, agent_prefix="doctor", base_url=base) as transport:
            reply = await transport.send(request)
    except RetortError as exc:
        return Finding(
            "endpoint",
            name,
            one_line(str(exc), 300),
            "a reply",
            "fail",
            "the endpoint does not answer chat requests",
        )
    elapsed = (time.monotonic() - started) * 1000
    text = one_line(reply.content or "", 60)
    return Finding("endpoint", name, f"replied in {elapsed:.0f} ms: {text!r}", "a reply", "ok")


def endpoint_findings(args: argparse.Namespace) -> list[Finding]:
    """Whether the configured endpoint answers (and, with ``--probe``, replies).

    Raises:
        UsageError: ``--base-url`` itself is not a valid URL.
    """
    wanted = "an HTTP answer"
    try:
        base = configured_base_url(args)
    except UsageError as exc:
        if args.base_url is not None:
            raise
        return [Finding("endpoint", PROXY_URL_ENV, one_line(exc.message), wanted, "fail")]
    if base is None:
        setting = f"set ${PROXY_URL_ENV} or pass --base-url"
        if args.transport == "openai":
            setting = "pass --base-url"
        return [Finding("endpoint", "base URL", "not configured", wanted, "warn", setting)]
    findings = [_get(_health_url(args, base), args)]
    if args.probe:
        findings.append(asyncio.run(_probe(args, base)))
    return findings


# ---------------------------------------------------------------------- output


_STYLE = {"ok": "green", "info": "dim", "warn": "yellow", "fail": "bold red"}
_TITLES = {
    "versions": ("component", "found", "wanted", "status", "note"),
    "plugins": ("plugin", "source", "distribution", "status", "hooks"),
    "endpoint": ("check", "result", "wanted", "status", "note"),
}


def _print_tables(findings: list[Finding]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stdout, highlight=False, width=None if sys.stdout.isatty() else 160)
    for section, columns in _TITLES.items():
        rows = [finding for finding in findings if finding.section == section]
        table = Table(title=section, title_justify="left", show_edge=False)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            status = f"[{_STYLE[row.status]}]{row.status}[/]"
            table.add_row(row.name, row.found, row.wanted, status, row.note)
        console.print(table)
        console.print()


def register(subparsers: Any) -> None:
    """Add ``retort doctor`` to the command's subparsers."""
    parser = subparsers.add_parser(
        "doctor",
        help="check versions, plugins and the endpoint",
        description="Report Python and dependency versions against retort's tested ranges, "
        "the plugins loaded and where from, and whether the configured endpoint answers. "
        "Exits 1 when something is broken.",
    )
    add_endpoint_options(parser, timeout=5.0, retries=0)
    parser.add_argument(
        "--probe", action="store_true", help="also send one tiny chat request to the endpoint"
    )
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``retort doctor``; 1 when something is broken, else 0."""
    endpoint = endpoint_findings(args)  # first: a bad --base-url is a usage error
    findings = [*version_findings(), *plugin_findings(), *endpoint]
    failed = [finding for finding in findings if finding.status == "fail"]
    if args.json:
        data = {"ok": not failed, "findings": [asdict(finding) for finding in findings]}
        print(json.dumps(data, indent=2))
    else:
        _print_tables(findings)
        if failed:
            names = ", ".join(finding.name for finding in failed)
            print(f"retort doctor: {len(failed)} problem{'s' * (len(failed) != 1)}: {names}")
        else:
            print("retort doctor: nothing broken")
    return 1 if failed else 0
