"""The top line: progress of the run (units done / total), units per state, elapsed, and which
of the host table's views is on (a state filter, the grouped view).

Before a run it says how to start one instead, or, when the last run failed or died, how that
run ended and the key that resumes it.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from nexus_tui import text
from nexus_tui.model import RunTotals
from nexus_tui.past import PastRun
from nexus_tui.tally import Kind

IDLE_HINT = "Space chooses tasks · Enter runs them"


class RunHeader(Static):
    _totals: tuple[RunTotals, float] | None = None
    _view = Text()

    def show_idle(self, config: str, tasks: int) -> None:
        count = f"{tasks} task" if tasks == 1 else f"{tasks} tasks"
        self.update(
            Text.assemble(("nexus  ", "bold"), (IDLE_HINT, "italic"), f"  ·  {count} in ", config)
        )

    def show_past(self, past: PastRun, key: str) -> None:
        self.update(
            Text.assemble(
                ("nexus  ", "bold"),
                "last run ",
                (past.run_id, "bold"),
                " ",
                (past.state, "bold red" if past.state == "failed" else "bold magenta"),
                " — press ",
                (key, "bold cyan"),
                " to resume",
            )
        )

    def show_totals(self, totals: RunTotals, now: float) -> None:
        self._totals = (totals, now)
        # one line whatever it says: no layout (which would redraw every widget) on each change
        line = Text.assemble(("nexus ", "bold"), text.progress(totals, now), self._view)
        self.update(line, layout=False)

    def show_view(self, kind: Kind | None, *, grouped: bool) -> None:
        """Say which view of the hosts is on, after the run's numbers."""
        self._view = text.view_label(kind, grouped=grouped)
        if self._totals is not None:
            self.show_totals(*self._totals)
