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

from nexus_engine.config.models import WEEK
from nexus_engine.plan import Plan, UnitKey
from nexus_engine.scheduler import messages as m
from nexus_engine.scheduler.units import UnitRecord, task_status
from nexus_engine.status import Change, RunStatus, StepOutcome, UnitStatus

S = UnitStatus

DEADLINE_SLACK = 1e-3  # a step stopped by the task deadline reports a hair before it
JITTER = 0.2  # retry delays vary ±20 % so hosts that failed together do not retry in lockstep


# ---- the machine ----------------------------------------------------------------------------


class Scheduler:
    """Decides which (task, host) unit runs when, and what each outcome means for the rest."""

    def __init__(
        self,
        plan: Plan,
        policy: m.FailurePolicy = m.FailurePolicy.FAIL_FAST,
        rng: random.Random | None = None,
    ) -> None:
        self._plan = plan
        self._policy = policy
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        tasks = {task.name: task for task in plan.tasks}
        index = {unit.key: i for i, unit in enumerate(plan.units)}
        self._units = [
            UnitRecord(i, unit, tasks[unit.key.task], {index[key] for key in unit.waits_for})
            for i, unit in enumerate(plan.units)
        ]
        for state in self._units:
            for dep in state.waiting:
                self._units[dep].dependents.append(state.index)
        self._by_key = index
        self._of_task: dict[str, list[UnitRecord]] = {task.name: [] for task in plan.tasks}
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
        self._record_lost = False
        self._status: RunStatus | None = None
        self._out: list[m.Command] = []

    # -- public surface --

    def handle(self, fact: m.Fact) -> list[m.Command]:
        if self._status is not None and not isinstance(fact, m.AbortRequested):
            raise m.SchedulerError(f"the run has finished; cannot handle {fact!r}")
        match fact:
            case m.RunBegan():
                self._run_began(fact)
            case m.StepExited():
                self._step_exited(fact)
            case m.TimerFired():
                self._timer_fired(fact.now)
            case m.RetryRequested():
                self._retry_requested(fact)
            case m.SkipRequested():
                self._skip_requested(fact)
            case m.AbortRequested():
                self._abort(fact.now)
            case m.RecordLost():
                self._lose_record(fact.now)
        self._fill(fact.now)
        self._maybe_finish()
        out, self._out = self._out, []
        return out

    def snapshot(self) -> m.RunSnapshot:
        return m.RunSnapshot(
            units={state.unit.key: state.view() for state in self._units},
            tasks=dict(self._task_status),
            total=len(self._units),
            done=self._done,
            running=self._busy,
            failed=sum(self._failures.values()),
            awaiting=sum(1 for s in self._units if s.status is S.AWAITING_DECISION),
            status=self._status,
        )

    def awaits_decision(self, key: UnitKey) -> bool:
        """Whether the unit waits for the operator to retry or skip it."""
        return self._state(key).status is S.AWAITING_DECISION

    # -- facts --

    def _run_began(self, fact: m.RunBegan) -> None:
        if self._began:
            raise m.SchedulerError("the run has already begun")
        self._began = True
        for key, reason in fact.blocked.items():
            self._settle(self._state(key), S.FAILED, fact.now, reason)
        if (resumed := self._plan.resumed) is not None:
            reason = f"reused: it succeeded in run {resumed.run_id}"
            for state in self._units:
                state.changed_before = state.unit.key in resumed.changed_before
                if state.unit.key in resumed.reused and state.status is S.PENDING:
                    state.reused = True
                    self._settle(state, S.SUCCEEDED, fact.now, reason)
        for state in self._units:
            if not state.waiting and state.status is S.PENDING:
                heapq.heappush(self._ready, state.index)

    def _step_exited(self, fact: m.StepExited) -> None:
        state = self._state(fact.key)
        if state.status is not S.RUNNING or (state.step, state.attempt) != (
            fact.step,
            fact.attempt,
        ):
            raise m.SchedulerError(
                f"{fact.key} reported step {fact.step} attempt {fact.attempt} while "
                f"{state.status} at step {state.step} attempt {state.attempt}"
            )
        state.exit_code, state.signal, state.reason = fact.exit_code, fact.signal, fact.reason
        state.error_kind = fact.error_kind
        now = fact.now
        if fact.outcome is StepOutcome.SUCCEEDED:
            if fact.change is Change.CHANGED:
                state.changed_steps += 1
            elif fact.change is Change.SKIPPED:
                state.skipped_steps += 1
            else:
                state.ok_steps += 1
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

    def _step_failed(self, state: UnitRecord, failed: UnitStatus, now: float) -> None:
        step = state.unit.steps[state.step]
        if state.deadline is not None and now >= state.deadline - DEADLINE_SLACK:
            state.reason = f"task timeout ({state.task.timeout:g}s)"
            self._fail(state, S.TIMED_OUT, now)
            return
        if self._aborting or state.attempt > step.retries:
            self._fail(state, failed, now)
            return
        delay = min(step.retry_delay * 2.0 ** min(state.attempt - 1, 64), WEEK)
        delay *= self._rng.uniform(1 - JITTER, 1 + JITTER)
        at = now + delay
        if state.deadline is not None and at >= state.deadline:
            state.reason = f"task timeout ({state.task.timeout:g}s) before the next retry"
            self._fail(state, S.TIMED_OUT, now)
            return
        state.move(S.RETRY_WAIT)
        state.retry_at = at
        self._retrying.add(state.index)
        self._out.append(m.ScheduleRetry(state.unit.key, state.step, state.attempt + 1, at, delay))

    def _timer_fired(self, now: float) -> None:
        due = sorted(i for i in self._retrying if (self._units[i].retry_at or 0.0) <= now)
        for index in due:
            state = self._units[index]
            self._retrying.discard(index)
            state.retry_at = None
            state.attempt += 1
            state.attempts += 1
            state.move(S.RUNNING)
            self._start_step(state, now)

    def _retry_requested(self, fact: m.RetryRequested) -> None:
        state = self._state(fact.key)
        if state.status is not S.AWAITING_DECISION:
            raise m.SchedulerError(f"{fact.key} is {state.status}, not waiting for a decision")
        state.move(S.PENDING)
        state.operator_retry = True
        heapq.heappush(self._ready, state.index)

    def _skip_requested(self, fact: m.SkipRequested) -> None:
        state = self._state(fact.key)
        if state.status is not S.AWAITING_DECISION:
            raise m.SchedulerError(f"{fact.key} is {state.status}, not waiting for a decision")
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
                self._out.append(m.CancelUnit(state.unit.key))

    def _lose_record(self, now: float) -> None:
        """Start nothing more: a step whose output cannot be kept must not run. What runs
        already finishes, as after a failure under fail-fast, and the run counts as failed."""
        if self._record_lost or self._aborting:
            return
        self._record_lost = self._stopping = True
        reason = "not run: the run's record is incomplete"
        for state in self._units:
            if state.status is S.AWAITING_DECISION or (state.status is S.PENDING and state.failure):
                self._settle(state, state.failure or S.FAILED, now)
            elif state.status is S.PENDING:
                self._settle(state, S.NOT_RUN, now, reason)
            elif state.status is S.RETRY_WAIT:
                self._retrying.discard(state.index)
                self._settle(
                    state, S.INTERRUPTED, now, "not retried: the run's record is incomplete"
                )

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
                state.move(S.RUNNING)
                self._busy += 1
                self._start_step(state, now)

    def _begin(self, state: UnitRecord, now: float) -> None:
        task = state.task.name
        if task not in self._tasks_begun:
            self._tasks_begun.add(task)
            self._out.append(m.TaskBegan(task))
        state.move(S.RUNNING)
        self._busy += 1
        state.started_at = now
        state.attempts = 1
        if state.task.timeout is not None:
            state.deadline = now + state.task.timeout
        self._out.append(m.UnitBegan(state.unit.key))
        if self._plan.resumed is not None:  # again from the step that did not finish
            state.step = self._plan.resumed.first_step.get(state.unit.key, 0)
        if state.step >= len(state.unit.steps):
            self._settle(state, S.SUCCEEDED, now)
        else:
            self._start_step(state, now)

    def _start_step(self, state: UnitRecord, now: float) -> None:
        timeout = state.unit.steps[state.step].timeout
        if state.deadline is not None:
            timeout = min(timeout, state.deadline - now)
        self._out.append(
            m.StartStep(
                state.unit.key,
                state.step,
                state.attempt,
                timeout,
                state.operator_retry,
                after_change=state.changed_steps > 0 or state.changed_before,
            )
        )
        state.operator_retry = False

    def _fail(self, state: UnitRecord, failed: UnitStatus, now: float) -> None:
        over_budget = self._failures[state.task.name] + 1 > state.task.max_failures
        if self._policy is m.FailurePolicy.ASK and over_budget and not self._aborting:
            state.move(S.AWAITING_DECISION)
            self._busy -= 1
            state.failure = failed
            self._out.append(m.AwaitingDecision(state.unit.key, failed, state.reason))
            return
        self._settle(state, failed, now)

    def _settle(
        self, first: UnitRecord, status: UnitStatus, now: float, reason: str | None = None
    ) -> None:
        """Move a unit to a final state, then everything that outcome decides, breadth first
        (a chain of ten thousand skipped dependents must not recurse ten thousand deep)."""
        queue: deque[tuple[UnitRecord, UnitStatus, str | None]] = deque([(first, status, reason)])
        while queue:
            state, status, reason = queue.popleft()
            if state.status.terminal:
                continue
            if state.status in (S.RUNNING, S.RETRY_WAIT):
                self._busy -= 1
            state.move(status)
            state.finished_at = now
            if reason is not None:
                state.reason = reason
            self._done += 1
            self._out.append(m.UnitSettled(state.unit.key, state.view()))
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
        self, state: UnitRecord, queue: deque[tuple[UnitRecord, UnitStatus, str | None]]
    ) -> None:
        task = state.task.name
        self._failures[task] += 1
        if self._failures[task] > state.task.max_failures and task not in self._task_failed:
            self._task_failed.add(task)
            if self._policy is m.FailurePolicy.FAIL_FAST and not self._stopping:
                self._stopping = True
                reason = f"not run: {task} failed"
                queue.extend(
                    (other, S.NOT_RUN, reason)
                    for other in self._units
                    if other.status is S.PENDING and other.started_at is None
                )
            elif self._policy is not m.FailurePolicy.FAIL_FAST:
                # Independent branches go on, but not this task: a rollout that has used up
                # its failure budget must not reach more hosts (its later batches, or hosts of
                # its batch still waiting for a free slot).
                reason = f"skipped: {task} failed beyond its failure budget"
                for other in self._of_task[task]:
                    if other.status is S.PENDING and other.started_at is None:
                        other.skipped_because = state.index
                        queue.append((other, S.SKIPPED, reason))

    def _verdict(self, dependent: UnitRecord, dep: UnitRecord) -> UnitStatus | None:
        """None when ``dep``'s outcome lets ``dependent`` go on, else what it becomes."""
        if dep.status is S.SUCCEEDED:
            return None
        if dep.status in (S.NOT_RUN, S.INTERRUPTED) or self._stopping:
            return S.NOT_RUN
        same_host = dependent.unit.key.host == dep.unit.key.host
        if self._excused(dep) and not same_host:
            return None
        return S.SKIPPED

    def _excused(self, state: UnitRecord) -> bool:
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
        status = task_status(statuses, over_budget=task in self._task_failed)
        self._task_status[task] = status
        self._out.append(m.TaskSettled(task, status))

    def _maybe_finish(self) -> None:
        if self._status is not None or not self._began or self._done < len(self._units):
            return
        if self._aborting:
            self._status = RunStatus.INTERRUPTED
        elif self._record_lost or any(
            s.status not in (S.SUCCEEDED, S.SKIPPED) for s in self._units
        ):
            self._status = RunStatus.FAILED
        else:
            self._status = RunStatus.SUCCEEDED
        self._out.append(m.FinishRun(self._status))

    def _state(self, key: UnitKey) -> UnitRecord:
        try:
            return self._units[self._by_key[key]]
        except KeyError:
            raise m.SchedulerError(f"no unit {key} in this plan") from None
