"""How the ``retort`` command fails: typed CLI errors and the one-line report of any error.

Policies:

- A command fails by raising :class:`CLIError` (exit 1: something failed) or
  :class:`UsageError` (exit 2: the command line or configuration is wrong), or by letting a
  :class:`~retort.core.errors.RetortError` or ``OSError`` propagate.
- :func:`report` prints ONE line ``retort: error: <message>`` to stderr, and one
  ``hint: ...`` line when there is something specific to do. Messages are folded onto one
  line (a feedback text or a server's body excerpt may hold newlines) and bounded.
- Exit codes: 2 for usage errors (argparse errors, :class:`UsageError`,
  :class:`~retort.core.errors.ConfigurationError`), 1 for failures (everything else),
  130 for Ctrl-C.
- No traceback unless ``debug``: then the traceback comes first and the line after it, so
  the line is still the last thing printed.
"""

from __future__ import annotations

import sys
import traceback
from typing import TextIO

from retort.core.errors import (
    ConfigurationError,
    RetortError,
    SolveFailed,
    TransportError,
)

__all__ = ["EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_USAGE", "CLIError", "UsageError", "report"]

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
_LIMIT = 600  # characters of a message on the error line; --debug shows everything


class CLIError(Exception):
    """A command failed in a way it can explain.

    Args:
        message: what went wrong (what was expected, what was found).
        exit_code: the process exit code: 1 for failures, 2 for usage errors.
        hint: what to do about it, printed on its own line; ``None`` for no hint.
    """

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.hint = hint


class UsageError(CLIError):
    """The command line or the configuration is wrong (exit code 2)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, EXIT_USAGE, hint=hint)


def one_line(text: str, limit: int = _LIMIT) -> str:
    """``text`` with every run of whitespace (newlines included) folded to one space,
    cut to ``limit`` characters."""
    folded = " ".join(text.split())
    return folded if len(folded) <= limit else folded[: limit - 1] + "…"


def _classify(exc: BaseException) -> tuple[str, int, str | None]:
    """The message, exit code and hint for any exception a command let through."""
    if isinstance(exc, CLIError):
        return exc.message, exc.exit_code, exc.hint
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED, None
    if isinstance(exc, ConfigurationError):
        return str(exc), EXIT_USAGE, None
    if isinstance(exc, SolveFailed):
        hint = "raise --attempts, or pass --trace FILE to see every reply and the feedback sent"
        return str(exc), EXIT_FAILURE, hint
    if isinstance(exc, TransportError):
        hint = "check the endpoint with 'retort doctor --base-url URL'"
        return str(exc), EXIT_FAILURE, hint
    if isinstance(exc, RetortError):
        return str(exc), EXIT_FAILURE, None
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        reason = exc.strerror or str(exc)
        return f"{reason}{where}", EXIT_FAILURE, "check the path and its permissions"
    if isinstance(exc, ImportError):  # a missing extra: the message names it
        return str(exc), EXIT_FAILURE, None
    hint = "this is a bug in retort or a plugin: rerun with --debug and report the traceback"
    return f"unexpected {type(exc).__name__}: {exc}", EXIT_FAILURE, hint


def report(exc: BaseException, *, debug: bool = False, stream: TextIO | None = None) -> int:
    """Print ``exc`` as the command's error and return the exit code.

    Args:
        exc: the error a command raised.
        debug: print the traceback first.
        stream: where to print (default ``sys.stderr``, looked up at call time).

    Returns:
        The exit code for the error (see the module docstring).
    """
    out = stream if stream is not None else sys.stderr
    if debug:
        traceback.print_exception(exc, file=out)
    message, code, hint = _classify(exc)
    print(f"retort: error: {one_line(message) or type(exc).__name__}", file=out)
    if hint:
        print(f"hint: {hint}", file=out)
    return code
