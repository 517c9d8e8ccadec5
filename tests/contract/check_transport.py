"""The Transport contract kit, as the tests here import it: ``check_transport(factory)``.

The kit ships in the library as :mod:`retort.plugins.testing.contract`, where a third
party imports it from; this module re-exports it under the names the tests use.
"""

from __future__ import annotations

from retort.plugins.testing._contract_base import ContractViolation, run_check
from retort.plugins.testing.contract import (
    LOOKUP_TOOL,
    SCENARIOS,
    TransportFactory,
    check_transport,
    check_transport_async,
)
from retort.plugins.testing.contract import TRANSPORT_CHECKS as CHECKS

__all__ = [
    "CHECKS",
    "LOOKUP_TOOL",
    "SCENARIOS",
    "ContractViolation",
    "TransportFactory",
    "check_transport",
    "check_transport_async",
    "run_check",
]
