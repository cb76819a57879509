"""Every key of the dashboard, with a stable id a ``[keymap]`` table in nexus.toml can remap.

Kept as data in one place so the footer, the ``?`` help screen, the command palette and the
keymap check all agree on what exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from textual.binding import Binding

#: The dashboard's own keys, on its screen: each acts on the selection or the run.
SCREEN = [
    Binding("r", "retry", "Retry", id="retry", tooltip="Retry the failed unit the bar names"),
    Binding("R", "retry_all", "Retry all", id="retry-all", tooltip="Retry every failed unit"),
    Binding("s", "skip", "Skip", id="skip", tooltip="Skip the failed host the bar names"),
    Binding("a", "abort", "Abort", id="abort", tooltip="Abort the run (asks first)"),
    Binding("ctrl+r", "resume", "Resume", id="resume", tooltip="Resume the last run"),
    Binding("question_mark", "help", "Help", id="help", key_display="?", tooltip="All keys"),
    Binding("q", "quit", "Quit", id="quit", tooltip="Quit (asks while a run is active)"),
    Binding("f", "follow", "Follow", id="follow", tooltip="Follow the log tail, or stop"),
    Binding("slash", "filter", "Filter", id="filter", key_display="/", tooltip="Filter hosts"),
    Binding("v", "split", "Split", id="split", tooltip="Several hosts' logs side by side"),
    Binding("F", "status_filter", "Status", id="status-filter", tooltip="Hosts in one state only"),
    Binding("n", "next_failed", "Next failed", id="next-failed", tooltip="The next failed unit"),
    Binding("N", "previous_failed", "Previous failed", show=False, id="previous-failed"),
    Binding("g", "group", "Group", id="group", tooltip="Hosts that printed the same as one row"),
    Binding("tab", "app.focus_next", "Next pane", show=False, id="next-pane"),
    Binding("shift+tab", "app.focus_previous", "Previous pane", show=False, id="previous-pane"),
]

#: Moving around, shared by the tree, the host table and the log: arrows or vi keys.
MOVE = [
    Binding("down,j", "cursor_down", "Down", show=False, id="move-down"),
    Binding("up,k", "cursor_up", "Up", show=False, id="move-up"),
    Binding("left,h", "screen.pane(-1)", "Left pane", show=False, id="move-left"),
    Binding("right,l", "screen.pane(1)", "Right pane", show=False, id="move-right"),
]

#: The tree's keys: before a run Enter runs the chosen tasks and Space chooses them; during a
#: run they select and expand. Two bindings share each key and ``check_action`` enables one.
TREE = [
    Binding("enter", "run_tasks", "Run", id="run", tooltip="Run the chosen tasks"),
    Binding("enter", "select_cursor", "Select", show=False, id="select"),
    Binding("space", "mark", "Choose", id="choose", tooltip="Choose a task to run"),
    Binding("space", "toggle_node", "Expand", show=False, id="expand"),
]

#: What the help screen lists, in order: (binding id, what it does).
HELP: list[tuple[str, str]] = [
    ("move-up", "move up"),
    ("move-down", "move down"),
    ("move-left", "pane to the left"),
    ("move-right", "pane to the right"),
    ("next-pane", "switch pane"),
    ("select", "select / expand (during a run)"),
    ("choose", "choose a task to run (before a run)"),
    ("run", "run the chosen tasks, or the highlighted one (before a run)"),
    ("retry", "retry the selected failed unit, else the one the decision bar names"),
    ("retry-all", "retry every failed unit"),
    ("skip", "skip the selected failed host, else the bar's; its dependents there too"),
    ("abort", "abort the run (asks to confirm)"),
    ("resume", "resume the last run when it failed or died (before a run)"),
    ("follow", "follow the log tail, or stop following"),
    ("filter", "filter hosts by name (Esc clears)"),
    ("split", "show several hosts' logs side by side"),
    ("status-filter", "show hosts in one state only: failed, running, pending, … then all"),
    ("next-failed", "the next failed unit (in DAG order, wrapping) and its log"),
    ("previous-failed", "the previous failed unit"),
    ("group", "one row per group of hosts that printed the same and ended alike"),
    ("help", "this help; Ctrl+P opens the command palette"),
    ("quit", "quit (asks while a run is active; the run is cancelled and recorded)"),
]

KNOWN_IDS = frozenset(b.id for b in (*SCREEN, *MOVE, *TREE) if b.id)


def unknown_ids(keymap: Mapping[str, str]) -> list[str]:
    """Ids in a ``[keymap]`` table that match no binding: most likely typos."""
    return sorted(set(keymap) - KNOWN_IDS)


def keys_of(binding_id: str, keymap: Mapping[str, str]) -> str:
    """The keys bound to ``binding_id`` now, as the operator would type them."""
    if binding_id in keymap:
        return _display(keymap[binding_id].split(","))
    keys: list[str] = []
    for binding in _with_id(binding_id, (*SCREEN, *MOVE, *TREE)):
        keys += [binding.key_display or key for key in binding.key.split(",")]
    return _display(keys)


def _with_id(binding_id: str, bindings: Iterable[Binding]) -> list[Binding]:
    return [binding for binding in bindings if binding.id == binding_id]


NAMES = {
    "down": "↓",
    "up": "↑",
    "left": "←",
    "right": "→",
    "enter": "Enter",
    "space": "Space",
    "tab": "Tab",
    "shift+tab": "Shift+Tab",
    "slash": "/",
    "question_mark": "?",
}


def _display(keys: Iterable[str]) -> str:
    return " ".join(_name(key.strip()) for key in keys)


def _name(key: str) -> str:
    """``ctrl+r`` as ``Ctrl+R``; named keys by their symbol."""
    if key.startswith("ctrl+"):
        return "Ctrl+" + _name(key.removeprefix("ctrl+")).upper()
    return NAMES.get(key, key)
