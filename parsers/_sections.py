"""SKELETON - replaced by the sections implementation."""
from __future__ import annotations
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field


def normalize_section_name(name: str) -> str:
    raise NotImplementedError


@dataclass(frozen=True)
class Sections:
    names: tuple[str, ...]
    values: tuple[str, ...]
    preamble: str = ""
    partial: bool = False
    extra: tuple[tuple[str, str], ...] = field(default=())

    def __getitem__(self, key: str | int) -> str:
        raise NotImplementedError

    def __iter__(self) -> Iterator[str]:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def as_dict(self) -> dict[str, str]:
        raise NotImplementedError


def parse_sections(
    text: str,
    names: Sequence[str],
    *,
    allow_last_only: bool = False,
    allow_extra: bool = False,
    allow_empty: bool = True,
) -> Sections:
    raise NotImplementedError


def render_sections(
    names: Sequence[str],
    values: Sequence[str] | Mapping[str, str] | None = None,
    *,
    hints: Mapping[str, str] | None = None,
    marker: str = "=======",
) -> str:
    raise NotImplementedError
