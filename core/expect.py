"""What a solve expects back: the format, the type, the checks and the attempt budget::

    Expect.sections("THOUGHT", "TOOL_CALL", attempts=3)   # -> tuple[str, str]
    Expect.json(list[FileSpec], validators=[code_check])   # -> list[FileSpec]
    Expect.text(regex=r"^(FIX|CREATE)$")                   # -> str

An :class:`Expect` is an immutable value: build one per kind of question and reuse it.
The parsing steps here are synchronous and pure; the solve loop adds the asynchronous
parts (JSON repair hooks, async validators, plugin validators).
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Union

from retort import parsers
from retort.core.errors import ConfigurationError
from retort.core.feedback import guessed_message, not_strict_message

__all__ = [
    "Expect",
    "Failure",
    "FailureKind",
    "Format",
    "RepairMode",
    "Validator",
    "check_value",
]

Format = Literal["text", "sections", "json"]
FailureKind = Literal["empty", "regex", "sections", "json", "type", "validator"]
RepairMode = Literal["full", "safe", "strict"]
"""Which JSON repairs a spec accepts: ``"full"`` any, ``"safe"`` only those that cannot
change the meaning (no guess), ``"strict"`` none (the reply must be valid JSON)."""
_REPAIR_MODES = ("full", "safe", "strict")
# JSON failure details that are their own feedback label (``json:guessed``); the other
# JSON details are parser stages, counted under plain ``json``.
_JSON_LABELS = frozenset({"guessed", "not_strict"})
Validator = Callable[[Any], Any]
"""A check of a parsed value: returns ``None``, ``True`` or ``"success"`` to accept, an
error message (``str``) or ``False`` to reject, or raises ``ValueError`` /
``AssertionError`` whose message is the error. May be async."""

_ACCEPT = (None, True, "success")
_Fixes = tuple[tuple[str, int, str], ...]  # (kind, position, detail), as on Attempt


@dataclass(frozen=True, slots=True)
class Failure:
    """Why an attempt's reply was not accepted.

    Attributes:
        kind: ``"empty"``, ``"regex"``, ``"sections"``, ``"json"``, ``"type"`` or
            ``"validator"``: the first check that failed, in the loop's order.
        message: the precise problem, ready to be quoted to the model.
        detail: a finer kind: the section problem (``missing``, ``duplicated``,
            ``unexpected``, ``empty``) for sections; for JSON the last parser stage tried,
            or ``guessed`` / ``not_strict`` when the spec's ``repair`` mode refused the
            repairs the reply needed; the validator's name for spec validators,
            ``"plugin"`` for hook validators.
        error: the exception behind it, when there is one.
    """

    kind: FailureKind
    message: str
    detail: str = ""
    error: BaseException | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        """``kind`` or ``kind:detail`` (``sections:missing``, ``json:guessed``...): the key
        feedback is counted under and templates are looked up by."""
        if (self.kind == "sections" and self.detail) or (
            self.kind == "json" and self.detail in _JSON_LABELS
        ):
            return f"{self.kind}:{self.detail}"
        return self.kind

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "detail": self.detail, "message": self.message}


def _tuple_of_str(count: int) -> Any:
    return tuple.__class_getitem__((str,) * count)


@dataclass(frozen=True)
class Expect:
    """The expected reply of a solve. Build it with :meth:`text`, :meth:`sections` or
    :meth:`json`.

    Attributes:
        format: ``"text"``, ``"sections"`` or ``"json"``.
        names: the section names, for the sections format (canonical, upper-case).
        type: the type the value is fitted to (``str``, ``tuple[str, str]``, a pydantic
            model, ``list[Model]``...); :func:`retort.parsers.coerce` does the fitting.
        regex: a pattern the stripped reply must contain (``re.search``; anchor it with
            ``^...$`` to match the whole reply). Strings compile with ``re.DOTALL``.
        validators: checks of the typed value, in order (see :data:`Validator`).
        attempts: the attempt budget (the original's ``max_attempts``).
        keep_failed: keep failed replies in the context instead of rejecting them.
        instructions: the format instructions appended to the task (the original's
            ``response_format``); derived from the spec when not given.
        feedback: message templates by failure kind (or ``"sections:missing"``-style
            label), formatted with ``{message}``, ``{instructions}`` and ``{kind}``.
        last_only: sections: also accept only the last section (the original's
            ``Union[tuple[str, str], str]``); the value is then a ``str``.
        allow_extra: sections: ignore sections that were not asked for.
        allow_empty: sections: accept sections with no content.
        llm_fix: JSON: let the built-in LLM fixer try JSON the parser could not repair.
        repair: JSON: the repairs accepted (:data:`RepairMode`). ``"full"`` takes any;
            ``"safe"`` fails a reply the parser could only read by guessing (label
            ``json:guessed``); ``"strict"`` fails a reply that needed any fix at all
            (``json:not_strict``). Either way the feedback names each fix by line and
            column. Outside ``"full"`` the ``retort_repair_json`` hooks are not tried.
        tags: free labels that plugin validators can use to pick the specs they check.
    """

    format: Format = "text"
    names: tuple[str, ...] = ()
    type: Any = str
    regex: re.Pattern[str] | None = None
    validators: tuple[Validator, ...] = ()
    attempts: int = 3
    keep_failed: bool = False
    instructions: str = ""
    feedback: Mapping[str, str] = field(default_factory=dict)
    last_only: bool = False
    allow_extra: bool = False
    allow_empty: bool = True
    llm_fix: bool = False
    tags: frozenset[str] = frozenset()
    repair: RepairMode = "full"

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigurationError(f"attempts must be 1 or more, got {self.attempts}")
        if self.format == "sections" and not self.names:
            raise ConfigurationError("a sections spec needs at least one section name")
        self._check_repair_mode()
        for validator in self.validators:
            if not callable(validator):
                raise ConfigurationError(f"validator {validator!r} is not callable")
        # Accept any iterable for the collection fields; keep the value immutable.
        object.__setattr__(self, "validators", tuple(self.validators))
        tags: object = self.tags  # callers may pass any iterable; a str is a common slip
        if isinstance(tags, str):
            raise ConfigurationError(f"tags must be a collection of labels, not {tags!r}")
        object.__setattr__(self, "tags", frozenset(self.tags))

    def _check_repair_mode(self) -> None:
        if self.repair not in _REPAIR_MODES:
            valid = ", ".join(repr(mode) for mode in _REPAIR_MODES)
            raise ConfigurationError(f"repair must be one of {valid}, got {self.repair!r}")
        if self.repair == "full":
            return
        if self.format != "json":
            raise ConfigurationError(
                f"repair={self.repair!r} applies to JSON replies (Expect.json), "
                f"not to a {self.format} spec"
            )
        if self.llm_fix:
            raise ConfigurationError(
                f"llm_fix=True rewrites JSON the parser could not read, a guess that "
                f"repair={self.repair!r} refuses: use one or the other"
            )

    # ------------------------------------------------------------------ builders

    @classmethod
    def text(
        cls,
        regex: str | re.Pattern[str] | None = None,
        *,
        type: Any = str,
        **options: Any,
    ) -> Expect:
        """A plain-text reply, optionally required to match ``regex``."""
        pattern = re.compile(regex, re.DOTALL) if isinstance(regex, str) else regex
        instructions = options.pop("instructions", None)
        if instructions is None:
            instructions = (
                f"Reply with text matching the regular expression {pattern.pattern}"
                if pattern is not None
                else ""
            )
        return cls(format="text", type=type, regex=pattern, instructions=instructions, **options)

    @classmethod
    def sections(
        cls,
        *names: str,
        type: Any = None,
        hints: Mapping[str, str] | None = None,
        **options: Any,
    ) -> Expect:
        """A reply of ``=======NAME`` sections; the value is a ``str`` for one section,
        else a tuple of contents in ``names`` order (or ``type`` when given)."""
        if not names:
            raise ConfigurationError("Expect.sections needs at least one section name")
        canonical = tuple(parsers.normalize_section_name(name) for name in names)
        try:
            rendered = parsers.render_sections(canonical, hints=hints)
        except ValueError as exc:
            raise ConfigurationError(f"bad section spec: {exc}") from exc
        if type is None:
            type = str if len(canonical) == 1 else _tuple_of_str(len(canonical))
            if options.get("last_only") and len(canonical) > 1:
                type = Union[type, str]  # noqa: UP007 - a runtime union of a computed type
        instructions = options.pop("instructions", None) or rendered
        return cls(
            format="sections",
            names=canonical,
            type=type,
            instructions=instructions,
            **options,
        )

    @classmethod
    def json(cls, type: Any = Any, **options: Any) -> Expect:
        """A JSON reply, repaired leniently and fitted to ``type``."""
        instructions = options.pop("instructions", None)
        if instructions is None:
            instructions = _json_instructions(type)
        return cls(format="json", type=type, instructions=instructions, **options)

    def but(self, **changes: Any) -> Expect:
        """A copy with some fields changed: ``spec.but(attempts=5)``."""
        return replace(self, **changes)

    # ------------------------------------------------------------------ steps

    def prompt(self, task: str) -> str:
        """The first message of a solve: the task, then the format instructions."""
        return f"{task}\n\n\n{self.instructions}" if self.instructions else task

    def parse(self, text: str) -> tuple[Any, str | None, _Fixes, _Fixes]:
        """The format step: ``(parsed, json_stage, json_fixes, json_guessed)``.

        The fixes are ``(kind, position, detail)`` triples with positions into ``text``;
        ``json_guessed`` holds those that guessed an intent (see ``retort.parsers.repair``).
        Whether the spec accepts them is :meth:`check_repair`'s verdict.

        Raises:
            SectionError, JSONParseError: the reply is not in the format.
        """
        if self.format == "sections":
            return (
                parsers.parse_sections(
                    text,
                    self.names,
                    allow_last_only=self.last_only,
                    allow_extra=self.allow_extra,
                    allow_empty=self.allow_empty,
                ),
                None,
                (),
                (),
            )
        if self.format == "json":
            repaired = parsers.repair(text)
            if not repaired.fixes:  # the common case: valid JSON, nothing to convert
                return repaired.value, repaired.stage, (), ()
            return (
                repaired.value,
                repaired.stage,
                _triples(repaired.fixes),
                _triples(repaired.guessed),
            )
        return text, None, (), ()

    def check_repair(self, text: str, fixes: _Fixes, guessed: _Fixes) -> Failure | None:
        """The :attr:`repair` mode's verdict on the fixes :meth:`parse` made: ``None`` to
        accept, else a ``json`` failure (detail ``guessed`` or ``not_strict``) whose message
        names each fix by line and column of ``text``."""
        if self.repair == "full" or not fixes:
            return None
        if self.repair == "strict":
            return Failure("json", not_strict_message(text, fixes), "not_strict")
        if guessed:
            return Failure("json", guessed_message(text, guessed), "guessed")
        return None

    def fit(self, parsed: Any) -> Any:
        """The typed-parse step.

        Raises:
            TypeParseError: the value does not fit :attr:`type`.
        """
        return parsers.coerce(parsed, self.type)


def _triples(fixes: Sequence[parsers.Fix]) -> _Fixes:
    return tuple((fix.kind, fix.position, fix.detail) for fix in fixes)


def _json_instructions(target: Any) -> str:
    base = "Respond with only a JSON value: no prose, no code fence."
    if target is Any or target is None:
        return base
    try:
        from pydantic import TypeAdapter

        schema = TypeAdapter(target).json_schema()
    except Exception:  # a type pydantic cannot describe still validates later, or says why
        return base
    return f"{base} It must match this JSON schema:\n{json.dumps(schema, separators=(',', ':'))}"


def _validator_name(validator: Validator) -> str:
    return getattr(validator, "__name__", None) or type(validator).__name__


async def check_value(validators: Sequence[Validator], value: Any) -> Failure | None:
    """Run validators in order; the first rejection becomes a ``validator`` failure."""
    for validator in validators:
        name = _validator_name(validator)
        try:
            result = validator(value)
            if inspect.isawaitable(result):
                result = await result
        except (ValueError, AssertionError) as exc:
            message = str(exc) or f"{type(exc).__name__} from validator {name}"
            return Failure("validator", message, name, exc)
        if result is False:
            return Failure("validator", f"the value was rejected by {name}", name)
        if not any(result is ok or result == ok for ok in _ACCEPT):
            return Failure("validator", str(result), name)
    return None
