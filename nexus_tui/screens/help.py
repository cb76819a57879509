"""Every key and what it does, with the keys as remapped by ``[keymap]`` and each binding's id
(the name to use there)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from nexus_tui.bindings import HELP, keys_of


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "close", "Close", id="help-close")
    ]

    def __init__(self, keymap: Mapping[str, str]) -> None:
        super().__init__()
        self.keymap = dict(keymap)

    def compose(self) -> ComposeResult:
        table = Table(box=None, show_header=True, header_style="bold", expand=True)
        table.add_column("keys", no_wrap=True, style="bold cyan")
        table.add_column("does")
        table.add_column("[keymap] id", style="dim", no_wrap=True)
        for binding_id, does in HELP:
            table.add_row(Text(keys_of(binding_id, self.keymap)), Text(does), Text(binding_id))
        with VerticalScroll(id="help"):
            yield Static(Text("Nexus dashboard keys", style="bold"), id="help-title")
            yield Static(table)
            yield Static(
                Text("Ctrl+P opens the command palette. Esc, q or ? closes this.", style="dim")
            )

    def action_close(self) -> None:
        self.dismiss(None)
