"""retort.parsers.loads against json.loads and json_repair, measured in the same run.

- valid 100 KB document: ``loads`` within 1.1x of ``json.loads`` (the fast path);
- the same records with a dozen typical malformations: at most 0.25x the time of
  ``json_repair.loads``, every record recovered;
- adversarial 1 MB inputs: each under 2 s, and time(1 MB) / time(64 KB) at most 20
  (linear growth). json_repair is timed on 8 KB versions only: it is quadratic on some
  (about two minutes on the 64 KB ``'[' + '"a' * n``).
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script: the runner's sys.path trick, by hand
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import _timing
import json_repair

from retort.parsers import JSONParseError, loads

VALID_RATIO = 1.1
REPAIR_RATIO = 0.25
ADVERSARIAL_SECONDS = 2.0
GROWTH_RATIO = 20.0
SMALL, LARGE, BASELINE_SIZE = 64 * 1024, 1024 * 1024, 8 * 1024


def records(count: int = 300, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` records with strings, numbers, booleans, nulls and nested lists."""
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "it is", "done", "x = 1", "path/to/file.py"]
    return [
        {
            "id": n,
            "name": f"record {n}",
            "score": round(rng.uniform(0, 100), 3),
            "active": n % 3 == 0,
            "owner": None if n % 5 == 0 else rng.choice(words),
            "tags": rng.sample(words, 3),
            "matrix": [[rng.randint(0, 9) for _ in range(3)] for _ in range(2)],
            "note": " ".join(rng.choice(words) for _ in range(12)),
        }
        for n in range(count)
    ]


def _python_record(record: dict[str, Any]) -> str:
    return repr(record)  # single quotes, True/False/None


def _js_record(record: dict[str, Any]) -> str:
    """Unquoted keys, a comment and a trailing comma."""
    members = [f"{key}: {json.dumps(value)}" for key, value in record.items()]
    return "{ // record\n  " + ",\n  ".join(members) + ",\n}"


def malformed_document(items: list[dict[str, Any]]) -> str:
    """The records as a model might send them: fenced, with prose, in mixed dialects.

    Fence and prose around the value; Python reprs (single quotes, True/None); unquoted
    keys, ``//`` and ``#`` comments, trailing commas; missing commas between records;
    and the text cut off before the closing bracket and fence.
    """
    parts = []
    for n, record in enumerate(items):
        style = n % 4
        if style == 0:
            parts.append(_python_record(record))
        elif style == 1:
            parts.append(_js_record(record))
        elif style == 2:
            parts.append(json.dumps(record) + "  # checked")
        else:
            parts.append(json.dumps(record, indent=2))
    body = ""
    for n, part in enumerate(parts):
        separator = "\n" if n % 7 == 3 else ",\n"  # some commas missing
        body += part + (separator if n < len(parts) - 1 else ",\n")
    return "Sure! Here are the records you asked for:\n\n```json\n[\n" + body


def adversarial(size: int) -> dict[str, str]:
    """Inputs that make naive repairers quadratic or recursive, about ``size`` chars each."""
    return {
        "'[' + '\"a' * n": "[" + '"a' * (size // 2),
        "'{\"k\": \"' + 'a}, ' * n": '{"k": "' + "a}, " * (size // 4),
        "unclosed string + comma fragments": '{"a": "open' + ', "b' * (size // 4),
        "'{\"a' * n": '{"a' * (size // 3),
        "':' * n": ":" * size,
        "'{\"a\"' + ':' * n": '{"a"' + ":" * size,
        "'[' * n": "[" * size,
        "'{\"a\":' * n": '{"a":' * (size // 5),
    }


def _paired(
    ours: Callable[[], Any], base: Callable[[], Any], *, rounds: int, number: int = 1
) -> tuple[float, float]:
    """Best times of both, measured in alternation so that load on the machine hits both."""
    best_ours = best_base = float("inf")
    for _ in range(rounds):
        best_ours = min(best_ours, _timing.best_of(ours, repeat=1, number=number))
        best_base = min(best_base, _timing.best_of(base, repeat=1, number=number))
    return best_ours, best_base


def _quiet(fn: Callable[[str], Any], text: str) -> Callable[[], Any]:
    def run() -> Any:
        try:
            return fn(text)
        except (JSONParseError, RecursionError, ValueError):
            return None

    return run


def main() -> None:
    rows: list[list[Any]] = []
    items = records()
    valid = json.dumps(items, indent=2)
    ours, base = _paired(lambda: loads(valid), lambda: json.loads(valid), rounds=30, number=5)
    ratio = ours / base
    rows.append(_row(f"valid {len(valid) // 1024} KB", ours, base, ratio, VALID_RATIO))

    broken = malformed_document(items)
    assert loads(broken) == items, "loads lost records of the malformed document"
    ours, base = _paired(lambda: loads(broken), lambda: json_repair.loads(broken), rounds=5)
    rows.append(_row(f"malformed {len(broken) // 1024} KB", ours, base, ours / base, REPAIR_RATIO))

    small, large, tiny = adversarial(SMALL), adversarial(LARGE), adversarial(BASELINE_SIZE)
    for name, text in large.items():
        t_large = _timing.best_of(_quiet(loads, text), repeat=10)
        t_small = _timing.best_of(_quiet(loads, small[name]), repeat=20)
        base = _timing.best_of(_quiet(json_repair.loads, tiny[name]), repeat=1)
        growth = t_large / t_small
        ok = t_large < ADVERSARIAL_SECONDS and growth <= GROWTH_RATIO
        rows.append(
            [
                f"1 MB {name}",
                f"{t_large * 1e3:.1f} ms (64 KB: {t_small * 1e3:.2f} ms)",
                f"{base * 1e3:.1f} ms at 8 KB",
                f"growth {growth:.1f}",
                f"< {ADVERSARIAL_SECONDS:.0f} s, growth <= {GROWTH_RATIO:.0f}",
                _timing.verdict(ok),
            ]
        )
    _timing.table(
        "retort.parsers.loads vs json.loads / json_repair.loads",
        ["case", "retort", "baseline", "ratio", "target", "verdict"],
        rows,
    )


def _row(case: str, ours: float, base: float, ratio: float, target: float) -> list[Any]:
    return [
        case,
        f"{ours * 1e3:.2f} ms",
        f"{base * 1e3:.2f} ms",
        f"{ratio:.2f}x",
        f"<= {target}x",
        _timing.verdict(ratio <= target),
    ]


if __name__ == "__main__":
    main()
