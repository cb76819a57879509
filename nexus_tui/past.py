"""The last run of this config, when it did not succeed: what plain ``nexus`` opens showing, with
resume a key away.

Only the newest recorded run of the same config file counts: if it succeeded (or was a
``--check`` run, or is still running) there is nothing to offer, however an older run ended.
Its events are read back from the journal and folded into a model of their own, exactly as the
live events of a run are, so the screen shows that run's final state with the same widgets.
Reading a big journal takes a while: ``last_run`` blocks, and the app calls it in a thread.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from nexus_engine import events as ev
from nexus_engine.journal import list_runs, read_events
from nexus_engine.plan import Plan, UnitKey
from nexus_engine.resume.record import read_plan
from nexus_engine.status import Change, RunStatus, UnitStatus
from nexus_tui.model import RunModel

#: How a run ended that resume can carry on.
RESUMABLE = frozenset({"failed", "interrupted", "crashed"})
#: Why a unit that was going when its run died shows as interrupted.
DIED = "was running when the run died"
#: The events that change what the screen shows (output is not in events.jsonl anyway).
KINDS: dict[str, type[ev.Event]] = {
    "run_started": ev.RunStarted,
    "task_started": ev.TaskStarted,
    "task_finished": ev.TaskFinished,
    "unit_started": ev.UnitStarted,
    "step_started": ev.StepStarted,
    "step_finished": ev.StepFinished,
    "retry_scheduled": ev.RetryScheduled,
    "decision_needed": ev.DecisionNeeded,
    "unit_finished": ev.UnitFinished,
    "run_finished": ev.RunFinished,
}


@dataclass(frozen=True, slots=True)
class PastRun:
    """A recorded run resume can carry on, and the screen's model of how it ended."""

    run_id: str
    state: str  # failed, interrupted or crashed
    model: RunModel


def last_run(view: Plan, config: Path, state_dir: Path | None = None) -> PastRun | None:
    """The newest recorded run of ``config`` if resume can carry it on, folded over ``view``
    (the plan of every task); None otherwise, or when the journal cannot be read."""
    try:
        return _last_run(view, config.resolve(), state_dir)
    except OSError:
        return None  # a journal we cannot read offers nothing; `nexus runs` says why


def _last_run(view: Plan, config: Path, state_dir: Path | None) -> PastRun | None:
    for record in list_runs(state_dir):
        first = next(read_events(record.path), None)
        if first is None or first.get("event") != "run_started":
            continue
        if not _same_file(first.get("config_path"), config):
            continue
        if record.state not in RESUMABLE or first.get("checking") is True:
            return None
        plan = read_plan(record.path)
        if plan is None:
            return None  # recorded by an older Nexus: resume would refuse it
        events = _decoded(read_events(record.path))
        model = fold(view, plan.units, events, crashed=record.crashed)
        return PastRun(record.run_id, record.state, model)
    return None


def fold(
    view: Plan, units: Iterable[str], events: Iterable[ev.Event], *, crashed: bool
) -> RunModel:
    """A model of ``view`` (every task) with the recorded ``units`` (``task@host``) marked as
    the run's and its ``events`` folded in; ``crashed``: the run died, so what was going when
    the record stops is shown stopped there."""
    model = RunModel(view)
    known = {str(key): key for key in model.hosts}
    model.mark(known[unit] for unit in units if unit in known)
    last = None
    for event in events:
        if _known(model, event):
            model.apply(event)
        last = event.time
    if crashed and last is not None:
        model.stop_at(last, DIED)
    return model


def _same_file(recorded: object, config: Path) -> bool:
    """Whether a run's ``config_path`` is ``config``. A relative path was relative to where
    that run started, which is not recorded: the current directory is the best guess."""
    return isinstance(recorded, str) and Path(recorded).resolve() == config


def _known(model: RunModel, event: ev.Event) -> bool:
    """Whether the model has the task and host the event is about: the config may have lost
    some since that run."""
    task, host = getattr(event, "task", None), getattr(event, "host", None)
    if host is not None:
        return UnitKey(str(task), host) in model.hosts
    return task is None or task in model.tasks


def _decoded(records: Iterable[dict[str, Any]]) -> Iterator[ev.Event]:
    for record in records:
        if (event := decode(record)) is not None:
            yield event


def decode(record: Mapping[str, Any]) -> ev.Event | None:
    """An event as ``events.to_json`` recorded it, back as the event the model folds; None for
    other kinds and for a record this version cannot read (it is skipped, as a torn line is).
    A RunFinished comes back without its per-task summary, which the model does not read."""
    kind = KINDS.get(str(record.get("event")))
    if kind is None:
        return None
    names = {f.name for f in dataclasses.fields(kind)}
    values = {name: value for name, value in record.items() if name in names}
    try:
        values["time"] = _seconds(values["time"])
        if kind is ev.RunFinished:
            values["started"] = _seconds(values["started"])
            values["status"] = RunStatus(values["status"])
            values.pop("tasks", None)
        elif "status" in values:
            values["status"] = UnitStatus(values["status"])
        if values.get("change") is not None:
            values["change"] = Change(values["change"])
        for name in ("tasks", "warnings"):
            if isinstance(values.get(name), list):
                values[name] = tuple(values[name])
        return kind(**values)
    except (KeyError, TypeError, ValueError):
        return None


def _seconds(stamp: object) -> float:
    if not isinstance(stamp, str):
        raise TypeError(stamp)
    return datetime.fromisoformat(stamp).timestamp()
