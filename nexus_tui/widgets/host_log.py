"""One host's output: a plain-text ``Log`` (virtual, bounded), stderr lines in the error colour.

Lines arrive already decoded and made printable by the bridge; ``Log`` never interprets markup,
so ``[/bold]`` in a command's output is just text. Only the window the screen can show is kept
(``max_lines``); the journal has the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar, Self

from rich.cells import cell_len
from rich.highlighter import Highlighter
from rich.text import Text
from textual.binding import BindingType
from textual.geometry import Size
from textual.widgets import Log

from nexus_engine.plan import UnitKey
from nexus_engine.status import Change
from nexus_tui.bindings import MOVE
from nexus_tui.bridge import DIFF_MARK, HISTORY, OUTCOME_MARKS, STDERR_MARK
from nexus_tui.widgets.scrolling import set_virtual_size

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

    def clear(self) -> Self:
        """``Log.clear`` without a layout of the screen (see ``write_lines``)."""
        if self.size:  # Log.clear's own emptying of the virtual size then changes nothing
            set_virtual_size(self, Size(0, 0))
        super().clear()
        self.refresh()
        return self

    def write_lines(self, lines: Iterable[str], scroll_end: bool | None = None) -> Self:
        """``Log.write_lines`` without its two layouts of the screen a write (the virtual size
        is set at once, then again from a thread that measures the lines): a pane's size never
        depends on its lines, so a write only scrolls it, or redraws the lines it added. The
        lines, a flush's worth, are measured here."""
        if not self.size:  # not laid out yet: the layout to come sizes it
            return super().write_lines(lines, scroll_end)
        following = self.auto_scroll if scroll_end is None else scroll_end
        following = following and self.is_vertical_scroll_end
        following = following and not self.is_vertical_scrollbar_grabbed
        added = [part for line in lines for part in line.splitlines()]
        start = len(self._lines)
        self._lines.extend(added)
        if self.max_lines is not None and len(self._lines) > self.max_lines:
            start -= len(self._lines) - self.max_lines
            self._prune_max_lines()
        widths = (cell_len(self._process_line(line)) for line in added)
        self._width = max(self._width, *widths, 0)
        set_virtual_size(self, Size(self._width, len(self._lines)))
        if following:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh_lines(start, len(added))
        return self

    def set_follow(self, follow: bool) -> None:
        self.auto_scroll = follow
        self.border_subtitle = "following" if follow else "paused: f follows"
        if follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def action_cursor_down(self) -> None:
        self.scroll_down(animate=False)

    def action_cursor_up(self) -> None:
        self.scroll_up(animate=False)
