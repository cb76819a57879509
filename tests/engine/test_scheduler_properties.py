"""Invariants of the scheduler under random plans, outcomes and decisions (hypothesis).

Random configs go through the real planner, so the property covers the waits rule and serial
batches as well as the scheduler: whatever happens, nothing starts before what it needs, the
parallel limit holds, no unit starts twice, and every unit ends in exactly one final state.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nexus_engine import scheduler as sch
from nexus_engine.config import LoadedConfig
from nexus_engine.config.models import NexusConfig
from nexus_engine.plan import Plan, UnitKey, build_plan
from nexus_engine.status import RunStatus, StepOutcome, UnitStatus

S = UnitStatus
TARGETS = ["local", "h1", "h2", "h3", "web"]


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    count = draw(st.integers(1, 6))
    tasks = {}
    for index in range(count):
        steps = [
            {"cmd": f"s{n}", "retries": draw(st.integers(0, 2)), "retry_delay": 0.5}
            for n in range(draw(st.integers(0, 2)))
        ]
        task: dict[str, object] = {
            "deps": draw(st.lists(st.sampled_from([f"t{i}" for i in range(index)]), unique=True))
            if index
            else [],
            "on": draw(st.lists(st.sampled_from(TARGETS), min_size=1, max_size=3, unique=True)),
            "commands": steps,
            "max_failures": draw(st.integers(0, 2)),
            "strategy": draw(st.sampled_from(["parallel", "serial"])),
            "batch": draw(st.integers(1, 3)),
        }
        if draw(st.booleans()):
            task["timeout"] = draw(st.sampled_from([0.4, 3.0, 50.0]))
        tasks[f"t{index}"] = task
    config = NexusConfig.model_validate(
        {
            "hosts": {"h1": "h1.test", "h2": "h2.test", "h3": "h3.test"},
            "groups": {"web": ["h1", "h2"]},
            "tasks": tasks,
        }
    )
    loaded = LoadedConfig(path=Path("nexus.toml"), config=config, secrets=frozenset())
    return build_plan(loaded, parallel_limit=draw(st.integers(1, 4)))


class Referee:
    """Feeds facts and checks every command against the rules as it is issued."""

    def __init__(self, plan: Plan, policy: sch.FailurePolicy) -> None:
        self.plan = plan
        self.scheduler = sch.Scheduler(plan, policy, rng=random.Random(0))
        self.units = {unit.key: unit for unit in plan.units}
        self.budgets = {task.name: task.max_failures for task in plan.tasks}
        self.running: dict[UnitKey, sch.StartStep] = {}
        self.timers: list[float] = []
        self.began: Counter[UnitKey] = Counter()
        self.settled: Counter[UnitKey] = Counter()
        self.finishes: list[sch.FinishRun] = []
        # Final states as the command stream announces them, in order: a check at UnitBegan sees
        # exactly what had settled before it, even when one fact settles and starts several units.
        self.final_state: dict[UnitKey, UnitStatus] = {}

    def feed(self, fact: sch.Fact) -> None:
        for command in self.scheduler.handle(fact):
            match command:
                case sch.UnitBegan():
                    self._check_start(command.key)
                case sch.StartStep():
                    assert command.key not in self.final_state
                    assert command.key not in self.running
                    self.running[command.key] = command
                case sch.ScheduleRetry():
                    self.timers.append(command.at)
                case sch.UnitSettled():
                    self.settled[command.key] += 1
                    assert command.view.status.terminal
                    self.final_state[command.key] = command.view.status
                case sch.FinishRun():
                    self.finishes.append(command)
        snapshot = self.scheduler.snapshot()
        busy = sum(1 for v in snapshot.units.values() if v.status in (S.RUNNING, S.RETRY_WAIT))
        assert busy <= self.plan.parallel_limit
        assert busy == snapshot.running
        assert sum(1 for v in snapshot.units.values() if v.status.terminal) == snapshot.done

    def _check_start(self, key: UnitKey) -> None:
        self.began[key] += 1
        failures = Counter(k.task for k, v in self.final_state.items() if v.failure)
        for wait in self.units[key].waits_for:
            seen = self.final_state.get(wait)
            assert seen is not None, f"{key} began before {wait} ended"
            tolerated = (
                wait.host != key.host
                and seen in (S.FAILED, S.TIMED_OUT, S.SKIPPED)
                and failures[wait.task] <= self.budgets[wait.task]
            )
            assert seen is S.SUCCEEDED or tolerated, f"{key} began after {wait} {seen}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=plans(), policy=st.sampled_from(list(sch.FailurePolicy)), data=st.data())
def test_scheduler_invariants(plan: Plan, policy: sch.FailurePolicy, data: st.DataObject) -> None:
    referee = Referee(plan, policy)
    now = 0.0
    aborted = False
    referee.feed(sch.RunBegan(now))
    for _ in range(400):
        if referee.finishes:
            break
        snapshot = referee.scheduler.snapshot()
        awaiting = sorted(k for k, v in snapshot.units.items() if v.status is S.AWAITING_DECISION)
        moves = [
            name
            for name, possible in (
                ("exit", referee.running),
                ("timer", referee.timers),
                ("decide", awaiting),
            )
            if possible
        ]
        assert moves, "the run is stuck: nothing running, waiting or finished"
        if not aborted and data.draw(st.integers(0, 30)) == 0:
            aborted = True
            referee.feed(sch.AbortRequested(now))
            continue
        move = data.draw(st.sampled_from(moves))
        if move == "exit":
            which = data.draw(st.sampled_from(sorted(referee.running)))
            start = referee.running.pop(which)
            outcome = data.draw(st.sampled_from(list(StepOutcome)))
            now += data.draw(st.sampled_from([0.1, 1.0, 5.0]))
            code = 0 if outcome is StepOutcome.SUCCEEDED else 1
            referee.feed(sch.StepExited(start.key, start.step, start.attempt, outcome, now, code))
        elif move == "timer":
            now = max(now, min(referee.timers))
            referee.timers[:] = [t for t in referee.timers if t > now]
            referee.feed(sch.TimerFired(now))
        else:
            which = data.draw(st.sampled_from(awaiting))
            retry = data.draw(st.booleans())
            fact = sch.RetryRequested(which, now) if retry else sch.SkipRequested(which, now)
            referee.feed(fact)

    final = referee.scheduler.snapshot()
    assert len(referee.finishes) == 1, "the run must finish exactly once"
    assert all(v.status.terminal for v in final.units.values())
    assert all(referee.began[k] <= 1 for k in referee.units), "no unit starts twice"
    assert all(referee.settled[k] == 1 for k in referee.units), "every unit settles once"
    assert final.done == final.total == len(referee.units)
    statuses = {v.status for v in final.units.values()}
    if aborted:
        assert referee.finishes[0].status is RunStatus.INTERRUPTED
    elif statuses <= {S.SUCCEEDED, S.SKIPPED}:
        assert referee.finishes[0].status is RunStatus.SUCCEEDED
    else:
        assert referee.finishes[0].status is RunStatus.FAILED
    assert all(status is not None for status in final.tasks.values())
