"""The options every model-calling command shares, and the backend they build.

```python
add_backend_options(parser)              # --agent --transport --base-url --model ...
async with open_backend(args, system_message=None, agent_prefix="solve") as agent:
    solved = await solve(agent, task, expect, plugins=pm)
```

Policies:

- **Endpoint.** ``--transport proxy`` (default) speaks the inference proxy protocol to
  ``--base-url``, else ``SANDBOX_PROXY_URL``, else ``http://sandbox_proxy`` (the
  library's default). ``--transport openai`` needs ``--base-url`` (no environment
  fallback: a key is never sent to a server nobody named) and ``--model``.
- **Key.** ``--api-key``, else ``RETORT_API_KEY``; sent as a bearer token, never printed.
- **Agent.** ``--agent auto`` (default) is AutoGen when the ``autogen`` extra is
  installed, else the native agent; ``native`` and ``autogen`` choose explicitly
  (``autogen`` without the extra is an error naming it).
- **URLs are checked before anything is sent**, naming the flag to fix (exit 2).
- **Trace.** ``--trace FILE`` appends every attempt as a JSON line
  (:class:`retort.plugins.trace.TraceWriter`); the file is opened up front, so an
  unwritable path fails before any model call.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pluggy

from retort.adapters._http import DEFAULT_RETRIES, DEFAULT_TIMEOUT
from retort.adapters._http_support import check_http_url
from retort.adapters.cli._errors import CLIError, UsageError
from retort.adapters.proxy._transport import DEFAULT_MODEL, DEFAULT_PROXY_URL
from retort.core.errors import ConfigurationError
from retort.core.plugins import make_plugin_manager
from retort.core.ports import Agent, Transport

__all__ = [
    "API_KEY_ENV",
    "PROXY_URL_ENV",
    "add_backend_options",
    "add_endpoint_options",
    "api_key",
    "choose_agent",
    "configured_base_url",
    "make_transport",
    "non_negative_int",
    "open_backend",
    "plugin_manager",
    "positive_float",
    "positive_int",
]

PROXY_URL_ENV = "SANDBOX_PROXY_URL"
API_KEY_ENV = "RETORT_API_KEY"


# ---------------------------------------------------------------------- argument types


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {value}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: an integer of 1 or more."""
    return _whole_number(text, 1)


def non_negative_int(text: str) -> int:
    """An argparse type: an integer of 0 or more."""
    return _whole_number(text, 0)


