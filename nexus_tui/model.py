"""What the dashboard knows about a run, folded from the engine's events: plain values, no Textual.

Kept apart from the widgets so every widget reads the same facts and so the folding can be
tested on its own. Rows are frozen and replaced on every change, which makes a row safe to
carry in a message that may be coalesced: the newest message always holds the newest row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

from nexus_engine import events as ev
from nexus_engine.plan import Plan, UnitKey
from nexus_engine.status import Change, RunStatus, UnitStatus
from nexus_tui.tally import KIND_OF, Kind, Tally

S = UnitStatus
ACTIVE = frozenset({S.RUNNING, S.RETRY_WAIT})


@dataclass(frozen=True, slots=True)
class UnitRow:
    """One unit (a task on a host) as the screen shows it."""

    key: UnitKey
    steps: int
    in_run: bool = False
    status: UnitStatus = S.PENDING
    step: int = 0
    attempts: int = 0
    exit_code: int | None = None
    started: float | None = None  # wall-clock times from the events, never from our own clock
    stopped: float | None = None  # settled, or waiting for a decision: the clock stops
    duration: float | None = None  # the engine's own measure, once the unit has settled
    reason: str | None = None
    quiet_since: float | None = None
    ok_steps: int = 0  # steps that found nothing to do
    changed_steps: int = 0  # steps that changed something (checking: would)
    sending: tuple[int, int] | None = None  # a file on its way: bytes sent, of how many
    unsafe: bool = False  # its current step is marked idempotent = false: retrying asks first
    reused: bool = False  # succeeded in the run this one resumes: done, not run again

    def elapsed(self, now: float) -> float | None:
        if self.duration is not None:
            return self.duration
        if self.started is None:
            return None
        return max((self.stopped or now) - self.started, 0.0)

    @property
    def waiting(self) -> bool:
        return self.status is S.AWAITING_DECISION


@dataclass(frozen=True, slots=True)
class TaskRow:
    """One task of the DAG: its place in the graph and how its hosts are doing."""

    name: str
    deps: tuple[str, ...]
    hosts: tuple[str, ...]
    in_run: bool = False
    status: UnitStatus = S.PENDING
    settled: bool = False
    done: int = 0
    reused: int = 0  # hosts done because they succeeded in the run this one resumes
    started: float | None = None
    finished: float | None = None

    def elapsed(self, now: float) -> float | None:
        if self.started is None:
            return None
        return max((self.finished or now) - self.started, 0.0)


@dataclass(frozen=True, slots=True)
class RunTotals:
    """The run as a whole: the header's numbers."""

    run_id: str | None = None
    started: float | None = None
    finished: float | None = None
    total: int = 0
    done: int = 0
    running: int = 0
    failed: int = 0
    awaiting: int = 0
    status: RunStatus | None = None
    journal: str | None = None
    checking: bool = False  # --check: what the run says would change, nothing changed
    kinds: tuple[tuple[Kind, int], ...] = ()  # units of the run per kind, every kind

    @property
    def active(self) -> bool:
        return self.run_id is not None and self.status is None

    def elapsed(self, now: float) -> float | None:
        if self.started is None:
            return None
        return max((self.finished or now) - self.started, 0.0)


@dataclass(slots=True)
class Changed:
    """What one event changed, so only those rows are redrawn."""

    tasks: set[str] = field(default_factory=set)
    hosts: set[UnitKey] = field(default_factory=set)
    run: bool = False

    def __bool__(self) -> bool:
        return bool(self.tasks or self.hosts or self.run)


