"""Contract kits: check that your own transport or agent keeps retort's port contracts.

```python
from retort.plugins.testing.contract import check_agent, check_transport

check_transport(lambda scenario: MyTransport(...))   # the Transport contract
check_agent(my_agent_factory)                        # the Agent contract
```

Every transport and agent retort ships passes these kits; a third-party adapter that
passes them works wherever retort expects a :class:`~retort.core.ports.Transport` or an
:class:`~retort.core.ports.Agent`. Each kit runs named checks (:data:`TRANSPORT_CHECKS`,
:data:`AGENT_CHECKS`), takes ``skip=`` to leave some out, returns the names of the checks
that ran and raises :class:`ContractViolation` - an ``AssertionError`` naming the failed
check, what was expected and what was found - on the first breach. ``check_transport``
and ``check_agent`` run their own event loop; call ``check_transport_async`` /
``check_agent_async`` from code already inside one.

What a factory must provide:

- ``check_transport(factory)``: ``factory(scenario)`` returns a fresh transport (or an
  awaitable of one) for each of :data:`SCENARIOS`: ``"text"`` (answers with text),
  ``"tool_call"`` (answers with tool calls; the kit offers :data:`LOOKUP_TOOL`),
  ``"error"`` (every request fails) and ``"slow"`` (takes 5 s or more).
- ``check_agent(factory)``: ``factory(replies)`` returns ``(agent, seen)``: an agent whose
  model answers its n-th call (across the agent and its forks) with ``replies[n]``, and
  ``seen()``, the messages of every model call so far.

The kits need no pytest and nothing beyond retort's base dependencies.
"""

from retort.plugins.testing._contract_agent import (
    AGENT_CHECKS,
    AgentFactory,
    Seen,
    check_agent,
    check_agent_async,
)
from retort.plugins.testing._contract_base import ContractViolation
from retort.plugins.testing._contract_transport import (
    LOOKUP_TOOL,
    SCENARIOS,
    TRANSPORT_CHECKS,
    TransportFactory,
    check_transport,
    check_transport_async,
)

__all__ = [
    "AGENT_CHECKS",
    "LOOKUP_TOOL",
    "SCENARIOS",
    "TRANSPORT_CHECKS",
    "AgentFactory",
    "ContractViolation",
    "Seen",
    "TransportFactory",
    "check_agent",
    "check_agent_async",
    "check_transport",
    "check_transport_async",
]
