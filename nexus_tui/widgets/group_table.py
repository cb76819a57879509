"""The selected task's hosts in groups: ``✓ succeeded  web[001-480]  480 hosts  exit 0``.

Shown in the host table's place while the grouped view is on (``g``). Redrawn when the groups
change, at most a few times a second; the cursor stays on the same row number.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from nexus_tui import text
from nexus_tui.grouping import GroupRow
from nexus_tui.widgets.row_table import RowTable

COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("status", "status", 11),
    ("count", "count", 9),
    ("ending", "ending", 19),
    ("hosts", "hosts", None),
)


class GroupTable(RowTable[GroupRow]):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(COLUMNS, cells, id=id)

    def show(self, groups: Sequence[GroupRow]) -> None:
        """Replace the rows, unless they are the ones shown; the cursor keeps its row."""
        if list(groups) != self.rows:
            self.set_rows(groups)

    @property
    def group(self) -> GroupRow | None:
        if not 0 <= self.cursor_row < len(self.rows):
            return None
        return self.rows[self.cursor_row]


def cells(group: GroupRow) -> tuple[Text, ...]:
    """Status, how many hosts, how they ended, and the hosts folded into ranges (last: the
    widest, and it takes the rest of the line)."""
    count = len(group.hosts)
    status = text.status_cell(group.status)
    if not group.in_run:
        status = Text(f"{text.OUT_OF_RUN} idle", style="dim")
    return (
        status,
        Text(f"{count} host" if count == 1 else f"{count} hosts", justify="right"),
        Text(group.ending, style="red" if group.status.failure else ""),
        Text(group.folded, style="" if group.compared else "italic"),
    )