class RunModel:
    """Every task of the config (the idle DAG), then the run's events folded in."""

    def __init__(self, plan: Plan) -> None:
        self.order: list[str] = [task.name for task in plan.tasks]
        self.tasks: dict[str, TaskRow] = {
            task.name: TaskRow(task.name, task.deps, task.hosts) for task in plan.tasks
        }
        self.hosts: dict[UnitKey, UnitRow] = {
            unit.key: UnitRow(unit.key, steps=len(unit.steps)) for unit in plan.units
        }
        self.waits_for: dict[UnitKey, frozenset[UnitKey]] = {
            unit.key: unit.waits_for for unit in plan.units
        }
        #: Each unit's place in plan order (tasks in order, each task's hosts in order), and
        #: each task's units: made once, not per key press.
        self.place = {key: index for index, key in enumerate(self.hosts)}
        self.units_of = {
            name: [UnitKey(name, host) for host in task.hosts] for name, task in self.tasks.items()
        }
        #: The run's units of each kind, kept as rows change: a key press that looks for the
        #: failed units (``n``) or those waiting reads these, not every unit of the fleet.
        self.of_kind: dict[Kind, set[UnitKey]] = {kind: set() for kind in Kind}
        self._waiting: set[UnitKey] = set()
        #: Units per status, kept as rows change: every host of each task, and the run's units.
        self.task_tallies = {name: Tally() for name in self.tasks}
        for key, row in self.hosts.items():
            self.task_tallies[key.task].add(row.status)
        self.tally = Tally()
        self.totals = RunTotals()

    def begin(self, plan: Plan) -> None:
        """Mark what the run will do; the rest of the DAG stays on screen, greyed."""
        self.mark([unit.key for unit in plan.units])

    def mark(self, units: Iterable[UnitKey]) -> None:
        """Mark these units (and their tasks) as the run's; units the config no longer has (a
        recorded run of an older config) are left out."""
        keys = [key for key in units if key in self.hosts]
        for key in keys:
            self._put(dataclasses.replace(self.hosts[key], in_run=True))
            self.tasks[key.task] = dataclasses.replace(self.tasks[key.task], in_run=True)
        self.totals = dataclasses.replace(self.totals, total=len(keys), kinds=self._kinds())

    def stop_at(self, when: float, reason: str) -> None:
        """The record ends at ``when`` with work still going (its controller died): what was
        going is shown interrupted, stopped there (a unit waiting for a decision: when it
        began to wait, and why), and no clock runs on."""
        changed = Changed()
        for key, row in self.hosts.items():
            if row.in_run and row.started is not None and not row.status.terminal:
                stopped, why = row.stopped or when, row.reason or reason
                self._host(key, changed, status=S.INTERRUPTED, stopped=stopped, reason=why)
        for name, task in self.tasks.items():
            if task.started is not None and not task.settled:
                self._task(name, finished=when, settled=True, status=S.INTERRUPTED)
        if self.totals.finished is None:
            self.totals = dataclasses.replace(self.totals, finished=when)
        if changed.hosts:
            self._recount(changed)

    def hosts_of(self, task: str) -> list[UnitRow]:
        return [self.hosts[key] for key in self.units_of[task]]

    def awaiting(self) -> list[UnitKey]:
        """Units waiting for a decision, in plan order (dependencies first)."""
        return sorted(self._waiting, key=self.place.__getitem__)

    def held_by(self, key: UnitKey) -> list[UnitKey]:
        """Units that cannot start until ``key`` is decided: the ones that wait with it."""
        held, frontier = [], [key]
        while frontier:
            current = frontier.pop()
            for other, waits in self.waits_for.items():
                if current in waits and other not in held and self.hosts[other].in_run:
                    held.append(other)
                    frontier.append(other)
        return sorted(held)

    def apply(self, event: ev.Event) -> Changed:  # noqa: PLR0912 - one case per event kind
        changed = Changed()
        match event:
            case ev.RunStarted():
                self.totals = dataclasses.replace(
                    self.totals,
                    run_id=event.run_id,
                    started=event.time,
                    total=event.unit_count,
                    journal=event.journal_dir,
                    checking=event.checking,
                )
                changed.run = True
            case ev.TaskStarted():
                self._task(event.task, started=event.time)
                changed.tasks.add(event.task)
            case ev.TaskFinished():
                self._task(event.task, finished=event.time, settled=True, status=event.status)
                changed.tasks.add(event.task)
            case ev.UnitStarted():
                self._host(_key(event), changed, status=S.RUNNING, started=event.time, attempts=1)
            case ev.StepStarted():
                row = self.hosts[_key(event)]
                attempts = row.attempts + (1 if event.attempt > 1 else 0)
                self._host(
                    _key(event),
                    changed,
                    status=S.RUNNING,
                    step=event.step,
                    attempts=max(attempts, 1),
                    stopped=None,
                    reason=None,
                    quiet_since=None,
                    unsafe=event.idempotent is False,
                )
            case ev.OutputReceived():
                if self.hosts[_key(event)].quiet_since is not None:
                    self._host(_key(event), changed, quiet_since=None)
            case ev.UnitQuiet():
                self._host(_key(event), changed, quiet_since=event.time - event.silent_for)
            case ev.StepFinished():
                row = self.hosts[_key(event)]
                counts = {
                    "ok_steps": row.ok_steps + (event.change is Change.OK),
                    "changed_steps": row.changed_steps + (event.change is Change.CHANGED),
                }
                self._host(
                    _key(event),
                    changed,
                    exit_code=event.exit_code,
                    quiet_since=None,
                    sending=None,
                    **counts,
                )
            case ev.BytesSent():
                self._host(_key(event), changed, sending=(event.sent, event.total))
            case ev.RetryScheduled():
                self._host(_key(event), changed, status=S.RETRY_WAIT)
            case ev.DecisionNeeded():
                waiting = {"status": S.AWAITING_DECISION, "reason": event.reason}
                self._host(_key(event), changed, stopped=event.time, **waiting)
            case ev.UnitFinished():
                self._host(
                    _key(event),
                    changed,
                    status=event.status,
                    attempts=event.attempts,
                    exit_code=event.exit_code,
                    duration=event.duration,
                    stopped=event.time,
                    reason=event.reason,
                    quiet_since=None,
                    reused=event.reused,
                )
            case ev.RunFinished():
                self.totals = dataclasses.replace(
                    self.totals, finished=event.time, status=event.status
                )
                changed.run = True
        if changed.hosts:
            self._recount(changed)
        return changed

    # -- folding --

    def _host(self, key: UnitKey, changed: Changed, **values: object) -> None:
        self._put(dataclasses.replace(self.hosts[key], **values))  # type: ignore[arg-type]
        changed.hosts.add(key)
        changed.tasks.add(key.task)

    def _put(self, row: UnitRow) -> None:
        """Replace a unit's row, moving it between the tallies' counts if its state changed."""
        old = self.hosts[row.key]
        self.hosts[row.key] = row
        if (old.status, old.reused, old.in_run) == (row.status, row.reused, row.in_run):
            return
        task = self.task_tallies[row.key.task]
        task.remove(old.status, reused=old.reused)
        task.add(row.status, reused=row.reused)
        if old.in_run:
            self.tally.remove(old.status)
            self.of_kind[KIND_OF[old.status]].discard(row.key)
        if row.in_run:
            self.tally.add(row.status)
            self.of_kind[KIND_OF[row.status]].add(row.key)
        if row.waiting:
            self._waiting.add(row.key)
        else:
            self._waiting.discard(row.key)

    def _task(self, name: str, **values: object) -> None:
        self.tasks[name] = dataclasses.replace(self.tasks[name], **values)  # type: ignore[arg-type]

    def _recount(self, changed: Changed) -> None:
        """The changed tasks' and the run's numbers, from the tallies: no unit is counted."""
        for name in changed.tasks:
            task, tally = self.tasks[name], self.task_tallies[name]
            status = task.status if task.settled else _live_status(tally)
            self.tasks[name] = dataclasses.replace(
                task, done=tally.done, reused=tally.reused, status=status
            )
        tally = self.tally
        self.totals = dataclasses.replace(
            self.totals,
            done=tally.done,
            running=tally.count(*ACTIVE),
            failed=tally.count(S.FAILED, S.TIMED_OUT, S.AWAITING_DECISION),
            awaiting=tally.count(S.AWAITING_DECISION),
            kinds=self._kinds(),
        )
        changed.run = True

    def _kinds(self) -> tuple[tuple[Kind, int], ...]:
        return tuple(self.tally.kinds().items())


def _key(event: ev.Event) -> UnitKey:
    return UnitKey(event.task, event.host)  # type: ignore[attr-defined]


def _live_status(tally: Tally) -> UnitStatus:
    """A task that has not settled: waiting beats running beats pending, so the tree shows
    the most urgent thing about it."""
    for status in (S.AWAITING_DECISION, S.RUNNING, S.RETRY_WAIT):
        if tally.has(status):
            return status
    return S.PENDING
