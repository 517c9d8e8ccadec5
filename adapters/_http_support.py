"""The pure parts of the HTTP transports: retry policy, URLs, ``Retry-After``, error bodies.

No I/O here; :mod:`retort.adapters._http` does the sending.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import httpx

from retort.core.errors import ConfigurationError
from retort.core.messages import Usage

__all__ = [
    "EXCERPT",
    "RETRY_STATUSES",
    "RetryPolicy",
    "check_http_url",
    "check_seconds",
    "error_detail",
    "join_path",
    "parse_retry_after",
    "safe_url",
    "status_advice",
    "usage_of",
]

RETRY_STATUSES: frozenset[int] = frozenset({408, 425, 429, 500, 502, 503, 504})
EXCERPT = 300
"""How many characters of a body an error message or ``body_excerpt`` keeps."""
_MAX_EXPONENT = 60  # 0.5 * 2**60 is far past any cap; bigger exponents overflow floats


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a transport waits between attempts.

    Attributes:
        backoff_base: seconds; retry ``n`` waits ``uniform(0, min(cap, base * 2**n))``.
        backoff_cap: the most a back-off wait may be, in seconds.
        retry_after_cap: the most a server's ``Retry-After`` is honoured, in seconds.
        statuses: the HTTP statuses that are retried.
        rng: the random source of the jitter (seed one for reproducible waits).
        sleep: awaited with each wait (tests record it instead of sleeping).
        clock: monotonic seconds, for the deadline.
    """

    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    retry_after_cap: float = 60.0
    statuses: frozenset[int] = RETRY_STATUSES
    rng: random.Random = field(default_factory=random.Random)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic

    def backoff(self, retry: int) -> float:
        """The full-jitter wait before retry ``retry`` (0 for the first retry)."""
        high = min(self.backoff_cap, self.backoff_base * 2 ** min(retry, _MAX_EXPONENT))
        return self.rng.uniform(0.0, high)

    def wait(self, retry: int, retry_after: float | None) -> float:
        """The wait before retry ``retry``: the capped ``Retry-After`` when there is one."""
        if retry_after is not None:
            return min(retry_after, self.retry_after_cap)
        return self.backoff(retry)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header.

    Args:
        value: the header: delay seconds (``"120"``) or an HTTP date.
        now: the current Unix time, for a date (default ``time.time()``).

    Returns:
        Seconds, never negative (a date in the past means now); ``None`` when the header
        is missing or unreadable.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def safe_url(url: httpx.URL | str) -> str:
    """The URL as errors and logs show it: no user, password or query string."""
    parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    return str(parsed.copy_with(userinfo=b"", query=None, fragment=None))


def error_detail(response: httpx.Response) -> str:
    """The error message in an error body: OpenAI's ``{"error": {"message"}}``,
    ``{"error": "..."}``, FastAPI's ``{"detail": ...}``, ``{"message": ...}``; else the
    start of the body text."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:EXCERPT]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        for value in (error, body.get("detail"), body.get("message")):
            if isinstance(value, str) and value:
                return value
            if value not in (None, "", {}, []):
                return json.dumps(value, ensure_ascii=False)[:EXCERPT]
    if isinstance(body, str):
        return body
    return json.dumps(body, ensure_ascii=False)[:EXCERPT]


def usage_of(value: Any) -> Usage:
    """The token usage a server reported (``prompt_tokens``, ``completion_tokens``);
    anything missing or unreadable counts as not reported (zero)."""
    if not isinstance(value, dict):
        return Usage()
    counts = {
        key: count
        for key in ("prompt_tokens", "completion_tokens")
        if isinstance(count := value.get(key), int) and not isinstance(count, bool) and count >= 0
    }
    return Usage(**counts)


def status_advice(status: int | None, server: str) -> str:
    if status in (401, 403):
        return "check the API key (api_key=) and that it may use this endpoint"
    if status == 404:
        return "check the URL (is the base URL right, path prefix included?) and the model name"
    if status == 429:
        return f"{server} is rate limiting: lower the run's limit, or raise retries= or deadline="
    if status is not None and status >= 500:
        return f"{server} failed or is overloaded: check its logs, or raise retries= or deadline="
    if status is not None and 300 <= status < 400:
        return "redirects are not followed: point the base URL at the final address"
    return "the request was rejected as it is (not retried): check the model name and request"


def check_seconds(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigurationError(f"{name} must be a number of seconds > 0, got {value!r}")
    if not math.isfinite(value):
        raise ConfigurationError(f"{name} must be finite, got {value!r}")


def check_http_url(url: str, *, setting: str, example: str) -> httpx.URL:
    """Parse a base URL, failing fast on what can never work.

    Args:
        url: the URL as configured.
        setting: what to set to fix it, for the message (``"SANDBOX_PROXY_URL or base_url="``).
        example: a URL that would work, for the message.

    Raises:
        ConfigurationError: the URL is empty, unparseable, not http(s) or has no host.
    """
    text = url.strip() if isinstance(url, str) else url
    if not isinstance(text, str) or not text:
        raise ConfigurationError(f"no base URL: {setting} is empty; set it, e.g. {example}")
    try:
        parsed = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise ConfigurationError(
            f"{setting} is not a valid URL ({exc}); set it to e.g. {example}"
        ) from None
    shown = safe_url(parsed)
    if parsed.scheme not in ("http", "https"):
        raise ConfigurationError(
            f"{setting} must be an http:// or https:// URL, got {shown!r}; set it to e.g. {example}"
        )
    if not parsed.host:
        raise ConfigurationError(f"{setting} has no host: {shown!r}; set it to e.g. {example}")
    return parsed


def join_path(base: httpx.URL, *parts: str) -> httpx.URL:
    """``base`` with ``parts`` appended to its path, the base path kept."""
    path = base.path.rstrip("/") + "".join("/" + part.strip("/") for part in parts)
    return base.copy_with(path=path)
