"""The closed vocabulary of unit and run states, shared by the scheduler, events and faces."""

from __future__ import annotations

from enum import StrEnum


class UnitStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    RETRY_WAIT = "retry_wait"
    AWAITING_DECISION = "awaiting_decision"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    SKIPPED = "skipped"
    NOT_RUN = "not_run"
    INTERRUPTED = "interrupted"
    #: A task's status, never a unit's: some of its hosts failed, no more than its
    #: ``max_failures`` allows, so its dependents could go on.
    PARTIAL = "partial"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def failure(self) -> bool:
        return self in (UnitStatus.FAILED, UnitStatus.TIMED_OUT)


TERMINAL = frozenset(
    {
        UnitStatus.SUCCEEDED,
        UnitStatus.FAILED,
        UnitStatus.TIMED_OUT,
        UnitStatus.SKIPPED,
        UnitStatus.NOT_RUN,
        UnitStatus.INTERRUPTED,
        UnitStatus.PARTIAL,
    }
)


class StepOutcome(StrEnum):
    """How one execution of one step ended, as the transport saw it."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    INTERRUPTED = "interrupted"


class RunStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self]


#: Exit codes of ``nexus run``; 2 (usage or config error) never comes from a run.
EXIT_CODES = {RunStatus.SUCCEEDED: 0, RunStatus.FAILED: 1, RunStatus.INTERRUPTED: 130}
EXIT_USAGE = 2
#: An interrupted run whose terminal went away (SIGHUP): 128 + 1, as shells report it.
EXIT_HANGUP = 129
HANGUP = "SIGHUP"


class Change(StrEnum):
    """What a step that succeeded did to its host: the recap operators know from Ansible."""

    OK = "ok"  # the host was already as asked: nothing done
    CHANGED = "changed"  # something was done (checking: would be done)
    SKIPPED = "skipped"  # not run: check mode, or ``when = "changed"`` with nothing changed
