"""``python -m retort.adapters.cli``: the ``retort`` command."""

import sys

from retort.adapters.cli import main

if __name__ == "__main__":
    sys.exit(main())
