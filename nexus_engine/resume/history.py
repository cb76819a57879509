"""What a recorded run did to each of its units, read back from its events: which steps
succeeded, whether any changed something, how the unit ended (if it did), and the steps that
were running when the record stops (with the marker their processes carry).

A unit that a run resumed itself started at a later step (``unit_started.first_step``); the
steps before that count as done, so a run resumed twice still starts each unit at the step
that has never finished.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nexus_engine.plan import UnitKey


@dataclass(frozen=True, slots=True)
class Running:
    """A step whose start is recorded and whose end is not."""

    step: int
    marker: str | None  # the NEXUS_STEP_ID its processes carry (None: not recorded)


@dataclass(slots=True)
class UnitHistory:
    """What the run being resumed did to one unit: the steps that succeeded and those in flight."""

    status: str | None = None  # how the unit ended; None: the record stops before it did
    first_step: int = 0
    succeeded: set[int] = field(default_factory=set)
    started: set[int] = field(default_factory=set)
    changed: bool = False
    running: dict[int, Running] = field(default_factory=dict)  # by step

    def next_step(self) -> int:
        """The first step that has not succeeded in this run or an earlier one."""
        step = self.first_step
        while step in self.succeeded:
            step += 1
        return step


@dataclass(frozen=True, slots=True)
class RunHistory:
    """What the run being resumed did, read back from its journal."""

    checking: bool  # a ``--check`` run: it changed nothing, so there is nothing to carry on
    finished: bool  # its summary was written: it ended, rather than dying
    units: Mapping[UnitKey, UnitHistory]


def read_history(events: Iterable[Mapping[str, Any]]) -> RunHistory:
    units: dict[UnitKey, UnitHistory] = {}
    checking = finished = False
    for event in events:
        kind = event.get("event")
        if kind == "run_started":
            checking = event.get("checking") is True
            continue
        if kind == "run_finished":
            finished = True
            continue
        task, host, step = event.get("task"), event.get("host"), event.get("step")
        if not (isinstance(task, str) and isinstance(host, str)):
            continue
        unit = units.setdefault(UnitKey(task, host), UnitHistory())
        if kind == "unit_started":
            first = event.get("first_step")
            unit.first_step = first if isinstance(first, int) and first >= 0 else 0
        elif kind == "unit_finished":
            unit.status = status if isinstance(status := event.get("status"), str) else "unknown"
            unit.running.clear()
        elif isinstance(step, int) and kind == "step_started":
            unit.started.add(step)
            marker = event.get("step_id")
            unit.running[step] = Running(step, marker if isinstance(marker, str) else None)
        elif isinstance(step, int) and kind == "step_finished":
            unit.running.pop(step, None)
            if event.get("status") == "succeeded":
                unit.succeeded.add(step)
                unit.changed = unit.changed or event.get("change") == "changed"
    return RunHistory(checking, finished, units)
