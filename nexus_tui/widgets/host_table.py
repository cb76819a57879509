"""The selected task's hosts: status, attempts, exit code, duration and why one needs a look.

Rows are keyed by host and updated cell by cell; the table is rebuilt only when the task or the
filter changes. The cursor stays on the same host across rebuilds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.binding import BindingType
from textual.widgets import DataTable

from nexus_tui import text
from nexus_tui.bindings import MOVE
from nexus_tui.model import UnitRow

COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("status", "status", 11),
    ("host", "host", None),
    ("tries", "try", 3),
    ("exit", "exit", 4),
    ("time", "time", 6),
    ("changes", "ok/chg", 6),
    ("note", "note", None),
)


class HostTable(DataTable[Text]):
    BINDINGS: ClassVar[list[BindingType]] = [*MOVE]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)
        self.hosts: list[str] = []

    def show(self, rows: Sequence[UnitRow], now: float, keep: str | None = None) -> None:
        """Replace the rows; the cursor goes to ``keep`` if it is still shown."""
        self.clear()
        self.hosts = [row.key.host for row in rows]
        for row in rows:
            self.add_row(*text.host_cells(row, now), key=row.key.host)
        if keep in self.hosts:
            self.move_cursor(row=self.hosts.index(keep), animate=False)

    def update_row(self, row: UnitRow, now: float) -> None:
        if row.key.host not in self.hosts:
            return
        for (column, _, _), cell in zip(COLUMNS, text.host_cells(row, now), strict=True):
            self.update_cell(row.key.host, column, cell)

    def select_host(self, host: str) -> None:
        if host in self.hosts:
            self.move_cursor(row=self.hosts.index(host), animate=False)

    @property
    def host(self) -> str | None:
        if not self.hosts or not 0 <= self.cursor_row < len(self.hosts):
            return None
        return self.hosts[self.cursor_row]

    def following(self, count: int) -> list[str]:
        """The selected host and the ones after it: what a split view shows."""
        if (host := self.host) is None:
            return []
        start = self.hosts.index(host)
        return (self.hosts[start:] + self.hosts[:start])[:count]
