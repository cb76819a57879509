"""The selected task's hosts: status, attempts, exit code, duration and why one needs a look.

A ``RowTable``: only the rows on screen are drawn, so a task of a thousand hosts is rebuilt (a
task switch, a filter) as fast as one of three. A changed host's row is redrawn if it is on
screen; the table is rebuilt only when the task or the filters change. The cursor stays on the
same host across rebuilds, and finding a host's row takes the same time among a thousand.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from nexus_tui import text
from nexus_tui.model import UnitRow
from nexus_tui.widgets.row_table import RowTable

COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("status", "status", 11),
    ("host", "host", None),
    ("tries", "try", 3),
    ("exit", "exit", 4),
    ("time", "time", 6),
    ("changes", "ok/chg", 6),
    ("note", "note", None),
)


class HostTable(RowTable[UnitRow]):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(COLUMNS, self._cells_of, id=id)
        self.hosts: list[str] = []
        self._index: dict[str, int] = {}  # host → its row
        self.now = 0.0  # the clock the rows' times are drawn at

    def _cells_of(self, row: UnitRow) -> Sequence[Text]:
        return text.host_cells(row, self.now)

    def show(self, rows: Sequence[UnitRow], now: float, keep: str | None = None) -> None:
        """Replace the rows; the cursor goes to ``keep`` if it is still shown, else the top."""
        self.now = now
        self.hosts = [row.key.host for row in rows]
        self._index = {host: index for index, host in enumerate(self.hosts)}
        self.fit("host", self.hosts)
        self.set_rows(rows, cursor=self._index.get(keep, 0) if keep is not None else 0)

    def __contains__(self, host: object) -> bool:
        return host in self._index

    def in_view(self) -> list[str]:
        """The hosts whose rows are on screen now: the only ones a clock needs to redraw."""
        return [self.hosts[index] for index in self.rows_in_view()]

    def update_row(self, row: UnitRow, now: float) -> None:
        index = self._index.get(row.key.host)
        if index is not None:
            self.now = now
            self.set_row(index, row)

    def get_cell(self, host: str, column: str) -> Text:
        return self.get_cell_at(self._index[host], column)

    def select_host(self, host: str) -> None:
        if host in self._index:
            self.move_cursor(self._index[host])

    @property
    def host(self) -> str | None:
        if not self.hosts or not 0 <= self.cursor_row < len(self.hosts):
            return None
        return self.hosts[self.cursor_row]

    def following(self, count: int) -> list[str]:
        """The selected host and the ones after it: what a split view shows."""
        if (host := self.host) is None:
            return []
        start = self._index[host]
        return (self.hosts[start:] + self.hosts[:start])[:count]
