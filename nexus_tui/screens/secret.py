"""A password or passphrase a connection needs, typed into a masked field.

What is typed is never shown (each character is a dot), never copied to the clipboard, and
goes nowhere but the connection that asked: not into an event, a notification, a log or the
journal. Enter answers; Escape answers nothing, and the connection then fails as
``auth_failed``. The field is emptied as soon as it has answered.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static

HINT = (
    "Not shown as you type, and never recorded.\nEnter answers · Esc cancels (the login then fails)"
)


class SecretInput(Input):
    """A masked field whose text cannot leave it: copy and cut do nothing (the clipboard is
    shared with every other program, and reaches a terminal as an escape sequence)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(password=True, id=id)

    def action_copy(self) -> None:
        """Never copies a secret."""

    def action_cut(self) -> None:
        """Never copies a secret."""


class SecretScreen(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", key_display="Esc", id="secret-cancel"),
    ]
    AUTO_FOCUS = "#secret"

    def __init__(self, prompt: str) -> None:
        """``prompt``: the question as the connection asks it (``password for u@h:22: ``)."""
        super().__init__()
        self.prompt = prompt
        self._withdrawn = False

    def compose(self) -> ComposeResult:
        with Vertical(id="ask"):
            yield Static(heading(self.prompt), id="ask-question", markup=False)
            yield SecretInput(id="secret")
            yield Static(HINT, id="ask-hint", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    @on(Input.Submitted, "#secret")
    def _answered(self, event: Input.Submitted) -> None:
        event.stop()
        answer = event.value
        event.input.value = ""
        self.dismiss(answer)

    def action_cancel(self) -> None:
        self.query_one(SecretInput).value = ""
        self.dismiss(None)

    def withdraw(self) -> None:
        """Nobody waits for the answer any more (the connection was cancelled): leave now if
        on top, else as soon as the screens above it have gone (``dismiss`` pops the top)."""
        if self.is_active:
            self.action_cancel()
        else:
            self._withdrawn = True

    def on_screen_resume(self) -> None:
        if self._withdrawn:
            self.action_cancel()


def heading(prompt: str) -> str:
    """``password for u@h:22: `` → ``Password for u@h:22``."""
    text = prompt.strip().removesuffix(":").strip()
    return text[:1].upper() + text[1:]
