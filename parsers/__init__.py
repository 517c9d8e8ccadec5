"""retort.parsers: pure functions that turn raw model replies into values.

No I/O, no asyncio, no globals. Every parser is total over ``str``: it returns a value
or raises :class:`~retort.core.errors.ParseError` (a ``ValueError``) whose message says
what was expected, what was found and where. Every parser taking text checks its
``max_bytes`` (10 MB of UTF-8 by default) before any other work.

Importing this package loads neither pydantic nor asyncio: :func:`coerce` imports
pydantic on its first call, :func:`extract_tool_calls` the message models it returns.
"""

from retort.core.errors import (
    JSONParseError,
    ParseError,
    SectionError,
    ToolCallError,
    TypeParseError,
)
from retort.core.ids import stable_tool_call_id
from retort.parsers._fences import FencedBlock, find_fences, strip_fences
from retort.parsers._json import GUESS_KINDS, SAFE_KINDS, STAGES, Fix, Repaired, loads, repair
from retort.parsers._sections import (
    Sections,
    normalize_section_name,
    parse_sections,
    render_sections,
)
from retort.parsers._tools import extract_tool_calls
from retort.parsers._typed import coerce, type_name

__all__ = [
    "GUESS_KINDS",
    "SAFE_KINDS",
    "STAGES",
    "FencedBlock",
    "Fix",
    "JSONParseError",
    "ParseError",
    "Repaired",
    "SectionError",
    "Sections",
    "ToolCallError",
    "TypeParseError",
    "coerce",
    "extract_tool_calls",
    "find_fences",
    "loads",
    "normalize_section_name",
    "parse_sections",
    "render_sections",
    "repair",
    "stable_tool_call_id",
    "strip_fences",
    "type_name",
]
