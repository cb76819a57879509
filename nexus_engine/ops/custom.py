"""``check``: a state only the operator's own commands know how to test and make.

``check`` is shell text that exits 0 when the state holds; ``apply`` makes it hold. ``check``
runs with the probe (so checking runs it, and nothing else), in a ``/bin/sh`` of its own with
its input, output and errors kept out of the probe's report; ``apply`` is the action, and the
step is ``changed`` when it succeeded. A ``${…}`` value of either travels in an environment
variable (as in a ``cmd`` step), never pasted into the shell text.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from nexus_engine.ops.base import Action, Assessment, Facts
from nexus_engine.ops.probe import Probe


@dataclass(frozen=True, slots=True)
class Check:
    """A check/apply pair: the apply runs only when the check says the host is not right."""

    check: str
    apply: str
    check_env: tuple[tuple[str, str], ...] = ()
    apply_env: tuple[tuple[str, str], ...] = ()
    shown_check: str = ""  # the command as the operator reads it (values filled in)
    kind: str = "check"

    @property
    def path(self) -> str:
        return ""

    def describe(self) -> str:
        return f"check `{self.shown_check or self.check}`"

    def probe(self, *, diff: bool = False) -> Probe:
        q = shlex.quote
        assignments = "".join(f"{name}={q(value)} " for name, value in self.check_env)
        script = (
            f"{assignments}/bin/sh -c {q(self.check)} </dev/null >/dev/null 2>&1; echo status=$?"
        )
        return Probe(path="", script=script)

    def assess(self, facts: Facts) -> Assessment:
        status = facts.get("status")
        detail = f"`{self.shown_check or self.check}`"
        if status is None:
            return Assessment(failure=f"could not run its check command {detail}")
        if status == "0":
            return Assessment(detail=f"{detail} succeeded")
        return Assessment(
            verb="apply",
            detail=f"(its check {detail} exited {status})",
            action=Action(self.apply, env=self.apply_env),
        )
