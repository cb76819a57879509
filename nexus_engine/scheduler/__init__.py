"""The sans-I/O scheduler: ``Scheduler.handle(fact) -> list[Command]`` and ``snapshot()``.

``machine`` holds the state machine; ``units`` each unit's record and the table of its legal
moves; ``messages`` the facts, commands and views it speaks in. All are re-exported here, so
callers write ``sch.StartStep``.
"""

from nexus_engine.scheduler.machine import DEADLINE_SLACK, JITTER, Scheduler
from nexus_engine.scheduler.messages import (
    AbortRequested,
    AwaitingDecision,
    CancelUnit,
    Command,
    Fact,
    FailurePolicy,
    FinishRun,
    RecordLost,
    RetryRequested,
    RunBegan,
    RunSnapshot,
    SchedulerError,
    ScheduleRetry,
    SkipRequested,
    StartStep,
    StepExited,
    TaskBegan,
    TaskSettled,
    TimerFired,
    UnitBegan,
    UnitSettled,
    UnitView,
)
from nexus_engine.scheduler.units import TRANSITIONS

__all__ = [
    "DEADLINE_SLACK",
    "JITTER",
    "TRANSITIONS",
    "AbortRequested",
    "AwaitingDecision",
    "CancelUnit",
    "Command",
    "Fact",
    "FailurePolicy",
    "FinishRun",
    "RecordLost",
    "RetryRequested",
    "RunBegan",
    "RunSnapshot",
    "ScheduleRetry",
    "Scheduler",
    "SchedulerError",
    "SkipRequested",
    "StartStep",
    "StepExited",
    "TaskBegan",
    "TaskSettled",
    "TimerFired",
    "UnitBegan",
    "UnitSettled",
    "UnitView",
]
