"""The containers of the lenient JSON parser: frames, json's decoder on spans, reopening.

``Frames`` holds the stack of containers being built and everything that works on whole
containers: handing a well-formed one (or the valid items of a faulty one) to json's C
decoder, closing with the right or the wrong closer, and reopening a container that was
closed too early. ``_json_scan`` reads the tokens between them.
"""

from __future__ import annotations

import json
import re
from typing import Any

from retort.parsers._json_lex import SPACE_CHARS, FixSink, match_end
from retort.parsers._json_values import (
    STRICT_START,
    ScanError,
    deeper_than,
    loose_decoder,
    may_be_deeper,
    strict_decoder,
)

__all__ = [
    "ARR_AFTER",
    "ARR_FIRST",
    "ARR_NEXT",
    "OBJ_AFTER",
    "OBJ_COLON",
    "OBJ_FIRST",
    "OBJ_NEXT",
    "OBJ_VALUE",
    "TOP_AFTER",
    "TOP_FIRST",
    "Frames",
]

# Parser states. OBJ_FIRST/ARR_FIRST: just opened; *_NEXT: after a comma; *_AFTER: after
# a member, waiting for a comma or the closer.
OBJ_FIRST, OBJ_NEXT, OBJ_COLON, OBJ_VALUE, OBJ_AFTER = 0, 1, 2, 3, 4
ARR_FIRST, ARR_NEXT, ARR_AFTER = 5, 6, 7
TOP_FIRST, TOP_AFTER = 8, 9

_WS = re.compile(f"[{SPACE_CHARS}]*")
_CLOSER_OF = {"{": "}", "[": "]", "(": ")"}
# The first window json's decoder reads a container in (grown 4x while too small).
_WINDOW = 4096


class _Frame:
    __slots__ = ("bare_key", "closer", "container", "key", "key_pos", "state")

    def __init__(self, container: Any, state: int, key: str, closer: str) -> None:
        self.container = container
        self.state = state
        self.key = key
        self.key_pos = 0  # where the key starts: a set's first item is read again from there
        self.bare_key = False
        self.closer = closer


