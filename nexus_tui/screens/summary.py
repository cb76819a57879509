"""The end of a run: per task and host, status, attempts and duration, and where the journal is.

It stays open until ``q``, which exits with the code the headless run would have returned;
Escape goes back to the dashboard to read logs.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from nexus_tui import text
from nexus_tui.messages import RunEnded


class SummaryScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="summary-quit"),
        Binding("escape", "back", "Back to the run", id="summary-back"),
    ]

    def __init__(self, ended: RunEnded) -> None:
        super().__init__()
        self.ended = ended

    def compose(self) -> ComposeResult:
        finished = self.ended.finished
        verdict = Text.assemble(
            ("Run ", "bold"),
            (finished.run_id, "bold"),
            " ",
            (finished.status.value, text.RUN_STYLES.get(finished.status, "bold magenta")),
            f" in {text.duration(finished.time - finished.started)}",
            f"  ·  exit code {self.ended.exit_code}",
        )
        verdict.append(f"\nsteps: {finished.recap()}")
        if finished.error:
            verdict.append(f"\n{finished.error}", style="bold red")
        yield Static(verdict, id="verdict")
        table: DataTable[Text] = DataTable(id="summary", cursor_type="row")
        for label in ("task", "host", "status", "tries", "exit", "ok/chg", "time", "reason"):
            table.add_column(label, key=label)
        for task, summary in finished.tasks.items():
            for host, unit in summary.hosts.items():
                table.add_row(
                    Text(task),
                    Text(host),
                    text.status_cell(unit.status, reused=unit.reused),
                    Text(str(unit.attempts), justify="right"),
                    Text("-" if unit.exit_code is None else str(unit.exit_code), justify="right"),
                    text.changes(unit.ok_steps, unit.changed_steps),
                    Text(text.duration(unit.duration), justify="right"),
                    Text(unit.reason or "", style="dim"),
                )
        yield table
        journal = Text.assemble(("journal: ", "bold"), self.ended.journal or "(not recorded)")
        for problem in self.ended.problems:
            journal.append(f"\n{problem}", style="bold red")
        yield Static(journal, id="journal")
        yield Footer(compact=True, show_command_palette=False)

    def action_quit(self) -> None:
        self.app.exit(return_code=self.ended.exit_code)

    def action_back(self) -> None:
        self.dismiss(None)
