"""A trace plugin: every attempt of every run as one JSON line in a file.

```python
from retort.core import make_plugin_manager, consensus
from retort.plugins.trace import TraceWriter

with TraceWriter("run.trace.jsonl") as trace:
    pm = make_plugin_manager(plugins=[trace])
    votes = await consensus(agent, task, expect, plugins=pm)
```

Each attempt line is :meth:`Attempt.to_dict() <retort.core.run.Attempt.to_dict>` (prompt,
reply text, failure, feedback sent, repair stage and fixes, usage, duration, sample) plus
``"event": "attempt"``, the run's ``"run"`` id and ``"time"``, the UTC wall-clock time
the attempt finished (ISO 8601). When a run ends, one ``"event": "run_end"`` line carries
its metrics and its error, if any.

Policies:

- Lines are appended (a trace can collect several runs and several processes' output)
  and flushed one by one, so a crash loses nothing already reported and ``tail -f``
  shows attempts as they finish.
- The file is opened on the first line and stays open until :meth:`TraceWriter.close`
  (or the end of a ``with`` block); parent directories are created. Writes are
  serialised by a lock, so one writer can serve runs in several threads.
- Nothing but what the model was sent and answered, and the run's counters, is
  written: no headers, no configuration, so no credentials.
- A line that cannot be written raises ``OSError`` from the hook: a trace that was asked
  for and silently lost would be worse than a loud failure.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from retort.core.hookspecs import hookimpl
from retort.core.run import Attempt, Run

__all__ = ["TraceWriter", "read_trace"]


class TraceWriter:
    """A plugin object writing attempts (and run ends) as JSON lines to ``path``.

    Register it with a plugin manager (``make_plugin_manager(plugins=[writer])`` or
    ``pm.register(writer)``), and close it when done - it is a context manager.

    Args:
        path: the trace file; created (with its directories) on the first line,
            appended to when it exists.

    Attributes:
        path: the trace file.
        lines: how many lines this writer wrote.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.lines = 0
        self._file: IO[str] | None = None
        self._lock = threading.Lock()
        self._closed = False

    @hookimpl
    def retort_attempt(self, attempt: Attempt, run: Run) -> None:
        """Write one attempt."""
        record = {"event": "attempt", "run": run.id, "time": _now(), **attempt.to_dict()}
        self.write(record)

    @hookimpl
    def retort_run_end(self, run: Run, error: BaseException | None) -> None:
        """Write the run's end: its metrics and error."""
        self.write(
            {
                "event": "run_end",
                "run": run.id,
                "time": _now(),
                "attempts": len(run.attempts),
                "metrics": run.metrics.as_dict(),
                "error": None if error is None else f"{type(error).__name__}: {error}",
            }
        )

    def write(self, record: dict[str, Any]) -> None:
        """Append one JSON line and flush it.

        Raises:
            ValueError: the writer was closed.
            OSError: the file cannot be opened or written.
        """
        line = json.dumps(record, ensure_ascii=False, default=repr) + "\n"
        with self._lock:
            if self._closed:
                raise ValueError(f"TraceWriter({str(self.path)!r}) is closed; make a new one")
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = self.path.open("a", encoding="utf-8")
            self._file.write(line)
            self._file.flush()
            self.lines += 1

    def close(self) -> None:
        """Close the file. Safe to call more than once; later lines raise ``ValueError``."""
        with self._lock:
            self._closed = True
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<TraceWriter {str(self.path)!r} {state} lines={self.lines}>"


def read_trace(path: str | Path, event: str | None = "attempt") -> list[dict[str, Any]]:
    """The records of a trace file, in order.

    Args:
        path: the trace file.
        event: keep only records of this event (``"attempt"`` or ``"run_end"``);
            ``None`` keeps every record.

    Raises:
        OSError: the file cannot be read.
        ValueError: a line is not JSON (the message names the line number).
    """
    records: list[dict[str, Any]] = []
    with Path(path).open(encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}:{number}: not a JSON trace line ({exc})") from exc
            if event is None or record.get("event") == event:
                records.append(record)
    return records


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
