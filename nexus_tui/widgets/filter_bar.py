"""The host filter: a one-line input that narrows the host table as it is typed."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Input


class FilterBar(Input):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear", "Clear filter", show=False, id="filter-clear")
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(placeholder="filter hosts (Enter keeps, Esc clears)", id=id)

    def action_clear(self) -> None:
        self.value = ""
        self.display = False
        self.screen.focus_next()
