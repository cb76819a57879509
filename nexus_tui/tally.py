"""How many units are in each state, kept up to date as rows change rather than recounted.

A fleet of a thousand hosts sends a status change every few milliseconds; recounting every
unit on each would cost the screen more than the change itself. A ``Tally`` is told each
unit's old and new status instead, so the header's counts cost the same at ten hosts or ten
thousand.

The header and the status filter speak of *kinds*: the few states an operator sorts hosts by
(failed, running, …), each a set of unit statuses. A unit waiting for a decision has failed.
"""

from __future__ import annotations

from collections import Counter
from enum import StrEnum

from nexus_engine.status import UnitStatus

S = UnitStatus


class Kind(StrEnum):
    """A state the header counts and the status filter shows, in the filter's cycle order."""

    FAILED = "failed"
    RUNNING = "running"
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"


KIND_OF: dict[UnitStatus, Kind] = {
    S.FAILED: Kind.FAILED,
    S.TIMED_OUT: Kind.FAILED,
    S.AWAITING_DECISION: Kind.FAILED,
    S.RUNNING: Kind.RUNNING,
    S.RETRY_WAIT: Kind.RUNNING,
    S.PENDING: Kind.PENDING,
    S.SUCCEEDED: Kind.SUCCEEDED,
    S.SKIPPED: Kind.SKIPPED,
    S.NOT_RUN: Kind.SKIPPED,
    S.INTERRUPTED: Kind.INTERRUPTED,
    S.PARTIAL: Kind.FAILED,  # a task's status only; a unit never has it
}


class Tally:
    """Units per status. ``add`` and ``remove`` as rows come and go or change status."""

    def __init__(self) -> None:
        self._counts: Counter[UnitStatus] = Counter()
        self.reused = 0

    def add(self, status: UnitStatus, *, reused: bool = False) -> None:
        self._counts[status] += 1
        self.reused += reused

    def remove(self, status: UnitStatus, *, reused: bool = False) -> None:
        self._counts[status] -= 1
        self.reused -= reused

    def count(self, *statuses: UnitStatus) -> int:
        return sum(self._counts[status] for status in statuses)

    def has(self, status: UnitStatus) -> bool:
        return self._counts[status] > 0

    @property
    def done(self) -> int:
        return sum(count for status, count in self._counts.items() if status.terminal)

    def kinds(self) -> dict[Kind, int]:
        """Units per kind, every kind present (zero when none)."""
        counts = dict.fromkeys(Kind, 0)
        for status, count in self._counts.items():
            counts[KIND_OF[status]] += count
        return counts
