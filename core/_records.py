"""Frozen records without :mod:`dataclasses`, for the modules ``retort.parsers`` imports.

A subclass names its fields in ``__match_args__`` (its ``__slots__`` too) and sets them in
``__init__`` with :data:`setfield`; :class:`Record` adds what ``@dataclass(frozen=True,
slots=True)`` gave: a repr, ``==``, the same hash, immutability, pickling and copying.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Record", "fields_of", "setfield"]

setfield = object.__setattr__
"""How a record's ``__init__`` sets a field, past the ``__setattr__`` that refuses it."""


# Not a dataclass: dataclasses imports inspect (ast, dis, tokenize...), some 15 ms that
# every `import retort.parsers` would pay.
class Record:
    """Base class of an immutable value with the fields named in ``__match_args__``."""

    __slots__ = ()
    __match_args__: tuple[str, ...] = ()

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__match_args__)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__match_args__)
        return f"{type(self).__qualname__}({fields})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Record) and other.__class__ is self.__class__:
            return self._values() == other._values()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values())  # a frozen dataclass's hash: that of its field tuple

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}: {type(self).__name__} is frozen")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}: {type(self).__name__} is frozen")

    def __reduce__(self) -> tuple[type[Record], tuple[Any, ...]]:
        # Pickle and copy rebuild through __init__, which takes the fields in order.
        return type(self), self._values()


def fields_of(record: Record) -> dict[str, Any]:
    """``{field: value}`` in field order: what ``dataclasses.asdict`` gave, one level deep."""
    return {name: getattr(record, name) for name in record.__match_args__}
