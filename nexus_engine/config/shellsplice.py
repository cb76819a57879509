"""Put a value into a shell command so that the shell never parses it as syntax.

A ``${env:…}``/``${secret:…}`` reference in a step's ``cmd`` is not replaced by its value:
pasted into the text, ``VERSION='1.2.3; touch /tmp/p'`` would run a second command. The value
travels in an environment variable of the step instead, and the reference is replaced by a
double-quoted expansion of that variable, written for the quoting context the reference stands
in, so the shell expands it as one word and never re-reads what it expanded:

=====================================  ==============================
where the reference stands             what replaces it
=====================================  ==============================
bare, after ``=``, in ``$(…)``, in ```…```   ``"${NAME}"``
inside ``"…"`` or a ``${…}`` in it     ``${NAME}``
inside ``'…'``                         ``'"${NAME}"'`` (out and back in)
in an unquoted here-document           ``${NAME}``
in a quoted here-document (``<<'EOF'``)  an error: that body is never expanded
=====================================  ==============================

The scanner below knows as much of POSIX ``sh`` quoting as it takes to tell these apart:
backslashes, the three kinds of quotes, ``$(…)``, ``${…}``, comments and here-documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum, auto


class SpliceError(ValueError):
    """A reference stands where no expansion can reach it."""


@dataclass(frozen=True, slots=True)
class Span:
    """A reference at ``text[start:end]``, to be replaced by an expansion of ``variable``."""

    start: int
    end: int
    variable: str


class _Kind(Enum):
    BARE = auto()  # the top level, and inside $(…) or `…`
    DOUBLE = auto()  # "…", and ${…} inside it
    SINGLE = auto()  # '…'


@dataclass(slots=True)
class _Frame:
    """A quoting context the shell scanner is inside, and what ends it."""

    kind: _Kind
    closer: str  # what ends this frame: '', '"', "'", '`', ')' or '}'
    depth: int = 0  # open parentheses inside a $(…)


@dataclass(frozen=True, slots=True)
class _HereDoc:
    """A here-document whose body comes after the current line: how it ends."""

    delimiter: str
    quoted: bool
    strip_tabs: bool


_WORD_END = frozenset(" \t\n;&|<>()")


def splice(text: str, spans: Sequence[Span]) -> str:
    """``text`` with each span replaced by an expansion fit for where it stands. ``spans`` are
    sorted and do not overlap. Raises :class:`SpliceError`."""
    return _Splicer(text, spans).run()


class _Splicer:
    def __init__(self, text: str, spans: Sequence[Span]) -> None:
        self.text = text
        self.spans = {span.start: span for span in spans}
        self.out: list[str] = []
        self.stack = [_Frame(_Kind.BARE, "")]
        self.pending: list[_HereDoc] = []
        self.i = 0

    def run(self) -> str:
        while self.i < len(self.text):
            if self._span(self._replacement()):
                continue
            self._step()
        return "".join(self.out)

    def _replacement(self) -> str:
        kind = self.stack[-1].kind
        if kind is _Kind.SINGLE:
            return "'\"${%s}\"'"
        if kind is _Kind.DOUBLE:
            return "${%s}"
        return '"${%s}"'

    def _span(self, form: str) -> bool:
        span = self.spans.get(self.i)
        if span is None:
            return False
        self.out.append(form % span.variable)
        self.i = span.end
        return True

    def _take(self, count: int = 1) -> str:
        piece = self.text[self.i : self.i + count]
        self.out.append(piece)
        self.i += count
        return piece

    def _step(self) -> None:
        frame = self.stack[-1]
        char = self.text[self.i]
        if frame.kind is _Kind.SINGLE:
            if self._take() == "'":
                self.stack.pop()
            return
        if char == "\\":
            self._take()
            if self.i < len(self.text) and self.i not in self.spans:
                self._take()
            return
        if char == frame.closer and (frame.closer != ")" or frame.depth == 0):
            self._take()
            self.stack.pop()
            return
        if self._opens(frame):
            return
        if frame.kind is _Kind.DOUBLE:
            self._take()
            return
        self._bare(frame, char)

    def _opens(self, frame: _Frame) -> bool:
        """Something that opens a nested frame in either unquoted or double-quoted text."""
        rest = self.text[self.i : self.i + 2]
        if rest == "$(":
            self._take(2)
            self.stack.append(_Frame(_Kind.BARE, ")"))
        elif rest == "${":
            self._take(2)
            self.stack.append(_Frame(frame.kind, "}"))
        elif rest[0] == "`":
            self._take()
            self.stack.append(_Frame(_Kind.BARE, "`"))
        elif rest[0] == '"':
            self._take()
            self.stack.append(_Frame(_Kind.DOUBLE, '"'))
        else:
            return False
        return True

    def _bare(self, frame: _Frame, char: str) -> None:
        if char == "'":
            self._take()
            self.stack.append(_Frame(_Kind.SINGLE, "'"))
        elif char == "(" and frame.closer == ")":
            frame.depth += 1
            self._take()
        elif char == ")" and frame.closer == ")":
            frame.depth -= 1
            self._take()
        elif char == "#" and self._word_start():
            self._comment()
        elif self.text.startswith("<<", self.i) and not self.text.startswith("<<<", self.i):
            self._here_doc_operator()
        elif char == "\n" and self.pending:
            self._take()
            self._here_doc_bodies()
        else:
            self._take()

    def _word_start(self) -> bool:
        return self.i == 0 or self.text[self.i - 1] in _WORD_END

    def _comment(self) -> None:
        while self.i < len(self.text) and self.text[self.i] != "\n":
            if not self._span('"${%s}"'):
                self._take()

    def _here_doc_operator(self) -> None:
        self._take(2)
        strip_tabs = self.text.startswith("-", self.i)
        if strip_tabs:
            self._take()
        while self.i < len(self.text) and self.text[self.i] in " \t":
            self._take()
        start = self.i
        while self.i < len(self.text) and self.text[self.i] not in _WORD_END:
            quote = self.text[self.i]
            self._take()
            if quote in "'\"":
                closing = self.text.find(quote, self.i)
                self._take((closing if closing >= 0 else len(self.text)) - self.i + 1)
            elif quote == "\\":
                self._take()
        word = self.text[start : self.i]
        if word:
            delimiter = word.replace("\\", "").replace("'", "").replace('"', "")
            quoted = delimiter != word
            self.pending.append(_HereDoc(delimiter, quoted, strip_tabs))

    def _here_doc_bodies(self) -> None:
        for here_doc in self.pending:
            while self.i < len(self.text):
                end = self.text.find("\n", self.i)
                end = len(self.text) if end < 0 else end
                line = self.text[self.i : end]
                if (line.lstrip("\t") if here_doc.strip_tabs else line) == here_doc.delimiter:
                    self._take(end - self.i + 1)
                    break
                self._body_line(end, here_doc)
        self.pending.clear()

    def _body_line(self, end: int, here_doc: _HereDoc) -> None:
        while self.i <= end and self.i < len(self.text):
            if self.i in self.spans and here_doc.quoted:
                raise SpliceError(
                    "a reference inside a quoted here-document (<<'"
                    f"{here_doc.delimiter}') is never expanded by the shell; "
                    "leave the delimiter unquoted"
                )
            if self._span("${%s}"):
                continue
            if self.text[self.i] == "\\" and not here_doc.quoted:
                self._take()
                if self.i in self.spans:
                    continue
            self._take()
