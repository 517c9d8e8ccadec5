"""The cassette file: one recorded exchange per line, JSON, append-only.

Line format (version 1; the reference server's replay backend reads the same lines)::

    {"version": 1, "key": <request key>, "request": <ChatRequest as JSON>,
     "reply": <ChatReply as JSON>, "recorded_at": "<ISO-8601 UTC>"}

``key`` is :func:`retort.adapters.proxy._wire.request_key` of the request: a SHA-256 of
the request's proxy-wire messages (tools and response format rendered in), so model and
temperature do not count.

Policies:

- Writing: each exchange is one ``os.write`` of one complete line on a file opened with
  ``O_APPEND``, under a lock, so concurrent recorders (tasks or threads) sharing a
  :class:`Cassette` never interleave lines, and nothing sits in a user-space buffer: a
  line is in the operating system's hands once :meth:`Cassette.record` returns. It is on
  the disk only with ``fsync=True`` (slower; for recordings that must survive a power
  cut, not a crash of the process).
- Reading: blank lines and unknown keys are ignored; a missing ``version`` means 1. A
  line that is not a JSON object, lacks ``key`` or ``reply``, holds a request or reply
  that does not validate, or has a newer ``version`` raises :class:`CassetteError`
  naming the file and the line number. The stored ``key`` is trusted (it is what the
  server looks up), not recomputed.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from retort.adapters.proxy._wire import request_key
from retort.core.errors import ConfigurationError
from retort.core.messages import ChatReply, ChatRequest

__all__ = ["VERSION", "Cassette", "CassetteError", "Exchange"]

VERSION = 1
"""The line format version this module writes and reads."""

_EXCERPT = 80


class CassetteError(ConfigurationError):
    """A cassette file cannot be read or written: missing, corrupt or unwritable.

    Attributes:
        path: the cassette file.
        line: the 1-based line number of a corrupt line, or ``None``.
    """

    def __init__(self, message: str, *, path: Path, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


@dataclass(frozen=True, slots=True)
class Exchange:
    """One recorded request and its reply.

    Attributes:
        key: the request key the exchange is found by.
        request: the request as recorded (``None`` for a hand-written line without one).
        reply: the reply.
        recorded_at: when it was recorded (ISO-8601 UTC text), if known.
        line: the 1-based line of the cassette it was read from (0 for a new one).
    """

    key: str
    request: ChatRequest | None
    reply: ChatReply
    recorded_at: str | None = None
    line: int = 0


class Cassette:
    """A JSON-lines cassette file; see the module docstring for the format and policies.

    Args:
        path: the file. It need not exist until something is recorded.
        fsync: ``os.fsync`` after every line (durable across a power cut; slower).
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self._fd: int | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Cassette({str(self.path)!r})"

    @property
    def is_open(self) -> bool:
        """Whether the file is open for appending (between a record and :meth:`close`)."""
        return self._fd is not None

    def exists(self) -> bool:
        """Whether the file exists."""
        return self.path.is_file()

    def exchanges(self) -> list[Exchange]:
        """Read every exchange in the file, in order (none when it does not exist).

        Raises:
            CassetteError: a line is corrupt (the message names the file and the line),
                or the file cannot be read.
        """
        try:
            handle = self.path.open(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise CassetteError(
                f"cannot read the cassette {self.path}: {exc}", path=self.path
            ) from exc
        exchanges = []
        with handle:
            try:
                for number, text in enumerate(handle, start=1):
                    if text.strip():
                        exchanges.append(self._parse(text, number))
            except UnicodeDecodeError as exc:
                raise CassetteError(
                    f"{self.path}: the cassette is not UTF-8 text ({exc})", path=self.path
                ) from exc
        return exchanges

    def _parse(self, text: str, number: int) -> Exchange:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise self._corrupt(number, f"not JSON ({exc}): {text.strip()[:_EXCERPT]!r}") from exc
        if not isinstance(data, Mapping):
            raise self._corrupt(number, f"a JSON {type(data).__name__}, not an object")
        version = data.get("version", VERSION)
        if version != VERSION:
            raise self._corrupt(
                number,
                f"format version {version!r}; this retort reads version {VERSION} "
                "(upgrade retort, or re-record the cassette)",
            )
        key = data.get("key")
        if not isinstance(key, str) or not key:
            raise self._corrupt(number, "no 'key' string")
        if "reply" not in data:
            raise self._corrupt(number, "no 'reply'")
        try:
            reply = ChatReply.model_validate(data["reply"])
            raw_request = data.get("request")
            request = None if raw_request is None else ChatRequest.model_validate(raw_request)
        except ValidationError as exc:
            problem = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or 'value'}: {error['msg']}"
                for error in exc.errors(include_url=False)
            )
            raise self._corrupt(number, f"an invalid {exc.title}: {problem}") from exc
        recorded_at = data.get("recorded_at")
        return Exchange(
            key, request, reply, recorded_at if isinstance(recorded_at, str) else None, number
        )

    def _corrupt(self, number: int, detail: str) -> CassetteError:
        return CassetteError(
            f"{self.path}, line {number}: expected a recorded exchange (a JSON object with "
            f"'key' and 'reply'), found {detail}; fix or delete the line, or re-record",
            path=self.path,
            line=number,
        )

    def record(self, request: ChatRequest, reply: ChatReply) -> Exchange:
        """Append one exchange as one line, keyed by the request's stable key.

        Raises:
            CassetteError: the file cannot be opened or written.
        """
        exchange = Exchange(
            request_key(request),
            request,
            reply,
            datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        )
        line = json.dumps(
            {
                "version": VERSION,
                "key": exchange.key,
                "request": request.model_dump(mode="json"),
                "reply": reply.model_dump(mode="json"),
                "recorded_at": exchange.recorded_at,
            },
            ensure_ascii=False,
        )
        self._append((line + "\n").encode("utf-8"))
        return exchange

    def _append(self, data: bytes) -> None:
        with self._lock:
            try:
                if self._fd is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
                    self._fd = os.open(self.path, flags, 0o644)
                view = memoryview(data)
                while view:  # a regular file takes it all at once; loop for the odd short write
                    view = view[os.write(self._fd, view) :]
                if self.fsync:
                    os.fsync(self._fd)
            except OSError as exc:
                raise CassetteError(
                    f"cannot write to the cassette {self.path}: {exc}; check the path and "
                    "its permissions",
                    path=self.path,
                ) from exc

    def close(self) -> None:
        """Close the file. Safe to call more than once; a later record reopens it."""
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def as_cassette(cassette: str | os.PathLike[str] | Cassette) -> Cassette:
    """``cassette`` itself, or a :class:`Cassette` on that path."""
    return cassette if isinstance(cassette, Cassette) else Cassette(cassette)


def excerpt(text: Any) -> str:
    """A short ``repr`` of a message's content, for error messages."""
    text = "" if text is None else str(text)
    return repr(text if len(text) <= _EXCERPT else text[:_EXCERPT] + "...")
