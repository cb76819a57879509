"""The messages the engine bridge posts to the screen: values only, never engine objects.

Status messages carry a frozen row and coalesce (``can_replace``) when a newer one for the same
row is queued right behind them: a backlog of status changes collapses to the latest. Output
never coalesces, because that would drop lines.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from nexus_engine import events as ev
from nexus_engine.plan import UnitKey
from nexus_tui.model import RunTotals, TaskRow, UnitRow


@dataclass
class HostChanged(Message):
    row: UnitRow

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, HostChanged) and message.row.key == self.row.key


@dataclass
class TaskChanged(Message):
    row: TaskRow

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TaskChanged) and message.row.name == self.row.name


@dataclass
class TotalsChanged(Message):
    totals: RunTotals

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TotalsChanged)


@dataclass
class DecisionWaiting(Message):
    """A unit failed beyond its budget and waits for retry, skip or abort."""

    key: UnitKey


@dataclass
class OutputBatch(Message):
    """New lines per host since the last flush, already decoded and made printable."""

    lines: dict[UnitKey, list[str]]


@dataclass
class RunEnded(Message):
    """The run is over and recorded: the summary to show and the exit code ``q`` returns."""

    finished: ev.RunFinished
    exit_code: int
    journal: str | None
    problems: tuple[str, ...] = ()
