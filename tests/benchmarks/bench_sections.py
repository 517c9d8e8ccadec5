"""parse_sections on 1 MB replies, against baselines measured in the same run.

Baselines: ``re.split`` on the original's header regex (``^=+\\s*[A-Z_0-9]+$``, which
finds headers but checks nothing) and ``str.splitlines()`` of the same text (the floor
for anything that looks at every line). The target: a 1 MB reply with 1,000 sections in
under 20 ms.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

if __name__ == "__main__":  # run as a script: the runner's sys.path trick, by hand
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import _timing

from retort.parsers import SectionError, parse_sections

TARGET_MS = 20.0
SIZE = 1_000_000
_ORIGINAL_HEADER = re.compile(r"^=+\s*[A-Z_0-9]+$", re.MULTILINE)


def _reply(sections: int, line: str, *, fenced: bool = False) -> tuple[str, list[str]]:
    """About SIZE characters of ``sections`` sections whose bodies repeat ``line``."""
    names = [f"SECTION_{n}" for n in range(sections)]
    per_section = SIZE // sections
    body = (line + "\n") * max(1, per_section // (len(line) + 1))
    if fenced:  # a code block holding a header-shaped line in every section
        body = f"```python\n=======NOT_A_HEADER\n{body}```\n"
    return "".join(f"======={name}\n{body}" for name in names), names


def _hostile() -> str:
    """Nothing but fence and header lines: the most work per character for the scan."""
    return "```\n=======A\n" * (SIZE // 12)


def _parse(text: str, names: list[str]) -> Callable[[], object]:
    def run() -> object:
        try:
            return parse_sections(text, names)
        except SectionError as error:
            return error

    return run


def main() -> None:
    cases = [
        (
            "1,000 sections, 60-char lines",
            *_reply(1_000, "x = compute(value) + 1  # a line of code, about 60 chars"),
        ),
        ("3 sections, 5-char lines", *_reply(3, "ab cd")),
        ("100 sections with fences, CRLF", *_reply(100, "print('=====')\r", fenced=True)),
        ("hostile: only fence/header lines", _hostile(), ["A", "B"]),
    ]
    rows = []
    for title, text, names in cases:
        parse = _timing.best_of(_parse(text, names), repeat=7)
        split = _timing.best_of(lambda text=text: _ORIGINAL_HEADER.split(text), repeat=7)
        lines = _timing.best_of(text.splitlines, repeat=7)
        rows.append(
            (
                title,
                f"{len(text) / 1e6:.2f} MB",
                f"{parse * 1e3:.2f}",
                f"{split * 1e3:.2f}",
                f"{parse / split:.2f}x",
                f"{lines * 1e3:.2f}",
                f"{parse / lines:.2f}x",
            )
        )
    _timing.table(
        "parse_sections (best of 7, ms)",
        ("case", "size", "parse", "re.split", "ratio", "splitlines", "ratio"),
        rows,
    )
    target = float(rows[0][2])
    print(
        f"\n1 MB / 1,000 sections: {target:.2f} ms against a {TARGET_MS:.0f} ms target: "
        f"{_timing.verdict(target < TARGET_MS)}"
    )


if __name__ == "__main__":
    main()
