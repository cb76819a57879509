"""A hand on the scheduler's controls: feed facts, keep what it commanded, look things up."""

from __future__ import annotations

import random
import tomllib
from pathlib import Path

from nexus_engine import scheduler as sch
from nexus_engine.config import LoadedConfig
from nexus_engine.config.models import NexusConfig
from nexus_engine.plan import Plan, UnitKey, build_plan
from nexus_engine.status import StepOutcome, UnitStatus


def plan_from(toml: str, targets: tuple[str, ...] = (), parallel: int | None = None) -> Plan:
    config = NexusConfig.model_validate(tomllib.loads(toml))
    loaded = LoadedConfig(path=Path("nexus.toml"), config=config, secrets=frozenset())
    return build_plan(loaded, targets, parallel_limit=parallel)


def key(text: str) -> UnitKey:
    task, host = text.split("@")
    return UnitKey(task, host)


class Driver:
    def __init__(self, plan: Plan, policy: sch.FailurePolicy = sch.FailurePolicy.FAIL_FAST):
        self.scheduler = sch.Scheduler(plan, policy, rng=random.Random(7))
        self.now = 0.0
        self.log: list[sch.Command] = []
        self.running: dict[UnitKey, sch.StartStep] = {}
        self.timers: list[float] = []

    def send(self, fact: sch.Fact) -> list[sch.Command]:
        out = self.scheduler.handle(fact)
        self.log.extend(out)
        for command in out:
            if isinstance(command, sch.StartStep):
                self.running[command.key] = command
            elif isinstance(command, sch.ScheduleRetry):
                self.timers.append(command.at)
        return out

    def begin(self) -> list[sch.Command]:
        return self.send(sch.RunBegan(self.now))

    def exit(
        self,
        unit: str,
        outcome: StepOutcome = StepOutcome.SUCCEEDED,
        code: int | None = 0,
        after: float = 1.0,
    ) -> list[sch.Command]:
        self.now += after
        start = self.running.pop(key(unit))
        if outcome is not StepOutcome.SUCCEEDED and code == 0:
            code = 1
        fact = sch.StepExited(start.key, start.step, start.attempt, outcome, self.now, code)
        return self.send(fact)

    def fail(self, unit: str, after: float = 1.0) -> list[sch.Command]:
        return self.exit(unit, StepOutcome.FAILED, 1, after)

    def fire_timers(self) -> list[sch.Command]:
        self.now = max(self.timers)
        self.timers.clear()
        return self.send(sch.TimerFired(self.now))

    def status(self, unit: str) -> UnitStatus:
        return self.scheduler.snapshot().units[key(unit)].status

    def started(self) -> list[str]:
        return [str(c.key) for c in self.log if isinstance(c, sch.UnitBegan)]

    def running_now(self) -> set[str]:
        return {str(k) for k in self.running}

    def finished(self) -> sch.FinishRun | None:
        return next((c for c in self.log if isinstance(c, sch.FinishRun)), None)
