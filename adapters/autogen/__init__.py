"""retort.adapters.autogen: retort's ports around Microsoft AutoGen (0.7 series).

- :class:`AutoGenAgent` - the :class:`~retort.core.ports.Agent` port around a real
  ``AssistantAgent`` (built for you, or wrapped with :meth:`AutoGenAgent.wrap`).
- :class:`TransportChatCompletionClient` - an AutoGen ``ChatCompletionClient`` over any
  retort :class:`~retort.core.ports.Transport`.
- :func:`solve_task` - a drop-in with the original program's parameter names, on top of
  :func:`retort.core.solve`.
- :func:`stock_proxy_client`, :func:`proxy_http_client`, :class:`RetortHTTPTransport` -
  AutoGen's own ``OpenAIChatCompletionClient`` speaking the proxy protocol (or any retort
  transport) through a custom HTTP transport; :func:`stock_openai_client` - the same
  stock client for an OpenAI-compatible server, with safe defaults.
- :func:`autogen_versions`, :func:`check_autogen_version`, :data:`SUPPORTED`,
  :class:`AutoGenVersionWarning` - the version guard (no AutoGen import needed).

The AutoGen classes need the ``autogen`` extra; they are imported on first use, which
raises an ImportError naming the extra when it is missing and checks the installed
version once (an :class:`AutoGenVersionWarning` when it is outside :data:`SUPPORTED`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from retort.adapters.autogen._version import (
    SUPPORTED,
    AutoGenVersionWarning,
    autogen_versions,
    check_autogen_version,
)

if TYPE_CHECKING:
    from retort.adapters.autogen._agent import AutoGenAgent
    from retort.adapters.autogen._client import TransportChatCompletionClient
    from retort.adapters.autogen._compat import solve_task
    from retort.adapters.autogen._stock import (
        RetortHTTPTransport,
        proxy_http_client,
        stock_openai_client,
        stock_proxy_client,
    )

__all__ = [
    "SUPPORTED",
    "AutoGenAgent",
    "AutoGenVersionWarning",
    "RetortHTTPTransport",
    "TransportChatCompletionClient",
    "autogen_versions",
    "check_autogen_version",
    "proxy_http_client",
    "solve_task",
    "stock_openai_client",
    "stock_proxy_client",
]

# name -> the private module that defines it, imported when the name is first used.
_LAZY = {
    "AutoGenAgent": "retort.adapters.autogen._agent",
    "TransportChatCompletionClient": "retort.adapters.autogen._client",
    "solve_task": "retort.adapters.autogen._compat",
    "RetortHTTPTransport": "retort.adapters.autogen._stock",
    "proxy_http_client": "retort.adapters.autogen._stock",
    "stock_openai_client": "retort.adapters.autogen._stock",
    "stock_proxy_client": "retort.adapters.autogen._stock",
}
_AUTOGEN_MODULES = ("autogen_agentchat", "autogen_core", "autogen_ext", "openai", "httpx2")


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.split(".")[0] in _AUTOGEN_MODULES:
            raise ImportError(
                f"retort.adapters.autogen.{name} needs the 'autogen' extra ({exc.name} is "
                "not installed): pip install 'retort[autogen]'"
            ) from exc
        raise
    check_autogen_version()
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
