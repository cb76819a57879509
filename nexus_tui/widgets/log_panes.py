"""The log area: one host's output, or several side by side in split view.

All panes exist from the start and unused ones are hidden, so switching views never mounts or
removes widgets while output is streaming.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from textual.app import ComposeResult
from textual.containers import Horizontal

from nexus_engine.plan import UnitKey
from nexus_tui.widgets.host_log import HostLog

SPLIT = 4


class LogPanes(Horizontal):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.follow = True
        self._lines: tuple[str, tuple[str, ...]] | None = None  # a group's, shown in pane 0

    def compose(self) -> ComposeResult:
        for index in range(SPLIT):
            yield HostLog(id=f"log-{index}")

    @property
    def panes(self) -> list[HostLog]:
        return list(self.query(HostLog))

    def show(self, keys: Sequence[UnitKey], history: Callable[[UnitKey], list[str]]) -> None:
        """Show these hosts' logs, one pane each; no key shows one empty pane."""
        shown: list[UnitKey | None] = [*keys] or [None]
        self._lines = None
        for index, pane in enumerate(self.panes):
            key = shown[index] if index < len(shown) else None
            pane.display = index < len(shown)
            if pane.display and (pane.key != key or key is None):
                pane.show(key, history(key) if key else [], follow=self.follow)

    def show_lines(self, title: str, lines: Sequence[str]) -> None:
        """Show ``lines`` under ``title`` in one pane (a group's output), from the top;
        redrawn only when they change, so a group rebuilt alike keeps its scroll."""
        first, *others = self.panes
        for pane in others:
            pane.display = False
        first.display = True
        if self._lines != (title, tuple(lines)):
            self._lines = (title, tuple(lines))
            first.show(None, lines, follow=False, title=title)
            first.scroll_home(animate=False, immediate=True)
            first.border_subtitle = ""

    def write(self, batch: Mapping[UnitKey, list[str]]) -> None:
        for pane in self.panes:
            if pane.display and pane.key is not None and pane.key in batch:
                pane.write_lines(batch[pane.key])

    def set_follow(self, follow: bool) -> None:
        self.follow = follow
        for pane in self.panes:
            pane.set_follow(follow)
