"""The retort error tree.

Every exception retort raises on purpose is one of these; adapters translate foreign
exceptions (httpx, AutoGen, ...) at their boundary with ``raise ... from exc``.

    RetortError                     base of everything below
    ├── ConfigurationError          you configured it wrong: say what to set, fail fast
    ├── ParseError (+ ValueError)   text could not be turned into the expected value
    │   ├── SectionError            sections missing, duplicated, unexpected or empty, by name
    │   ├── JSONParseError          no JSON value could be recovered: position and stage
    │   ├── ToolCallError           a tool call (or a list of them) is malformed
    │   └── TypeParseError          a parsed value does not fit the target type: field paths
    ├── TransportError              a request failed after the transport's own retries
    │   ├── TransportConnectionError    could not connect, or the connection was reset
    │   ├── TransportTimeout            a request timed out, or the total deadline passed
    │   ├── TransportStatusError        the endpoint answered with an error status
    │   └── ProtocolError               a 2xx answer that is not what the protocol says
    └── SolveFailed                 the attempt budget ran out; carries every attempt

``ParseError`` subclasses ``ValueError`` so code written against ``json.loads`` that
catches ``ValueError`` keeps working. Messages say what was expected, what was found
and where, because the solve loop turns them into feedback for the model. Input longer
than a parser's ``max_bytes`` raises that parser's error before any reading
(``JSONParseError`` with ``stage="limits"``, ``SectionError`` with ``kind == "limits"``...).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from retort.core._records import Record, setfield

__all__ = [
    "ConfigurationError",
    "FieldError",
    "JSONParseError",
    "ParseError",
    "ProtocolError",
    "RetortError",
    "SectionError",
    "SolveFailed",
    "ToolCallError",
    "TransportConnectionError",
    "TransportError",
    "TransportStatusError",
    "TransportTimeout",
    "TypeParseError",
]


class RetortError(Exception):
    """Base class of every error retort raises on purpose."""


class ConfigurationError(RetortError):
    """A setting is missing or invalid; the message names it and says what to set."""


class ParseError(RetortError, ValueError):
    """Text could not be turned into the expected value.

    Attributes:
        message: what was expected, what was found, and where.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class SectionError(ParseError):
    """A sectioned reply (``=======NAME`` headers) does not match the expected sections.

    Attributes:
        expected: the section names asked for, in order (upper-case).
        found: the header names found in the reply, in order of appearance (upper-case).
        missing: expected names with no header.
        duplicated: expected names whose header appears more than once.
        unexpected: header names that were not asked for.
        empty: expected names whose section has no content (only when empty is disallowed).
        too_long: the reply was longer than the parser's ``max_bytes`` and was not read.
    """

    def __init__(
        self,
        message: str,
        *,
        expected: Sequence[str] = (),
        found: Sequence[str] = (),
        missing: Sequence[str] = (),
        duplicated: Sequence[str] = (),
        unexpected: Sequence[str] = (),
        empty: Sequence[str] = (),
        too_long: bool = False,
    ) -> None:
        super().__init__(message)
        self.expected = tuple(expected)
        self.found = tuple(found)
        self.missing = tuple(missing)
        self.duplicated = tuple(duplicated)
        self.unexpected = tuple(unexpected)
        self.empty = tuple(empty)
        self.too_long = too_long

    @property
    def kind(self) -> str:
        """The first problem, in the order the solve loop reports them.

        One of ``"limits"`` (the reply was too long to read), ``"missing"``,
        ``"duplicated"``, ``"unexpected"``, ``"empty"``.
        """
        if self.too_long:
            return "limits"
        for kind in ("missing", "duplicated", "unexpected", "empty"):
            if getattr(self, kind):
                return kind
        return "missing"


class JSONParseError(ParseError):
    """No JSON value could be recovered from the text.

    Attributes:
        position: character offset of the problem in the input (0-based).
        line: 1-based line of ``position``.
        column: 1-based column of ``position``.
        stage: the last stage of the repair chain that ran (``"strict"``, ``"extracted"``,
            ``"python"``, ``"repaired"``) or ``"limits"`` when an input limit was exceeded.
        excerpt: a short piece of the input around ``position``.
    """

    def __init__(
        self,
        message: str,
        *,
        position: int = 0,
        line: int = 1,
        column: int = 1,
        stage: str = "strict",
        excerpt: str = "",
    ) -> None:
        super().__init__(message)
        self.position = position
        self.line = line
        self.column = column
        self.stage = stage
        self.excerpt = excerpt


class ToolCallError(ParseError):
    """A tool call, or a list of them, is malformed (no name, empty list, bad arguments).

    Attributes:
        index: position of the offending call in its list, when there is one.
    """

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class FieldError(Record):
    """One problem found while fitting a value to a type; an immutable value.

    Attributes:
        path: where, as text: ``files[0].code``; empty for the value itself.
        message: what is wrong there.
        kind: a short machine-readable code (pydantic's error type, e.g. ``missing``).
    """

    __match_args__ = ("path", "message", "kind")
    __slots__ = __match_args__
    path: str
    message: str
    kind: str

    def __init__(self, path: str, message: str, kind: str = "") -> None:
        setfield(self, "path", path)
        setfield(self, "message", message)
        setfield(self, "kind", kind)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class TypeParseError(ParseError):
    """A parsed value does not fit the target type.

    Attributes:
        errors: every problem found, each with its field path.
        target: a readable name of the target type.
    """

    def __init__(
        self, message: str, *, errors: Sequence[FieldError] = (), target: str = ""
    ) -> None:
        super().__init__(message)
        self.errors = tuple(errors)
        self.target = target


class TransportError(RetortError):
    """A request failed after the transport's own retries.

    Messages name the status, the URL (never credentials) and a short excerpt of the
    body, and say what to check.

    Attributes:
        status: the HTTP status, when there was a response.
        url: the URL without credentials.
        body_excerpt: the first few hundred characters of the response body.
        attempts: how many times the request was sent (1 + retries).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        url: str | None = None,
        body_excerpt: str = "",
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.url = url
        self.body_excerpt = body_excerpt
        self.attempts = attempts


class TransportConnectionError(TransportError):
    """The endpoint could not be reached, or the connection was reset mid-request."""


class TransportTimeout(TransportError):
    """A request timed out, or the transport's total deadline for all retries passed."""


class TransportStatusError(TransportError):
    """The endpoint answered with an error status (``status`` is set).

    Attributes:
        retry_after: the server's ``Retry-After`` in seconds, when it sent one.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class ProtocolError(TransportError):
    """A successful response whose body is not what the protocol says (for example a
    tool-call reply with an empty ``tool_calls`` list)."""


class SolveFailed(RetortError):
    """The attempt budget ran out without a valid reply.

    Attributes:
        attempts: every attempt made (reply text, errors found, feedback sent).
    """

    def __init__(self, message: str, *, attempts: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.attempts = tuple(attempts)
