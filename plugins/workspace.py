"""File tools for agents, confined to one directory: read, save, list and search files.

```python
workspace = Workspace("checkout/")
registry = workspace.registry()          # read_file, save_file, list_files, search_files
result = await run_tool_loop(agent, "Fix the failing test.", registry)
```

The tools are plain methods with type hints and Google docstrings, so
:class:`~retort.core.tools.ToolRegistry` builds their schemas and docs like any tool's.

Policies:

- Confinement: every path is relative to the root, ``/``-separated. Absolute paths,
  drive letters, ``~``, backslashes, control characters and ``..`` components are
  refused before the file system is touched; the path is then resolved (symlinks
  followed) and refused when it leads outside the root, so a symlink inside the root that
  points out - to a file or a directory - is no way out. Listing and searching skip such
  links and do not descend into symlinked directories (no loops). Messages name paths
  relative to the root, never the root's absolute path.
- Refusals and failures raise :class:`WorkspaceError` (a ``ValueError``) whose message
  says what was wrong and what to do; the registry turns it into the observation
  ``"Error: WorkspaceError: ..."``. Tool results are text for the model.
- Caps: a read shows at most ``max_read_bytes`` (200 KB) of output and says how to read
  further; files are read up to ``max_file_bytes`` (5 MB); listings and searches show at
  most ``max_results`` entries and scan at most ``max_scan`` directory entries; a save
  writes at most ``max_write_bytes`` (1 MB). Each cap is reported in the result.
- Text is UTF-8 (undecodable bytes are replaced when reading); a file with a NUL byte in
  its first 8 KB is treated as binary and not shown. Lines are split on ``\\n`` only
  (a ``\\r`` before it is dropped), so line numbers agree with editors.
- ``save_file`` refuses invalid Python (``.py``, ``.pyw``, ``.pyi``) with the syntax
  error as the observation, creates missing parent directories inside the root and
  writes the text as given (no newline translation).
- Listings and searches skip hidden entries (names starting with ``.``) and
  ``__pycache__``; ``read_file`` still reads a hidden file named explicitly.
- This guards against a model's mistakes, not against a local adversary racing the file
  system between the check and the use.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from retort.core.errors import ConfigurationError
from retort.core.tools import ToolRegistry
from retort.plugins.code_check import PYTHON_SUFFIXES, python_syntax_error

__all__ = ["Workspace", "WorkspaceError"]

_BINARY_PROBE = 8192
_SKIPPED_DIRS = frozenset({"__pycache__"})
_MATCH_LINE_CHARS = 300  # a search shows this much of each matching line


class WorkspaceError(ValueError):
    """A workspace tool refused a request or could not do it; the message says why and
    what to do instead (it is the observation the model reads)."""


def _count(number: int, word: str, plural: str | None = None) -> str:
    return f"{number} {word if number == 1 else plural or word + 's'}"


class Workspace:
    """File tools confined to ``root``.

    Args:
        root: an existing directory; every path the tools take is relative to it.
        read_only: offer no ``save_file`` tool (and refuse saves).
        max_read_bytes: the most output a ``read_file`` call returns.
        max_file_bytes: the most of one file that is read (for reads and searches).
        max_write_bytes: the largest content ``save_file`` writes.
        max_results: the most entries a listing, or matches a search, shows.
        max_scan: the most directory entries a listing or search looks at.

    Raises:
        ConfigurationError: ``root`` is not an existing directory, or a cap is below 1.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        read_only: bool = False,
        max_read_bytes: int = 200_000,
        max_file_bytes: int = 5_000_000,
        max_write_bytes: int = 1_000_000,
        max_results: int = 200,
        max_scan: int = 20_000,
    ) -> None:
        path = Path(root)
        if not path.is_dir():
            raise ConfigurationError(
                f"the workspace root {str(path)!r} is not an existing directory; create it first"
            )
        caps = {
            "max_read_bytes": max_read_bytes,
            "max_file_bytes": max_file_bytes,
            "max_write_bytes": max_write_bytes,
            "max_results": max_results,
            "max_scan": max_scan,
        }
        for name, value in caps.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigurationError(
                    f"{name} must be a whole number of 1 or more, got {value!r}"
                )
        self.root = path.resolve(strict=True)
        self.read_only = read_only
        self.max_read_bytes = max_read_bytes
        self.max_file_bytes = max_file_bytes
        self.max_write_bytes = max_write_bytes
        self.max_results = max_results
        self.max_scan = max_scan

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r}, read_only={self.read_only})"

    # ------------------------------------------------------------------ the tool set

    def tools(self) -> list[Callable[..., str]]:
        """The tool functions, for a :class:`~retort.core.tools.ToolRegistry`:
        ``read_file``, ``save_file`` (unless read-only), ``list_files``, ``search_files``."""
        tools: list[Callable[..., str]] = [self.read_file]
        if not self.read_only:
            tools.append(self.save_file)
        tools += [self.list_files, self.search_files]
        return tools

    def registry(self) -> ToolRegistry:
        """A new registry holding :meth:`tools`; they run in a worker thread, so file
        I/O does not stall the event loop."""
        registry = ToolRegistry()
        for tool in self.tools():
            registry.register(tool, blocking=True)
        return registry

    # ------------------------------------------------------------------ paths

    def resolve(self, path: str) -> Path:
        """The absolute path ``path`` names inside the root (it need not exist).

        Args:
            path: a ``/``-separated path relative to the root; ``"."`` is the root.

        Raises:
            WorkspaceError: the path is malformed or leads outside the root.
        """
        if not isinstance(path, str):
            raise WorkspaceError(f"the path must be a string, got {type(path).__name__}")
        problem = _lexical_problem(path)
        if problem is not None:
            raise WorkspaceError(f"path {path[:200]!r} refused: {problem}")
        parts = [part for part in path.split("/") if part not in ("", ".")]
        try:
            target = self.root.joinpath(*parts).resolve()
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop (3.11)
            # The exception's text holds absolute host paths: keep them from the model.
            raise WorkspaceError(
                f"path {path!r} cannot be resolved: a symbolic link loop or an unreadable "
                "directory is in the way"
            ) from None
        if not target.is_relative_to(self.root):
            raise WorkspaceError(
                f"path {path!r} refused: it leads outside the workspace through a symbolic "
                "link; use paths inside the workspace"
            )
        return target

    def relative(self, target: Path) -> str:
        """``target`` as the tools show it: relative to the root, ``/``-separated."""
        return target.relative_to(self.root).as_posix() or "."

    # ------------------------------------------------------------------ read_file

    def read_file(
        self,
        path: str,
        start_line: int | None = None,
        end_line: int | None = None,
        search: str | None = None,
    ) -> str:
        """Read a text file of the workspace, with line numbers.

        Args:
            path: the file, relative to the workspace root (for example `src/app.py`).
            start_line: the first line to show (1-based); default the first line.
            end_line: the last line to show (inclusive); default the last line.
            search: show only the lines containing this text (case-sensitive), with
                their numbers; combine with start_line/end_line to search part of a file.

        Returns:
            A header line, then one line per file line as `number | text`.
        """
        target = self._existing_file(path)
        shown = self.relative(target)
        data, cut = self._read_bytes(target)
        if b"\0" in data[:_BINARY_PROBE]:
            return f"{shown} is a binary file ({target.stat().st_size} bytes); it is not shown"
        lines = _split_lines(data.decode("utf-8", errors="replace"))
        note = f" [only the first {self.max_file_bytes} bytes were read]" if cut else ""
        if not lines:
            return f"{shown} is empty (0 lines){note}"
        first, last = _line_range(start_line, end_line, len(lines), shown)
        numbered = range(first, last + 1)
        if search is not None:
            if not search:
                raise WorkspaceError("search must be non-empty text; omit it to read the lines")
            hits = [number for number in numbered if search in lines[number - 1]]
            if not hits:
                return f"no line of {shown} (lines {first}-{last}) contains {search!r}{note}"
            header = f"{shown}: {_count(len(hits), 'line')} containing {search!r}{note}"
            return self._numbered(header, lines, hits, len(lines))
        header = f"{shown} (lines {first}-{last} of {len(lines)}){note}"
        return self._numbered(header, lines, list(numbered), len(lines))

    def _existing_file(self, path: str) -> Path:
        target = self.resolve(path)
        if not target.exists():
            raise WorkspaceError(
                f"no file {path!r} in the workspace; call list_files to see what exists"
            )
        if target.is_dir():
            raise WorkspaceError(f"{path!r} is a directory; call list_files({path!r}) instead")
        if not target.is_file():  # a FIFO or a device would block or never end
            raise WorkspaceError(f"{path!r} is not a regular file; only regular files are read")
        return target

    def _read_bytes(self, target: Path) -> tuple[bytes, bool]:
        try:
            with target.open("rb") as handle:
                data = handle.read(self.max_file_bytes + 1)
        except OSError as exc:
            raise WorkspaceError(
                f"{self.relative(target)} cannot be read: {exc.strerror}"
            ) from None
        return data[: self.max_file_bytes], len(data) > self.max_file_bytes

    def _numbered(self, header: str, lines: list[str], numbers: list[int], total: int) -> str:
        width = len(str(total))
        out = [header]
        size = len(header)
        for index, number in enumerate(numbers):
            line = f"{number:>{width}} | {lines[number - 1]}"
            size += len(line) + 1
            if size > self.max_read_bytes:
                rest = len(numbers) - index
                out.append(
                    f"[output truncated at {self.max_read_bytes} characters: {_count(rest, 'line')}"
                    f" not shown; continue with start_line={number}]"
                )
                break
            out.append(line)
        return "\n".join(out)

    # ------------------------------------------------------------------ save_file

    def save_file(self, path: str, content: str) -> str:
        """Create or overwrite a text file of the workspace with the given content.

        Python files (.py) must be valid Python: invalid code is not saved and the
        syntax error is returned instead. Missing parent directories are created.

        Args:
            path: the file, relative to the workspace root (for example `src/app.py`).
            content: the complete new text of the file.

        Returns:
            What was saved: the path, the number of lines and bytes.
        """
        if self.read_only:
            raise WorkspaceError("the workspace is read-only; files cannot be saved")
        if not isinstance(content, str):
            raise WorkspaceError(f"content must be text, got {type(content).__name__}")
        target = self.resolve(path)
        shown = self.relative(target)
        if target == self.root or target.is_dir():
            raise WorkspaceError(f"{path!r} is a directory; give the path of a file")
        try:
            data = content.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise WorkspaceError(
                f"{shown} was not saved: the content has characters that cannot be written "
                f"as UTF-8 ({exc.reason} at position {exc.start})"
            ) from None
        if len(data) > self.max_write_bytes:
            raise WorkspaceError(
                f"{shown} was not saved: the content is {len(data)} bytes, over the "
                f"{self.max_write_bytes}-byte limit; split it into smaller files"
            )
        if PurePosixPath(shown).suffix.lower() in PYTHON_SUFFIXES:
            problem = python_syntax_error(content, shown)
            if problem is not None:
                raise WorkspaceError(
                    f"{shown} was not saved: it is not valid Python: {problem}. "
                    "Fix the code and save the whole file again"
                )
        existed = target.exists()
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__  # str(exc) would name host paths
            raise WorkspaceError(f"{shown} was not saved: {reason}") from None
        lines = len(_split_lines(content))
        verb = "updated" if existed else "created"
        return f"{verb} {shown} ({_count(lines, 'line')}, {_count(len(data), 'byte')})"

    # ------------------------------------------------------------------ list and search

    def list_files(self, path: str = ".", pattern: str = "*") -> str:
        """List the files and directories under a directory of the workspace, recursively.

        Hidden entries (names starting with a dot) and __pycache__ are skipped.

        Args:
            path: the directory to list, relative to the workspace root.
            pattern: a glob the entries must match: matched against the name (`*.py`),
                or against the path below `path` when it contains a `/` (`tests/*.py`).

        Returns:
            One path per line, relative to the workspace root; directories end with `/`.
        """
        base = self._directory(path)
        entries: list[str] = []
        more = 0
        walk = _Walk(self, base, pattern)
        for entry, is_dir in walk:
            if len(entries) < self.max_results:
                entries.append(self.relative(entry) + ("/" if is_dir else ""))
            else:
                more += 1
        where = self.relative(base)
        if not entries:
            return f"nothing under {where!r} matches {pattern!r}{walk.note()}"
        found = _count(len(entries) + more, "entry", "entries")
        lines = [f"{found} under {where!r} matching {pattern!r}"]
        lines.extend(sorted(entries))  # each directory right before its contents
        if more:
            lines.append(f"... and {more} more; narrow the path or the pattern")
        return "\n".join(lines) + walk.note("\n")

    def search_files(self, term: str, path: str = ".", glob: str = "*.py") -> str:
        """Find the lines containing a text in the files of the workspace.

        Args:
            term: the text to find (case-sensitive, plain text, not a regex).
            path: the directory to search (or one file), relative to the workspace root.
            glob: which files to search: matched against the file name (`*.py`), or the
                path below `path` when it contains a `/`.

        Returns:
            One match per line as `path:line: text`.
        """
        if not isinstance(term, str) or not term:
            raise WorkspaceError("term must be non-empty text to search for")
        walk = _Walk(self, self.resolve(path), glob)
        base = walk.base
        if base.is_file():
            files: Iterator[Path] = iter([base])
        else:
            self._directory(path)
            files = (entry for entry, is_dir in walk if not is_dir)
        hits: list[str] = []
        total = partial = 0
        for file in files:
            matches, cut = self._matches(file, term)
            partial += cut
            for number, line in matches:
                total += 1
                if len(hits) < self.max_results:
                    hits.append(f"{self.relative(file)}:{number}: {line[:_MATCH_LINE_CHARS]}")
        notes = walk.note("\n")
        if partial:
            notes += (
                f"\n[{_count(partial, 'file')} searched only in the first "
                f"{self.max_file_bytes} bytes]"
            )
        if not hits:
            where = self.relative(base)
            return f"no match for {term!r} in {where!r} (files matching {glob!r}){notes}"
        lines = [f"{_count(total, 'match', 'matches')} for {term!r}", *hits]
        if total > len(hits):
            lines.append(f"... and {total - len(hits)} more; narrow the path or the glob")
        return "\n".join(lines) + notes

    def _directory(self, path: str) -> Path:
        target = self.resolve(path)
        if not target.exists():
            raise WorkspaceError(f"no directory {path!r} in the workspace; try list_files('.')")
        if not target.is_dir():
            raise WorkspaceError(f"{path!r} is a file, not a directory; call read_file({path!r})")
        return target

    def _matches(self, file: Path, term: str) -> tuple[list[tuple[int, str]], bool]:
        """The matching lines of one file, and whether the file was read only in part."""
        if not file.is_file():
            return [], False  # a FIFO or a device: reading it could block forever
        try:
            data, cut = self._read_bytes(file)
        except WorkspaceError:
            return [], False  # an unreadable file is skipped by a search, not fatal to it
        if b"\0" in data[:_BINARY_PROBE]:
            return [], False
        lines = _split_lines(data.decode("utf-8", "replace"))
        return [(n, line.strip()) for n, line in enumerate(lines, 1) if term in line], cut


