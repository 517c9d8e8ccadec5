"""A scripted model backend: replies chosen by agent id, turn and a regex, from rules.

```yaml
default: "I have no scripted reply for this."   # optional; without it no match -> HTTP 404
rules:
  - agent: "test_generator:*"      # glob (fnmatch) on the agent id
    turn: 1                        # 1 + the number of assistant messages in the request
    match: "(?i)write the tests"   # regex searched (re.search) in the last message's text
    reply: "=======THOUGHT\\n..."
  - turn: [2, 3]                   # a list: any of these turns
    reply:                         # a list: successive replies, then the last repeats
      - {tool_calls: [{name: get_file_content, arguments: {file_path: a.py}}]}
      - {text: "done", delay: 0.2}               # answer after 0.2 s
  - match: "flaky"
    reply: [{status: 503, retry_after: 0.1}, "ok"]   # fail once, then answer
```

```python
model = ScriptedModel.from_file("script.yaml")               # YAML, or JSON for *.json
model = ScriptedModel(rules=[{"agent": "coder:*", "reply": "hi"}], default="?")
```

Policies:

- Every condition of a rule is optional and all given ones must hold; the first rule
  that matches wins, in file order. ``endpoint`` (``proxy``/``openai``) and ``model`` (a
  glob on the model name) are further conditions. A rule with an ``agent`` condition
  never matches an OpenAI request without a ``user`` field (its agent id is ``None``).
- ``match`` is searched in the *last* message of the request whatever its role (a user
  prompt or a tool result): the message the model answers.
- A reply is a string, a mapping (``text``, ``tool_calls``, ``delay``, ``status``,
  ``retry_after``; see :func:`~retort.adapters.proxy._models.coerce_reply`) or a list of
  those: the n-th request that the rule matches gets the n-th reply, then the last one
  repeats. Counts are per rule, shared by every server using the model (thread-safe).
- Nothing matches and there is no ``default``: :class:`NoReply`, which the server
  answers with 404 naming the agent, the turn and the last message.
- A malformed script raises :class:`~retort.core.ConfigurationError` naming the rule
  and the key, when the model is built - never at request time.
"""

from __future__ import annotations

import fnmatch
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retort.adapters.proxy._models import (
    ModelReply,
    ModelRequest,
    NoReply,
    coerce_reply,
    excerpt,
    load_data,
)
from retort.core.errors import ConfigurationError

__all__ = ["Rule", "ScriptedModel"]

_RULE_KEYS = frozenset({"agent", "turn", "match", "endpoint", "model", "reply"})
_SCRIPT_KEYS = frozenset({"rules", "default"})
_ENDPOINTS = ("proxy", "openai")


@dataclass(frozen=True, slots=True)
class Rule:
    """One scripted rule: conditions, and the replies of successive matching requests.

    Attributes:
        replies: the replies, in order (the last one repeats); at least one.
        agent: a glob on the agent id, or ``None`` for any.
        turns: the turns it answers, or ``None`` for any.
        match: a regex searched in the last message's text, or ``None``.
        endpoint: ``"proxy"`` or ``"openai"``, or ``None`` for both.
        model: a glob on the model name, or ``None`` for any.
    """

    replies: tuple[ModelReply, ...]
    agent: str | None = None
    turns: frozenset[int] | None = None
    match: re.Pattern[str] | None = None
    endpoint: str | None = None
    model: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], where: str = "rule") -> Rule:
        """A rule from its mapping form (the YAML/JSON form shown in the module docstring).

        Raises:
            ConfigurationError: an unknown key, a missing ``reply`` or a bad value;
                ``where`` names the rule in the message.
        """
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"{where}: expected a mapping, got {data!r:.80}")
        unknown = sorted(set(data) - _RULE_KEYS)
        if unknown:
            raise ConfigurationError(
                f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
                f"a rule has {', '.join(sorted(_RULE_KEYS))}"
            )
        if "reply" not in data:
            raise ConfigurationError(f"{where}: missing 'reply' (what to answer)")
        return cls(
            replies=_replies(data["reply"], f"{where}.reply"),
            agent=_optional_str(data, "agent", where),
            turns=_turns(data.get("turn"), where),
            match=_pattern(data.get("match"), where),
            endpoint=_endpoint(data.get("endpoint"), where),
            model=_optional_str(data, "model", where),
        )

    def matches(self, request: ModelRequest) -> bool:
        """Whether every condition of the rule holds for ``request``."""
        if self.endpoint is not None and request.endpoint != self.endpoint:
            return False
        if self.agent is not None and (
            request.agent_id is None or not fnmatch.fnmatchcase(request.agent_id, self.agent)
        ):
            return False
        if self.model is not None and not fnmatch.fnmatchcase(request.model, self.model):
            return False
        if self.turns is not None and request.turn not in self.turns:
            return False
        return self.match is None or self.match.search(request.last_message) is not None


