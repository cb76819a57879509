"""One host's output: a plain-text ``Log`` (virtual, bounded), stderr lines in the error colour.

Lines arrive already decoded and made printable by the bridge; ``Log`` never interprets markup,
so ``[/bold]`` in a command's output is just text. Only the window the screen can show is kept
(``max_lines``); the journal has the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.highlighter import Highlighter
from rich.text import Text
from textual.binding import BindingType
from textual.widgets import Log

from nexus_engine.plan import UnitKey
from nexus_engine.status import Change
from nexus_tui.bindings import MOVE
from nexus_tui.bridge import DIFF_MARK, HISTORY, OUTCOME_MARKS, STDERR_MARK

#: A line's start → its style: stderr, what a step did, and the lines a diff adds and removes.
_STYLES = (
    (STDERR_MARK, "red"),
    (OUTCOME_MARKS[Change.CHANGED], "bold yellow"),
    (OUTCOME_MARKS[Change.OK], "green"),
    (DIFF_MARK + "+++", ""),
    (DIFF_MARK + "---", ""),
    (DIFF_MARK + "+", "green"),
    (DIFF_MARK + "-", "red"),
)


class LineHighlighter(Highlighter):
    """Colours the lines the bridge marked (stderr, step outcomes, diffs) and nothing else:
    a command's own output is never read as markup."""

    def highlight(self, text: Text) -> None:
        plain = text.plain
        style = next((style for start, style in _STYLES if plain.startswith(start)), "")
        if style:
            text.stylize(style)


class HostLog(Log):
    BINDINGS: ClassVar[list[BindingType]] = [*MOVE]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(highlight=True, max_lines=HISTORY, id=id)
        self.highlighter = LineHighlighter()
        self.key: UnitKey | None = None

    def show(
        self, key: UnitKey | None, lines: Sequence[str], *, follow: bool, title: str | None = None
    ) -> None:
        """Switch to another host's output, with the history the bridge kept for it; without
        a host, to ``lines`` under ``title`` (a group of hosts' output)."""
        self.key = key
        self.clear()
        self.write_lines(lines, scroll_end=True)
        self.set_follow(follow)
        self.border_title = str(key) if key else title or "no host selected"

    def set_follow(self, follow: bool) -> None:
        self.auto_scroll = follow
        self.border_subtitle = "following" if follow else "paused: f follows"
        if follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def action_cursor_down(self) -> None:
        self.scroll_down(animate=False)

    def action_cursor_up(self) -> None:
        self.scroll_up(animate=False)
