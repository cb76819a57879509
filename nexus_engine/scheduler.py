"""The run's state machine, without I/O: facts in, commands out.

On the model of h11, ``Scheduler.handle(fact)`` takes something that happened (past tense:
``StepExited``, ``TimerFired``, ``RetryRequested``…) and returns what to do next (imperative:
``StartStep``, ``CancelUnit``, ``ScheduleRetry``, ``FinishRun``) plus notices of what changed
(``UnitBegan``, ``UnitSettled``…) for the runner to publish. Time arrives only as data (``now``
on every fact), randomness only through the injected ``rng``, so every run can be replayed
exactly in tests. A unit's state changes here and nowhere else; legal moves are one table.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from nexus_engine.plan import Plan, TaskPlan, Unit, UnitKey
from nexus_engine.status import RunStatus, StepOutcome, UnitStatus

S = UnitStatus

#: Every legal move of a unit. Anything else is a bug in the caller and raises SchedulerError.
TRANSITIONS: Mapping[UnitStatus, frozenset[UnitStatus]] = {
    S.PENDING: frozenset({S.RUNNING, S.SKIPPED, S.NOT_RUN, S.FAILED, S.TIMED_OUT}),
    S.RUNNING: frozenset(
        {S.RUNNING, S.RETRY_WAIT, S.AWAITING_DECISION, S.SUCCEEDED, S.FAILED, S.TIMED_OUT}
        | {S.INTERRUPTED}
    ),
    S.RETRY_WAIT: frozenset({S.RUNNING, S.INTERRUPTED, S.TIMED_OUT}),
    S.AWAITING_DECISION: frozenset({S.PENDING, S.SKIPPED, S.FAILED, S.TIMED_OUT}),
    **{status: frozenset() for status in S if status.terminal},
}

DEADLINE_SLACK = 1e-3  # a step stopped by the task deadline reports a hair before it
JITTER = 0.2  # retry delays vary ±20 % so hosts that failed together do not retry in lockstep


class SchedulerError(RuntimeError):
    """A fact that cannot happen in the current state: a bug in whoever sent it."""


class FailurePolicy(StrEnum):
    FAIL_FAST = "fail_fast"  # a failure beyond a task's budget stops new work
    CONTINUE = "continue"  # independent branches go on; dependents are skipped
    ASK = "ask"  # the failed unit waits for a decision; only its dependents wait with it


# ---- facts (past tense) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunBegan:
    now: float


@dataclass(frozen=True, slots=True)
class StepExited:
    key: UnitKey
    step: int
    attempt: int
    outcome: StepOutcome
    now: float
    exit_code: int | None = None
    signal: int | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class TimerFired:
    now: float


@dataclass(frozen=True, slots=True)
class RetryRequested:
    key: UnitKey
    now: float


@dataclass(frozen=True, slots=True)
class SkipRequested:
    key: UnitKey
    now: float


@dataclass(frozen=True, slots=True)
class AbortRequested:
    now: float


Fact = RunBegan | StepExited | TimerFired | RetryRequested | SkipRequested | AbortRequested


# ---- commands (imperative) and notices (what changed) ---------------------------------------


@dataclass(frozen=True, slots=True)
class StartStep:
    key: UnitKey
    step: int
    attempt: int
    timeout: float


@dataclass(frozen=True, slots=True)
class CancelUnit:
    key: UnitKey


@dataclass(frozen=True, slots=True)
class ScheduleRetry:
    key: UnitKey
    step: int
    attempt: int
    at: float
    delay: float


@dataclass(frozen=True, slots=True)
class FinishRun:
    status: RunStatus


@dataclass(frozen=True, slots=True)
class UnitBegan:
    key: UnitKey


@dataclass(frozen=True, slots=True)
class UnitSettled:
    key: UnitKey
    view: UnitView


@dataclass(frozen=True, slots=True)
class AwaitingDecision:
    key: UnitKey
    status: UnitStatus
    reason: str | None


@dataclass(frozen=True, slots=True)
class TaskBegan:
    task: str


@dataclass(frozen=True, slots=True)
class TaskSettled:
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
    key: UnitKey
    status: UnitStatus
    step: int
    attempt: int
    attempts: int
    exit_code: int | None
    signal: int | None
    reason: str | None
    started_at: float | None
    finished_at: float | None

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


@dataclass(frozen=True, slots=True)
class RunSnapshot:
    units: Mapping[UnitKey, UnitView]
    tasks: Mapping[str, UnitStatus | None]  # None until every unit of the task has settled
    total: int
    done: int
    running: int
    failed: int
    awaiting: int
    status: RunStatus | None  # None while the run goes on


# ---- the machine ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Unit:
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
    failure: UnitStatus | None = None  # how it failed, while awaiting a decision
    skipped_because: int | None = None  # the unit whose outcome skipped this one

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
            started_at=self.started_at,
            finished_at=self.finished_at,
        )


class Scheduler:
    """Decides which (task, host) unit runs when, and what each outcome means for the rest."""

    def __init__(
        self,
        plan: Plan,
        policy: FailurePolicy = FailurePolicy.FAIL_FAST,
        rng: random.Random | None = None,
    ) -> None:
        self._plan = plan
        self._policy = policy
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        tasks = {task.name: task for task in plan.tasks}
        index = {unit.key: i for i, unit in enumerate(plan.units)}
        self._units = [
            _Unit(i, unit, tasks[unit.key.task], {index[key] for key in unit.waits_for})
            for i, unit in enumerate(plan.units)
        ]
        for state in self._units:
            for dep in state.waiting:
                self._units[dep].dependents.append(state.index)
        self._by_key = index
        self._of_task: dict[str, list[_Unit]] = {task.name: [] for task in plan.tasks}
        for state in self._units:
            self._of_task[state.task.name].append(state)
        self._unsettled = {name: len(units) for name, units in self._of_task.items()}
        self._task_status: dict[str, UnitStatus | None] = {t.name: None for t in plan.tasks}
        self._failures = dict.fromkeys(tasks, 0)
        self._task_failed: set[str] = set()
        self._tasks_begun: set[str] = set()
        self._ready: list[int] = []
        self._retrying: set[int] = set()
        self._busy = 0  # units holding a slot: running or waiting to retry
        self._done = 0
        self._began = False
        self._stopping = False
        self._aborting = False
        self._status: RunStatus | None = None
        self._out: list[Command] = []

    # -- public surface --

    def handle(self, fact: Fact) -> list[Command]:
        if self._status is not None and not isinstance(fact, AbortRequested):
            raise SchedulerError(f"the run has finished; cannot handle {fact!r}")
        match fact:
            case RunBegan():
                self._run_began(fact)
            case StepExited():
                self._step_exited(fact)
            case TimerFired():
                self._timer_fired(fact.now)
            case RetryRequested():
                self._retry_requested(fact)
            case SkipRequested():
                self._skip_requested(fact)
            case AbortRequested():
                self._abort(fact.now)
        self._fill(fact.now)
        self._maybe_finish()
        out, self._out = self._out, []
        return out

    def snapshot(self) -> RunSnapshot:
        return RunSnapshot(
            units={state.unit.key: state.view() for state in self._units},
            tasks=dict(self._task_status),
            total=len(self._units),
            done=self._done,
            running=self._busy,
            failed=sum(self._failures.values()),
            awaiting=sum(1 for s in self._units if s.status is S.AWAITING_DECISION),
            status=self._status,
        )

    def can_retry(self, key: UnitKey) -> bool:
        return self._state(key).status is S.AWAITING_DECISION

    # -- facts --

    def _run_began(self, fact: RunBegan) -> None:
        if self._began:
            raise SchedulerError("the run has already begun")
        self._began = True
        for state in self._units:
            if not state.waiting:
                heapq.heappush(self._ready, state.index)

    def _step_exited(self, fact: StepExited) -> None:
        state = self._state(fact.key)
        if state.status is not S.RUNNING or (state.step, state.attempt) != (
            fact.step,
            fact.attempt,
        ):
            raise SchedulerError(
                f"{fact.key} reported step {fact.step} attempt {fact.attempt} while "
                f"{state.status} at step {state.step} attempt {state.attempt}"
            )
        state.exit_code, state.signal, state.reason = fact.exit_code, fact.signal, fact.reason
        now = fact.now
        if fact.outcome is StepOutcome.SUCCEEDED:
            state.step += 1
            state.attempt = 1
            if state.step == len(state.unit.steps):
                self._settle(state, S.SUCCEEDED, now)
            elif self._aborting:
                self._settle(state, S.INTERRUPTED, now, "aborted before the next step")
            else:
                self._start_step(state, now)
        elif fact.outcome is StepOutcome.INTERRUPTED:
            self._settle(state, S.INTERRUPTED, now)
        else:
            failed = S.TIMED_OUT if fact.outcome is StepOutcome.TIMED_OUT else S.FAILED
            self._step_failed(state, failed, now)

    def _step_failed(self, state: _Unit, failed: UnitStatus, now: float) -> None:
        step = state.unit.steps[state.step]
        if state.deadline is not None and now >= state.deadline - DEADLINE_SLACK:
            state.reason = f"task timeout ({state.task.timeout:g}s)"
            self._fail(state, S.TIMED_OUT, now)
            return
        if self._aborting or state.attempt > step.retries:
            self._fail(state, failed, now)
            return
        delay = step.retry_delay * 2 ** (state.attempt - 1)
        delay *= self._rng.uniform(1 - JITTER, 1 + JITTER)
        at = now + delay
        if state.deadline is not None and at >= state.deadline:
            state.reason = f"task timeout ({state.task.timeout:g}s) before the next retry"
            self._fail(state, S.TIMED_OUT, now)
            return
        self._move(state, S.RETRY_WAIT)
        state.retry_at = at
        self._retrying.add(state.index)
        self._out.append(ScheduleRetry(state.unit.key, state.step, state.attempt + 1, at, delay))

    def _timer_fired(self, now: float) -> None:
        due = sorted(i for i in self._retrying if (self._units[i].retry_at or 0.0) <= now)
        for index in due:
            state = self._units[index]
            self._retrying.discard(index)
            state.retry_at = None
            state.attempt += 1
            state.attempts += 1
            self._move(state, S.RUNNING)
            self._start_step(state, now)

    def _retry_requested(self, fact: RetryRequested) -> None:
        state = self._state(fact.key)
        if state.status is not S.AWAITING_DECISION:
            raise SchedulerError(f"{fact.key} is {state.status}, not waiting for a decision")
        self._move(state, S.PENDING)
        heapq.heappush(self._ready, state.index)

    def _skip_requested(self, fact: SkipRequested) -> None:
        state = self._state(fact.key)
        if state.status is not S.AWAITING_DECISION:
            raise SchedulerError(f"{fact.key} is {state.status}, not waiting for a decision")
        state.failure = None
        self._settle(state, S.SKIPPED, fact.now, "skipped by the operator")

    def _abort(self, now: float) -> None:
        if self._aborting:
            return
        self._aborting = self._stopping = True
        for state in self._units:
            if state.status is S.AWAITING_DECISION or (state.status is S.PENDING and state.failure):
                self._settle(state, state.failure or S.FAILED, now)
            elif state.status is S.PENDING:
                self._settle(state, S.NOT_RUN, now, "run aborted")
            elif state.status is S.RETRY_WAIT:
                self._retrying.discard(state.index)
                self._settle(state, S.INTERRUPTED, now, "aborted while waiting to retry")
            elif state.status is S.RUNNING:
                self._out.append(CancelUnit(state.unit.key))

    # -- moves --

    def _fill(self, now: float) -> None:
        while self._ready and self._busy < self._plan.parallel_limit and not self._stopping:
            state = self._units[heapq.heappop(self._ready)]
            if state.status is not S.PENDING:
                continue
            if state.started_at is None:
                self._begin(state, now)
            else:  # resumed by an operator's retry: again from the step that failed
                state.failure = None
                state.attempt += 1
                state.attempts += 1
                self._move(state, S.RUNNING)
                self._busy += 1
                self._start_step(state, now)

    def _begin(self, state: _Unit, now: float) -> None:
        task = state.task.name
        if task not in self._tasks_begun:
            self._tasks_begun.add(task)
            self._out.append(TaskBegan(task))
        self._move(state, S.RUNNING)
        self._busy += 1
        state.started_at = now
        state.attempts = 1
        if state.task.timeout is not None:
            state.deadline = now + state.task.timeout
        self._out.append(UnitBegan(state.unit.key))
        if not state.unit.steps:
            self._settle(state, S.SUCCEEDED, now)
        else:
            self._start_step(state, now)

    def _start_step(self, state: _Unit, now: float) -> None:
        timeout = state.unit.steps[state.step].timeout
        if state.deadline is not None:
            timeout = min(timeout, state.deadline - now)
        self._out.append(StartStep(state.unit.key, state.step, state.attempt, timeout))

    def _fail(self, state: _Unit, failed: UnitStatus, now: float) -> None:
        over_budget = self._failures[state.task.name] + 1 > state.task.max_failures
        if self._policy is FailurePolicy.ASK and over_budget and not self._aborting:
            self._move(state, S.AWAITING_DECISION)
            self._busy -= 1
            state.failure = failed
            self._out.append(AwaitingDecision(state.unit.key, failed, state.reason))
            return
        self._settle(state, failed, now)

    def _settle(
        self, first: _Unit, status: UnitStatus, now: float, reason: str | None = None
    ) -> None:
        """Move a unit to a final state, then everything that outcome decides, breadth first
        (a chain of ten thousand skipped dependents must not recurse ten thousand deep)."""
        queue: deque[tuple[_Unit, UnitStatus, str | None]] = deque([(first, status, reason)])
        while queue:
            state, status, reason = queue.popleft()
            if state.status.terminal:
                continue
            if state.status in (S.RUNNING, S.RETRY_WAIT):
                self._busy -= 1
            self._move(state, status)
            state.finished_at = now
            if reason is not None:
                state.reason = reason
            self._done += 1
            self._out.append(UnitSettled(state.unit.key, state.view()))
            if status.failure:
                self._count_failure(state, queue)
            self._settle_task(state.task.name)
            for index in state.dependents:
                dependent = self._units[index]
                if dependent.status is not S.PENDING or dependent.started_at is not None:
                    continue
                verdict = self._verdict(dependent, state)
                if verdict is None:
                    dependent.waiting.discard(state.index)
                    if not dependent.waiting:
                        heapq.heappush(self._ready, index)
                else:
                    dependent.skipped_because = state.index
                    queue.append((dependent, verdict, f"{verdict}: {state.unit.key} {status}"))

    def _count_failure(
        self, state: _Unit, queue: deque[tuple[_Unit, UnitStatus, str | None]]
    ) -> None:
        task = state.task.name
        self._failures[task] += 1
        if self._failures[task] > state.task.max_failures and task not in self._task_failed:
            self._task_failed.add(task)
            if self._policy is FailurePolicy.FAIL_FAST and not self._stopping:
                self._stopping = True
                reason = f"not run: {task} failed"
                queue.extend(
                    (other, S.NOT_RUN, reason)
                    for other in self._units
                    if other.status is S.PENDING and other.started_at is None
                )

    def _verdict(self, dependent: _Unit, dep: _Unit) -> UnitStatus | None:
        """None when ``dep``'s outcome lets ``dependent`` go on, else what it becomes."""
        if dep.status is S.SUCCEEDED:
            return None
        if dep.status in (S.NOT_RUN, S.INTERRUPTED) or self._stopping:
            return S.NOT_RUN
        same_host = dependent.unit.key.host == dep.unit.key.host
        if self._excused(dep) and not same_host:
            return None
        return S.SKIPPED

    def _excused(self, state: _Unit) -> bool:
        """Whether a failed or skipped unit only drops its host out of the run (within the
        task's failure budget, or skipped by the operator) rather than breaking what needs it."""
        while True:
            if state.status.failure:
                return state.task.name not in self._task_failed
            if state.status is not S.SKIPPED:
                return False
            if state.skipped_because is None:
                return True  # the operator's decision
            cause = self._units[state.skipped_because]
            if cause.unit.key.host != state.unit.key.host:
                return False
            state = cause

    def _settle_task(self, task: str) -> None:
        self._unsettled[task] -= 1
        if self._unsettled[task]:
            return
        statuses = {state.status for state in self._of_task[task]}
        status = _task_status(statuses)
        self._task_status[task] = status
        self._out.append(TaskSettled(task, status))

    def _maybe_finish(self) -> None:
        if self._status is not None or not self._began or self._done < len(self._units):
            return
        if self._aborting:
            self._status = RunStatus.INTERRUPTED
        elif any(s.status not in (S.SUCCEEDED, S.SKIPPED) for s in self._units):
            self._status = RunStatus.FAILED
        else:
            self._status = RunStatus.SUCCEEDED
        self._out.append(FinishRun(self._status))

    def _move(self, state: _Unit, status: UnitStatus) -> None:
        if status not in TRANSITIONS[state.status]:
            raise SchedulerError(f"{state.unit.key}: {state.status} → {status} is not allowed")
        state.status = status

    def _state(self, key: UnitKey) -> _Unit:
        try:
            return self._units[self._by_key[key]]
        except KeyError:
            raise SchedulerError(f"no unit {key} in this plan") from None


def _task_status(statuses: set[UnitStatus]) -> UnitStatus:
    for status in (S.INTERRUPTED, S.FAILED, S.TIMED_OUT):
        if status in statuses:
            return status
    if S.NOT_RUN in statuses:
        return S.NOT_RUN
    if statuses == {S.SKIPPED}:
        return S.SKIPPED
    return S.SUCCEEDED
