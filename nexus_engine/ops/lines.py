"""``line`` and ``block``: kinds that edit part of a file and leave the rest as it is.

The file is read back by the probe (up to ``probe.CONTENT_LIMIT``), edited here, and written
through the same atomic write as ``file``, keeping its mode and owner: the edit is computed
by one well-tested function instead of ``sed`` dialects on each host, ``--diff`` shows it
exactly, and a reader never sees the file half-edited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nexus_engine.ops.base import Assessment, Facts
from nexus_engine.ops.content import Content
from nexus_engine.ops.files import assess_content, writer, wrong_type
from nexus_engine.ops.probe import CONTENT_LIMIT, Probe, decoded, path_probe
from nexus_engine.ops.write import Attributes

#: Bytes that are not text survive a decode and encode unchanged.
_ERRORS = "surrogateescape"


def edit_line(text: str, line: str, regexp: str | None, *, present: bool) -> str:
    """``text`` with ``line`` present once (replacing the last line matching ``regexp``, or
    appended) or, with ``present`` false, without the lines matching ``regexp`` (or equal to
    ``line``). Unchanged text comes back identical, so "nothing to do" is ``==``."""
    lines = _lines(text)
    pattern = re.compile(regexp) if regexp is not None else None

    def matches(item: str) -> bool:
        body = _body(item)
        return bool(pattern.search(body)) if pattern is not None else _same(item, line)

    if not present:
        return "".join(item for item in lines if not matches(item))
    found = [index for index, item in enumerate(lines) if matches(item)]
    if pattern is not None and found:
        index = found[-1]
        ending = lines[index][len(_body(lines[index])) :] or "\n"
        lines[index] = line + ending
        return "".join(lines)
    if any(_same(item, line) for item in lines):
        return text
    return _append(text, line + "\n")


def edit_block(text: str, block: str, marker: str, *, present: bool) -> str:
    """``text`` with the lines between ``marker``'s BEGIN and END lines (the markers included)
    replaced by ``block`` inside fresh markers, or appended when there is no such block, or,
    with ``present`` false, removed."""
    begin, end = marker.replace("{mark}", "BEGIN"), marker.replace("{mark}", "END")
    body = block if block.endswith("\n") or not block else block + "\n"
    wanted = f"{begin}\n{body}{end}\n" if present else ""
    lines = _lines(text)
    bare = [_body(item) for item in lines]
    if begin in bare:
        start = bare.index(begin)
        stop = bare.index(end, start) + 1 if end in bare[start:] else start + 1
        return "".join(lines[:start]) + wanted + "".join(lines[stop:])
    return _append(text, wanted) if wanted else text


def _lines(text: str) -> list[str]:
    """``text`` cut after each ``\n`` and nowhere else: ``str.splitlines`` would also cut at
    form feeds and Unicode line separators, which are part of a line in a config file."""
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    return [*lines, parts[-1]] if parts[-1] else lines


def _body(line: str) -> str:
    """A line without its ending: ``\n``, or ``\r\n``."""
    line = line.removesuffix("\n")
    return line.removesuffix("\r")


def _same(item: str, line: str) -> bool:
    """``item`` (with its ending) is ``line``: a CRLF line's ``\r`` is its ending, unless
    ``line`` itself ends in ``\r``."""
    return line in (_body(item), item.removesuffix("\n"))


def _append(text: str, addition: str) -> str:
    if text and not text.endswith("\n"):
        text += "\n"
    return text + addition


@dataclass(frozen=True, slots=True)
class _Edit:
    """What ``line`` and ``block`` share: read the file back, edit it, write it atomically."""

    path: str

    def probe(self, *, diff: bool = False) -> Probe:
        return path_probe(self.path, content=True)

    def edited(self, text: str) -> str:  # pragma: no cover - each kind has its own
        raise NotImplementedError

    def assess(self, facts: Facts) -> Assessment:
        found = facts.get("type")
        if found not in ("absent", "file"):
            return wrong_type(self.path, facts, "a file")
        if found == "file":
            old = decoded(facts, "content")
            if old is None or len(old) > CONTENT_LIMIT:
                why = (
                    "cannot be read"
                    if "unreadable" in facts
                    else f"is larger than {CONTENT_LIMIT} bytes"
                )
                return Assessment(failure=f"{self.path} {why}; nothing was changed")
        else:
            old = b""
        new = self.edited(old.decode("utf-8", _ERRORS)).encode("utf-8", _ERRORS)
        if new == old:
            return Assessment(detail=self.path)
        content = Content.of(new)
        write = writer(self.path, content, Attributes())
        return assess_content(self.path, facts, content, Attributes(), write)


@dataclass(frozen=True, slots=True)
class Line(_Edit):
    """One line in a file, present or absent, found by its text or a regex."""

    line: str = ""
    regexp: str | None = None
    present: bool = True
    kind: str = "line"

    def describe(self) -> str:
        if not self.present:
            which = f"matching /{self.regexp}/" if self.regexp else repr(self.line)
            return f"no line {which} in {self.path}"
        where = f" (replacing /{self.regexp}/)" if self.regexp else ""
        return f"line {self.line!r} in {self.path}{where}"

    def edited(self, text: str) -> str:
        return edit_line(text, self.line, self.regexp, present=self.present)


@dataclass(frozen=True, slots=True)
class Block(_Edit):
    """A block of lines between markers in a file, present or absent."""

    text: str = ""
    marker: str = "# {mark} NEXUS MANAGED BLOCK"
    present: bool = True
    kind: str = "block"

    def describe(self) -> str:
        lines = self.text.count("\n") + (not self.text.endswith("\n") and bool(self.text))
        state = f"a block of {lines} lines" if self.present else "no block"
        return f"{state} marked {self.marker.replace('{mark}', 'BEGIN/END')!r} in {self.path}"

    def edited(self, text: str) -> str:
        return edit_block(text, self.text, self.marker, present=self.present)
