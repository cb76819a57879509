"""Where each key path sits in the TOML source, because tomllib and pydantic both forget.

tomllib returns plain dicts and pydantic reports a ``loc`` tuple; neither knows a line number.
This scanner walks the text once and records the offset of every key it meets: table headers,
arrays of tables (with their index), ``key = value`` lines with dotted and quoted keys, keys in
inline tables and the items of (multi-line) arrays. It is not a TOML parser: it runs only on
text tomllib has accepted, and on anything else it must merely terminate without raising.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

from nexus_engine.config.errors import KeyPath, PathPart

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_SCALAR = re.compile(r"[^,\]}#\n\r]+")
_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)", re.DOTALL)
#: No config key is this deep; positions below it fall back to the nearest recorded prefix.
_MAX_DEPTH = 64
#: Returned instead of a key path when the scanner should give up on a value.
_STOP: tuple[()] = ()
_SIMPLE_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


class SourceIndex:
    """Key path → (line, column), both 1-based, columns counted in characters."""

    def __init__(self, text: str) -> None:
        self._line_starts = [0, *(match.end() for match in re.finditer("\n", text))]
        self._offsets: dict[KeyPath, int] = {}
        _Scanner(text, self._offsets).run()

    def line_col(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._line_starts, offset) - 1
        return line + 1, offset - self._line_starts[line] + 1

    def find(self, path: Sequence[PathPart]) -> tuple[int, int] | None:
        """The position of ``path`` or of its longest recorded prefix (the enclosing table)."""
        for end in range(len(path), 0, -1):
            offset = self._offsets.get(tuple(path[:end]))
            if offset is not None:
                return self.line_col(offset)
        return None

    def __contains__(self, path: object) -> bool:
        return path in self._offsets


def unescape(raw: str) -> str:
    """Decode a basic string's escapes so quoted keys match what tomllib produced."""

    def one(match: re.Match[str]) -> str:
        code = match[1]
        if code[0] in "uU":
            value = int(code[1:], 16)
            return chr(value) if value <= 0x10FFFF else match[0]
        return _SIMPLE_ESCAPES.get(code, match[0])

    return _ESCAPE.sub(one, raw)


@dataclass
class _Frame:
    """A table or array the scanner is inside: where it is and how many items it has seen."""

    path: KeyPath
    array: bool
    count: int = 0


