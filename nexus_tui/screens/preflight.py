"""Preflight before the run (``nexus run --preflight``): every host the run will use is checked
(TCP, SSH login and host key, sudo) and the answers are shown as a table before anything starts.

If every host passes, the run starts on its own, as the headless ``--preflight`` does: the
operator asked for a gate, not a question (a notification says it passed). If one fails,
nothing starts: the table stays with the reason per host, ``r`` checks again (after fixing the
host, or to type a password again) and ``q`` quits with exit code 1, as the headless run would.
A password or passphrase a check needs is asked for in the same dialog as during a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Static

from nexus_engine.preflight import all_ok
from nexus_engine.render.preflight import summary
from nexus_engine.status import EXIT_USAGE, RunStatus
from nexus_tui.source import Checker, StartError
from nexus_tui.widgets.preflight_table import PreflightTable

if TYPE_CHECKING:
    from nexus_tui.app import NexusApp

CHECKING = "Preflight: checking every host the run will use (TCP, SSH login, sudo)…"


class PreflightScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "recheck", "Check again", id="preflight-recheck"),
        Binding("q", "quit", "Quit", id="preflight-quit"),
    ]

    def __init__(self, tasks: Sequence[str], check: Checker) -> None:
        super().__init__()
        self.tasks = tuple(tasks)
        self._check = check
        self.failed = False

    @property
    def nexus(self) -> NexusApp:
        return cast("NexusApp", self.app)

    def compose(self) -> ComposeResult:
        yield Static(CHECKING, id="preflight-title", markup=False)
        yield PreflightTable(id="preflight")
        yield Static("", id="preflight-verdict")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(PreflightTable).display = False
        self.run_check()

    @work(exclusive=True, group="preflight")
    async def run_check(self) -> None:
        self._verdict(Text("checking…", style="dim"))
        try:
            reports = await self._check(self.tasks)
        except StartError as error:
            self._refused(str(error), EXIT_USAGE)
            return
        table = self.query_one(PreflightTable)
        table.show(reports)
        table.display = bool(reports)
        said = summary(reports)
        if all_ok(reports):
            self.query_one("#preflight-title", Static).update("Preflight passed")
            self.nexus.preflight_passed(self, said)
            return
        self.query_one("#preflight-title", Static).update("Preflight failed: nothing was started")
        self._refused(said, RunStatus.FAILED.exit_code)
        table.focus()

    def _refused(self, said: str, exit_code: int) -> None:
        self.failed = True
        self.nexus.preflight_failed(exit_code)
        line = Text(f"✗ {said}", style="bold red")
        line.append(f". r checks again · q quits (exit code {exit_code})")
        self._verdict(line)
        self.refresh_bindings()

    def _verdict(self, line: Text) -> None:
        self.query_one("#preflight-verdict", Static).update(line)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "recheck":
            return self.failed
        return True

    def action_recheck(self) -> None:
        """Check again, asking again for what was typed (it may have been mistyped)."""
        if not self.failed:
            return
        self.failed = False
        self.nexus.preflight_again()
        self.query_one("#preflight-title", Static).update(CHECKING)
        self.refresh_bindings()
        self.run_check()

    def action_quit(self) -> None:
        self.nexus.request_quit()
