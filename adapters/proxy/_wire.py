"""The proxy protocol's request messages, and the stable key of a request.

The proxy protocol has no ``tools`` or ``response_format`` field, so a request that
carries them has them rendered into its system message; a message whose content is
``None`` is rewritten as ``key: value`` lines (:func:`retort.core.to_wire`). That wire
form is also what a request is keyed on - by record/replay cassettes and by the
reference server's replay backend - so a cassette recorded through any transport is
found again whichever way the request travels.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from retort.core.context import to_wire
from retort.core.messages import ChatRequest

__all__ = ["proxy_messages", "render_response_format", "render_tools", "request_key", "wire_key"]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def render_tools(tools: Sequence[Mapping[str, Any]]) -> str:
    """The tool list as system-prompt text: name, description and JSON schema of each."""
    lines = [
        "# Tools",
        "You can call these tools. To call one, reply with a JSON object "
        '{"name": <tool name>, "arguments": {<arguments>}} (or a list of them).',
    ]
    for tool in tools:
        function = tool.get("function", tool)
        name = function.get("name", "?")
        description = (function.get("description") or "").strip()
        parameters = function.get("parameters") or {"type": "object", "properties": {}}
        lines.append(f"\n## {name}")
        if description:
            lines.append(description)
        lines.append(f"Parameters (JSON schema): {_canonical(parameters)}")
    return "\n".join(lines)


def render_response_format(response_format: str | Mapping[str, Any]) -> str:
    """The required output format as system-prompt text."""
    if isinstance(response_format, str):
        body = response_format.strip()
    elif response_format.get("type") == "json_schema":
        schema = response_format.get("json_schema", {})
        body = f"Reply with JSON matching this schema: {_canonical(schema.get('schema', schema))}"
    elif response_format.get("type") == "json_object":
        body = "Reply with a JSON object only."
    else:
        body = f"Reply in this format: {_canonical(dict(response_format))}"
    return f"# Response format\n{body}"


def proxy_messages(request: ChatRequest) -> list[dict[str, Any]]:
    """The request's messages as the proxy protocol sends them.

    Tools and the response format, when present, are appended to the first system
    message (one is added at the start when there is none); then every message goes
    through the None-content fallback.
    """
    messages = to_wire(request.messages, fallback_none=True)
    extra = []
    if request.tools:
        extra.append(render_tools(request.tools))
    if request.response_format:
        extra.append(render_response_format(request.response_format))
    if extra:
        addition = "\n\n".join(extra)
        if messages and messages[0].get("role") == "system":
            first = dict(messages[0])
            first["content"] = f"{first.get('content') or ''}\n\n{addition}".lstrip()
            messages[0] = first
        else:
            messages.insert(0, {"role": "system", "content": addition})
    return messages


def wire_key(messages: Sequence[Mapping[str, Any]]) -> str:
    """The stable key of proxy-wire messages: SHA-256 of their canonical JSON.

    Only ``role``, ``content`` and the tool linkage keys count, so a request keys the same
    whatever extra fields a transport adds.
    """
    kept = [
        {k: m[k] for k in ("role", "content", "tool_call_id", "name") if m.get(k) is not None}
        for m in messages
    ]
    return hashlib.sha256(_canonical(kept).encode("utf-8")).hexdigest()


def request_key(request: ChatRequest) -> str:
    """The stable key of a request (see :func:`wire_key`); model and temperature do not
    count, so a cassette replays under another model name."""
    return wire_key(proxy_messages(request))
