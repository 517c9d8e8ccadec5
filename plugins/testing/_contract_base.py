"""What the contract kits share: the violation they raise and how one check is run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["ContractViolation", "run_check"]


class ContractViolation(AssertionError):
    """The transport or agent under test breaks its port's contract.

    An ``AssertionError``, so a test runner reports it as a failed assertion. The message
    starts with the check's name in brackets and says what was expected and what was
    found.

    Attributes:
        check: the name of the check that failed.
    """

    def __init__(self, check: str, message: str) -> None:
        super().__init__(f"[{check}] {message}")
        self.check = check


async def run_check(name: str, check: Callable[[Any], Awaitable[None]], factory: Any) -> None:
    """Run one check; an unexpected exception of the code under test fails it by name."""
    try:
        await check(factory)
    except ContractViolation:
        raise
    except Exception as exc:
        raise ContractViolation(
            name, f"the code under test raised {type(exc).__name__}: {exc}"
        ) from exc
