"""Command palette entries (Ctrl+P) for every dashboard action, plus "Run task…" before a run
and "Go to task…" during one. An entry runs the same action as its key, so the palette and
the keys can never disagree, and it is offered only when its key would work."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from nexus_tui.app import NexusApp

#: (title, help, action on the dashboard screen)
ACTIONS = [
    ("Retry failed unit", "Retry the unit the decision bar names (the selected one)", "retry"),
    ("Retry all failed units", "Retry every unit that waits for a decision", "retry_all"),
    ("Skip failed host", "Skip the host the decision bar names, and its dependents there", "skip"),
    ("Abort run", "Stop the run; everything is recorded (asks first)", "abort"),
    ("Resume last run", "Carry on the last run: what succeeded is reused, not run", "resume"),
    ("Follow log", "Follow the log tail, or stop following", "follow"),
    ("Filter hosts", "Narrow the host table by name", "filter"),
    ("Split view", "Several hosts' logs side by side, or one", "split"),
    ("Filter hosts by state", "Failed, running, pending, … then all again", "status_filter"),
    ("Next failed unit", "Select the next failed unit, in DAG order", "next_failed"),
    ("Previous failed unit", "Select the previous failed unit", "previous_failed"),
    ("Group alike hosts", "Hosts that printed the same and ended alike as one row", "group"),
    ("Help", "Every key and its [keymap] id", "help"),
    ("Quit", "Quit the dashboard (asks while a run is active)", "quit"),
]


class NexusCommands(Provider):
    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = cast("NexusApp", self.app)
        screen = app.dashboard
        found: list[tuple[str, str, Callable[[], object]]] = []
        for title, help_text, action in ACTIONS:
            if screen.check_action(action, ()):
                found.append((title, help_text, partial(app.run_action, action, screen)))
        for name in app.model.order:
            if app.source is None:
                found.append((f"Run task {name}", "Run it and what it needs", _run(app, name)))
            else:
                go = partial(screen.select_task, name)
                found.append((f"Go to task {name}", "Show its hosts and logs", go))
        return found

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            if (score := matcher.match(title)) > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


def _run(app: NexusApp, name: str) -> Callable[[], object]:
    return partial(app.start_run, (name,))
