"""retort.adapters.cli: the ``retort`` command.

``retort demo``, ``retort create``, ``retort solve``, ``retort serve`` and ``retort doctor``;
see docs/cli.md. :func:`main` runs the command line in-process and returns the exit code
(the console script calls it and exits with it).
"""

from retort.adapters.cli._main import main

__all__ = ["main"]
