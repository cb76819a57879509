"""The run screen: the DAG on the left; the selected task's hosts and logs on the right.

Widgets change only here, in message handlers, from the model's rows ("attributes down,
messages up"). Decision actions only send the decision to the engine; the events that follow
repaint the screen, so it never shows something the engine has not done.

The decision keys (``r``, ``s``) act on the unit the decision bar names: the selected unit when
it waits for a decision, else the first that does. Once the engine has acted on a decision,
the selection moves on to the next unit still waiting, so the keys and the bar keep agreeing.

For a big fleet the host table narrows to one state (``F``), shows alike hosts as one row
(``g``, the grouped view), and ``n``/``N`` jump from failure to failure. A host whose state
changes under a filter, or the groups of a task, are redrawn on a timer, not on every change.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar, cast

from textual import on
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Horizontal, Vertical
from textual.events import Key
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Footer, Input, Tree

from nexus_engine.plan import UnitKey
from nexus_tui import decisions, failures, grouping, status_filter
from nexus_tui import messages as msg
from nexus_tui.bindings import SCREEN, keys_of
from nexus_tui.screens.confirm import ConfirmScreen
from nexus_tui.screens.help import HelpScreen
from nexus_tui.screens.summary import SummaryScreen
from nexus_tui.tally import Kind
from nexus_tui.widgets.dag_tree import DagTree
from nexus_tui.widgets.decision_bar import DecisionBar
from nexus_tui.widgets.filter_bar import FilterBar
from nexus_tui.widgets.group_table import GroupTable
from nexus_tui.widgets.host_table import HostTable
from nexus_tui.widgets.log_panes import SPLIT, LogPanes
from nexus_tui.widgets.run_header import RunHeader

if TYPE_CHECKING:
    from nexus_tui.app import NexusApp
    from nexus_tui.past import PastRun

#: After a key press the operator counts as "moving around" this long: no auto-selection.
MOVING = 2.0
NAV_KEYS = frozenset({"up", "down", "left", "right", "j", "k", "h", "l", "tab", "shift+tab"})
DECISIONS = frozenset({"retry", "skip"})
#: The actions whose footer state depends on the selection and the run.
GATED = ("retry", "retry_all", "skip", "abort", "resume")
#: Seconds between redraws of a filtered table whose hosts changed state, or of the groups.
REGROUP_EVERY = 0.5


class DashboardScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [*SCREEN]

    # Plain ``var``s: each watcher redraws what the change touches, where a ``reactive`` would
    # repaint the whole screen on every key press as well.
    task_name: var[str | None] = var(None)
    host: var[str | None] = var(None)
    split: var[bool] = var(False)
    filter: var[str] = var("")
    status_filter: var[Kind | None] = var(None)
    grouped: var[bool] = var(False)

    def __init__(self) -> None:
        super().__init__()
        self._moved_at = float("-inf")
        self._shown_waiting: tuple[object, ...] = ()
        self._gated: tuple[bool | None, ...] = ()
        #: Decisions sent, until the engine has acted on them (the unit no longer waits).
        self._decided: set[UnitKey] = set()
        #: The filtered table or the groups are out of date: redrawn on the next timer.
        self._stale = False

    @property
    def nexus(self) -> NexusApp:
        return cast("NexusApp", self.app)

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        yield DecisionBar(id="decision")
        with Horizontal(id="body"):
            yield DagTree(id="dag")
            with Vertical(id="right"):
                yield FilterBar(id="filter")
                yield HostTable(id="hosts")
                yield GroupTable(id="groups")
                yield LogPanes(id="logs")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        app, model = self.nexus, self.nexus.model
        self.query_one(DecisionBar).display = False
        self.query_one(FilterBar).display = False
        self.query_one(GroupTable).display = False
        self.query_one(RunHeader).show_idle(app.config_name, len(model.order))
        tree = self.query_one(DagTree)
        tree.build([model.tasks[name] for name in model.order], app.now())
        tree.focus()
        self.set_interval(app.tick, self.tick)
        self.set_interval(REGROUP_EVERY, self._redraw_stale)

    # -- selection --

    def watch_task_name(self, task: str | None) -> None:
        self._show_hosts()
        self._show_decision()
        self.sync_bindings()

    def watch_filter(self, value: str) -> None:
        self._show_hosts()

    def watch_status_filter(self, kind: Kind | None) -> None:
        self.query_one(RunHeader).show_view(kind, grouped=self.grouped)
        self._show_hosts()

    def watch_grouped(self, grouped: bool) -> None:
        self.query_one(RunHeader).show_view(self.status_filter, grouped=grouped)
        hosts, groups = self.query_one(HostTable), self.query_one(GroupTable)
        had_focus = self.focused in (hosts, groups)
        hosts.display, groups.display = not grouped, grouped
        self._show_hosts()
        if had_focus:
            (groups if grouped else hosts).focus()

    def watch_host(self, host: str | None) -> None:
        self._show_logs()
        self._show_decision()
        self.sync_bindings()

    def watch_split(self, split: bool) -> None:
        self._show_logs()

    def _show_hosts(self) -> None:
        self._stale = False
        table, model, task = self.query_one(HostTable), self.nexus.model, self.task_name
        if task is None:
            table.show([], 0.0)
            self.query_one(GroupTable).show([])
            return
        if self.grouped:
            folding = self.nexus.folding
            groups = grouping.group_rows(model, folding, task, self.filter, self.status_filter)
            self.query_one(GroupTable).show(groups)
        else:
            rows = status_filter.rows(model, task, self.filter, self.status_filter)
            table.show(rows, self.nexus.now(), keep=self.host)
            self.host = table.host
        self._show_logs()

    def _show_logs(self) -> None:
        if self.task_name is None:
            return
        if self.grouped:  # the selected group's output, or its diff against the largest
            group = self.query_one(GroupTable).group
            title = f"{group.folded} ({len(group.hosts)})" if group else "no hosts"
            self.query_one(LogPanes).show_lines(title, group.lines if group else ())
            self.nexus.showing([])
            return
        table = self.query_one(HostTable)
        hosts = table.following(SPLIT) if self.split else [h for h in [self.host] if h]
        keys = [UnitKey(self.task_name, host) for host in hosts]
        self.query_one(LogPanes).show(keys, self.nexus.history)
        self.nexus.showing(keys)

    # The cursors are the truth: a highlight message may be stale by the time it arrives
    # (a table rebuilt since), so the handlers read the cursor, not the message.
    @on(Tree.NodeHighlighted, "#dag")
    def _task_highlighted(self) -> None:
        self.task_name = self.query_one(DagTree).cursor_task

    @on(HostTable.Highlighted, "#hosts")
    def _host_highlighted(self) -> None:
        self.host = self.query_one(HostTable).host

    @on(GroupTable.Highlighted, "#groups")
    def _group_highlighted(self) -> None:
        self._show_logs()

    @on(HostTable.Selected, "#hosts")
    def _host_selected(self) -> None:
        self.query_one("#log-0").focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter = event.value

    @on(Input.Submitted, "#filter")
    def _filter_kept(self, event: Input.Submitted) -> None:
        self.query_one(HostTable).focus()

    @on(DagTree.RunRequested)
    def _run_requested(self, event: DagTree.RunRequested) -> None:
        self.nexus.start_run(event.tasks)

    def select_task(self, name: str) -> None:
        self.query_one(DagTree).select_task(name)
        self.task_name = name

    def select_unit(self, key: UnitKey) -> None:
        self.select_task(key.task)
        table = self.query_one(HostTable)
        table.select_host(key.host)
        self.host = table.host

    @property
    def selected(self) -> UnitKey | None:
        if self.task_name is None or self.host is None:
            return None
        key = UnitKey(self.task_name, self.host)
        return key if key in self.nexus.model.hosts else None

    @property
    def decision_target(self) -> UnitKey | None:
        """The unit ``r`` and ``s`` act on, which the decision bar names."""
        return decisions.target(self.nexus.model, self.selected)

    def on_key(self, event: Key) -> None:
        if event.key in NAV_KEYS:
            self._moved_at = time.monotonic()

    # -- what the bridge says --

    def run_began(self) -> None:
        self.query_one(DagTree).leave_idle(self.nexus.model.tasks.values(), self.nexus.now())
        self.query_one(RunHeader).show_totals(self.nexus.model.totals, self.nexus.now())
        self._show_hosts()
        self._gated = ()  # Enter and Space changed meaning too: refresh the footer once
        self.sync_bindings()

    def show_past(self, past: PastRun) -> None:
        """The last run, as it ended: statuses in the tree and the table, and how to resume it
        in the header. Enter and Space still choose tasks for a new run."""
        model = self.nexus.model
        self.query_one(RunHeader).show_past(past, keys_of("resume", self.nexus.keymap))
        self.query_one(DagTree).show_past(model.tasks.values(), self.nexus.now())
        self._show_hosts()
        self.sync_bindings()

    def on_task_changed(self, message: msg.TaskChanged) -> None:
        self.query_one(DagTree).relabel(message.row, self.nexus.now())

    def on_host_changed(self, message: msg.HostChanged) -> None:
        row = message.row
        if row.key.task == self.task_name:
            table = self.query_one(HostTable)
            table.update_row(row, self.nexus.now())
            shown = status_filter.shows(row, self.filter, self.status_filter)
            self._stale = self._stale or self.grouped or shown != (row.key.host in table)
        if row.key in self._decided and not row.waiting:
            self._decided.discard(row.key)
            self._decision_done(row.key)
        if row.key == self.selected:
            self.sync_bindings()

    def _decision_done(self, key: UnitKey) -> None:
        """The engine acted on the decision about ``key``: unless the operator has already
        chosen another waiting unit, select the next one waiting (after ``key`` in plan order,
        wrapping), which the bar then names. Done even while the operator moves around: they
        have just decided, so the next decision is what they are after."""
        model, selected = self.nexus.model, self.selected
        if selected is not None and selected != key and model.hosts[selected].waiting:
            return
        if (following := decisions.next_waiting(model, key)) is not None:
            self.select_unit(following)

    def on_totals_changed(self, message: msg.TotalsChanged) -> None:
        self.query_one(RunHeader).show_totals(message.totals, self.nexus.now())
        self._show_decision()

    def _show_decision(self) -> None:
        """The bar names the unit the decision keys act on, the others that wait, and the work
        held back; redrawn (and the footer refreshed) only when one of those changes."""
        model = self.nexus.model
        target = self.decision_target
        shown = (target, model.totals.awaiting, model.totals.status)
        if shown == self._shown_waiting:
            return
        self._shown_waiting = shown
        waiting = [model.hosts[key] for key in model.awaiting() if key != target]
        if target is not None:
            waiting.insert(0, model.hosts[target])
        held = model.held_by(target) if target is not None else []
        self.query_one(DecisionBar).show_waiting(waiting, held)
        self.sync_bindings()

    def on_decision_waiting(self, message: msg.DecisionWaiting) -> None:
        """Select the first failure waiting for a decision, so r or s acts on it at once,
        unless the operator is already on one or is moving around."""
        selected = self.selected
        if selected is not None and self.nexus.model.hosts[selected].waiting:
            return
        if time.monotonic() - self._moved_at < MOVING:
            return
        self.select_unit(message.key)

    def on_output_batch(self, message: msg.OutputBatch) -> None:
        self.query_one(LogPanes).write(message.lines)

    def on_run_ended(self, message: msg.RunEnded) -> None:
        self.sync_bindings()
        if self.nexus.quitting:
            self.app.exit(return_code=message.exit_code)
        else:
            self.app.push_screen(SummaryScreen(message))

    def tick(self) -> None:
        """Once a second: elapsed times move on while a run goes on."""
        model, now = self.nexus.model, self.nexus.now()
        if not model.totals.active or not self.nexus.running:  # a past run's clocks stand
            return
        self.query_one(RunHeader).show_totals(model.totals, now)
        tree, table = self.query_one(DagTree), self.query_one(HostTable)
        for task in model.tasks.values():
            if task.started is not None and not task.settled:
                tree.relabel(task, now)
        if self.task_name is not None and not self.grouped:  # only the rows on screen
            for host in (model.hosts[UnitKey(self.task_name, name)] for name in table.in_view()):
                if host.started is not None and not host.status.terminal:
                    table.update_row(host, now)

    def _redraw_stale(self) -> None:
        """Hosts changed state under a filter, or groups changed: redraw, a few times a second
        at most however many hosts change."""
        if self._stale:
            self._show_hosts()

    # -- keys --

    def sync_bindings(self) -> None:
        """Refresh the footer only when a key's state has changed: every refresh rebuilds the
        footer, which under a flood of output would cost many turns of the event loop."""
        gated = tuple(self.check_action(action, ()) for action in GATED)
        if gated != self._gated:
            self._gated = gated
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        active = self.nexus.running
        if action in DECISIONS:
            if not active:
                return False
            return True if self.decision_target is not None else None
        if action == "retry_all":
            return (True if self.nexus.model.awaiting() else None) if active else False
        if action == "abort":
            return active
        if action == "resume":
            return self.nexus.past is not None and self.nexus.source is None
        return True

    def action_retry(self) -> None:
        key, model = self.decision_target, self.nexus.model
        if key is None or decisions.unsafe_question(model, [key]) is None:
            self._decide("retry")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._decide("retry")

        self.app.push_screen(
            ConfirmScreen(decisions.unsafe_question(model, [key]) or "", decisions.UNSAFE_RETRY),
            answered,
        )

    def _decide(self, decision: str) -> None:
        """Send ``decision`` about the unit the bar names; what follows comes from the engine."""
        key = self.decision_target
        if key is None or not self.nexus.decide(decision, key):
            self.app.bell()
            return
        self._decided.add(key)

    def action_retry_all(self) -> None:
        waiting = self.nexus.model.awaiting()

        def retry(yes: bool | None = True) -> None:
            for key in waiting if yes else ():
                self.nexus.decide("retry", key)

        question = decisions.unsafe_question(self.nexus.model, waiting)
        if question is None:
            retry()
        else:
            self.app.push_screen(ConfirmScreen(question, decisions.UNSAFE_RETRY), retry)

    def action_skip(self) -> None:
        self._decide("skip")

    def action_resume(self) -> None:
        self.nexus.resume_run()

    def action_abort(self) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.nexus.abort()

        detail = "Running commands are stopped; nothing new starts; the journal records it all."
        self.app.push_screen(ConfirmScreen("Abort the run?", detail), answered)

    def action_follow(self) -> None:
        logs = self.query_one(LogPanes)
        logs.set_follow(not logs.follow)

    def action_filter(self) -> None:
        bar = self.query_one(FilterBar)
        bar.display = True
        bar.focus()

    def action_split(self) -> None:
        self.split = not self.split

    def action_status_filter(self) -> None:
        self.status_filter = status_filter.following(self.status_filter)

    def action_group(self) -> None:
        self.grouped = not self.grouped

    def action_next_failed(self) -> None:
        self._to_failure(1)

    def action_previous_failed(self) -> None:
        self._to_failure(-1)

    def _to_failure(self, by: int) -> None:
        """Select the failed unit ``by`` away and show its log: in the host table (not the
        groups), with a state filter that shows it."""
        key = failures.step(self.nexus.model, self.selected, by, self.filter)
        if key is None:
            self.app.bell()
            return
        self._moved_at = time.monotonic()
        self.grouped = False
        if self.status_filter not in (None, Kind.FAILED):
            self.status_filter = None
        self.select_unit(key)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.nexus.keymap))

    async def action_quit(self) -> None:
        self.nexus.request_quit()

    def action_pane(self, delta: int) -> None:
        hosts = self.query_one(GroupTable) if self.grouped else self.query_one(HostTable)
        panes = [self.query_one(DagTree), hosts, self.query_one("#log-0")]
        focused = self.focused
        index = next((i for i, pane in enumerate(panes) if pane is focused), 0)
        if focused is not None and focused.id and focused.id.startswith("log-"):
            index = 2
        panes[max(0, min(index + delta, len(panes) - 1))].focus()
