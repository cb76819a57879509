"""``nexus run --resume [RUN|last]``: the plan of a new run that carries on a recorded one.

The old run's plan is rebuilt from what it recorded (its targets and host selection; a
``--hosts``/``--exclude`` given now replaces the selection), then compared with what it
recorded: a config file or a plan that changed since is refused, naming what changed, unless
the operator allows it. Each unit then carries on from the old run's record:

- it succeeded: it is reused, reported as such, and not run again;
- it failed, timed out, was interrupted, skipped or not run: it runs again from the first step
  that did not succeed (with its dependents, batches and failure budgets as in any run);
- it had a step running when the old run died: the same, once the processes of that step have
  been found on its host and killed (``leftovers``), before anything else starts.

A step marked ``idempotent = false`` that started and did not succeed may have done its work
already: it runs again only when the operator says so (``--yes``, or the dashboard's
confirmation). ``ensure`` steps always may.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from nexus_engine.config import LoadedConfig
from nexus_engine.journal import controller_alive, find_run, read_events
from nexus_engine.plan import Plan, Resumed, UnitKey, build_plan
from nexus_engine.redact import Redactor
from nexus_engine.resume.history import RunHistory, read_history
from nexus_engine.resume.record import PlanRecord, config_digest, plan_record, read_plan
from nexus_engine.selection import HostSelection

#: Changes listed in a refusal; the rest are counted.
_SHOWN = 10


class ResumeRefused(Exception):
    """The run cannot be resumed as asked, in words for the operator (exit 2)."""


class PlanChanged(ResumeRefused):
    """The config or the plan changed since the run: ``allow_changed`` goes on anyway. A face
    that asks the operator instead of naming a flag lists ``changes`` itself."""

    def __init__(self, message: str, changes: Sequence[str]) -> None:
        super().__init__(message)
        self.changes = tuple(changes)


class UnsafeToRerun(ResumeRefused):
    """Steps marked ``idempotent = false`` would run again: ``rerun_unsafe`` allows it. A face
    that asks the operator instead of naming a flag lists ``steps`` itself."""

    def __init__(self, message: str, steps: Sequence[str]) -> None:
        super().__init__(message)
        self.steps = tuple(steps)


class NothingToResume(Exception):
    """Every unit of the run succeeded: there is nothing to carry on (exit 0)."""


@dataclass(frozen=True, slots=True)
class ResumeOrder:
    """What the operator asked: which run, and what they allow."""

    ref: str = "last"
    allow_changed: bool = False  # resume even though the config or the plan changed
    rerun_unsafe: bool = False  # run again steps marked idempotent = false that did not finish


def resume_plan(
    loaded: LoadedConfig,
    order: ResumeOrder,
    *,
    selection: HostSelection | None = None,
    parallel_limit: int | None = None,
    retry_unsafe: bool = False,
    state_dir: Path | None = None,
) -> Plan:
    """The plan that carries on the run ``order`` names. Raises :class:`ResumeRefused`,
    :class:`NothingToResume`, and what ``build_plan`` raises."""
    try:
        run_dir = find_run(order.ref, state_dir)
    except LookupError as error:
        raise ResumeRefused(str(error)) from None
    run_id = run_dir.name
    record = read_plan(run_dir)
    if record is None:
        raise ResumeRefused(
            f"run {run_id} has no record of its plan (recorded by an older Nexus, or cut "
            "short before it started), so it cannot be resumed"
        )
    history = read_history(read_events(run_dir))
    _check_resumable(run_id, run_dir, history)
    chosen = selection if selection is not None else record.selection
    plan = build_plan(
        loaded,
        record.targets,
        parallel_limit=parallel_limit,
        hosts=chosen,
        retry_unsafe=retry_unsafe,
    )
    if not order.allow_changed:
        changes = what_changed(loaded, plan, record, run_id, narrowed=selection is not None)
        if changes:
            raise PlanChanged(
                f"the config or the plan changed since run {run_id}, so resuming it could run "
                f"what was never planned:\n{_listed(changes)}\n"
                "resume anyway with --allow-changed, or start a new run without --resume",
                changes,
            )
    resumed = carried_over(plan, history, run_id, record, chosen)
    unsafe = _unsafe(plan, history, resumed)
    if unsafe and not order.rerun_unsafe:
        raise UnsafeToRerun(
            f"these steps started in run {run_id} and did not finish, and are marked "
            "idempotent = false, so they may have done their work already:\n"
            f"{_listed(unsafe)}\n"
            "run them again with --yes (or resume from the dashboard and confirm)",
            unsafe,
        )
    if len(resumed.reused) == len(plan.units):
        raise NothingToResume(f"every unit of run {run_id} succeeded: nothing to resume")
    return replace(plan, resumed=resumed)


def _check_resumable(run_id: str, run_dir: Path, history: RunHistory) -> None:
    if history.checking:
        raise ResumeRefused(
            f"run {run_id} was a --check run: it changed nothing, so there is nothing to "
            "resume; run the tasks without --resume"
        )
    if not history.finished and controller_alive(run_dir):
        raise ResumeRefused(
            f"run {run_id} is still running; resume it once it has ended (Ctrl-C stops it)"
        )


def what_changed(
    loaded: LoadedConfig, plan: Plan, record: PlanRecord, run_id: str, *, narrowed: bool
) -> list[str]:
    """What differs between ``plan`` and the recorded one, in words. ``narrowed``: the
    operator chose the hosts now, so units of the old run left out are no change."""
    changes = []
    if config_digest(loaded.path) != record.config_sha256:
        changes.append(f"{loaded.path.name} is not the file run {run_id} ran")
    now = plan_record(plan, "", (), None, Redactor(loaded.secrets).text).units
    for key, prints in now.items():
        was = record.units.get(key)
        if was is None:
            changes.append(f"{key} is new: run {run_id} did not have it")
        elif was != prints:
            changes.append(f"{key}: {_differences(was, prints)}")
    if not narrowed:
        changes += [f"{key} is gone from the plan" for key in record.units if key not in now]
    return changes


def _differences(was: tuple[str, ...], now: tuple[str, ...]) -> str:
    """Which steps of a unit changed (the last print is the unit's place in the plan)."""
    if len(was) != len(now):
        return f"it had {len(was) - 1} steps and now has {len(now) - 1}"
    pairs = enumerate(zip(was[:-1], now[:-1], strict=True))
    steps = [str(index + 1) for index, (a, b) in pairs if a != b]
    words = [f"step {', '.join(steps)} changed"] if steps else []
    if was[-1] != now[-1]:
        words.append("what it waits for or its batch changed")
    return "; ".join(words)


def carried_over(
    plan: Plan,
    history: RunHistory,
    run_id: str,
    record: PlanRecord,
    selection: HostSelection | None,
) -> Resumed:
    reused: set[UnitKey] = set()
    first_step: dict[UnitKey, int] = {}
    changed_before: set[UnitKey] = set()
    leftovers: dict[UnitKey, tuple[str, ...]] = {}
    for unit in plan.units:
        past = history.units.get(unit.key)
        if past is None:
            continue  # never started there: it runs from its first step
        if past.status == "succeeded":
            reused.add(unit.key)
            continue
        if step := past.next_step():
            first_step[unit.key] = step
        if past.changed:
            changed_before.add(unit.key)
        markers = tuple(r.marker for r in past.running.values() if r.marker is not None)
        if markers and not history.finished:
            leftovers[unit.key] = markers
    return Resumed(
        run_id=run_id,
        reused=frozenset(reused),
        first_step=first_step,
        changed_before=frozenset(changed_before),
        leftovers=leftovers,
        targets=record.targets,
        selection=selection,
    )


def _unsafe(plan: Plan, history: RunHistory, resumed: Resumed) -> list[str]:
    """The steps marked ``idempotent = false`` that would run again after starting there."""
    found = []
    for unit in plan.units:
        past = history.units.get(unit.key)
        if past is None or unit.key in resumed.reused:
            continue
        step = resumed.first_step.get(unit.key, 0)
        started = step < len(unit.steps) and step in past.started
        if started and unit.steps[step].idempotent is False:
            found.append(f"{unit.key} step {step + 1}: {unit.steps[step].shown}")
    return found


def _listed(lines: Iterable[str]) -> str:
    items = list(lines)
    shown = [f"  {line}" for line in items[:_SHOWN]]
    if len(items) > _SHOWN:
        shown.append(f"  … and {len(items) - _SHOWN} more")
    return "\n".join(shown)
