"""Built-in plugin: check generated source files before they are accepted or written.

The CREATE flow asks a model for a JSON list of ``{"file_name", "code"}`` objects; this
module checks such a list and says precisely what is wrong, as feedback a model can act
on (the original program's ``check_code_for_common_errors``, done right)::

    Expect.json(list[FileSpec], validators=[code_check])        # as a validator
    Expect.json(list[FileSpec], tags={"code"})                  # through the hook
    check_files(files, out_dir="generated")                     # on its own

Per file:

- ``file_name``: a non-empty relative path that stays inside the output directory: no
  absolute path, no ``~``, no drive letter or ``:``, no backslash, no ``..`` component, no
  control character, no trailing ``/``, components of at most 255 bytes. ``./a.py`` and
  ``a//b.py`` are normalised (``a.py``, ``a/b.py``) before names are compared. Names must
  be unique, also when compared case-insensitively (one would overwrite the other on
  macOS or Windows), and no name may be both a file and a directory (``pkg`` and
  ``pkg/a.py``). With ``out_dir`` the resolved path (symlinks followed) must stay inside
  it and must not be an existing directory.
- ``code``: a string that is not blank and at most :data:`MAX_CODE_BYTES` (UTF-8).
- Python files (``.py``, ``.pyw``, ``.pyi``): ``ast.parse`` succeeds (a ``SyntaxError``
  is reported with line, column, message and the offending line; ``RecursionError``,
  ``MemoryError`` and ``ValueError`` from hostile input are reported, never raised), and
  no function, async function or method, at any nesting, has an *empty body*: only
  ``pass``, only ``...``, only a docstring, or a docstring with ``pass`` / ``...``.
  Files of other kinds (``README.md``, ``requirements.txt``) get the name and content
  checks only.

Exempt from the empty-body rule, because an empty body is their correct form: functions
decorated with ``abstractmethod`` (also ``abc.abstractmethod``, ``abstractproperty``,
``abstractclassmethod``, ``abstractstaticmethod``) or ``overload`` (``typing.overload``...),
methods of classes that list ``Protocol`` (or ``Protocol[T]``) among their bases, and every
function in a ``.pyi`` stub file. ``raise NotImplementedError`` is *not* counted as empty:
it is the usual body of a base-class method meant to be overridden.

The AST is walked with an explicit stack (no recursion), so deep nesting that
``ast.parse`` accepted cannot overflow the checker.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel

from retort.core.errors import ConfigurationError
from retort.core.expect import Expect, Validator
from retort.core.hookspecs import hookimpl
from retort.core.messages import Reply

__all__ = [
    "CODE_TAG",
    "MAX_CODE_BYTES",
    "MAX_LISTED_PROBLEMS",
    "PYTHON_SUFFIXES",
    "FileSpec",
    "check_code",
    "check_files",
    "code_check",
    "code_check_in",
    "normalize_file_name",
    "python_syntax_error",
    "retort_validate",
]

MAX_CODE_BYTES = 1_000_000
"""Larger files are refused unparsed: parsing hostile megabytes costs time and memory."""

MAX_LISTED_PROBLEMS = 20
"""How many problems one message lists; the rest are counted ("... and 7 more")."""

PYTHON_SUFFIXES = frozenset({".py", ".pyw", ".pyi"})
"""Files with these suffixes get the Python checks (parse, empty bodies)."""

CODE_TAG = "code"
"""The :attr:`Expect.tags` label that opts a spec in to the ``retort_validate`` hook."""

_MAX_COMPONENT_BYTES = 255  # the common file-name limit (ext4, APFS, NTFS)
_ABSTRACT = frozenset(
    {"abstractmethod", "abstractproperty", "abstractclassmethod", "abstractstaticmethod"}
)
_OVERLOAD = frozenset({"overload"})


class FileSpec(BaseModel):
    """One generated file: its path relative to the output directory, and its text."""

    file_name: str
    code: str


@dataclass(frozen=True, slots=True)
class _Item:
    label: str  # how messages name the item: its file name, or "item 3"
    name: str | None  # the normalised file name, when it is valid
    code: str | None


def normalize_file_name(file_name: str) -> tuple[str | None, str | None]:
    """Check a file name lexically and normalise it.

    Args:
        file_name: a path relative to an output directory, ``/``-separated.

    Returns:
        ``(normalised, None)`` for an acceptable name (``./a//b.py`` -> ``a/b.py``), or
        ``(None, problem)`` where ``problem`` says what is wrong and what to write instead.
    """
    if not file_name.strip():
        return None, "the file name is empty; give a relative path such as `app/main.py`"
    if file_name != file_name.strip():
        return None, "the file name has leading or trailing whitespace; remove it"
    if any(ord(char) < 32 or ord(char) == 127 for char in file_name):
        return None, "the file name contains a control character; use printable characters"
    if "\\" in file_name:
        return None, "the file name contains a backslash; separate directories with `/`"
    if file_name.startswith("/"):
        return None, "the file name is an absolute path; give a path relative to the output"
    if file_name.startswith("~"):
        return None, "the file name starts with `~`; give a path relative to the output"
    if ":" in file_name:
        return None, "the file name contains `:` (a drive letter or stream); remove it"
    if file_name.endswith("/"):
        return None, "the file name ends with `/`, which names a directory; name a file"
    parts = [part for part in file_name.split("/") if part not in ("", ".")]
    if ".." in parts:
        return None, "the file name contains `..`; keep every file inside the output directory"
    if not parts:
        return None, "the file name names the output directory itself; name a file"
    for part in parts:
        if len(part.encode("utf-8", "surrogatepass")) > _MAX_COMPONENT_BYTES:
            return None, f"a part of the file name is longer than {_MAX_COMPONENT_BYTES} bytes"
    return "/".join(parts), None


def _label(name: str) -> str:
    return name if len(name) <= 80 else name[:77] + "..."


def _items(files: Sequence[Any], problems: list[str]) -> list[_Item]:
    """Each entry's name and code, reporting entries that are not files at all."""
    items = []
    for index, entry in enumerate(files):
        where = f"item {index}"
        raw_name: Any  # the model's data: not necessarily a str, even in a FileSpec
        code: Any
        if isinstance(entry, FileSpec):
            raw_name, code = entry.file_name, entry.code
        elif isinstance(entry, Mapping):
            missing = [key for key in ("file_name", "code") if key not in entry]
            if missing:
                keys = " and ".join(f'"{key}"' for key in missing)
                problems.append(f"{where}: {keys} missing; each file needs a file_name and code")
                continue
            raw_name, code = entry["file_name"], entry["code"]
        else:
            problems.append(
                f'{where}: expected an object with "file_name" and "code", '
                f"got {type(entry).__name__}"
            )
            continue
        if not isinstance(raw_name, str):
            problems.append(f"{where}: file_name must be a string, got {type(raw_name).__name__}")
            items.append(_Item(where, None, code if isinstance(code, str) else None))
            continue
        name, problem = normalize_file_name(raw_name)
        label = _label(raw_name) if raw_name.strip() else where
        if problem is not None:
            problems.append(f"{label}: {problem}")
        if not isinstance(code, str):
            problems.append(f"{label}: code must be a string, got {type(code).__name__}")
            code = None
        items.append(_Item(label, name, code))
    return items


def _name_conflicts(items: Sequence[_Item]) -> Iterator[str]:
    seen: dict[str, str] = {}
    folded: dict[str, str] = {}
    for item in items:
        if item.name is None:
            continue
        if item.name in seen:
            yield f"{item.label}: the file name is used twice; give each file its own name"
            continue
        other = folded.get(item.name.casefold())
        if other is not None:
            yield (
                f"{item.label}: the file name differs from {other} only in case; one would "
                "overwrite the other on case-insensitive file systems"
            )
        seen[item.name] = item.label
        folded.setdefault(item.name.casefold(), item.label)
    for name, label in seen.items():
        parts = name.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent in seen:
                yield (
                    f"{label}: {seen[parent]} is a file, so it cannot also be a directory; "
                    "rename one of them"
                )
                break


def _location_problem(name: str, root: Path) -> str | None:
    target = (root / name).resolve()
    if not target.is_relative_to(root):
        return "the path leaves the output directory through a symbolic link; choose another name"
    if target.is_dir():
        return "an existing directory has this name; name a file"
    return None


def check_code(code: str, file_name: str | None = None, *, python: bool | None = None) -> list[str]:
    """The problems of one file's code.

    Args:
        code: the source text.
        file_name: names the file in messages (``"the code"`` when ``None``).
        python: whether to run the Python checks; by default they run for names with a
            Python suffix (:data:`PYTHON_SUFFIXES`) and for code without a name.

    Returns:
        One message per problem, each starting with the file's name; empty when the code
        is fine.
    """
    label = file_name or "the code"
    if not code.strip():
        return [f"{label}: the code is empty; write the file's full contents"]
    size = len(code.encode("utf-8", "surrogatepass"))
    if size > MAX_CODE_BYTES:
        return [
            f"{label}: the code is {size} bytes, over the {MAX_CODE_BYTES}-byte limit; "
            "split it into smaller files"
        ]
    suffix = PurePosixPath(file_name).suffix.lower() if file_name else ""
    if python is None:
        python = file_name is None or suffix in PYTHON_SUFFIXES
    if not python:
        return []
    tree, problem = _parse(code, label)
    if tree is None:
        return [f"{label}: {problem}"]
    if suffix == ".pyi":
        return []  # a stub file is all empty bodies by design
    return [f"{label}: {problem}" for problem in _empty_functions(tree)]


def python_syntax_error(code: str, file_name: str = "the code") -> str | None:
    """Why ``code`` is not valid Python (``"syntax error at line 3, column 5: ..."``), or
    ``None`` when ``ast.parse`` accepts it. Never raises for any input string.

    Args:
        code: the source text.
        file_name: the file name ``ast.parse`` records (not part of the message).
    """
    tree, problem = _parse(code, file_name)
    return None if tree is not None else problem


def _parse(code: str, file_name: str) -> tuple[ast.Module | None, str]:
    try:
        return ast.parse(code, filename=file_name), ""
    except SyntaxError as exc:
        return None, _syntax_message(exc)
    except (RecursionError, MemoryError):
        return None, "the code is nested too deeply to parse; flatten it"
    except ValueError as exc:  # NUL bytes, lone surrogates (UnicodeEncodeError)
        return None, f"the code cannot be parsed: {exc}"


def _syntax_message(exc: SyntaxError) -> str:
    kind = "indentation error" if isinstance(exc, IndentationError) else "syntax error"
    if not exc.lineno:
        return f"{kind}: {exc.msg}"
    where = f"line {exc.lineno}" + (f", column {exc.offset}" if exc.offset else "")
    message = f"{kind} at {where}: {exc.msg}"
    source = (exc.text or "").strip()
    if source:
        message += f" (in `{source[:120]}`)"
    return message


def _decorator_name(node: ast.expr) -> str:
    while isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _is_protocol(node: ast.ClassDef) -> bool:
    for base in node.bases:
        if isinstance(base, ast.Subscript):  # Protocol[T]
            base = base.value
        if _decorator_name(base) == "Protocol":
            return True
    return False


def _empty_kind(body: Sequence[ast.stmt]) -> str | None:
    """How a body is empty (``"only `pass`"``...), or ``None`` when it does something."""
    docstring = (
        bool(body)
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    )
    rest = body[1:] if docstring else body
    fillers = []
    for statement in rest:
        if isinstance(statement, ast.Pass):
            fillers.append("`pass`")
        elif (
            isinstance(statement, ast.Expr)
            and isinstance(statement.value, ast.Constant)
            and statement.value.value is Ellipsis
        ):
            fillers.append("`...`")
        else:
            return None
    words = (["a docstring"] if docstring else []) + list(dict.fromkeys(fillers))
    return "only " + " and ".join(words)


def _empty_functions(tree: ast.Module) -> Iterator[str]:
    """Functions whose bodies are empty, in source order, walked without recursion."""
    found: list[tuple[int, int, str]] = []
    # (node, qualified name prefix, exempt because the enclosing class is a Protocol)
    stack: list[tuple[ast.AST, str, bool]] = [(tree, "", False)]
    while stack:
        node, prefix, in_protocol = stack.pop()
        if isinstance(node, ast.ClassDef):
            prefix, in_protocol = f"{prefix}{node.name}.", _is_protocol(node)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            decorators = {_decorator_name(item) for item in node.decorator_list}
            exempt = in_protocol or bool(decorators & (_ABSTRACT | _OVERLOAD))
            kind = None if exempt else _empty_kind(node.body)
            if kind is not None:
                what = "method" if prefix and not prefix.endswith(">.") else "function"
                found.append(
                    (
                        node.lineno,
                        node.col_offset,
                        f"{what} `{prefix}{node.name}` (line {node.lineno}) has an empty body "
                        f"({kind}); implement it",
                    )
                )
            prefix, in_protocol = f"{prefix}{node.name}.<locals>.", False
        stack.extend((child, prefix, in_protocol) for child in ast.iter_child_nodes(node))
    for _line, _column, message in sorted(found):
        yield message


def check_files(
    files: Sequence[FileSpec | Mapping[str, Any]], *, out_dir: str | Path | None = None
) -> str | None:
    """Check generated files; the message names every problem, for the model to fix.

    Args:
        files: :class:`FileSpec` objects or mappings with ``file_name`` and ``code``.
        out_dir: the directory the files will be written to; when given, each resolved
            path (symlinks followed) must stay inside it.

    Returns:
        ``None`` when every file passes; otherwise one problem per line (the first
        :data:`MAX_LISTED_PROBLEMS`), each naming its file, e.g.
        ``"a.py: function `f` (line 3) has an empty body (only `pass`); implement it"``.
    """
    if isinstance(files, str | bytes | Mapping) or not isinstance(files, Sequence):
        return (
            'expected a list of files, each an object with "file_name" and "code"; '
            f"got {type(files).__name__}"
        )
    if not files:
        return 'the list of files is empty; send at least one {"file_name", "code"} object'
    problems: list[str] = []
    items = _items(files, problems)
    problems.extend(_name_conflicts(items))
    root = Path(out_dir).resolve() if out_dir is not None else None
    for item in items:
        if root is not None and item.name is not None:
            problem = _location_problem(item.name, root)
            if problem is not None:
                problems.append(f"{item.label}: {problem}")
        if item.code is not None:
            # A file with no usable name is checked as Python: the flow asks for Python.
            python = None if item.name is not None else True
            problems.extend(check_code(item.code, item.name or item.label, python=python))
    return _summary(problems)


def _summary(problems: Sequence[str]) -> str | None:
    if not problems:
        return None
    if len(problems) == 1:
        return problems[0]
    listed = [f"- {problem}" for problem in problems[:MAX_LISTED_PROBLEMS]]
    hidden = len(problems) - MAX_LISTED_PROBLEMS
    if hidden > 0:
        listed.append(f"- ... and {hidden} more problem{'s' * (hidden > 1)}")
    return f"{len(problems)} problems in the files:\n" + "\n".join(listed)


def code_check(value: Any) -> str | None:
    """A :data:`~retort.core.expect.Validator` for ``Expect.json(list[FileSpec], ...)``:
    :func:`check_files` without an output directory."""
    return check_files(value)


def code_check_in(out_dir: str | Path) -> Validator:
    """A validator like :func:`code_check` that also keeps every file inside ``out_dir``.

    Args:
        out_dir: the directory the files will be written to.
    """

    def check(value: Any) -> str | None:
        return check_files(value, out_dir=out_dir)

    check.__name__ = check.__qualname__ = "code_check"
    return check


def _check_any(value: Any) -> str | None:
    if isinstance(value, str):
        return _summary(check_code(value))
    if isinstance(value, FileSpec | Mapping):
        return check_files([value])
    if isinstance(value, list) or (
        isinstance(value, tuple) and all(isinstance(item, FileSpec | Mapping) for item in value)
    ):
        return check_files(value)
    raise ConfigurationError(
        f'the "{CODE_TAG}" tag checks a list of files, one file or a string of Python code; this '
        f"spec's value is a {type(value).__name__}: remove the tag, or pass a validator"
    )


@hookimpl
def retort_validate(value: Any, reply: Reply, expect: Expect) -> str | None:
    """Check the value of specs tagged ``"code"``: a list of files, one file (a
    :class:`FileSpec` or a mapping) or a string of Python code.

    Raises:
        ConfigurationError: a tagged spec's value is none of those (a spec mistake: the
            model could not fix it, so it fails the solve instead of burning attempts).
    """
    if CODE_TAG not in expect.tags:
        return None
    return _check_any(value)
