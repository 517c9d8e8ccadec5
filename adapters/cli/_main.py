"""The ``retort`` command: the parser, the subcommands, and how errors end the process.

Each subcommand lives in its own module with ``register(subparsers)``, which adds its
parser and ``set_defaults(run=<function(args) -> int>)``. :func:`main` parses, runs the
command and turns any error into one line on stderr and an exit code (see
:mod:`retort.adapters.cli._errors`).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import NoReturn

from retort.adapters.cli import _create, _demo, _doctor, _serve, _solve
from retort.adapters.cli._errors import UsageError, report

__all__ = ["build_parser", "main"]

_COMMANDS = (_demo, _create, _solve, _serve, _doctor)
_DEBUG_ENV = "RETORT_DEBUG"
_DEBUG_HELP = f"show the traceback of an error (also ${_DEBUG_ENV}=1)"


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors raise :class:`UsageError` instead of exiting,
    so :func:`main` prints them like every other error; abbreviated options are off, so
    a later option can never change what an existing command line means."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.commands: list[str] = []  # the subcommand names, once registered

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, hint=f"run '{self.prog} --help' to see the options")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("retort")
    except PackageNotFoundError:
        return "unknown (not installed as a distribution)"


def build_parser() -> Parser:
    """The ``retort`` parser with every subcommand registered."""
    parser = Parser(
        prog="retort",
        description="Validated, structured answers out of LLM agents.",
        epilog="Run 'retort COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"retort {_version()}")
    parser.add_argument("--debug", action="store_true", default=False, help=_DEBUG_HELP)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in _COMMANDS:
        module.register(subparsers)
    parser.commands = list(subparsers.choices)
    for sub in subparsers.choices.values():
        # --debug after the command too; SUPPRESS keeps the top-level value when absent.
        with contextlib.suppress(argparse.ArgumentError):  # the command has its own
            sub.add_argument(
                "--debug", action="store_true", default=argparse.SUPPRESS, help=_DEBUG_HELP
            )
    return parser


def _debug_from_env() -> bool:
    return os.environ.get(_DEBUG_ENV, "").strip().lower() not in ("", "0", "false")


def main(argv: list[str] | None = None) -> int:
    """Run the ``retort`` command line; return the exit code.

    Args:
        argv: the arguments (without the program name); ``sys.argv[1:]`` when ``None``.

    Returns:
        0 on success, 1 when the command failed, 2 for a usage error, 130 on Ctrl-C.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(arguments)
        if extra:
            prog = f"retort {args.command}" if args.command else "retort"
            raise UsageError(
                f"unrecognized arguments: {' '.join(extra)}",
                hint=f"run '{prog} --help' to see the options",
            )
        if args.command is None:
            names = ", ".join(parser.commands)
            raise UsageError(
                f"no command given; choose one of: {names}",
                hint="run 'retort --help' for what each does",
            )
    except SystemExit as exc:  # --help and --version print and exit 0
        return exc.code if isinstance(exc.code, int) else 0
    except UsageError as exc:
        return report(exc, debug=False)
    debug = _debug_from_env() or bool(getattr(args, "debug", False))
    try:
        code: int = args.run(args)
    except (Exception, KeyboardInterrupt) as exc:
        return report(exc, debug=debug)
    return code
