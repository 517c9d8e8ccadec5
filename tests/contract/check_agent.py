"""The Agent contract kit, as the tests here import it: ``check_agent(factory)``.

The kit ships in the library as :mod:`retort.plugins.testing.contract`, where a third
party imports it from; this module re-exports it under the names the tests use.
"""

from __future__ import annotations

from retort.plugins.testing.contract import AGENT_CHECKS as CHECKS
from retort.plugins.testing.contract import (
    AgentFactory,
    ContractViolation,
    Seen,
    check_agent,
    check_agent_async,
)

__all__ = [
    "CHECKS",
    "AgentFactory",
    "ContractViolation",
    "Seen",
    "check_agent",
    "check_agent_async",
]
