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
from nexus_tui.bindings import MOVE
from nexus_tui.bridge import HISTORY, STDERR_MARK


class StderrHighlighter(Highlighter):
    """Colours lines that came on stderr (the bridge marks them) and nothing else."""

    def highlight(self, text: Text) -> None:
        if text.plain.startswith(STDERR_MARK):
            text.stylize("red")


class HostLog(Log):
    BINDINGS: ClassVar[list[BindingType]] = [*MOVE]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(highlight=True, max_lines=HISTORY, id=id)
        self.highlighter = StderrHighlighter()
        self.key: UnitKey | None = None

    def show(self, key: UnitKey | None, lines: Sequence[str], *, follow: bool) -> None:
        """Switch to another host's output, with the history the bridge kept for it."""
        self.key = key
        self.clear()
        self.write_lines(lines, scroll_end=True)
        self.set_follow(follow)
        self.border_title = str(key) if key else "no host selected"

    def set_follow(self, follow: bool) -> None:
        self.auto_scroll = follow
        self.border_subtitle = "following" if follow else "paused: f follows"
        if follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def action_cursor_down(self) -> None:
        self.scroll_down(animate=False)

    def action_cursor_up(self) -> None:
        self.scroll_up(animate=False)
