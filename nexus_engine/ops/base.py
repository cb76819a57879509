"""What every ``ensure`` kind is: a read-only probe, a pure assessment, and an action.

An assessment is computed from the probe's facts alone, so ``--check`` can stop after it and
say exactly what a real run would do, and a test can feed it facts without a host.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from nexus_engine.ops.content import Content
from nexus_engine.ops.probe import Probe

#: What a probe found about one step's path: ``type``, ``mode``, ``owner``, ``sha256``, …
Facts = Mapping[str, str]

#: The past tense of each verb an assessment uses, for the report of a real run.
DONE = {
    "create": "created",
    "update": "updated",
    "remove": "removed",
    "apply": "applied",
    "restart": "restarted",
    "reload": "reloaded",
}
#: A fact the executor adds (``"1"``) when an earlier step of the unit changed something, for
#: a kind that acts on that (``service``'s ``daemon_reload``); a probe never prints it.
AFTER_CHANGE = "_after_change"


@dataclass(frozen=True, slots=True)
class Action:
    """The shell text that makes the change, and the bytes it reads on stdin, if any."""

    script: str
    content: Content | None = None
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Assessment:
    """Nothing to do (``action`` None and no ``failure``), a change to make, or why the step
    cannot be done as asked."""

    verb: str | None = None  # create, update, remove
    detail: str = ""  # what, in words: "/etc/app.conf (312 bytes, mode 0640)"
    action: Action | None = None
    failure: str | None = None
    #: the content as it is and as it will be, for ``--diff`` (None: not text, or too big)
    before: str | None = None
    after: str | None = None
    #: what the path looks like once the change is made: a later step of the same unit that
    #: checks the same path, checking, sees this instead of the host's unchanged state
    predicted: Facts | None = None

    @property
    def changes(self) -> bool:
        return self.action is not None

    def words(self, *, checking: bool) -> str:
        if self.failure is not None:
            return self.failure
        if self.verb is None:
            return f"ok: {self.detail}"
        verb = f"would {self.verb}" if checking else DONE.get(self.verb, self.verb)
        return f"{verb} {self.detail}"


class Op(Protocol):
    """One ``ensure`` step, resolved for one unit (its variables substituted)."""

    @property
    def kind(self) -> str: ...

    @property
    def path(self) -> str: ...

    def describe(self) -> str:
        """The step in words, for ``--dry-run`` and the log: ``file /etc/app.conf from …``."""
        ...

    def probe(self, *, diff: bool = False) -> Probe:
        """What the read-only probe must find out for this step (see ``probe``); ``diff``:
        also the content a diff would show."""
        ...

    def assess(self, facts: Facts) -> Assessment:
        """What to do, from the probe's facts alone."""
        ...