def positive_float(text: str) -> float:
    """An argparse type: a number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text}")
    return value


# ---------------------------------------------------------------------- options


def add_endpoint_options(
    parser: argparse.ArgumentParser,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
) -> None:
    """Add the options that name and reach a model endpoint.

    ``--transport``, ``--base-url``, ``--model``, ``--api-key``, ``--timeout``, ``--retries``.

    Args:
        parser: the command's parser.
        timeout: the default of ``--timeout`` (seconds per request).
        retries: the default of ``--retries``.
    """
    group = parser.add_argument_group("endpoint")
    group.add_argument(
        "--transport",
        choices=("proxy", "openai"),
        default="proxy",
        help="the protocol: the inference proxy (default) or an OpenAI-compatible server",
    )
    group.add_argument(
        "--base-url",
        metavar="URL",
        help=f"the endpoint's base URL (proxy default: ${PROXY_URL_ENV}, else {DEFAULT_PROXY_URL})",
    )
    group.add_argument(
        "--model", help=f"the model name (proxy default: {DEFAULT_MODEL}; required for openai)"
    )
    group.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"sent as a bearer token (default: ${API_KEY_ENV}); never printed",
    )
    group.add_argument(
        "--timeout",
        type=positive_float,
        default=timeout,
        metavar="SECONDS",
        help=f"seconds one request may take (default {timeout:g})",
    )
    group.add_argument(
        "--retries",
        type=non_negative_int,
        default=retries,
        metavar="N",
        help=f"how many times a failed request is repeated (default {retries})",
    )


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """Add the endpoint options plus the agent, budget and trace options.

    ``--agent``, ``--temperature``, ``--limit``, ``--attempts``, ``--trace`` on top of
    :func:`add_endpoint_options`.
    """
    add_endpoint_options(parser)
    group = parser.add_argument_group("agent and run")
    group.add_argument(
        "--agent",
        choices=("auto", "native", "autogen"),
        default="auto",
        help="the agent: AutoGen when installed, else native (default auto)",
    )
    group.add_argument(
        "--temperature", type=float, default=None, help="the sampling temperature (default 0)"
    )
    group.add_argument(
        "--attempts",
        type=positive_int,
        default=3,
        metavar="N",
        help="attempts per solve, feedback between them (default 3)",
    )
    group.add_argument(
        "--limit",
        type=positive_int,
        default=3,
        metavar="N",
        help="the most model calls at once (default 3)",
    )
    group.add_argument(
        "--trace", metavar="FILE", help="append every attempt as a JSON line to FILE"
    )


# ---------------------------------------------------------------------- resolving


def configured_base_url(args: argparse.Namespace) -> str | None:
    """The base URL the options name: ``--base-url``, else (proxy) ``SANDBOX_PROXY_URL``.

    Returns:
        The URL, checked; ``None`` when nothing is configured.

    Raises:
        UsageError: the URL is not an http(s) URL with a host.
    """
    if args.base_url is not None:
        url, setting = args.base_url, "--base-url"
    elif args.transport == "proxy" and os.environ.get(PROXY_URL_ENV):
        url, setting = os.environ[PROXY_URL_ENV], PROXY_URL_ENV
    else:
        return None
    example = DEFAULT_PROXY_URL if args.transport == "proxy" else "http://127.0.0.1:8000/v1"
    try:
        check_http_url(url, setting=setting, example=example)
    except ConfigurationError as exc:
        raise UsageError(str(exc)) from None
    return str(url).strip()


def api_key(args: argparse.Namespace) -> str | None:
    """``--api-key``, else ``RETORT_API_KEY``, else ``None``."""
    key: str | None = args.api_key or os.environ.get(API_KEY_ENV) or None
    return key


def make_transport(
    args: argparse.Namespace, *, agent_prefix: str, base_url: str | None = None
) -> Transport:
    """The transport the endpoint options describe (no I/O until the first request).

    Args:
        args: parsed options of :func:`add_endpoint_options`.
        agent_prefix: names the agent in the proxy protocol's ``agent_id``.
        base_url: overrides the options (a command that started its own server).

    Raises:
        UsageError: a bad base URL, or ``--transport openai`` without ``--base-url`` or
            ``--model``.
    """
    url = base_url if base_url is not None else configured_base_url(args)
    temperature = getattr(args, "temperature", None)
    if args.transport == "openai":
        if url is None:
            raise UsageError(
                "--transport openai needs --base-url",
                hint="e.g. --base-url http://127.0.0.1:8000/v1",
            )
        if not args.model:
            raise UsageError("--transport openai needs --model", hint="e.g. --model Qwen/Qwen3-8B")
        from retort.adapters.openai import OpenAITransport

        return OpenAITransport(
            url,
            api_key(args),
            model=args.model,
            temperature=temperature,
            timeout=args.timeout,
            retries=args.retries,
        )
    from retort.adapters.proxy import ProxyTransport

    return ProxyTransport(
        url,
        model=args.model or DEFAULT_MODEL,
        agent_prefix=agent_prefix,
        temperature=temperature if temperature is not None else 0.0,
        timeout=args.timeout,
        retries=args.retries,
        api_key=api_key(args),
    )


def choose_agent(name: str) -> str:
    """``"native"`` or ``"autogen"`` for an ``--agent`` choice (``auto`` resolved).

    Raises:
        CLIError: ``autogen`` was asked for and the extra is not installed.
    """
    installed = importlib.util.find_spec("autogen_agentchat") is not None
    if name == "auto":
        return "autogen" if installed else "native"
    if name == "autogen" and not installed:
        raise CLIError(
            "--agent autogen needs the 'autogen' extra, which is not installed",
            hint="pip install 'retort[autogen]', or use --agent native",
        )
    return name


@asynccontextmanager
async def open_backend(
    args: argparse.Namespace,
    *,
    system_message: str | None,
    agent_prefix: str,
    base_url: str | None = None,
) -> AsyncIterator[Agent]:
    """Build the transport and the agent the options describe; close both on exit.

    Args:
        args: parsed options of :func:`add_backend_options`.
        system_message: the agent's system message, or ``None``.
        agent_prefix: names the agent (the proxy protocol's ``agent_id`` prefix).
        base_url: overrides ``--base-url`` / ``SANDBOX_PROXY_URL``.

    Yields:
        The agent: ``AutoGenAgent(TransportChatCompletionClient(transport))`` or
        ``NativeAgent(transport)``; it owns the transport.
    """
    kind = choose_agent(args.agent)
    transport = make_transport(args, agent_prefix=agent_prefix, base_url=base_url)
    agent: Agent
    try:
        if kind == "autogen":
            from retort.adapters.autogen import AutoGenAgent, TransportChatCompletionClient

            client = TransportChatCompletionClient(transport)
            agent = AutoGenAgent(client, system_message=system_message)
        else:
            from retort.adapters.native import NativeAgent

            agent = NativeAgent(transport, system_message)
    except BaseException:
        await transport.aclose()
        raise
    try:
        yield agent
    finally:
        await agent.aclose()


@contextmanager
def plugin_manager(args: argparse.Namespace) -> Iterator[pluggy.PluginManager | None]:
    """The plugin manager for the run: ``None`` (the process default) without
    ``--trace``; with it, a new manager with a trace writer registered, closed on exit.

    Raises:
        CLIError: the trace file cannot be created or written (checked up front).
    """
    path = getattr(args, "trace", None)
    if not path:
        yield None
        return
    from retort.plugins.trace import TraceWriter

    trace_path = Path(path)
    try:
        trace_path.parent.mkdir(parents=True, exist_ok=True)
        with trace_path.open("a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise CLIError(
            f"cannot write the trace file {trace_path}: {exc.strerror or exc}",
            hint="pass --trace a path in a directory you can write to",
        ) from exc
    with TraceWriter(trace_path) as writer:
        yield make_plugin_manager(plugins=[writer])
