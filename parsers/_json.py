"""SKELETON - replaced by the lenient JSON implementation."""
from __future__ import annotations
from dataclasses import dataclass
from typing import Any

STAGES = ("strict", "extracted", "python", "repaired")


@dataclass(frozen=True, slots=True)
class Fix:
    kind: str
    position: int
    detail: str


@dataclass(frozen=True, slots=True)
class Repaired:
    value: Any
    stage: str
    fixes: tuple[Fix, ...]


def repair(text: str, *, max_bytes: int = 10_000_000, max_depth: int = 512,
           decode_nested: bool = True, allow_nan: bool = True) -> Repaired:
    raise NotImplementedError


def loads(text: str, *, max_bytes: int = 10_000_000, max_depth: int = 512,
          decode_nested: bool = True, allow_nan: bool = True) -> Any:
    raise NotImplementedError
