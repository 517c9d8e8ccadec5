"""Typed parsing: fit a parsed value to a target type, with feedback a model can act on.

:func:`coerce` validates with a pydantic ``TypeAdapter`` (cached per target), so any
target pydantic supports works: ``str``, ``tuple[str, str]``, ``dict[str, Any]``,
``list[Model]``, models, ``Any``, unions, TypedDicts, dataclasses...

Before validating:

- a :class:`~retort.parsers.Sections` value is shaped for the target: its values tuple
  for a tuple/list target, its single value for ``str`` (an error when there is not
  exactly one), ``as_dict()`` for a dict, model, TypedDict or dataclass target. For a
  union, one section goes to a ``str`` member when there is one, else the tuple or the
  dict, in that order - so ``tuple[str, str] | str`` takes one or two sections.

After a failed validation, a ``str`` value that holds JSON is decoded with the lenient
:func:`~retort.parsers.loads` and validated again when the decoded value is an object or
an array (double-encoded replies). A target that accepts ``str`` never gets here, so a
string target always keeps the string.

:func:`type_name` writes unions in the ``int | None`` style.

pydantic is imported on the first :func:`coerce` call, not with this module, so importing
:mod:`retort.parsers` stays light.
"""

from __future__ import annotations

import functools
import json
import types
from collections.abc import Mapping, Sequence
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    ForwardRef,
    Literal,
    Union,
    get_args,
    get_origin,
    is_typeddict,
)

from retort.core.errors import ConfigurationError, FieldError, JSONParseError, TypeParseError
from retort.parsers._json import loads
from retort.parsers._limits import DEFAULT_MAX_BYTES, check_size
from retort.parsers._sections import Sections

if TYPE_CHECKING:
    from pydantic import TypeAdapter, ValidationError

__all__ = ["coerce", "type_name"]

MAX_LISTED_ERRORS = 10
"""How many field errors the message lists; ``TypeParseError.errors`` keeps all of them."""

_SEQUENCE_ORIGINS: frozenset[Any] = frozenset({tuple, list, set, frozenset, Sequence})
_MAPPING_ORIGINS: frozenset[Any] = frozenset({dict, Mapping})
_TEXT = (str, bytes, bytearray)  # the values max_bytes applies to
_missing = object()


