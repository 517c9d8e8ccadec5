"""retort.plugins.testing: what users need to test code built on retort (extra ``testing``).

- :class:`ScriptedAgent` and :class:`ScriptedTransport`: test doubles that answer from
  queued replies (strings, callables or exceptions, consumed in order) or a function,
  keep ``.history``, support fork/reject/reset faithfully and can simulate latency.
- ``retort.plugins.testing.contract``: ``check_transport(factory)`` and
  ``check_agent(factory)``, the contract kits every adapter - yours too - must pass.
- ``retort.plugins.testing.strategies``: hypothesis strategies for section replies and
  malformed JSON, each yielding the reply text with the value it should parse to (needs
  hypothesis, in the ``testing`` extra).
- ``retort.plugins.testing.adversarial``: ``SHAPES``, inputs of any size that make naive
  JSON repairers quadratic or recursive, to check that a parser stays total and linear.
"""

from retort.plugins.testing._scripted import (
    AgentReplySpec,
    ReplySpec,
    ScriptedAgent,
    ScriptedTransport,
    ScriptExhausted,
)

__all__ = [
    "AgentReplySpec",
    "ReplySpec",
    "ScriptExhausted",
    "ScriptedAgent",
    "ScriptedTransport",
    "adversarial",
    "contract",
    "strategies",
]
