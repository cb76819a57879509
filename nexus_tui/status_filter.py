"""Which of a task's hosts the host table shows: by name (``/``) and by state (``F``), both.

The state filter cycles all → failed → running → pending → succeeded → skipped → interrupted
→ all, so an operator with a thousand hosts can look at the forty that failed alone.
"""

from __future__ import annotations

from nexus_tui.model import RunModel, UnitRow
from nexus_tui.tally import KIND_OF, Kind

#: The state filter's cycle; None shows every host.
CYCLE: tuple[Kind | None, ...] = (None, *Kind)


def following(kind: Kind | None) -> Kind | None:
    """The filter after ``kind`` in the cycle."""
    return CYCLE[(CYCLE.index(kind) + 1) % len(CYCLE)]


def shows(row: UnitRow, name: str, kind: Kind | None) -> bool:
    """Whether the table shows ``row`` with these filters on. A host outside the run is in
    no state an operator filters by: it shows only when no state filter is on."""
    if name not in row.key.host:
        return False
    return kind is None or (row.in_run and KIND_OF[row.status] is kind)


def rows(model: RunModel, task: str, name: str, kind: Kind | None) -> list[UnitRow]:
    """The task's hosts the table shows, in the task's order."""
    return [row for row in model.hosts_of(task) if shows(row, name, kind)]