def coerce(value: Any, target: Any, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """``value`` validated as, and converted to, ``target``.

    Args:
        value: a parsed value: JSON data, a string, a :class:`~retort.parsers.Sections`...
        target: any type pydantic's ``TypeAdapter`` accepts.
        max_bytes: the largest text (``str`` or ``bytes`` value) accepted, in UTF-8 bytes.

    Returns:
        The value as ``target`` (a model instance, a tuple, ...).

    Raises:
        TypeParseError: the value does not fit. ``errors`` holds one
            :class:`~retort.core.errors.FieldError` per problem, with paths like
            ``files[0].code``; the message lists them for the model. An exception a
            validator raises (even a ``TypeError``) is reported the same way. A text
            longer than ``max_bytes`` raises it before any work, with one error of kind
            ``"limits"``.
        ConfigurationError: pydantic cannot build a validator for ``target``.

    Example:
        >>> coerce('["a", "b"]', tuple[str, str])
        ('a', 'b')
    """
    # check_size's first test, inlined: coerce validates small values in about a
    # microsecond, and building the error factory and calling would add a third to it.
    if isinstance(value, _TEXT) and len(value) * 4 > max_bytes:
        check_size(value, max_bytes, lambda message: _limit_error(message, target))
    try:
        adapter = _cached_adapter(target)
    except TypeError:
        # Only hashing raises it (building raises ConfigurationError): an unhashable
        # target such as Annotated[int, {"some": "metadata"}] is built every time.
        adapter = _build_adapter(target)
    if isinstance(value, Sections):
        value = _from_sections(value, target)
    try:
        return _validate(adapter, value, target)
    except _validation_error() as exc:
        decoded = _json_in_text(value, max_bytes)
        if decoded is _missing:
            raise _mismatch(exc, target) from exc
    try:
        return _validate(adapter, decoded, target)
    except _validation_error() as exc:
        raise _mismatch(exc, target) from exc


def _validate(adapter: TypeAdapter[Any], value: Any, target: Any) -> Any:
    """``adapter.validate_python``, with every exception but ValidationError wrapped."""
    try:
        return adapter.validate_python(value)
    except _validation_error():
        raise
    except Exception as exc:  # a validator's TypeError, a RecursionError...: never leak
        raise _unexpected(exc, target) from exc


def _validation_error() -> type[ValidationError]:
    """pydantic's ValidationError, for ``except`` clauses.

    An ``except`` expression is evaluated only when an exception is raised, so a call that
    validates costs no import, and pydantic is loaded by then (the adapter comes from it).
    """
    from pydantic import ValidationError

    return ValidationError


def type_name(target: Any) -> str:
    """A readable name of a type, as a model would write it.

    Args:
        target: a type or type form.

    Returns:
        ``str``, ``list[FileSpec]``, ``tuple[str, ...]``, ``dict[str, Any]``,
        ``int | None``, ``Literal['a', 'b']``, the class name of a model...

    Example:
        >>> type_name(dict[str, list[int]] | None)
        'dict[str, list[int]] | None'
    """
    if target is Any:
        return "Any"
    if target is None or target is type(None):
        return "None"
    if target is Ellipsis:
        return "..."
    if isinstance(target, str):  # a forward reference written as a string
        return target
    if isinstance(target, ForwardRef):
        return target.__forward_arg__
    if isinstance(target, list):  # the parameter list of Callable[[int], str]
        return "[" + ", ".join(type_name(arg) for arg in target) + "]"
    origin = get_origin(target)
    args = get_args(target)
    if origin is Annotated:
        return type_name(args[0])
    if origin is Union or origin is types.UnionType:
        return " | ".join(type_name(arg) for arg in args)
    if origin is Literal:
        return "Literal[" + ", ".join(repr(arg) for arg in args) + "]"
    if origin is None:
        return _plain_name(target)
    if not args:
        # get_args(tuple[()]) is (), like a bare tuple's; only the former has an origin.
        return "tuple[()]" if origin is tuple and target is not tuple else _plain_name(origin)
    return f"{_plain_name(origin)}[{', '.join(type_name(arg) for arg in args)}]"


def _plain_name(target: Any) -> str:
    name = getattr(target, "__name__", None)
    return name if isinstance(name, str) else repr(target).removeprefix("typing.")


# ------------------------------------------------------------------ adapters


@functools.lru_cache(maxsize=256)
def _cached_adapter(target: Any) -> TypeAdapter[Any]:
    return _build_adapter(target)


def _build_adapter(target: Any) -> TypeAdapter[Any]:
    from pydantic import TypeAdapter

    try:
        return TypeAdapter(target)
    except Exception as exc:  # pydantic raises several types here, TypeError among them
        raise ConfigurationError(
            f"cannot validate values as {type_name(target)}: pydantic cannot build a "
            f"validator for it ({type(exc).__name__}: {_safe_str(exc)}); use a type "
            "pydantic's TypeAdapter supports"
        ) from exc


# ------------------------------------------------------------------ value shaping


def _from_sections(sections: Sections, target: Any) -> Any:
    """The form of ``sections`` the target can take."""
    values = tuple(sections.values)
    shape = _shape(target, single=len(values) == 1)
    if shape == "sequence":
        return values
    if shape == "mapping":
        return sections.as_dict()
    if shape != "str":
        return sections
    if len(values) == 1:
        return values[0]
    found = ", ".join(sections.names) if sections.names else "none"
    message = f"expected exactly one section, found {len(values)} ({found})"
    name = type_name(target)
    raise TypeParseError(
        f"The value does not match {name}:\n- {message}",
        errors=[FieldError("", message, "section_count")],
        target=name,
    )


def _shape(target: Any, *, single: bool) -> str:
    """How a sections value maps onto ``target``: str, sequence, mapping or other."""
    origin = get_origin(target)
    if origin is Annotated:
        return _shape(get_args(target)[0], single=single)
    if origin is Union or origin is types.UnionType:
        shapes = {_shape(arg, single=single) for arg in get_args(target)}
        preference = ("str", "sequence", "mapping") if single else ("sequence", "mapping", "str")
        return next((shape for shape in preference if shape in shapes), "other")
    if origin is Literal:
        return "str" if all(isinstance(arg, str) for arg in get_args(target)) else "other"
    base = origin if origin is not None else target
    supertype = getattr(base, "__supertype__", None)  # typing.NewType
    if supertype is not None:
        return _shape(supertype, single=single)
    if not isinstance(base, type):
        return "other"
    if issubclass(base, str):
        return "str"
    if base in _SEQUENCE_ORIGINS or issubclass(base, list | tuple):
        return "sequence"
    # Both loaded by now (pydantic built the adapter and imports dataclasses), so no cost;
    # importing dataclasses with this module would cost `import retort.parsers` ~15 ms.
    import dataclasses

    from pydantic import BaseModel

    if (
        base in _MAPPING_ORIGINS
        or issubclass(base, dict | BaseModel)
        or is_typeddict(base)
        or dataclasses.is_dataclass(base)
    ):
        return "mapping"
    return "other"


def _json_in_text(value: Any, max_bytes: int) -> Any:
    """The object or array a string holds (double-encoded replies), else ``_missing``."""
    if not isinstance(value, str) or ("{" not in value and "[" not in value):
        return _missing
    try:
        decoded = json.loads(value)  # the fast path for well-formed text
    except (ValueError, RecursionError):
        decoded = _missing
    if isinstance(decoded, dict | list):
        return decoded
    try:
        decoded = loads(value, max_bytes=max_bytes)
    except JSONParseError:
        return _missing
    return decoded if isinstance(decoded, dict | list) else _missing


# ------------------------------------------------------------------ errors


def _mismatch(exc: ValidationError, target: Any) -> TypeParseError:
    details = exc.errors(include_url=False, include_context=False, include_input=False)
    errors = [FieldError(_path(e["loc"]), e["msg"], e["type"]) for e in details]
    return _type_error(errors, target)


def _unexpected(exc: Exception, target: Any) -> TypeParseError:
    """An exception pydantic did not wrap (a validator's TypeError, a RecursionError...)."""
    error = FieldError(
        "", f"validation failed with {type(exc).__name__}: {_safe_str(exc)}", "exception"
    )
    return _type_error([error], target)


def _limit_error(message: str, target: Any) -> TypeParseError:
    name = type_name(target)
    return TypeParseError(message, errors=[FieldError("", message, "limits")], target=name)


def _type_error(errors: list[FieldError], target: Any) -> TypeParseError:
    name = type_name(target)
    lines = [f"- {error}" for error in errors[:MAX_LISTED_ERRORS]]
    if len(errors) > MAX_LISTED_ERRORS:
        lines.append(f"- ... and {len(errors) - MAX_LISTED_ERRORS} more errors")
    message = f"The value does not match {name}:\n" + "\n".join(lines)
    return TypeParseError(message, errors=errors, target=name)


def _path(loc: tuple[int | str, ...]) -> str:
    """``("files", 0, "code")`` -> ``files[0].code``; odd keys are quoted: ``["a b"]``."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item == "[key]":  # pydantic's marker for an error in a dict key
            parts.append("[key]")
        elif item.isidentifier():
            parts.append(f".{item}" if parts else item)
        else:
            parts.append(f"[{json.dumps(item, ensure_ascii=False)}]")
    return "".join(parts)


def _safe_str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # a broken __str__ must not replace the error being reported
        return f"<{type(exc).__name__}>"
