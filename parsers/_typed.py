"""SKELETON - replaced by the typed parsing implementation."""
from __future__ import annotations
from typing import Any


def coerce(value: Any, target: Any) -> Any:
    raise NotImplementedError


def type_name(target: Any) -> str:
    raise NotImplementedError
