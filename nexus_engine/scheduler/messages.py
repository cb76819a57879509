"""What the scheduler hears and says: facts in (past tense), commands and notices out, and the
read-only views it gives of a run. Plain frozen values, so tests and faces can build and compare
them, and a recorded run can be replayed into the machine fact by fact.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from nexus_engine.plan import UnitKey
from nexus_engine.status import Change, RunStatus, StepOutcome, UnitStatus


class SchedulerError(RuntimeError):
    """A fact that cannot happen in the current state: a bug in whoever sent it."""


class FailurePolicy(StrEnum):
    FAIL_FAST = "fail_fast"  # a failure beyond a task's budget stops new work
    CONTINUE = "continue"  # independent branches go on; dependents are skipped
    ASK = "ask"  # the failed unit waits for a decision; only its dependents wait with it


# ---- facts (past tense) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunBegan:
    """The run starts: the machine may start its first units."""

    now: float
    #: units that must not run, and why (a resumed run could not clear its host of the
    #: processes of the run it resumes): they fail at once, as if their first step had
    blocked: Mapping[UnitKey, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StepExited:
    """A step attempt ended on its host, however it ended: the machine decides what comes next."""

    key: UnitKey
    step: int
    attempt: int
    outcome: StepOutcome
    now: float
    exit_code: int | None = None
    signal: int | None = None
    reason: str | None = None
    error_kind: str | None = None  # a transport Failure: unreachable, auth_failed, …
    #: what a step that succeeded did: ok, changed (checking: would change), skipped
    change: Change | None = None


@dataclass(frozen=True, slots=True)
class TimerFired:
    """Time passed: due retries start, and a budget or deadline may have run out."""

    now: float


@dataclass(frozen=True, slots=True)
class RetryRequested:
    """The operator asked to run a failed unit again from the step that failed."""

    key: UnitKey
    now: float


@dataclass(frozen=True, slots=True)
class SkipRequested:
    """The operator gave up on a failed unit: its dependents may go on."""

    key: UnitKey
    now: float


@dataclass(frozen=True, slots=True)
class AbortRequested:
    """The operator asked to stop: nothing new starts and running units are cancelled."""

    now: float


@dataclass(frozen=True, slots=True)
class RecordLost:
    """The journal could not write: what runs from now on could not be accounted for."""

    now: float


Fact = (
    RunBegan
    | StepExited
    | TimerFired
    | RetryRequested
    | SkipRequested
    | AbortRequested
    | RecordLost
)


# ---- commands (imperative) and notices (what changed) ---------------------------------------


@dataclass(frozen=True, slots=True)
class StartStep:
    """Run this attempt of a step of a unit on its host."""

    key: UnitKey
    step: int
    attempt: int
    timeout: float
    #: the operator asked for this attempt: a host given up on this run gets a fresh chance
    operator_retry: bool = False
    #: an earlier step of the unit changed something: a ``when = "changed"`` step runs
    after_change: bool = False


@dataclass(frozen=True, slots=True)
class CancelUnit:
    """Stop whatever the unit is running: the run is aborting or out of budget."""

    key: UnitKey


@dataclass(frozen=True, slots=True)
class ScheduleRetry:
    """Start this attempt again at ``at``; the runner shows the wait, the timer starts it."""

    key: UnitKey
    step: int
    attempt: int
    at: float
    delay: float


@dataclass(frozen=True, slots=True)
class FinishRun:
    """Every unit has settled: the run ends with this status."""

    status: RunStatus


@dataclass(frozen=True, slots=True)
class UnitBegan:
    """A unit's first step is about to start (faces and connections follow its life)."""

    key: UnitKey


@dataclass(frozen=True, slots=True)
class UnitSettled:
    """A unit reached its final state; ``view`` is how it ended."""

    key: UnitKey
    view: UnitView


@dataclass(frozen=True, slots=True)
class AwaitingDecision:
    """A failed unit waits for the operator: retry, skip or abort."""

    key: UnitKey
    status: UnitStatus
    reason: str | None


@dataclass(frozen=True, slots=True)
class TaskBegan:
    """The first unit of a task started."""

    task: str


@dataclass(frozen=True, slots=True)
class TaskSettled:
    """Every unit of a task has settled; ``status`` is the worst of them."""

    task: str
    status: UnitStatus


Command = (
    StartStep
    | CancelUnit
    | ScheduleRetry
    | FinishRun
    | UnitBegan
    | UnitSettled
    | AwaitingDecision
    | TaskBegan
    | TaskSettled
)


# ---- read-only views ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnitView:
    """What the machine knows of one unit, for faces and the summary: a copy, never its state."""

    key: UnitKey
    status: UnitStatus
    step: int
    attempt: int
    attempts: int
    exit_code: int | None
    signal: int | None
    reason: str | None
    error_kind: str | None
    started_at: float | None
    finished_at: float | None
    ok_steps: int = 0  # steps that found nothing to do
    changed_steps: int = 0  # steps that changed something (a command that ran counts)
    skipped_steps: int = 0  # steps not run: check mode, or ``when`` did not hold
    reused: bool = False  # succeeded in the run this one resumes: not run again

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


@dataclass(frozen=True, slots=True)
class RunSnapshot:
    """Every unit and task as the machine sees them at one moment."""

    units: Mapping[UnitKey, UnitView]
    tasks: Mapping[str, UnitStatus | None]  # None until every unit of the task has settled
    total: int
    done: int
    running: int
    failed: int
    awaiting: int
    status: RunStatus | None  # None while the run goes on
