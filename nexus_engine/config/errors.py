"""Config problems as values a user can act on: where (file, line, column, key path) and what.

Everything here is rendered for a terminal, so text that comes from the file (keys, source lines)
is escaped: a key holding an ANSI escape must not repaint the user's screen, and a source line
that assigns something password-like is masked before it is shown.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: One step of a key path: a table key or an array index.
PathPart = str | int
KeyPath = tuple[PathPart, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
#: Keys whose values are never echoed: a file may hold ``sudo_password = "…"`` by mistake.
SECRET_KEY = re.compile(r"pass|secret|token|key|credential|auth", re.IGNORECASE)
_SECRET_ASSIGNMENT = re.compile(
    r"^(?P<key>[^=]*(?:pass|secret|token|key|credential|auth)[^=]*=)(?P<value>.*)$", re.IGNORECASE
)
#: A syntax error on a 10 MiB line must not print 10 MiB; show this much around the caret.
_LINE_WINDOW = 100


def quote(name: str) -> str:
    """A name from the file, quoted and escaped for a message: ``'web'``."""
    return repr(name)


def format_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)


def format_path(path: Sequence[PathPart]) -> str:
    """``("tasks", "deploy", "commands", 1, "timout")`` → ``tasks.deploy.commands[1].timout``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + format_key(part)
    return out


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong in a nexus.toml, located: file, line, key, and what was expected."""

    file: str
    line: int | None
    column: int | None
    key: str
    message: str
    #: The offending source line, for syntax errors only: rendered with a caret under ``column``.
    source: str | None = None

    def location(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    def as_json(self) -> dict[str, str | int | None]:
        """The problem for a machine: ``key`` is the dotted key path, None for a problem with
        the whole file (a syntax error, a file that cannot be read)."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "key": self.key or None,
            "message": self.message,
        }

    def render(self) -> str:
        if self.source is not None and self.line is not None:
            return self._render_with_source(self.source, self.line)
        head = self.location()
        return f"{head}: {self.key}: {self.message}" if self.key else f"{head}: {self.message}"

    def _render_with_source(self, source: str, line: int) -> str:
        shown, caret_at = _excerpt(_mask(source), (self.column or 1) - 1)
        gutter = " " * len(str(line))
        pad = "".join("\t" if ch == "\t" else " " for ch in shown[:caret_at])
        return "\n".join(
            [
                f"{self.location()}: {self.key or 'TOML syntax error'}",
                f"{gutter} |",
                f"{line} | {shown}",
                f"{gutter} | {pad}^",
                self.message,
            ]
        )


class ConfigError(Exception):
    """Every problem found in one config file; ``str()`` is what the user sees."""

    def __init__(self, problems: Iterable[ConfigProblem]) -> None:
        self.problems: list[ConfigProblem] = list(problems)
        super().__init__(self.problems)  # so that pickling round-trips

    def __str__(self) -> str:
        return "\n".join(problem.render() for problem in self.problems)


def _printable(text: str) -> str:
    """Control characters become U+FFFD one for one, so the caret column stays right."""
    return "".join(ch if ch.isprintable() or ch == "\t" else "\ufffd" for ch in text)


def _mask(line: str) -> str:
    match = _SECRET_ASSIGNMENT.match(line)
    if match is None:
        return _printable(line)
    return _printable(match["key"] + re.sub(r"\S", "*", match["value"]))


def _excerpt(line: str, caret: int) -> tuple[str, int]:
    """A window of the line around the caret, and the caret's index in that window."""
    caret = max(0, min(caret, len(line)))
    if len(line) <= 2 * _LINE_WINDOW:
        return line, caret
    start = max(0, caret - _LINE_WINDOW)
    end = min(len(line), caret + _LINE_WINDOW)
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(line) else ""
    return prefix + line[start:end] + suffix, caret - start + len(prefix)
