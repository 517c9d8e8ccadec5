"""Make the contract kits importable: ``from check_transport import check_transport``.

pytest runs in importlib mode, which puts no test folder on ``sys.path``; the kits are
plain modules (no pytest inside) so that a third party can run them too, and this
folder is added to the path for the tests here that use them.
"""

from __future__ import annotations

import sys
from pathlib import Path

_KITS = str(Path(__file__).resolve().parent)
if _KITS not in sys.path:
    sys.path.insert(0, _KITS)
