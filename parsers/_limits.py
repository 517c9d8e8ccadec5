"""The input size limit every parser entry point checks before any other work.

One rule, one function: :func:`check_size` decides whether a text is over ``max_bytes``
UTF-8 bytes and words the error; each parser passes the error type that fits it.
"""

from __future__ import annotations

from collections.abc import Callable

from retort.core.errors import ParseError

__all__ = ["DEFAULT_MAX_BYTES", "check_size"]

DEFAULT_MAX_BYTES = 10_000_000
"""The default ``max_bytes`` of every parser: 10 MB of UTF-8, far beyond any real reply."""

# Non-ASCII text is measured by encoding slices of this many characters (at most 4 MB of
# UTF-8 each), so the check needs bounded memory and stops as soon as the limit is passed.
_CHUNK = 1 << 20


def check_size(
    text: str | bytes | bytearray,
    max_bytes: int,
    error: Callable[[str], ParseError],
    *,
    what: str = "text",
) -> None:
    """Raise ``error(message)`` when ``text`` is longer than ``max_bytes`` UTF-8 bytes.

    A character takes 1 to 4 bytes, so a text of at most ``max_bytes / 4`` characters
    passes and one of more than ``max_bytes`` characters fails without encoding; only the
    range between is measured (ASCII text without encoding, other text slice by slice).
    ``bytes`` compare their length. Lone surrogates count as the 3 bytes
    ``"surrogatepass"`` gives them.

    Args:
        text: the input of a parser.
        max_bytes: the largest size accepted, in bytes.
        error: builds the exception to raise from the message, e.g.
            ``lambda message: JSONParseError(message, stage="limits")``.
        what: what the text is, for the message ("JSON", "reply"...).

    Raises:
        ParseError: whatever ``error`` returns; the message gives ``max_bytes``, the size
            found and what to do.
    """
    if not isinstance(text, str):
        if len(text) > max_bytes:
            raise error(_message(what, max_bytes, f"{len(text)} bytes"))
        return
    if len(text) * 4 <= max_bytes:
        return
    if len(text) > max_bytes:
        raise error(_message(what, max_bytes, f"{len(text)} bytes or more"))
    if text.isascii():
        return  # one byte a character, and len(text) <= max_bytes
    size = 0
    for start in range(0, len(text), _CHUNK):
        size += len(text[start : start + _CHUNK].encode("utf-8", "surrogatepass"))
        if size > max_bytes:
            more = " or more" if start + _CHUNK < len(text) else ""
            raise error(_message(what, max_bytes, f"{size} bytes{more}"))


def _message(what: str, max_bytes: int, found: str) -> str:
    return (
        f"Expected at most max_bytes={max_bytes} bytes of {what} (UTF-8), found {found}; "
        "shorten the input or pass a larger max_bytes"
    )
