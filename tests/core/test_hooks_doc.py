"""docs/hooks.md documents every hookspec, with its exact signature, and nothing else."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from retort.core import hookspecs
from retort.core.plugins import make_plugin_manager
from retort.parsers import find_fences

DOC = Path(__file__).resolve().parents[2] / "docs" / "hooks.md"
SPECS: dict[str, Callable[..., object]] = {
    name: obj
    for name, obj in vars(hookspecs).items()
    if name.startswith("retort_") and inspect.isfunction(obj)
}


def _sections() -> dict[str, str]:
    """Body of every ``## retort_*`` section, by hook name."""
    parts = re.split(r"^## (\S+)[ \t]*$", DOC.read_text(encoding="utf-8"), flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


SECTIONS = {name: body for name, body in _sections().items() if name.startswith("retort_")}


def _section(name: str) -> str:
    assert name in SECTIONS, f"docs/hooks.md has no '## {name}' section"
    return SECTIONS[name]


def _documented_def(name: str) -> ast.FunctionDef:
    """The ``def`` of the hook in the first ``python norun`` block of its section."""
    blocks = [
        block.body
        for block in find_fences(_section(name))
        if block.lang == "python" and "norun" in block.info.split()
    ]
    assert blocks, f"section {name} has no ```python norun signature block"
    tree = ast.parse(blocks[0])
    defs = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert [node.name for node in defs] == [name]
    return defs[0]


def _normal(annotation: object) -> str:
    """An annotation as canonical source text (the specs use string annotations)."""
    assert isinstance(annotation, str), annotation
    return ast.unparse(ast.parse(annotation, mode="eval"))


def _firstresult(name: str) -> bool:
    hook = getattr(make_plugin_manager(defaults=(), autoload=False).hook, name)
    return bool(hook.spec.opts["firstresult"])


def test_the_specs_were_found() -> None:
    assert len(SPECS) >= 10
    assert "retort_validate" in SPECS


def test_every_documented_hook_is_a_real_hookspec() -> None:
    assert sorted(SECTIONS) == sorted(SPECS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_signature_block_matches_the_spec(name: str) -> None:
    documented = _documented_def(name)
    signature = inspect.signature(SPECS[name])
    args = documented.args
    assert (args.posonlyargs, args.kwonlyargs, args.vararg, args.kwarg) == ([], [], None, None)
    assert [arg.arg for arg in args.args] == list(signature.parameters)
    for arg, parameter in zip(args.args, signature.parameters.values(), strict=True):
        assert arg.annotation is not None, f"{name}: {arg.arg} has no annotation"
        assert ast.unparse(arg.annotation) == _normal(parameter.annotation), (name, arg.arg)
    assert documented.returns is not None
    assert ast.unparse(documented.returns) == _normal(signature.return_annotation), name


@pytest.mark.parametrize("name", sorted(SPECS))
def test_firstresult_is_stated_exactly_when_the_spec_has_it(name: str) -> None:
    decorators = [ast.unparse(node) for node in _documented_def(name).decorator_list]
    body = _section(name)
    if _firstresult(name):
        assert decorators == ["hookspec(firstresult=True)"]
        assert "**firstresult**" in body
    else:
        assert decorators == ["hookspec"]
        assert "firstresult" not in body


@pytest.mark.parametrize("name", sorted(SPECS))
def test_may_be_async_is_stated_exactly_when_the_spec_returns_awaitables(name: str) -> None:
    returns = str(inspect.signature(SPECS[name]).return_annotation)
    body = _section(name)
    states_async = "**May be async.**" in body
    assert states_async == ("Awaitable" in returns)
    assert ("Synchronous" in body or "synchronous" in body) != states_async


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_argument_is_described(name: str) -> None:
    for parameter in inspect.signature(SPECS[name]).parameters:
        assert f"- `{parameter}`:" in _section(name), f"{name}: {parameter} is not described"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_hook_has_an_example_that_uses_it(name: str) -> None:
    runnable = "\n".join(
        block.body
        for block in find_fences(DOC.read_text(encoding="utf-8"))
        if block.lang == "python" and "norun" not in block.info.split()
    )
    assert re.search(rf"def {name}\(", runnable), f"no example implements {name}"
