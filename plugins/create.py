"""The CREATE flow: from a problem statement to files on disk, by vote.

```python
from retort.plugins.create import create

result = await create(agent, "Implement slugify(text) in slugify.py.", out_dir="out")
result.value        # the chosen files: list[FileSpec]
result.votes.counts # votes per distinct solution
result.paths        # the files written, all inside out_dir
```

The flow of the original program, with its defects fixed:

1. The prompt is the problem statement, then every skeleton file, then what to write
   (:func:`create_prompt`).
2. The reply must be a JSON list of ``{"file_name", "code"}`` objects that passes the
   code check (every item has code, the code parses, no function body is empty) and
   names only files inside the output directory (:func:`files_expect`); 3 attempts.
3. ``samples`` solutions (default 5) are generated on fresh agents under one shared
   limit (default 3).
4. The vote is over a canonical form of each *validated* solution (:func:`files_key`:
   files sorted by name, code with line ends, trailing spaces and blank lines
   normalised); failed samples do not vote.
5. The winner's files are written atomically, only inside ``out_dir``
   (:func:`write_files`).
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy

from retort.core.consensus import Votes, consensus, normalize_code
from retort.core.errors import ConfigurationError, RetortError
from retort.core.expect import Expect
from retort.core.ports import Agent
from retort.core.run import Run
from retort.plugins.code_check import FileSpec, code_check_in, normalize_file_name

__all__ = [
    "CREATE_INSTRUCTIONS",
    "CreateResult",
    "UnsafePathError",
    "create",
    "create_prompt",
    "files_expect",
    "files_key",
    "safe_path",
    "write_files",
]

CREATE_INSTRUCTIONS = (
    "Respond with only a JSON list, no prose and no code fence: one object per file, "
    'in the form [{"file_name": "relative/path.py", "code": "the complete file"}]. '
    "A file_name is a relative path inside the project (no absolute paths, no ..); "
    "code is the whole content of that file, with every function fully implemented."
)
"""The format instructions of the CREATE reply (appended to the task, and repeated in
every feedback message)."""


class UnsafePathError(RetortError, ValueError):
    """A file name that cannot be written inside the output directory: absolute,
    escaping with ``..`` or a symlink, empty, or naming a directory."""


@dataclass(frozen=True)
class CreateResult:
    """The outcome of :func:`create`.

    Attributes:
        value: the chosen solution's files.
        votes: the vote: counts per distinct solution, every sample, the run's metrics.
        paths: the files written (absolute, inside ``out_dir``); empty with ``write=False``.
        out_dir: the output directory (absolute).
    """

    value: list[FileSpec]
    votes: Votes
    paths: tuple[Path, ...]
    out_dir: Path


def create_prompt(problem: str, skeleton: Mapping[str, str] | None = None) -> str:
    """The CREATE task: the problem statement, the skeleton files, what to produce.

    Raises:
        ConfigurationError: ``problem`` is empty, or a skeleton entry is not text.
    """
    if not isinstance(problem, str) or not problem.strip():
        raise ConfigurationError(f"the problem statement must be non-empty text, got {problem!r}")
    parts = [
        "Write a complete, working solution to the problem below.",
        f"Problem statement:\n{problem.strip()}",
    ]
    if skeleton:
        files = []
        for name, code in skeleton.items():
            if not isinstance(name, str) or not isinstance(code, str):
                raise ConfigurationError(
                    f"skeleton entries map file names to file text, got {name!r}: {type(code)}"
                )
            files.append(f"--- {name}\n{code.rstrip()}\n--- end of {name}")
        parts.append(
            "Skeleton files (complete them; keep their file names and their public "
            "functions and classes):\n\n" + "\n\n".join(files)
        )
    parts.append(
        "Give every file the solution needs, each in full. Implement every function: "
        "no empty bodies, no `pass` or `...` placeholders, no TODOs."
    )
    return "\n\n".join(parts)


def safe_path(out_dir: str | Path, file_name: str) -> Path:
    """Where ``file_name`` goes inside ``out_dir``: an absolute path, symlinks resolved.

    The name must pass :func:`retort.plugins.code_check.normalize_file_name` (relative,
    ``/``-separated, no ``..``, no drive, no control characters), and the resolved path
    must stay inside ``out_dir`` and not be a directory.

    Raises:
        UnsafePathError: the name fails those rules; the message says why.
    """
    if not isinstance(file_name, str):
        raise UnsafePathError(f"file_name must be a string, got {type(file_name).__name__}")
    name, problem = normalize_file_name(file_name)
    if name is None:
        raise UnsafePathError(f"refusing to write {file_name!r}: {problem}")
    root = Path(out_dir).resolve()
    target = root.joinpath(*name.split("/")).resolve()
    if not target.is_relative_to(root) or target == root:
        raise UnsafePathError(
            f"refusing to write {file_name!r}: it resolves to {target}, outside the output "
            f"directory {root} (through a symbolic link); choose another name"
        )
    if target.is_dir():
        raise UnsafePathError(
            f"refusing to write {file_name!r}: an existing directory has this name"
        )
    return target


def files_expect(out_dir: str | Path, *, attempts: int = 3) -> Expect:
    """The CREATE reply spec: a JSON list of :class:`FileSpec` that passes the code check
    and keeps every file inside ``out_dir``
    (:func:`retort.plugins.code_check.code_check_in`), tagged ``"code"`` so plugin
    validators can check it too. The feedback repeats :data:`CREATE_INSTRUCTIONS`."""
    return Expect.json(
        list[FileSpec],
        validators=[code_check_in(out_dir)],
        tags={"code"},
        attempts=attempts,
        instructions=CREATE_INSTRUCTIONS,
    )


def files_key(files: Sequence[FileSpec]) -> Hashable:
    """The vote key of a solution: its files sorted by name, code normalised
    (:func:`~retort.core.consensus.normalize_code`), so formatting alone never splits
    a vote."""
    normal = sorted(
        (normalize_file_name(spec.file_name)[0] or spec.file_name, normalize_code(spec.code))
        for spec in files
    )
    return json.dumps(normal, ensure_ascii=False, separators=(",", ":"))


def write_files(
    files: Sequence[FileSpec | Mapping[str, Any]], out_dir: str | Path
) -> tuple[Path, ...]:
    """Write files inside ``out_dir``, each atomically (a temporary file, then a rename).

    Every name is checked before anything is written, so a refused name leaves the
    directory untouched. ``out_dir`` and subdirectories are created; existing files
    inside it are replaced.

    Returns:
        The paths written, in the order given.

    Raises:
        UnsafePathError: a name is unsafe (see :func:`safe_path`) or given twice.
        OSError: the disk refused a write.
    """
    specs = [
        spec if isinstance(spec, FileSpec) else FileSpec.model_validate(spec) for spec in files
    ]
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    targets: list[Path] = []
    for spec in specs:
        target = safe_path(root, spec.file_name)
        if target in targets:
            raise UnsafePathError(f"file_name {spec.file_name!r} is given twice")
        targets.append(target)
    for spec, target in zip(specs, targets, strict=True):
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(target, spec.code)
    return tuple(targets)


def _write_atomic(target: Path, text: str) -> None:
    # A reader (or a crash) sees the old file or the new one, never half of one.
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


async def create(
    agent: Agent,
    problem: str,
    *,
    skeleton: Mapping[str, str] | None = None,
    out_dir: str | Path,
    samples: int = 5,
    limit: int | None = 3,
    attempts: int = 3,
    quorum: int | None = None,
    run: Run | None = None,
    plugins: pluggy.PluginManager | None = None,
    write: bool = True,
) -> CreateResult:
    """Run the CREATE flow: ``samples`` solutions on fresh agents, a vote, files written.

    Args:
        agent: the agent to fork for every sample (it is not used itself).
        problem: the problem statement.
        skeleton: existing files to complete, by relative name.
        out_dir: the only directory files are written into (created when missing).
        samples: how many solutions to generate (default 5).
        limit: the most concurrent model calls (default 3); ignored when ``run`` is given.
        attempts: the attempt budget of each sample (default 3).
        quorum: stop as soon as one solution has this many votes.
        run: a run to share (its limiter, plugins, metrics and attempts).
        plugins: without ``run``, the plugin manager of the new run (the process
            default when ``None``).
        write: write the chosen files; ``False`` only chooses them.

    Returns:
        :class:`CreateResult`: the chosen files, the vote, the paths written.

    Raises:
        SolveFailed: every sample failed; carries all their attempts.
        TransportError: the transport failed after its own retries.
        ConfigurationError: an empty problem, or a bad ``samples``/``quorum``/``attempts``.
        UnsafePathError, OSError: writing the files failed.
    """
    task = create_prompt(problem, skeleton)
    if attempts < 1:
        raise ConfigurationError(f"attempts must be 1 or more, got {attempts}")
    root = await asyncio.to_thread(Path(out_dir).resolve)
    votes = await consensus(
        agent,
        task,
        files_expect(root, attempts=attempts),
        samples=samples,
        limit=limit,
        key=files_key,
        quorum=quorum,
        run=run,
        plugins=plugins,
    )
    files: list[FileSpec] = list(votes.value)
    paths = await asyncio.to_thread(write_files, files, root) if write else ()
    return CreateResult(files, votes, paths, root)
