"""Workspace file tools: reading, saving, listing, searching, and staying inside the root."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retort.core import ConfigurationError, ToolCall
from retort.plugins.workspace import Workspace, WorkspaceError

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="symlinks and FIFOs are POSIX")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """``root/`` with a small project, and ``outside/`` next to it holding a secret."""
    root = tmp_path / "root"
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "app.py").write_text("import os\n\ndef main():\n    return os.sep\n")
    (root / "src" / "pkg" / "util.py").write_text("def helper():\n    return 'main'\n")
    (root / "README.md").write_text("# demo\nrun main\n")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.py").write_text("main = 1\n")
    (root / "src" / "__pycache__").mkdir()
    (root / "src" / "__pycache__" / "app.cpython.pyc").write_bytes(b"\0main")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("TOKEN = 'main-secret'\n")
    return root


@pytest.fixture
def ws(tree: Path) -> Workspace:
    return Workspace(tree)


def refused(call: object, *args: object, **kwargs: object) -> str:
    assert callable(call)
    with pytest.raises(WorkspaceError) as caught:
        call(*args, **kwargs)
    return str(caught.value)


# ---------------------------------------------------------------- construction


def test_the_root_must_be_an_existing_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not an existing directory"):
        Workspace(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigurationError, match="not an existing directory"):
        Workspace(tmp_path / "file")


@pytest.mark.parametrize("cap", ["max_read_bytes", "max_results", "max_scan"])
def test_caps_must_be_positive(tmp_path: Path, cap: str) -> None:
    with pytest.raises(ConfigurationError, match=cap):
        Workspace(tmp_path, **{cap: 0})  # type: ignore[arg-type]


def test_workspace_error_is_a_value_error() -> None:
    assert issubclass(WorkspaceError, ValueError)


# ---------------------------------------------------------------- read_file


def test_read_file_numbers_every_line(ws: Workspace) -> None:
    assert ws.read_file("src/app.py") == (
        "src/app.py (lines 1-4 of 4)\n1 | import os\n2 | \n3 | def main():\n4 |     return os.sep"
    )


def test_read_file_line_ranges_and_crlf(ws: Workspace, tree: Path) -> None:
    (tree / "w.txt").write_bytes(b"".join(b"line %d\r\n" % n for n in range(1, 13)))
    assert ws.read_file("w.txt", start_line=9, end_line=10) == (
        "w.txt (lines 9-10 of 12)\n 9 | line 9\n10 | line 10"
    )
    assert ws.read_file("./w.txt", start_line=12).endswith("12 | line 12")
    assert ws.read_file("w.txt", end_line=99).startswith("w.txt (lines 1-12 of 12)")


@pytest.mark.parametrize(
    ("start", "end", "fragment"),
    [
        (0, None, "line numbers start at 1"),
        (None, 0, "line numbers start at 1"),
        (5, None, "start_line 5 is past the end: src/app.py has 4 lines"),
        (3, 2, "end_line 2 is before start_line 3"),
    ],
)
def test_read_file_bad_ranges_are_explained(
    ws: Workspace, start: int | None, end: int | None, fragment: str
) -> None:
    assert fragment in refused(ws.read_file, "src/app.py", start, end)


def test_read_file_search_shows_matching_lines_with_numbers(ws: Workspace) -> None:
    assert ws.read_file("src/app.py", search="os") == (
        "src/app.py: 2 lines containing 'os'\n1 | import os\n4 |     return os.sep"
    )
    assert ws.read_file("src/app.py", start_line=2, search="os") == (
        "src/app.py: 1 line containing 'os'\n4 |     return os.sep"
    )
    assert ws.read_file("src/app.py", search="nothing") == (
        "no line of src/app.py (lines 1-4) contains 'nothing'"
    )
    assert "search must be non-empty" in refused(ws.read_file, "src/app.py", search="")


def test_read_file_special_files(ws: Workspace, tree: Path) -> None:
    (tree / "empty.py").write_text("")
    assert ws.read_file("empty.py") == "empty.py is empty (0 lines)"
    (tree / "blob.bin").write_bytes(b"\x89PNG\0\0data")
    assert ws.read_file("blob.bin") == "blob.bin is a binary file (10 bytes); it is not shown"
    (tree / "latin.txt").write_bytes(b"caf\xe9\n")
    assert ws.read_file("latin.txt").endswith("1 | caf\ufffd")


def test_read_file_missing_and_directories(ws: Workspace) -> None:
    assert "no file 'nope.py' in the workspace; call list_files" in refused(ws.read_file, "nope.py")
    assert "'src' is a directory; call list_files('src')" in refused(ws.read_file, "src")
    assert "is a directory" in refused(ws.read_file, ".")


@posix_only
def test_fifos_are_refused_or_skipped_instead_of_blocking(ws: Workspace, tree: Path) -> None:
    os.mkfifo(tree / "pipe.py")
    assert "not a regular file" in refused(ws.read_file, "pipe.py")
    assert ws.search_files("main", glob="pipe.py").startswith("no match for 'main'")


def test_read_output_is_capped_with_a_way_to_continue(tree: Path) -> None:
    (tree / "long.txt").write_text("".join(f"{'x' * 90}\n" for _ in range(100)))
    ws = Workspace(tree, max_read_bytes=1_000)
    text = ws.read_file("long.txt")
    lines = text.splitlines()
    assert len(text) < 1_200
    assert lines[-1] == (
        "[output truncated at 1000 characters: 90 lines not shown; continue with start_line=11]"
    )


def test_files_over_the_file_cap_are_read_in_part(tree: Path) -> None:
    (tree / "big.txt").write_text("a\n" * 100)
    ws = Workspace(tree, max_file_bytes=10)
    text = ws.read_file("big.txt")
    assert text.splitlines()[0] == "big.txt (lines 1-5 of 5) [only the first 10 bytes were read]"


# ---------------------------------------------------------------- save_file


def test_save_file_creates_parents_and_reports(ws: Workspace, tree: Path) -> None:
    assert ws.save_file("new/deep/mod.py", "x = 1\ny = 2\n") == (
        "created new/deep/mod.py (2 lines, 12 bytes)"
    )
    assert (tree / "new" / "deep" / "mod.py").read_text() == "x = 1\ny = 2\n"
    assert ws.save_file("new/deep/mod.py", "x = 3\n") == "updated new/deep/mod.py (1 line, 6 bytes)"


def test_save_file_writes_the_text_exactly(ws: Workspace, tree: Path) -> None:
    ws.save_file("crlf.txt", "a\r\nb\r\n\u00e9")
    assert (tree / "crlf.txt").read_bytes() == "a\r\nb\r\n\u00e9".encode()


def test_save_file_refuses_invalid_python_and_keeps_the_old_file(ws: Workspace, tree: Path) -> None:
    before = (tree / "src" / "app.py").read_text()
    message = refused(ws.save_file, "src/app.py", "def main(:\n    pass\n")
    assert message.startswith(
        "src/app.py was not saved: it is not valid Python: syntax error at line 1, column 10"
    )
    assert message.endswith("Fix the code and save the whole file again")
    assert (tree / "src" / "app.py").read_text() == before
    assert "not valid Python" in refused(ws.save_file, "stub.pyi", "def f(:")
    assert not (tree / "stub.pyi").exists()


def test_save_file_checks_only_python_syntax(ws: Workspace, tree: Path) -> None:
    ws.save_file("notes.txt", "def (:")
    ws.save_file("empty.py", "")
    ws.save_file("stub.py", "def f():\n    pass\n")  # empty bodies are the code check's job
    assert (tree / "notes.txt").read_text() == "def (:"


def test_save_file_refusals(ws: Workspace, tree: Path) -> None:
    assert "is a directory" in refused(ws.save_file, "src", "x")
    assert "is a directory" in refused(ws.save_file, ".", "x")
    assert "content must be text, got int" in refused(ws.save_file, "a.txt", 3)
    assert "cannot be written as UTF-8" in refused(ws.save_file, "a.txt", "\udcff")
    assert "was not saved" in refused(ws.save_file, "README.md/inner.txt", "x")
    small = Workspace(tree, max_write_bytes=4)
    assert "over the 4-byte limit" in refused(small.save_file, "a.txt", "12345")
    assert not (tree / "a.txt").exists()


def test_a_read_only_workspace_offers_no_save(tree: Path) -> None:
    ws = Workspace(tree, read_only=True)
    assert [tool.__name__ for tool in ws.tools()] == ["read_file", "list_files", "search_files"]
    assert "read-only" in refused(ws.save_file, "a.txt", "x")


# ---------------------------------------------------------------- list_files


def test_list_files_is_recursive_sorted_and_skips_hidden_and_caches(ws: Workspace) -> None:
    assert ws.list_files() == (
        "5 entries under '.' matching '*'\nREADME.md\nsrc/\nsrc/app.py\nsrc/pkg/\nsrc/pkg/util.py"
    )


def test_list_files_patterns_match_names_or_paths(ws: Workspace) -> None:
    assert ws.list_files("src", "*.py").splitlines()[1:] == ["src/app.py", "src/pkg/util.py"]
    assert ws.list_files("src", "pkg/*.py").splitlines()[1:] == ["src/pkg/util.py"]
    assert ws.list_files(".", "*.rs") == "nothing under '.' matches '*.rs'"
    assert "pattern must be a non-empty glob" in refused(ws.list_files, ".", "")


def test_list_files_errors(ws: Workspace) -> None:
    assert "no directory 'nope'" in refused(ws.list_files, "nope")
    assert "'README.md' is a file, not a directory; call read_file" in refused(
        ws.list_files, "README.md"
    )


def test_listing_caps_results_and_scanning(tree: Path) -> None:
    for index in range(30):
        (tree / f"f{index:02}.txt").write_text("x")
    capped = Workspace(tree, max_results=3).list_files(".", "*.txt")
    lines = capped.splitlines()
    assert lines[0] == "30 entries under '.' matching '*.txt'"
    assert lines[1:4] == ["f00.txt", "f01.txt", "f02.txt"]
    assert lines[4] == "... and 27 more; narrow the path or the pattern"
    scanned = Workspace(tree, max_scan=5).list_files()
    assert scanned.endswith("[stopped after 5 entries; narrow the path]")


# ---------------------------------------------------------------- search_files


def test_search_files_reports_path_line_and_text(ws: Workspace) -> None:
    assert ws.search_files("main") == (
        "2 matches for 'main'\nsrc/app.py:3: def main():\nsrc/pkg/util.py:2: return 'main'"
    )
    assert ws.search_files("main", glob="*.md") == "1 match for 'main'\nREADME.md:2: run main"
    assert ws.search_files("main", path="src/app.py").splitlines()[1:] == [
        "src/app.py:3: def main():"
    ]
    assert ws.search_files("main", path="src", glob="pkg/*.py").endswith("util.py:2: return 'main'")


def test_search_files_misses_and_errors(ws: Workspace, tree: Path) -> None:
    (tree / "bin.py").write_bytes(b"\0zzz")
    assert ws.search_files("zzz") == "no match for 'zzz' in '.' (files matching '*.py')"
    assert "term must be non-empty" in refused(ws.search_files, "")
    assert "no directory 'nope'" in refused(ws.search_files, "x", "nope")


def test_search_files_caps_matches_and_notes_partial_files(tree: Path) -> None:
    (tree / "many.py").write_text("hit = 1\n" * 50)
    text = Workspace(tree, max_results=2).search_files("hit")
    assert text.splitlines()[0] == "50 matches for 'hit'"
    assert text.splitlines()[-1] == "... and 48 more; narrow the path or the glob"
    partial = Workspace(tree, max_file_bytes=16).search_files("hit", glob="many.py")
    assert partial.endswith("[1 file searched only in the first 16 bytes]")


# ---------------------------------------------------------------- confinement


BAD_PATHS = [
    ("/etc/passwd", "absolute paths are not allowed"),
    ("C:/Windows", "absolute paths are not allowed"),
    ("~/secret.py", "'~' is not expanded"),
    ("../outside/secret.py", "'..' is not allowed"),
    ("src/../../outside/secret.py", "'..' is not allowed"),
    ("..", "'..' is not allowed"),
    ("..\\outside\\secret.py", "backslash"),
    ("src\x00.py", "control character"),
    ("", "the path is empty"),
]


@pytest.mark.parametrize(("path", "fragment"), BAD_PATHS)
def test_every_tool_refuses_malformed_paths(ws: Workspace, path: str, fragment: str) -> None:
    for message in (
        refused(ws.read_file, path),
        refused(ws.save_file, path, "x = 1"),
        refused(ws.list_files, path),
        refused(ws.search_files, "main", path),
    ):
        assert fragment in message
    assert not (ws.root.parent / "outside" / "secret.py").read_text().startswith("x")


@posix_only
def test_a_symlinked_file_pointing_outside_is_refused(ws: Workspace, tree: Path) -> None:
    os.symlink(tree.parent / "outside" / "secret.py", tree / "src" / "leak.py")
    message = refused(ws.read_file, "src/leak.py")
    assert "leads outside the workspace through a symbolic link" in message
    assert str(tree.parent) not in message  # the host's absolute paths stay private
    refused(ws.save_file, "src/leak.py", "TOKEN = 'overwritten'\n")
    assert (tree.parent / "outside" / "secret.py").read_text() == "TOKEN = 'main-secret'\n"
    assert "leak.py" not in ws.list_files()
    assert "secret" not in ws.search_files("main")


@posix_only
def test_a_symlinked_directory_pointing_outside_is_refused(ws: Workspace, tree: Path) -> None:
    os.symlink(tree.parent / "outside", tree / "escape")
    assert "symbolic link" in refused(ws.read_file, "escape/secret.py")
    assert "symbolic link" in refused(ws.save_file, "escape/new.py", "x = 1")
    assert "symbolic link" in refused(ws.list_files, "escape")
    assert "symbolic link" in refused(ws.search_files, "TOKEN", "escape")
    assert not (tree.parent / "outside" / "new.py").exists()
    assert "escape" not in ws.list_files()
    assert ws.search_files("TOKEN") == "no match for 'TOKEN' in '.' (files matching '*.py')"


@posix_only
def test_symlinks_that_stay_inside_work_and_are_not_followed_when_walking(
    ws: Workspace, tree: Path
) -> None:
    os.symlink(tree / "src" / "app.py", tree / "alias.py")
    os.symlink(tree / "src", tree / "src" / "pkg" / "loop")  # a cycle for a naive walker
    assert ws.read_file("alias.py").startswith("src/app.py (lines 1-4 of 4)")
    listing = ws.list_files()
    assert "alias.py" in listing
    assert "src/pkg/loop/" in listing
    assert "src/pkg/loop/app.py" not in listing


@posix_only
def test_symlink_loops_and_broken_links_are_reported(ws: Workspace, tree: Path) -> None:
    os.symlink(tree / "a", tree / "b")
    os.symlink(tree / "b", tree / "a")
    os.symlink(tree / "missing", tree / "dangling.py")
    assert "WorkspaceError" not in ws.list_files()  # listing skips them quietly
    assert "cannot be resolved: a symbolic link loop" in refused(ws.read_file, "a/x.py")
    assert "no file 'dangling.py'" in refused(ws.read_file, "dangling.py")
    assert str(tree) not in refused(ws.read_file, "a")


_SEGMENTS = st.sampled_from(["..", ".", "", "a", "src", "~", "C:", "\\", "/", "b.py", "\x00"])


@given(st.one_of(st.text(max_size=40), st.lists(_SEGMENTS, max_size=8).map("/".join)))
def test_any_path_is_refused_or_stays_inside(path: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        ws = Workspace(folder)
        try:
            target = ws.resolve(path)
        except WorkspaceError:
            return
        assert target.is_relative_to(ws.root)


def test_absolute_root_never_appears_in_messages(ws: Workspace, tree: Path) -> None:
    texts = [
        ws.read_file("src/app.py"),
        ws.list_files(),
        ws.search_files("main"),
        refused(ws.read_file, "nope.py"),
        refused(ws.read_file, "../outside/secret.py"),
    ]
    assert all(str(tree) not in text for text in texts)


# ---------------------------------------------------------------- as tools


def test_registry_builds_schemas_from_hints_and_docstrings(ws: Workspace) -> None:
    registry = ws.registry()
    assert registry.names == ("read_file", "save_file", "list_files", "search_files")
    assert all(tool.blocking for tool in registry)
    schema = registry["read_file"].parameters
    assert schema["required"] == ["path"]
    assert set(schema["properties"]) == {"path", "start_line", "end_line", "search"}
    docs = registry.render_docs()
    assert "- path (str, required): the file, relative to the workspace root" in docs
    assert '- glob (str, optional, default "*.py")' in docs


def test_registry_turns_refusals_into_observations(ws: Workspace, tree: Path) -> None:
    registry = ws.registry()

    async def go() -> list[tuple[bool, str]]:
        calls = [
            ToolCall(id="1", name="read_file", arguments='{"path": "/etc/passwd"}'),
            ToolCall(id="2", name="save_file", arguments='{"path": "a.py", "content": "x = ("}'),
            ToolCall(id="3", name="save_file", arguments='{"path": "a.py", "content": "x = 1"}'),
            ToolCall(id="4", name="read_file", arguments='{"path": "a.py", "start_line": "x"}'),
        ]
        return [((r := await registry.execute(c)).ok, r.content) for c in calls]

    results = asyncio.run(go())
    assert results[0] == (
        False,
        "Error: WorkspaceError: path '/etc/passwd' refused: absolute paths are not allowed; "
        "give a path relative to the workspace root",
    )
    assert results[1][0] is False
    assert results[1][1].startswith("Error: WorkspaceError: a.py was not saved: it is not valid")
    assert results[2] == (True, "created a.py (1 line, 5 bytes)")
    assert results[3][0] is False
    assert "start_line" in results[3][1]
    assert (tree / "a.py").read_text() == "x = 1"
