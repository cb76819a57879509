"""One unit's record inside the scheduler, and the table of the moves it may make.

The record changes only through ``move``, which refuses anything the table does not list:
an illegal move is a bug in the scheduler, caught where it happens rather than reported later
as a strange summary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from nexus_engine.plan import TaskPlan, Unit
from nexus_engine.scheduler.messages import SchedulerError, UnitView
from nexus_engine.status import UnitStatus

S = UnitStatus

#: Every legal move of a unit. Anything else is a bug in the caller and raises SchedulerError.
TRANSITIONS: Mapping[UnitStatus, frozenset[UnitStatus]] = {
    # PENDING → SUCCEEDED: reused, having succeeded in the run a resumed run resumes
    S.PENDING: frozenset({S.RUNNING, S.SKIPPED, S.NOT_RUN, S.FAILED, S.TIMED_OUT, S.SUCCEEDED}),
    S.RUNNING: frozenset(
        {S.RUNNING, S.RETRY_WAIT, S.AWAITING_DECISION, S.SUCCEEDED, S.FAILED, S.TIMED_OUT}
        | {S.INTERRUPTED}
    ),
    S.RETRY_WAIT: frozenset({S.RUNNING, S.INTERRUPTED, S.TIMED_OUT}),
    S.AWAITING_DECISION: frozenset({S.PENDING, S.SKIPPED, S.FAILED, S.TIMED_OUT}),
    **{status: frozenset() for status in S if status.terminal},
}


@dataclass(slots=True)
class UnitRecord:
    """The scheduler's state for one unit: what it waits for, what waits for it, where it is."""

    index: int
    unit: Unit
    task: TaskPlan
    waiting: set[int]
    dependents: list[int] = field(default_factory=list)
    status: UnitStatus = S.PENDING
    step: int = 0
    attempt: int = 1
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    deadline: float | None = None
    retry_at: float | None = None
    exit_code: int | None = None
    signal: int | None = None
    reason: str | None = None
    error_kind: str | None = None
    failure: UnitStatus | None = None  # how it failed, while awaiting a decision
    skipped_because: int | None = None  # the unit whose outcome skipped this one
    operator_retry: bool = False  # the operator said retry: its next start says so
    ok_steps: int = 0
    changed_steps: int = 0
    skipped_steps: int = 0
    reused: bool = False  # succeeded in the run this one resumes
    changed_before: bool = False  # …where an earlier step of it changed something

    def view(self) -> UnitView:
        return UnitView(
            key=self.unit.key,
            status=self.status,
            step=self.step,
            attempt=self.attempt,
            attempts=self.attempts,
            exit_code=self.exit_code,
            signal=self.signal,
            reason=self.reason,
            error_kind=self.error_kind,
            started_at=self.started_at,
            finished_at=self.finished_at,
            ok_steps=self.ok_steps,
            changed_steps=self.changed_steps,
            skipped_steps=self.skipped_steps,
            reused=self.reused,
        )

    def move(self, status: UnitStatus) -> None:
        if status not in TRANSITIONS[self.status]:
            raise SchedulerError(f"{self.unit.key}: {self.status} → {status} is not allowed")
        self.status = status


def task_status(statuses: set[UnitStatus], *, over_budget: bool = True) -> UnitStatus:
    """A settled task's status from its units' statuses. ``over_budget``: its failures went
    beyond ``max_failures``; failures within the budget make the task ``partial``, not
    ``failed``, since its dependents went on without those hosts."""
    if S.INTERRUPTED in statuses:
        return S.INTERRUPTED
    failures = [status for status in (S.FAILED, S.TIMED_OUT) if status in statuses]
    if failures and over_budget:
        return failures[0]
    if S.NOT_RUN in statuses:
        return S.NOT_RUN
    if failures:
        return S.PARTIAL
    if statuses == {S.SKIPPED}:
        return S.SKIPPED
    return S.SUCCEEDED
