"""The dashboard's way of asking the operator for a secret: a dialog with a masked field.

The engine awaits the answer from its own tasks on the app's event loop (a connection's
password callback, not a Textual worker), so a question is put by pushing a
:class:`~nexus_tui.screens.secret.SecretScreen` with a callback that resolves a future the
engine awaits. One question at a time and each once, as on the terminal: that is
:class:`nexus_engine.asking.Asker`'s part, shared by both faces.

An ask outlives nothing: before the app is attached (mounted), and once it has gone, every
question gets no answer at once, so a run being closed after the screen went away never waits
for a person who cannot see the question.
"""

from __future__ import annotations

import asyncio
from typing import Any

from textual.app import App

from nexus_engine.asking import Asker
from nexus_tui.screens.secret import SecretScreen


class DashboardAsk(Asker):
    """An :data:`~nexus_engine.transports.base.Ask` whose questions are dialogs on ``app``."""

    def __init__(self) -> None:
        super().__init__(self._put)
        self._app: App[Any] | None = None
        self._waiting: set[asyncio.Future[str | None]] = set()

    def attach(self, app: App[Any]) -> None:
        self._app = app

    def detach(self) -> None:
        """The screen has gone: questions still open, and any later one, get no answer."""
        self._app = None
        for answer in self._waiting:
            if not answer.done():
                answer.set_result(None)

    async def _put(self, prompt: str) -> str | None:
        app = self._app
        if app is None or not app.is_running:
            return None
        answer: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        screen = SecretScreen(prompt)

        def answered(value: str | None) -> None:
            if not answer.done():
                answer.set_result(value)

        def push() -> None:
            app.push_screen(screen, answered)

        # Pushed from the app's own message loop, so the callback comes back through the app
        # whichever engine task asked.
        if not app.call_later(push):
            return None
        self._waiting.add(answer)
        try:
            return await answer
        except asyncio.CancelledError:
            screen.withdraw()
            raise
        finally:
            self._waiting.discard(answer)