class Frames:
    """The stack of open containers of one parse, and what works on whole containers."""

    def __init__(self, text: str, fixes: FixSink, max_depth: int, allow_nan: bool) -> None:
        self.text = text
        self.decoder = strict_decoder(allow_nan)
        self.loose_decoder = loose_decoder(allow_nan)
        # json's decoder is tried on each container that starts like JSON. A success
        # consumes what it read; a failure wastes the text read up to the error, plus a
        # count of the line breaks before it (JSONDecodeError computes its line). Failures
        # are paid from this budget, so the total stays linear in the length of the text.
        self.strict_budget = 32 * len(text) + 65536
        self.start = 0
        self.fixes = fixes
        self.max_depth = max_depth
        self.allow_nan = allow_nan
        self.stack: list[_Frame] = []
        self.frame = _Frame([], TOP_FIRST, "", "")
        self.open_closers = {"}": 0, "]": 0, ")": 0}
        self.comma = 0  # offset of the last comma, for trailing-comma reports

    def _emit(self, value: Any) -> None:
        frame = self.frame
        state = frame.state
        if state == OBJ_VALUE:
            frame.container[frame.key] = value
            frame.state = OBJ_AFTER
        elif state == TOP_FIRST:
            frame.container.append(value)
            frame.state = TOP_AFTER
        else:
            frame.container.append(value)
            frame.state = ARR_AFTER

    def _too_deep(self, pos: int) -> ScanError:
        message = f"Expected nesting of at most max_depth={self.max_depth} levels, found deeper"
        return ScanError(message, pos, "limits")

    def open_object(self, pos: int) -> int:
        """Open an object at ``pos`` without consuming anything (its ``{`` is missing)."""
        if self.max_depth < 1:
            raise self._too_deep(pos)
        self.stack.append(self.frame)
        self.open_closers["}"] += 1
        self.frame = _Frame({}, OBJ_FIRST, "", "}")
        return pos

    def _open(self, pos: int, char: str) -> int:
        if len(self.stack) >= self.max_depth:
            raise self._too_deep(pos)
        if self.strict_budget > 0 and STRICT_START.match(self.text, pos):
            frame = self.frame
            if frame.state == ARR_NEXT and frame.closer == "]":
                # in a list, after a fault: the items that follow may all be valid
                end = self._strict_container(pos, resume=True)
                if end > 0:
                    return end
            end = self._strict_container(pos)
            if end > 0:
                return end
        closer = _CLOSER_OF[char]
        if char == "(":
            self.fixes.add("tuple", pos, "read a tuple as a list")
        self.stack.append(self.frame)
        self.open_closers[closer] += 1
        if char == "{":
            self.frame = _Frame({}, OBJ_FIRST, "", closer)
        else:
            self.frame = _Frame([], ARR_FIRST, "", closer)
        return pos + 1

    def _strict_container(self, pos: int, *, resume: bool = False) -> int:
        """Read a well-formed container at C speed; 0 when it is not well-formed.

        The decoder reads a window of the text, grown while the container runs past it:
        a failure then costs the window, not a count of the lines since the start of
        the text (which JSONDecodeError makes). Strings holding raw control characters
        (code with line breaks and tabs) are read by the non-strict decoder, and noted.
        With ``resume``, the rest of the current list is read from ``pos``, where an item
        starts, as if it were a list of its own.
        """
        text = self.text
        width = _WINDOW
        decoder = self.decoder
        control = -1  # where the first raw control character in a string is
        lead = "[" if resume else ""
        start = pos - len(lead)  # where chunk[0] stands in the text
        while True:
            chunk = lead + text[pos : pos + width]
            cut = pos + width < len(text)
            try:
                value, end = decoder.raw_decode(chunk)
            except json.JSONDecodeError as exc:
                if cut and (exc.pos >= len(chunk) - 16 or exc.msg.startswith("Unterminated")):
                    width *= 4
                    continue
                if control < 0 and exc.msg.startswith("Invalid control"):
                    control = exc.pos
                    decoder = self.loose_decoder
                    continue
                self.strict_budget -= exc.pos + 1
                return self._valid_prefix(start, chunk, exc.pos, decoder, resume)
            except (ValueError, RecursionError):  # NaN refused, or nesting too deep for json
                self.strict_budget = 0
                return 0
            break
        if control >= 0:
            kind = "raw_newline" if chunk[control] in "\r\n" else "control_char"
            self.fixes.add(kind, start + control, "escaped raw control characters in strings")
        end += start
        room = self.max_depth - len(self.stack)
        if may_be_deeper(chunk, 0, end - start, room) and deeper_than(value, room):
            raise self._too_deep(pos)
        if resume:  # the list's own closer ended the decoded items
            self.frame.container.extend(value)
            self._pop()
            return end
        self._emit(value)
        return end

    def _valid_prefix(
        self, pos: int, chunk: str, error: int, decoder: json.JSONDecoder, resume: bool
    ) -> int:
        """Decode the items before the fault of a container that failed at ``error``.

        ``[{...}, {...}, {"a": 1`` - everything up to the last comma before the fault is
        valid: close it there, decode it at C speed, and leave the container open after
        those items for the parser. Returns where the parser goes on, or 0.
        """
        closer = "]" if chunk[0] == "[" else "}"
        # Cut right at the fault ({...}\n{ - a comma missing after a whole item), else
        # at the last comma before it, else at the one before (in the faulty item).
        comma = len(chunk[:error].rstrip(" \t\r\n,"))
        if chunk[error - 1] not in " \t\r\n" or chunk[comma - 1] not in "}]":
            comma = chunk.rfind(",", 0, error)  # the fault may be inside a token (0x1F)
        for _ in range(3):
            if comma <= 1 or self.strict_budget <= 0:
                return 0
            try:
                value = decoder.decode(chunk[:comma] + closer)
            except (ValueError, RecursionError):
                self.strict_budget -= comma
                comma = chunk.rfind(",", 0, comma)
                continue
            room = self.max_depth - len(self.stack)
            if may_be_deeper(chunk, 0, comma, room) and deeper_than(value, room):
                raise self._too_deep(pos)
            if resume:  # more items of the open list, which stays open after them
                if not value:
                    return 0
                self.frame.container.extend(value)
                self.frame.state = ARR_AFTER
                return pos + comma
            self.stack.append(self.frame)
            self.open_closers[closer] += 1
            self.frame = _Frame(value, ARR_AFTER if closer == "]" else OBJ_AFTER, "", closer)
            return pos + comma
        return 0

    def _pop(self) -> None:
        frame = self.frame
        self.open_closers[frame.closer] -= 1
        self.frame = self.stack.pop()
        self._emit(frame.container)

    def _close(self, pos: int, char: str) -> int:
        """Close the current container with ``char``, even a closer of the other kind.

        ``{"a": [1, 2}, "b": 3}``: a closer of the wrong kind is a slip for the right one
        far more often than the end of an outer container with the inner one left open.
        A ``)`` closes only a tuple; with none open it is dropped.
        """
        frame = self.frame
        if char == frame.closer:
            self._pop()
            return pos + 1
        if not self.stack or (char == ")") != (frame.closer == ")") or self._doubled_closer(pos):
            self.fixes.add("extra_closer", pos, f"removed an unmatched {char!r}")
            return pos + 1
        self._drop_dangling_key()
        self.fixes.add("mismatched_closer", pos, f"read {char!r} as {frame.closer!r}")
        self._pop()
        return pos + 1

    def _doubled_closer(self, pos: int) -> bool:
        """``[1]]}``: a closer no open container takes, right before the right one."""
        if self.open_closers.get(self.text[pos], 0):
            return False
        nxt = match_end(_WS, self.text, pos + 1)
        return nxt < len(self.text) and self.text[nxt] == self.frame.closer

    def _drop_dangling_key(self) -> None:
        frame = self.frame
        if frame.state == OBJ_COLON:
            frame.state = OBJ_AFTER
        elif frame.state == OBJ_VALUE:
            frame.container[frame.key] = ""
            frame.state = OBJ_AFTER

    # ----------------------------------------------------------------- objects

    def _reopen_last_list(self, pos: int) -> bool:
        """Reopen the list that the object's last member holds, if it does."""
        frame = self.frame
        if not frame.container or frame.closer != "}":
            return False
        key = next(reversed(frame.container))
        last = frame.container[key]
        if last.__class__ is not list:
            return False
        self.fixes.add("early_closer", pos, "reopened a list closed too early")
        frame.key = key
        frame.state = OBJ_VALUE  # closing the list assigns it to the same key again
        self.stack.append(frame)
        self.open_closers["]"] += 1
        self.frame = _Frame(last, ARR_NEXT, "", "]")
        return True

    def _members_in_list(self, pos: int) -> bool:
        """``["a": 1, "b": 2]``: a list written with an object's members.

        A colon after the first item makes the list an object; after later items, with
        an object around, it means the list was left open and a member of the object
        follows (``{"a": [1, 2, "b": 3}``).
        """
        frame = self.frame
        items = frame.container
        if not items or items[-1].__class__ is not str:
            return False
        if len(items) == 1 and frame.closer == "]":
            self.fixes.add("array_members", pos, "read a list of 'key: value' members as an object")
            frame.container = {}
            frame.key = items[0]
            frame.state = OBJ_VALUE
            return True
        parent = self.stack[-1] if self.stack else None
        if parent is None or parent.closer != "}" or parent.state != OBJ_VALUE:
            return False
        key = items.pop()
        self.fixes.add("missing_closer", pos, f"closed the list before the key {key[:20]!r}")
        self._pop()
        self.frame.key = key
        self.frame.state = OBJ_VALUE
        return True

    def _reopen(self, container: Any) -> None:
        """Open ``container`` again, after its last member or item."""
        self.stack.append(self.frame)
        if container.__class__ is dict:
            self.open_closers["}"] += 1
            self.frame = _Frame(container, OBJ_AFTER, "", "}")
        else:
            self.open_closers["]"] += 1
            self.frame = _Frame(container, ARR_AFTER, "", "]")

    def _reopened(self, pos: int) -> int:
        """Continue a reopened container as if a comma had been read."""
        frame = self.frame
        frame.state = OBJ_NEXT if frame.state == OBJ_AFTER else ARR_NEXT
        return pos
