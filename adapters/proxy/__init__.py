"""retort.adapters.proxy: the inference-proxy transport and the reference proxy server.

- :class:`ProxyTransport` speaks the inference proxy protocol (``POST
  {SANDBOX_PROXY_URL}/api/inference``) with retries, a deadline and typed errors; the
  plugin module ``retort.adapters.proxy._plugin`` registers it as ``"proxy"``.
- :func:`serve` runs the reference proxy server (:class:`ServerHandle`) with a model
  backend (:class:`ScriptedModel`, :class:`ReplayModel`, :class:`FunctionModel`,
  :class:`EchoModel`) and a fault layer (:class:`Faults`). The server needs the
  ``server`` extra (starlette, uvicorn, pyyaml), so these names are imported on first
  use: the transport works without the extra.
"""

from __future__ import annotations

import importlib
from typing import Any

from retort.adapters._http_support import RetryPolicy
from retort.adapters.proxy._transport import ProxyTransport

__all__ = [
    "EchoModel",
    "Faults",
    "FunctionModel",
    "InvalidRequest",
    "ModelBackend",
    "ModelError",
    "ModelReply",
    "ModelRequest",
    "ModelToolCall",
    "NoReply",
    "ProxyServerApp",
    "ProxyTransport",
    "ReplayModel",
    "RetryPolicy",
    "Rule",
    "ScriptedModel",
    "ServerHandle",
    "ServerStats",
    "create_app",
    "serve",
]

# name -> the private module that defines it, imported when the name is first used.
_MODELS = "retort.adapters.proxy._models"
_APP = "retort.adapters.proxy._app"
_SERVER = "retort.adapters.proxy._server"
_LAZY = {
    "EchoModel": _MODELS,
    "Faults": "retort.adapters.proxy._faults",
    "FunctionModel": _MODELS,
    "InvalidRequest": _MODELS,
    "ModelBackend": _MODELS,
    "ModelError": _MODELS,
    "ModelReply": _MODELS,
    "ModelRequest": _MODELS,
    "ModelToolCall": _MODELS,
    "NoReply": _MODELS,
    "ProxyServerApp": _APP,
    "ReplayModel": _MODELS,
    "Rule": "retort.adapters.proxy._scripted_model",
    "ScriptedModel": "retort.adapters.proxy._scripted_model",
    "ServerHandle": _SERVER,
    "ServerStats": _APP,
    "create_app": _APP,
    "serve": _SERVER,
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name in ("starlette", "uvicorn", "yaml"):
            raise ImportError(
                f"retort.adapters.proxy.{name} needs the 'server' extra ({exc.name} is not "
                "installed): pip install 'retort[server]'"
            ) from exc
        raise
    value = getattr(module, name)
    globals()[name] = value
    return value
