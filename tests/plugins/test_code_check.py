"""The code check: file names, code, syntax, empty bodies, the validator and the hook."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retort.core import ConfigurationError, Expect, SolveFailed, make_plugin_manager, solve
from retort.plugins.code_check import (
    MAX_CODE_BYTES,
    MAX_LISTED_PROBLEMS,
    FileSpec,
    check_code,
    check_files,
    code_check,
    code_check_in,
    normalize_file_name,
    python_syntax_error,
)
from retort.plugins.testing import ScriptedAgent


def one(file_name: str, code: str = "x = 1\n") -> str | None:
    return check_files([{"file_name": file_name, "code": code}])


# ---------------------------------------------------------------- good input


def test_valid_files_pass_as_models_and_mappings() -> None:
    files: list[Any] = [
        FileSpec(file_name="app/main.py", code="def main():\n    return 1\n"),
        {"file_name": "README.md", "code": "# app\n"},
        {"file_name": "app/__init__.py", "code": "from app.main import main\n"},
    ]
    assert check_files(files) is None


def test_a_function_that_does_something_passes() -> None:
    code = 'def f():\n    """Doc."""\n    return 1\n\nasync def g():\n    await f()\n'
    assert check_code(code, "a.py") == []


@pytest.mark.parametrize(
    "code",
    [
        "from abc import ABC, abstractmethod\nclass B(ABC):\n    @abstractmethod\n"
        "    def f(self):\n        pass\n",
        "import abc\nclass B(abc.ABC):\n    @abc.abstractmethod\n    def f(self): ...\n",
        "from typing import overload\n@overload\ndef f(x: int) -> int: ...\n"
        "@overload\ndef f(x: str) -> str: ...\ndef f(x):\n    return x\n",
        "import typing\nclass P(typing.Protocol):\n    def f(self) -> int: ...\n",
        "from typing import Protocol, TypeVar\nT = TypeVar('T')\nclass P(Protocol[T]):\n"
        '    def f(self) -> T:\n        """Doc."""\n',
        "def f():\n    raise NotImplementedError\n",
    ],
    ids=["abstractmethod", "abc.abstractmethod", "overload", "protocol", "protocol-generic", "nie"],
)
def test_exempt_bodies_pass(code: str) -> None:
    assert check_code(code, "a.py") == []


def test_stub_files_are_exempt_from_the_empty_body_rule_but_must_parse() -> None:
    assert check_code("def f(x: int) -> int: ...\n", "a.pyi") == []
    assert "syntax error" in check_code("def f(:\n", "a.pyi")[0]


def test_non_python_files_get_only_the_name_and_content_checks() -> None:
    assert check_files([{"file_name": "requirements.txt", "code": "pytest>=8 (\n"}]) is None
    assert "empty" in str(check_files([{"file_name": "notes.md", "code": "  \n"}]))


# ---------------------------------------------------------------- empty bodies


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("pass", "only `pass`"),
        ("...", "only `...`"),
        ('"""Doc."""', "only a docstring"),
        ('"""Doc."""\n    pass', "only a docstring and `pass`"),
        ("pass\n    pass", "only `pass`"),
        ("...\n    pass", "only `...` and `pass`"),
    ],
)
def test_empty_bodies_are_named_precisely(body: str, kind: str) -> None:
    message = one("a.py", f"x = 1\n\ndef f():\n    {body}\n")
    assert message == f"a.py: function `f` (line 3) has an empty body ({kind}); implement it"


def test_methods_async_and_nested_functions_are_found_in_source_order() -> None:
    code = (
        "class C:\n"
        "    def m(self):\n        pass\n"
        "    async def a(self):\n        ...\n"
        "    class Inner:\n        def deep(self):\n            pass\n"
        "def outer():\n"
        "    def inner():\n        pass\n"
        "    class Local:\n        def method(self):\n            pass\n"
        "    return inner\n"
    )
    problems = check_code(code, "a.py")
    assert problems == [
        "a.py: method `C.m` (line 2) has an empty body (only `pass`); implement it",
        "a.py: method `C.a` (line 4) has an empty body (only `...`); implement it",
        "a.py: method `C.Inner.deep` (line 7) has an empty body (only `pass`); implement it",
        "a.py: function `outer.<locals>.inner` (line 10) has an empty body (only `pass`); "
        "implement it",
        "a.py: method `outer.<locals>.Local.method` (line 13) has an empty body (only `pass`); "
        "implement it",
    ]


def test_a_protocol_exempts_only_its_own_methods() -> None:
    code = (
        "from typing import Protocol\n"
        "class P(Protocol):\n    def f(self): ...\n"
        "class Q:\n    def g(self): ...\n"
    )
    assert check_code(code, "a.py") == [
        "a.py: method `Q.g` (line 5) has an empty body (only `...`); implement it"
    ]


def test_deeply_nested_functions_do_not_recurse() -> None:
    # 90 nested defs is inside the parser's limit; the checker's walk must not recurse.
    code = "".join(f"{'    ' * depth}def f{depth}():\n" for depth in range(90))
    code += "    " * 90 + "pass\n"
    problems = check_code(code, "a.py")
    assert len(problems) == 1
    assert "`f0.<locals>.f1" in problems[0]
    assert "f89` (line 90)" in problems[0]


# ---------------------------------------------------------------- syntax and hostile code


def test_syntax_errors_name_line_column_message_and_text() -> None:
    message = one("pkg/a.py", "x = 1\ny = (2,\n")
    assert message is not None
    assert message.startswith("pkg/a.py: syntax error at line 2, column 5: ")
    assert "'(' was never closed" in message
    assert "(in `y = (2,`)" in message


def test_indentation_errors_say_so() -> None:
    message = one("a.py", "def f():\nreturn 1\n")
    assert message is not None
    assert "a.py: indentation error at line 2" in message


@pytest.mark.parametrize(
    "code",
    [
        "x = " + "(" * 5000 + "1" + ")" * 5000,
        "x = " + "+".join(["1"] * 100_000),
        "x = " + "-" * 100_000 + "1",
        "x = 1\x00\n",
        "x = '\udcff'\n",
    ],
    ids=["parens", "long-chain", "unary", "nul", "surrogate"],
)
def test_hostile_code_is_reported_never_raised(code: str) -> None:
    problems = check_code(code, "a.py")
    assert len(problems) == 1
    assert problems[0].startswith("a.py: ")
    assert python_syntax_error(code) is not None


def test_oversized_code_is_refused_unparsed() -> None:
    code = "x = 1\n" * (MAX_CODE_BYTES // 6 + 1)
    (problem,) = check_code(code, "big.py")
    assert f"over the {MAX_CODE_BYTES}-byte limit" in problem


@given(st.text(max_size=300))
def test_any_text_gives_messages_not_exceptions(code: str) -> None:
    problems = check_code(code, "a.py")
    assert all(problem.startswith("a.py: ") for problem in problems)


# ---------------------------------------------------------------- file names


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "item 0: the file name is empty"),
        ("   ", "item 0: the file name is empty"),
        (" a.py", "leading or trailing whitespace"),
        ("/etc/passwd", "absolute path"),
        ("~/x.py", "starts with `~`"),
        ("C:/x.py", "drive letter"),
        ("c:x.py", "drive letter"),
        ("a.py:stream", "`:`"),
        ("..\\x.py", "backslash"),
        ("a\\b.py", "backslash"),
        ("../x.py", "`..`"),
        ("a/../../x.py", "`..`"),
        ("a/..", "`..`"),
        ("pkg/", "names a directory"),
        (".", "output directory itself"),
        ("./", "names a directory"),
        ("a\nb.py", "control character"),
        ("a\x00.py", "control character"),
        ("x" * 256 + ".py", "longer than 255 bytes"),
    ],
)
def test_bad_file_names_are_refused(name: str, fragment: str) -> None:
    message = one(name)
    assert message is not None
    assert fragment in message


def test_names_are_normalised_before_comparison() -> None:
    assert normalize_file_name("./a//b/./c.py") == ("a/b/c.py", None)
    message = check_files(
        [{"file_name": "a.py", "code": "x = 1"}, {"file_name": "./a.py", "code": "y = 2"}]
    )
    assert message == "./a.py: the file name is used twice; give each file its own name"


def test_names_differing_only_in_case_collide() -> None:
    message = check_files(
        [{"file_name": "App.py", "code": "x = 1"}, {"file_name": "app.py", "code": "x = 1"}]
    )
    assert message is not None
    assert "app.py: the file name differs from App.py only in case" in message


def test_a_name_cannot_be_both_a_file_and_a_directory() -> None:
    message = check_files(
        [{"file_name": "pkg", "code": "x = 1"}, {"file_name": "pkg/a.py", "code": "x = 1"}]
    )
    assert message == (
        "pkg/a.py: pkg is a file, so it cannot also be a directory; rename one of them"
    )


# ---------------------------------------------------------------- shapes and messages


@pytest.mark.parametrize(
    ("files", "fragment"),
    [
        ([], "the list of files is empty"),
        ("a.py", "expected a list of files"),
        ({"file_name": "a.py", "code": "x"}, "expected a list of files"),
        (None, "expected a list of files"),
        ([3], 'item 0: expected an object with "file_name" and "code", got int'),
        ([{"file_name": "a.py"}], 'item 0: "code" missing'),
        ([{}], 'item 0: "file_name" and "code" missing'),
        ([{"file_name": 3, "code": "x = 1"}], "item 0: file_name must be a string, got int"),
        ([{"file_name": "a.py", "code": None}], "a.py: code must be a string, got NoneType"),
        ([{"file_name": "a.py", "code": " \n\t"}], "a.py: the code is empty"),
    ],
)
def test_malformed_lists_and_items_are_described(files: Any, fragment: str) -> None:
    message = check_files(files)
    assert message is not None
    assert fragment in message


def test_a_file_without_a_usable_name_still_gets_its_code_checked() -> None:
    message = check_files([{"file_name": "", "code": "def f(:"}])
    assert message is not None
    assert "item 0: the file name is empty" in message
    assert "item 0: syntax error" in message


def test_every_problem_is_listed_with_its_file() -> None:
    message = check_files(
        [
            {"file_name": "a.py", "code": "def f():\n    pass\n"},
            {"file_name": "../b.py", "code": "x = ("},
            {"file_name": "c.py", "code": ""},
        ]
    )
    assert message is not None
    lines = message.splitlines()
    assert lines[0] == "4 problems in the files:"
    assert sorted(lines[1:]) == sorted(
        [
            "- ../b.py: the file name contains `..`; keep every file inside the output directory",
            "- a.py: function `f` (line 1) has an empty body (only `pass`); implement it",
            "- ../b.py: syntax error at line 1, column 5: '(' was never closed (in `x = (`)",
            "- c.py: the code is empty; write the file's full contents",
        ]
    )


def test_long_problem_lists_are_capped() -> None:
    code = "".join(f"def f{index}():\n    pass\n" for index in range(MAX_LISTED_PROBLEMS + 7))
    message = one("a.py", code)
    assert message is not None
    lines = message.splitlines()
    assert lines[0] == f"{MAX_LISTED_PROBLEMS + 7} problems in the files:"
    assert len(lines) == 1 + MAX_LISTED_PROBLEMS + 1
    assert lines[-1] == "- ... and 7 more problems"


# ---------------------------------------------------------------- out_dir


def test_out_dir_accepts_new_and_existing_files_inside(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "old.py").write_text("x = 1\n")
    files = [{"file_name": "pkg/old.py", "code": "x = 2"}, {"file_name": "new/a.py", "code": "y"}]
    assert check_files(files, out_dir=tmp_path) is None
    assert check_files(files, out_dir=str(tmp_path)) is None


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")
def test_out_dir_refuses_symlinks_that_lead_outside(tmp_path: Path) -> None:
    out, outside = tmp_path / "out", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    os.symlink(outside, out / "escape")
    os.symlink(outside / "target.py", out / "file.py")
    message = check_files(
        [{"file_name": "escape/a.py", "code": "x = 1"}, {"file_name": "file.py", "code": "x = 1"}],
        out_dir=out,
    )
    assert message is not None
    assert "escape/a.py: the path leaves the output directory through a symbolic link" in message
    assert "file.py: the path leaves the output directory through a symbolic link" in message
    # Without out_dir the names are lexically fine.
    assert check_files([{"file_name": "escape/a.py", "code": "x = 1"}]) is None


def test_out_dir_refuses_a_name_that_is_an_existing_directory(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    message = check_files([{"file_name": "pkg", "code": "x = 1"}], out_dir=tmp_path)
    assert message == "pkg: an existing directory has this name; name a file"


# ---------------------------------------------------------------- validator and hook


def test_code_check_as_a_validator_gives_feedback_and_retries() -> None:
    empty = '[{"file_name": "a.py", "code": "def f():\\n    pass\\n"}]'
    good = '[{"file_name": "a.py", "code": "def f():\\n    return 1\\n"}]'
    agent = ScriptedAgent([empty, good])
    spec = Expect.json(list[FileSpec], validators=[code_check])
    solved = asyncio.run(solve(agent, "Write a.py", spec))
    assert solved.value == [FileSpec(file_name="a.py", code="def f():\n    return 1\n")]
    assert "a.py: function `f` (line 1) has an empty body (only `pass`)" in agent.history[1]


def test_code_check_in_keeps_files_inside_the_directory(tmp_path: Path) -> None:
    validator = code_check_in(tmp_path)
    assert validator.__name__ == "code_check"
    assert validator([FileSpec(file_name="a.py", code="x = 1")]) is None
    (tmp_path / "d").mkdir()
    assert "existing directory" in str(validator([{"file_name": "d", "code": "x = 1"}]))


def _plugins() -> Any:
    return make_plugin_manager(
        defaults=("retort.plugins.feedback", "retort.plugins.code_check"), autoload=False
    )


def test_the_hook_checks_specs_tagged_code() -> None:
    agent = ScriptedAgent(['[{"file_name": "a.py", "code": "x = ("}]'] * 2)
    spec = Expect.json(list[FileSpec], tags={"code"}, attempts=2)
    with pytest.raises(SolveFailed) as failed:
        asyncio.run(solve(agent, "Write a.py", spec, plugins=_plugins()))
    failure = failed.value.attempts[0].failure
    assert failure is not None
    assert failure.detail == "plugin"
    assert failure.message.startswith("a.py: syntax error at line 1")


def test_the_hook_ignores_untagged_specs() -> None:
    agent = ScriptedAgent(['[{"file_name": "a.py", "code": "x = ("}]'])
    spec = Expect.json(list[FileSpec])
    solved = asyncio.run(solve(agent, "Write a.py", spec, plugins=_plugins()))
    assert solved.value[0].code == "x = ("


@pytest.mark.parametrize(
    ("reply", "spec", "fragment"),
    [
        ("def f():\n    pass", Expect.text(tags={"code"}), "the code: function `f`"),
        ('{"file_name": "a.py", "code": ""}', Expect.json(FileSpec, tags={"code"}), "a.py: the"),
        ('[{"file_name": "/x.py", "code": "x"}]', Expect.json(list, tags={"code"}), "/x.py: "),
    ],
    ids=["code-text", "one-file", "list-of-dicts"],
)
def test_the_hook_checks_code_text_one_file_or_a_list(
    reply: str, spec: Expect, fragment: str
) -> None:
    agent = ScriptedAgent([reply])
    with pytest.raises(SolveFailed) as failed:
        asyncio.run(solve(agent, "Code?", spec.but(attempts=1), plugins=_plugins()))
    failure = failed.value.attempts[0].failure
    assert failure is not None
    assert failure.message.startswith(fragment)


def test_the_hook_refuses_a_tagged_spec_whose_value_is_not_code() -> None:
    agent = ScriptedAgent(["42"])
    spec = Expect.json(int, tags={"code"})
    with pytest.raises(ConfigurationError, match='the "code" tag checks a list of files'):
        asyncio.run(solve(agent, "Number?", spec, plugins=_plugins()))
