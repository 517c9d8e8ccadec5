"""The docs are tested: every ```python block in README.md and docs/ runs.

Blocks of one page run in order in one namespace, so a later block may use names an
earlier one defined. A block tagged ```python norun is shown but not run (for snippets
that need a real endpoint); any other language tag is never run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from retort.parsers import find_fences

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("**/*.md")])


def _python_blocks(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    return [
        block.body
        for block in find_fences(text)
        if block.lang == "python" and "norun" not in block.info.split()
    ]


def test_there_are_docs_with_examples() -> None:
    assert (ROOT / "docs" / "index.md").exists()
    assert sum(len(_python_blocks(page)) for page in PAGES) >= 3


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_page_examples_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    for number, source in enumerate(_python_blocks(page), start=1):
        code = compile(source, f"{page.name}[block {number}]", "exec")
        exec(code, namespace)
