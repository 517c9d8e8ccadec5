"""Seeded malformed replies for bench_json: a list of records as models really send it.

:func:`reply` writes prose and a ```json fence, then records in mixed dialects (JSON,
Python reprs, JavaScript objects with comments and trailing commas, CREATE-style file
records whose code holds raw newlines, raw tabs and sometimes unescaped inner quotes),
with some commas between records missing, and cuts the text off inside the last record.
:func:`recovered` counts the complete records a parser got back, exactly.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from typing import Any

_PROSE = (
    "Sure! Here are the records and the files you asked for. I kept the existing layout\n"
    "and only changed what the task needed:\n\n```json\n[\n"
)
_WORDS = ("alpha", "beta", "gamma", "it's", "done", "x = 1", "path/to/file.py", "50%")
# some hold double quotes: a careless writer leaves them unescaped in the JSON string
_CODE_LINES = (
    "def handler(event):",
    "\tif not event:",
    "\t\treturn None",
    '    print("processing", event)',
    "    total = sum(item.price for item in event.items)",
    '    log.info("done")',
    "    return {'total': total}",
    "class Config:",
    "    retries = 3",
    '    name = "service"',
)


def reply(size: int, seed: int = 0) -> tuple[str, list[dict[str, Any]]]:
    """About ``size`` characters of reply, and the complete records it holds, in order.

    The last record in the text is cut off inside its code string; it is not in the
    returned list.
    """
    rng = random.Random(seed)
    parts = [_PROSE]
    length = len(_PROSE)
    expected: list[dict[str, Any]] = []
    while length < size:
        record = _record(rng, len(expected))
        text = _render(rng, record)
        text += "\n" if rng.random() < 0.15 else ",\n"  # a missing comma now and then
        parts.append(text)
        length += len(text)
        expected.append(record)
    last = _create_record(rng, len(expected), lines=12)
    text = _raw_strings(json.dumps(last, indent=2))
    cut = text.index('"code": "') + len('"code": "') + len(str(last["code"])) // 2
    parts.append(text[:cut])
    return "".join(parts), expected


def recovered(result: Any, expected: list[dict[str, Any]]) -> int:
    """How many of ``expected`` are in ``result``, equal in JSON terms, each counted once.

    Equality is on canonical JSON (``sort_keys``), so ``True`` is not ``1``, ``1.0`` is not
    ``1`` and ``"None"`` is not ``None``, which Python's ``==`` would let pass. ``result``
    should be the list of records; anything else recovers none.
    """
    if not isinstance(result, list):
        return 0
    found = Counter(_canonical(item) for item in result)
    wanted = Counter(_canonical(record) for record in expected)
    return sum((found & wanted).values())


def _canonical(value: Any) -> str:
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return repr(value)  # not JSON at all: equal to no expected record


def _record(rng: random.Random, n: int) -> dict[str, Any]:
    if rng.random() < 0.3:
        return _create_record(rng, n, lines=rng.randint(3, 10))
    return {
        "id": n,
        "name": f"record {n}",
        "score": round(rng.uniform(0, 100), 3),
        "active": rng.random() < 0.5,
        "owner": None if rng.random() < 0.2 else rng.choice(_WORDS),
        "tags": rng.sample(_WORDS, 3),
        "matrix": [[rng.randint(0, 9) for _ in range(3)] for _ in range(2)],
        "note": " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 12))),
    }


def _create_record(rng: random.Random, n: int, *, lines: int) -> dict[str, Any]:
    code = "\n".join(rng.choice(_CODE_LINES) for _ in range(lines)) + "\n"
    return {"file_name": f"src/module_{n}.py", "code": code}


def _render(rng: random.Random, record: dict[str, Any]) -> str:
    if "code" in record:
        text = _raw_strings(json.dumps(record, indent=2))
        if rng.random() < 0.3:  # the careless writer: inner quotes left unescaped
            text = text.replace('\\"', '"')
        return text
    dialect = rng.randrange(4)
    if dialect == 0:
        return repr(record)  # Python: single quotes, True/False/None
    if dialect == 1:
        return _javascript(record)
    if dialect == 2:
        return json.dumps(record)
    return json.dumps(record, indent=2)


def _javascript(record: dict[str, Any]) -> str:
    """Unquoted keys, ``//`` and ``#`` comments, a trailing comma."""
    members = [f"  {key}: {json.dumps(value)}," for key, value in record.items()]
    members[1] += "  # shown to the user"
    return "{ // record " + str(record.get("id")) + "\n" + "\n".join(members) + "\n}"


def _raw_strings(text: str) -> str:
    """The escapes ``\\n`` and ``\\t`` written as the raw characters, as models do in code."""
    return text.replace("\\n", "\n").replace("\\t", "\t")