class _Scanner:
    def __init__(self, text: str, offsets: dict[KeyPath, int]) -> None:
        self.text = text
        self.end = len(text)
        self.pos = 0
        self.offsets = offsets
        self.table: KeyPath = ()
        #: Resolved path of each array of tables → index of its latest element.
        self.arrays: dict[KeyPath, int] = {}

    def run(self) -> None:
        while self.pos < self.end:
            start = self.pos
            self._statement()
            newline = self.text.find("\n", self.pos)
            self.pos = self.end if newline < 0 else newline + 1
            self.pos = max(self.pos, start + 1)

    # -- statements -------------------------------------------------------------------------

    def _statement(self) -> None:
        self._skip_ws()
        char = self._peek()
        if char == "[":
            self._header()
        elif char not in ("", "#", "\n", "\r"):
            path = self._key_path(self.table)
            if path is not None and self._expect("="):
                self._value(path)

    def _header(self) -> None:
        many = self.text.startswith("[[", self.pos)
        self.pos += 2 if many else 1
        keys = self._key()
        resolved: KeyPath = ()
        for number, (name, offset) in enumerate(keys, start=1):
            resolved = self._child(resolved, name, offset)
            if number == len(keys) and many:
                index = self.arrays.get(resolved, -1) + 1
                self.arrays[resolved] = index
                resolved = self._child(resolved, index, offset)
            elif resolved in self.arrays:
                # A table under an array of tables belongs to its latest element.
                resolved = self._child(resolved, self.arrays[resolved], offset)
        if keys:
            self.table = resolved

    def _key_path(self, base: KeyPath) -> KeyPath | None:
        keys = self._key()
        if not keys:
            return None
        path = base
        for name, offset in keys:
            path = self._child(path, name, offset)
        return path

    def _key(self) -> list[tuple[str, int]]:
        parts: list[tuple[str, int]] = []
        while True:
            self._skip_ws()
            start = self.pos
            char = self._peek()
            if char == '"':
                name = self._basic_string()
            elif char == "'":
                name = self._literal_string()
            else:
                match = _BARE.match(self.text, self.pos)
                name = None if match is None else match[0]
                self.pos = self.pos if match is None else match.end()
            if name is None:
                return []
            parts.append((name, start))
            self._skip_ws()
            if self._peek() != ".":
                return parts
            self.pos += 1

    # -- values -----------------------------------------------------------------------------

    def _value(self, path: KeyPath) -> None:
        """One value, iteratively: a 10 000-deep array must not exhaust the Python stack.

        ``current`` is the path of the value to scan next, None once a value is complete, and
        ``()`` (STOP) when the text stops making sense.
        """
        frames: list[_Frame] = []
        current: KeyPath | None = path
        while self.pos < self.end and current != _STOP:
            if current is not None:
                current = self._one_value(frames, current)
            elif frames:
                current = self._after_value(frames)
            else:
                return

    def _one_value(self, frames: list[_Frame], path: KeyPath) -> KeyPath | None:
        self._skip_ws(newlines=bool(frames) and frames[-1].array)
        char = self._peek()
        if char not in ("[", "{"):
            return None if self._skip_scalar_or_string() else _STOP
        self.pos += 1
        frames.append(_Frame(path, array=char == "["))
        first = self._first_item(frames[-1])
        if first is None:
            frames.pop()
        return first

    def _after_value(self, frames: list[_Frame]) -> KeyPath | None:
        frame = frames[-1]
        self._skip_ws(newlines=frame.array)
        char = self._peek()
        if char == ",":
            self.pos += 1
            following = self._next_item(frame)
            if following is None:
                frames.pop()
            return following
        if char == ("]" if frame.array else "}"):
            self.pos += 1
            frames.pop()
            return None
        return _STOP

    def _first_item(self, frame: _Frame) -> KeyPath | None:
        """Path of the first item; None if the container is empty (and closed), STOP on junk."""
        self._skip_ws(newlines=frame.array)
        if self._peek() == ("]" if frame.array else "}"):
            self.pos += 1
            return None
        if frame.array:
            return self._child(frame.path, 0, self.pos)
        return self._inline_key(frame)

    def _next_item(self, frame: _Frame) -> KeyPath | None:
        if not frame.array:
            return self._inline_key(frame)
        self._skip_ws(newlines=True)
        if self._peek() == "]":  # a trailing comma
            self.pos += 1
            return None
        frame.count += 1
        return self._child(frame.path, frame.count, self.pos)

    def _inline_key(self, frame: _Frame) -> KeyPath:
        path = self._key_path(frame.path)
        if path is None or not self._expect("="):
            return _STOP
        return path

    def _skip_scalar_or_string(self) -> bool:
        for quotes in ('"""', "'''"):
            if self.text.startswith(quotes, self.pos):
                return self._skip_multiline(quotes)
        char = self._peek()
        if char == '"':
            return self._basic_string() is not None
        if char == "'":
            return self._literal_string() is not None
        match = _SCALAR.match(self.text, self.pos)
        if match is None:
            return False
        self.pos = match.end()
        return True

    # -- strings ----------------------------------------------------------------------------

    def _basic_string(self) -> str | None:
        """A single-line basic string's decoded value, or None if it is not closed on its line."""
        index = self.pos + 1
        while index < self.end:
            char = self.text[index]
            if char == "\\":
                index += 2
                continue
            if char in "\n\r":
                break
            if char == '"':
                raw = self.text[self.pos + 1 : index]
                self.pos = index + 1
                return unescape(raw)
            index += 1
        self.pos = min(index, self.end)
        return None

    def _literal_string(self) -> str | None:
        close = self.text.find("'", self.pos + 1)
        newline = self.text.find("\n", self.pos + 1)
        if close < 0 or 0 <= newline < close:
            self.pos = self.end if newline < 0 else newline
            return None
        value = self.text[self.pos + 1 : close]
        self.pos = close + 1
        return value

    def _skip_multiline(self, quotes: str) -> bool:
        """Skip a multi-line string; False if it never closes."""
        search = self.pos + 3
        while True:
            close = self.text.find(quotes, search)
            if close < 0:
                self.pos = self.end
                return False
            if quotes == '"""' and _escaped(self.text, close):
                search = close + 1
                continue
            close += 3
            # Up to two quotes just before the delimiter belong to the content: """a""""".
            extra = 0
            while extra < 2 and close < self.end and self.text[close] == quotes[0]:
                close += 1
                extra += 1
            self.pos = close
            return True

    # -- small helpers ----------------------------------------------------------------------

    def _child(self, base: KeyPath, part: PathPart, offset: int) -> KeyPath:
        """``base + (part,)``, recorded; past a sane depth, ``base`` itself, so that deeply
        nested junk costs linear time instead of copying ever longer paths."""
        if len(base) >= _MAX_DEPTH:
            return base
        path = (*base, part)
        self._record(path, offset)
        return path

    def _record(self, path: KeyPath, offset: int) -> None:
        self.offsets.setdefault(path, offset)

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < self.end else ""

    def _expect(self, char: str) -> bool:
        self._skip_ws()
        if self._peek() != char:
            return False
        self.pos += 1
        return True

    def _skip_ws(self, *, newlines: bool = False) -> None:
        while self.pos < self.end:
            char = self.text[self.pos]
            if char in " \t" or (newlines and char in "\r\n"):
                self.pos += 1
            elif newlines and char == "#":
                newline = self.text.find("\n", self.pos)
                self.pos = self.end if newline < 0 else newline
            else:
                return


def _escaped(text: str, index: int) -> bool:
    """Whether the character at ``index`` is preceded by an odd run of backslashes."""
    count = 0
    while index - count - 1 >= 0 and text[index - count - 1] == "\\":
        count += 1
    return count % 2 == 1
