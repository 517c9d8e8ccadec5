"""The inference-proxy transport: ``POST {base_url}/api/inference``, exactly as the protocol says.

```python
async with ProxyTransport(agent_prefix="test_generator") as transport:
    reply = await transport.send(ChatRequest(messages=[Message(role="user", content="Hi")]))
```

Configuration is read from the environment when the transport is created, each setting
overridable by an argument: ``SANDBOX_PROXY_URL`` (default ``http://sandbox_proxy``),
``RUN_ID`` (default ``nocache-1``) and ``AGENT_ID`` (default ``local``). The request body
is exactly ``{"model", "messages", "run_id", "temperature", "agent_id"}``; ``agent_id`` is
``"{agent_prefix}:{AGENT_ID}"`` where the prefix names the agent - one per agent, so give
each agent its own (:meth:`ProxyTransport.for_agent` makes one sharing the connection
pool). Retries, timeouts, the deadline, hooks and errors are those of
:class:`~retort.adapters._http.HTTPTransport`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
import pluggy

from retort.adapters._http import (
    DEFAULT_DEADLINE,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    HTTPTransport,
    RetryPolicy,
)
from retort.adapters._http_support import check_http_url, join_path
from retort.adapters.proxy._decode import decode_proxy_reply, is_json_media_type
from retort.adapters.proxy._wire import proxy_messages
from retort.core.errors import ConfigurationError
from retort.core.messages import ChatReply, ChatRequest

__all__ = [
    "DEFAULT_AGENT_ID",
    "DEFAULT_AGENT_PREFIX",
    "DEFAULT_MODEL",
    "DEFAULT_PROXY_URL",
    "DEFAULT_RUN_ID",
    "ProxyTransport",
]

DEFAULT_PROXY_URL = "http://sandbox_proxy"
DEFAULT_RUN_ID = "nocache-1"
DEFAULT_AGENT_ID = "local"
DEFAULT_AGENT_PREFIX = "retort"
DEFAULT_MODEL = "zai-org/GLM-4.6-FP8"
"""The protocol's example model, and the newest GLM the original program used."""

_URL_SETTING = "SANDBOX_PROXY_URL (or base_url=)"


class ProxyTransport(HTTPTransport):
    """A :class:`~retort.core.ports.Transport` that speaks the inference proxy protocol.

    Args:
        base_url: the proxy's base URL; a path in it is kept
            (``http://h/prefix`` posts to ``http://h/prefix/api/inference``).
            Default: ``SANDBOX_PROXY_URL``, else ``http://sandbox_proxy``.
        model: the model name, unless a request names its own.
        run_id: default ``RUN_ID``, else ``nocache-1``.
        agent_id: the agent's id, default ``AGENT_ID``, else ``local``.
        agent_prefix: names the agent in ``agent_id`` (``"{agent_prefix}:{agent_id}"``).
        temperature: unless a request sets its own.
        timeout: seconds one attempt may take in all (default 180).
        retries: how many times a failed attempt is repeated (default 4).
        deadline: seconds one send may take across attempts and waits (default 600).
        api_key: optional; sent as ``authorization: Bearer ...``, never shown or logged.
        client: an ``httpx.AsyncClient`` to use; the caller keeps ownership.
        plugins: the plugin manager for ``retort_before_send``/``retort_after_receive``;
            default the run in progress's, else the process default.
        policy: back-off, ``Retry-After`` cap, retried statuses, random source, sleep, clock.

    Raises:
        ConfigurationError: the URL is empty, not http(s) or has no host; a number is out
            of range; the model or agent prefix is empty.
    """

    server_name: ClassVar[str] = "the proxy"

    def __init__(
        self,
        base_url: str | None = None,
        *,
        model: str = DEFAULT_MODEL,
        run_id: str | None = None,
        agent_id: str | None = None,
        agent_prefix: str = DEFAULT_AGENT_PREFIX,
        temperature: float = 0.0,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        deadline: float = DEFAULT_DEADLINE,
        api_key: str | None = None,
        client: httpx.AsyncClient | None = None,
        plugins: pluggy.PluginManager | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        if base_url is None:
            base_url = os.environ.get("SANDBOX_PROXY_URL", DEFAULT_PROXY_URL)
        base = check_http_url(base_url, setting=_URL_SETTING, example=DEFAULT_PROXY_URL)
        if not isinstance(model, str) or not model.strip():
            raise ConfigurationError(f"model must be a model name, got {model!r}")
        if not isinstance(agent_prefix, str) or not agent_prefix:
            raise ConfigurationError(
                f"agent_prefix must name the agent (e.g. 'test_generator'), got {agent_prefix!r}"
            )
        super().__init__(
            join_path(base, "api/inference"),
            timeout=timeout,
            retries=retries,
            deadline=deadline,
            api_key=api_key,
            client=client,
            plugins=plugins,
            policy=policy,
        )
        self.base_url = base
        self.model = model
        self.run_id = run_id if run_id is not None else os.environ.get("RUN_ID") or DEFAULT_RUN_ID
        self.agent_name = (
            agent_id if agent_id is not None else os.environ.get("AGENT_ID") or DEFAULT_AGENT_ID
        )
        self.agent_prefix = agent_prefix
        self.temperature = temperature
        self._api_key = api_key

    @property
    def agent_id(self) -> str:
        """What the requests send as ``agent_id``: ``"{agent_prefix}:{agent id}"``."""
        return f"{self.agent_prefix}:{self.agent_name}"

    def for_agent(self, agent_prefix: str) -> ProxyTransport:
        """The same transport for another agent: only ``agent_prefix`` differs.

        The new transport sends through this one's connection pool; closing it leaves
        the pool open, closing this one closes it for both.
        """
        derived = ProxyTransport(
            str(self.base_url),
            model=self.model,
            run_id=self.run_id,
            agent_id=self.agent_name,
            agent_prefix=agent_prefix,
            temperature=self.temperature,
            timeout=self.timeout,
            retries=self.retries,
            deadline=self.deadline,
            api_key=self._api_key,
            plugins=self._plugins,
            policy=self.policy,
        )
        derived._share_pool(self)
        return derived

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        return {
            "model": request.model or self.model,
            "messages": proxy_messages(request),
            "run_id": self.run_id,
            "temperature": (
                request.temperature if request.temperature is not None else self.temperature
            ),
            "agent_id": self.agent_id,
        }

    def _decode(self, response: httpx.Response) -> ChatReply:
        json_declared = is_json_media_type(response.headers.get("content-type"))
        return decode_proxy_reply(response.text, json_declared=json_declared)

    def _advice(self, kind: str, status: int | None = None) -> str:
        if kind == "connect":
            return (
                f"is the proxy running at {self._safe_base()}? "
                f"Set SANDBOX_PROXY_URL (or pass base_url=) to its address"
            )
        if kind == "status" and status == 404:
            return (
                f"is {self._safe_base()} the proxy's base URL (it serves /api/inference)? "
                "Set SANDBOX_PROXY_URL"
            )
        return super()._advice(kind, status)

    def _safe_base(self) -> str:
        return self._safe_url.removesuffix("/api/inference")

    def _repr_fields(self) -> Mapping[str, object]:
        return {"model": self.model, "agent_id": self.agent_id, **super()._repr_fields()}