def _replies(spec: Any, where: str) -> tuple[ModelReply, ...]:
    if isinstance(spec, list):
        if not spec:
            raise ConfigurationError(f"{where}: an empty list; give at least one reply")
        return tuple(coerce_reply(item, f"{where}[{i}]") for i, item in enumerate(spec))
    return (coerce_reply(spec, where),)


def _optional_str(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(f"{where}: '{key}' must be a string, got {value!r}")
    return value


def _turns(value: Any, where: str) -> frozenset[int] | None:
    if value is None:
        return None
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ConfigurationError(
            f"{where}: 'turn' must be an integer or a list of them, got {value!r}"
        )
    if min(values) < 1:
        raise ConfigurationError(f"{where}: 'turn' counts from 1, got {value!r}")
    return frozenset(values)


def _pattern(value: Any, where: str) -> re.Pattern[str] | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"{where}: 'match' must be a regex string, got {value!r}")
    try:
        return re.compile(value)
    except re.error as exc:
        raise ConfigurationError(
            f"{where}: 'match' is not a valid regex ({exc}): {value!r}"
        ) from exc


def _endpoint(value: Any, where: str) -> str | None:
    if value is not None and value not in _ENDPOINTS:
        raise ConfigurationError(f"{where}: 'endpoint' must be 'proxy' or 'openai', got {value!r}")
    return value if value is None else str(value)


class ScriptedModel:
    """A backend answering from rules: first match wins, deterministic.

    Args:
        rules: :class:`Rule` objects or their mapping form.
        default: the reply spec (or list of them) when no rule matches; ``None`` makes
            an unmatched request a 404.

    Attributes:
        rules: the parsed rules.
        requests: every request received, in arrival order.
    """

    def __init__(
        self, rules: Iterable[Rule | Mapping[str, Any]] = (), *, default: Any = None
    ) -> None:
        self.rules: tuple[Rule, ...] = tuple(
            rule if isinstance(rule, Rule) else Rule.from_mapping(rule, f"rules[{i}]")
            for i, rule in enumerate(rules)
        )
        self.default: Rule | None = (
            None if default is None else Rule(replies=_replies(default, "default"))
        )
        self.requests: list[ModelRequest] = []
        self._uses: dict[int, int] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | Path) -> ScriptedModel:
        """Read a script: ``*.json`` as JSON, anything else as YAML.

        The file holds a mapping with ``rules`` (a list) and an optional ``default``,
        or just the list of rules.

        Raises:
            ConfigurationError: the file cannot be read, parsed, or is not a script.
            ImportError: a YAML file without PyYAML (the ``server`` extra).
        """
        return cls.from_data(load_data(path), source=str(path))

    @classmethod
    def from_data(cls, data: Any, *, source: str = "script") -> ScriptedModel:
        """A model from parsed script data (the file form, already loaded)."""
        if isinstance(data, list):
            data = {"rules": data}
        if not isinstance(data, Mapping):
            raise ConfigurationError(
                f"{source}: expected a mapping with 'rules' (and optionally 'default'), "
                f"got {type(data).__name__}"
            )
        unknown = sorted(set(data) - _SCRIPT_KEYS)
        if unknown:
            raise ConfigurationError(
                f"{source}: unknown key(s) {', '.join(map(repr, unknown))}; "
                "a script has 'rules' and 'default'"
            )
        rules = data.get("rules") or []
        if not isinstance(rules, Sequence) or isinstance(rules, str):
            raise ConfigurationError(f"{source}: 'rules' must be a list of rules")
        try:
            return cls(rules, default=data.get("default"))
        except ConfigurationError as exc:
            raise ConfigurationError(f"{source}: {exc}") from exc

    async def reply(self, request: ModelRequest) -> ModelReply:
        """The reply of the first matching rule (or the default).

        Raises:
            NoReply: no rule matches and there is no default.
        """
        with self._lock:
            self.requests.append(request)
            for index, rule in enumerate(self.rules):
                if rule.matches(request):
                    return self._take(index, rule)
            if self.default is not None:
                return self._take(-1, self.default)
        raise NoReply(
            f"no scripted rule matches agent {request.agent_id!r}, turn {request.turn}, "
            f"last message {excerpt(request.last_message)!r} ({len(self.rules)} rules); "
            "add a rule or a 'default' reply",
            **request.describe(),
        )

    def _take(self, index: int, rule: Rule) -> ModelReply:
        used = self._uses.get(index, 0)
        self._uses[index] = used + 1
        return rule.replies[min(used, len(rule.replies) - 1)]

    def reset(self) -> None:
        """Forget the request history and restart every rule's reply list."""
        with self._lock:
            self._uses.clear()
            self.requests.clear()