class _Walk:
    """The entries under ``base`` matching ``pattern``, sorted, inside the root only."""

    def __init__(self, workspace: Workspace, base: Path, pattern: str) -> None:
        if not isinstance(pattern, str) or not pattern:
            raise WorkspaceError("the pattern must be a non-empty glob such as '*.py'")
        self._workspace = workspace
        self.base = base
        self._pattern = pattern
        self.scanned = 0
        self.stopped = False

    def _matches(self, entry: Path) -> bool:
        if "/" in self._pattern:
            return fnmatch.fnmatchcase(entry.relative_to(self.base).as_posix(), self._pattern)
        return fnmatch.fnmatchcase(entry.name, self._pattern)

    def _inside(self, entry: Path) -> bool:
        if not entry.is_symlink():
            return True
        try:
            return entry.resolve().is_relative_to(self._workspace.root)
        except (OSError, RuntimeError):
            return False  # a broken or looping link leads nowhere useful

    def __iter__(self) -> Iterator[tuple[Path, bool]]:
        if not self.base.is_dir():
            return
        for current, dirs, files in os.walk(self.base, followlinks=False):
            # Prune in place so os.walk does not descend into hidden or cache directories.
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS)
            folder = Path(current)
            names = [(d, True) for d in dirs] + [(f, False) for f in files if not f.startswith(".")]
            for name, is_dir in sorted(names):
                self.scanned += 1
                if self.scanned > self._workspace.max_scan:
                    self.stopped = True
                    return
                entry = folder / name
                if self._inside(entry) and self._matches(entry):
                    yield entry, is_dir

    def note(self, lead: str = "") -> str:
        if not self.stopped:
            return ""
        return f"{lead}[stopped after {self._workspace.max_scan} entries; narrow the path]"


