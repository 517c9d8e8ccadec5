"""Hypothesis strategies for replies as models send them (needs the ``testing`` extra).

Each reply strategy yields ``(text, expected)``: the text a model might send and the
value retort must parse it to, so property tests of your own code can use both.

- :func:`section_replies`: ``=======NAME`` replies (noisy but valid: CRLF, lower-case or
  spaced names, any run of ``=``, padding, a wrapper fence, a preamble) with their values;
  :func:`section_name`, :func:`section_names`, :func:`section_contents` are the parts.
- :func:`malformed_json`: JSON damaged the way models damage it (fences, prose, single
  quotes, comments, trailing commas, Python literals, cut-off closers...) with the value;
  :func:`json_documents` for valid documents with odd formatting, :func:`json_values`
  for plain JSON values.
"""

from __future__ import annotations

try:
    import hypothesis  # noqa: F401 - only to fail early with a useful message
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "retort.plugins.testing.strategies needs hypothesis: pip install 'retort[testing]'"
    ) from exc

from retort.plugins.testing._strategies_json import json_documents, json_values, malformed_json
from retort.plugins.testing._strategies_sections import (
    section_contents,
    section_name,
    section_names,
    section_replies,
)

__all__ = [
    "json_documents",
    "json_values",
    "malformed_json",
    "section_contents",
    "section_name",
    "section_names",
    "section_replies",
]
