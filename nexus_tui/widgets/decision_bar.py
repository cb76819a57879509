"""Says what waits for the operator: the failed unit, why, the keys that decide, and the work
held back with it. Hidden while nothing waits."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

from nexus_engine.plan import UnitKey
from nexus_tui.model import UnitRow

SHOW_HELD = 3


class DecisionBar(Static):
    def show_waiting(self, waiting: Sequence[UnitRow], held: Sequence[UnitKey]) -> None:
        self.display = bool(waiting)
        if not waiting:
            return
        first = waiting[0]
        line = Text.assemble(("? ", "bold yellow"), (str(first.key), "bold"))
        line.append(f" {first.reason or 'failed'}", style="red")
        if len(waiting) > 1:
            line.append(f" (+{len(waiting) - 1} more)", style="yellow")
        line.append(" — waiting for you: r retry · s skip · a abort", style="yellow")
        if held:
            names = ", ".join(str(key) for key in held[:SHOW_HELD])
            more = f" +{len(held) - SHOW_HELD}" if len(held) > SHOW_HELD else ""
            line.append(f" · held: {names}{more}", style="dim")
        # The bar changes on every failure and every n; a layout redraws the whole screen, and
        # only a change of the bar's height (one line, or two at most) needs one.
        height = 1 if line.cell_len <= self.content_size.width else 2
        self.update(line, layout=height != self.content_size.height)