def _lexical_problem(path: str) -> str | None:
    if not path.strip():
        return "the path is empty; give a path relative to the workspace root, or '.'"
    if any(ord(char) < 32 or ord(char) == 127 for char in path):
        return "it contains a control character"
    if "\\" in path:
        return "it contains a backslash; separate directories with '/'"
    if path.startswith("/") or (len(path) >= 2 and path[1] == ":" and path[0].isalpha()):
        return "absolute paths are not allowed; give a path relative to the workspace root"
    if path.startswith("~"):
        return "'~' is not expanded; give a path relative to the workspace root"
    if ".." in path.split("/"):
        return "'..' is not allowed; every path stays inside the workspace"
    return None


def _split_lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # a final newline ends the last line; it does not start a new one
    return [line.removesuffix("\r") for line in lines]


def _line_range(start: int | None, end: int | None, total: int, shown: str) -> tuple[int, int]:
    first = 1 if start is None else start
    last = total if end is None else min(end, total)
    if first < 1 or (end is not None and end < 1):
        raise WorkspaceError("line numbers start at 1")
    if first > total:
        raise WorkspaceError(f"start_line {first} is past the end: {shown} has {total} lines")
    if end is not None and end < first:
        raise WorkspaceError(f"end_line {end} is before start_line {first}")
    return first, last
