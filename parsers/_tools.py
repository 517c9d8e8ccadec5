"""SKELETON - replaced by the tool-call extraction implementation."""
from __future__ import annotations
from typing import Any
from retort.core.messages import ToolCall


def extract_tool_calls(source: Any) -> list[ToolCall]:
    raise NotImplementedError
