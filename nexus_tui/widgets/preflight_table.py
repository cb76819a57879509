"""Preflight's answers, one row per host: tcp, ssh and sudo, then why a check failed (or whom it
reached). The same words as ``nexus preflight``'s table, so both faces say the same thing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import DataTable

from nexus_engine.render.preflight import detail
from nexus_engine.render.terminal import printable

if TYPE_CHECKING:
    from nexus_engine.preflight import CheckName, HostReport

#: A check's verdict (its value) → the cell and its style.
CELLS: dict[str, tuple[str, str]] = {
    "passed": ("✓ ok", "green"),
    "failed": ("✗ failed", "bold red"),
    "skipped": ("skipped", "yellow"),
    "n/a": ("-", "dim"),
}
CHECKS: tuple[CheckName, ...] = ("tcp", "ssh", "sudo")


class PreflightTable(DataTable[Text]):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.add_column("host", key="host")
        for name in CHECKS:
            self.add_column(name, key=name, width=8)
        self.add_column("detail", key="detail")

    def show(self, reports: Sequence[HostReport]) -> None:
        self.clear()
        for report in reports:
            cells = [CELLS[report.check(name).verdict.value] for name in CHECKS]
            self.add_row(
                Text(printable(report.host)),
                *(Text(word, style=style) for word, style in cells),
                Text(printable(detail(report)), style="" if report.ok else "red"),
                key=report.host,
            )
