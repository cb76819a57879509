"""What a run records of its plan (``plan.json``), so that a later ``--resume`` can rebuild the
same plan and tell whether the config or the plan changed since.

Recorded: the request that made the plan (its targets and host selection, as typed), the
SHA-256 of the config file's bytes, and for every unit a fingerprint of each of its steps.
A fingerprint is the SHA-256 of the step as the run would perform it (its command, identity,
directory, environment, guard, flags and, for an ``ensure`` step, its resolved kind with the
digest of any content) with every secret masked first, so no secret's value goes into it; and
of what the unit waits for and its batch, so a reordered rollout counts as a change too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nexus_engine.journal import write_record
from nexus_engine.plan import Plan, Unit
from nexus_engine.selection import HostSelection
from nexus_engine.steps import StepPlan

PLAN_FILE = "plan.json"
_VERSION = 1


@dataclass(frozen=True, slots=True)
class PlanRecord:
    """A run's plan as ``plan.json`` holds it."""

    config_sha256: str
    targets: tuple[str, ...]
    selection: HostSelection | None
    #: ``task@host`` → the fingerprint of each step, then one of the unit's place in the plan
    units: Mapping[str, tuple[str, ...]]

    def to_json(self) -> dict[str, Any]:
        selection = self.selection
        return {
            "version": _VERSION,
            "config_sha256": self.config_sha256,
            "targets": list(self.targets),
            "hosts": None if selection is None else list(selection.include),
            "exclude": None if selection is None else list(selection.exclude),
            "units": {key: list(prints) for key, prints in self.units.items()},
        }


def config_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def plan_record(
    plan: Plan,
    config_sha256: str,
    targets: tuple[str, ...],
    selection: HostSelection | None,
    redact: Callable[[str], str],
) -> PlanRecord:
    return PlanRecord(
        config_sha256=config_sha256,
        targets=targets,
        selection=selection,
        units={str(unit.key): fingerprints(unit, redact) for unit in plan.units},
    )


def fingerprints(unit: Unit, redact: Callable[[str], str]) -> tuple[str, ...]:
    """One digest per step, then one of where the unit stands in the plan."""
    place = [unit.batch, *sorted(str(key) for key in unit.waits_for)]
    return (*(_step_digest(step, redact) for step in unit.steps), _digest(place))


def _step_digest(step: StepPlan, redact: Callable[[str], str]) -> str:
    return _digest(
        [
            step.shown,  # masked already
            step.sudo,
            step.user,
            None if step.cwd is None else redact(step.cwd),
            [[name, redact(value)] for name, value in step.env],
            step.timeout,
            step.retries,
            step.retry_delay,
            None if step.op is None else redact(repr(step.op)),
            None if step.guard is None else redact(repr(step.guard)),
            step.idempotent,
            step.when_changed,
        ]
    )


def _digest(parts: list[Any]) -> str:
    text = json.dumps(parts, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def write_plan(run_dir: Path, record: PlanRecord) -> None:
    write_record(run_dir, PLAN_FILE, (json.dumps(record.to_json()) + "\n").encode())


def read_plan(run_dir: Path) -> PlanRecord | None:
    """The recorded plan; None when the run has none (recorded by an older Nexus) or it is
    not what this version writes."""
    try:
        data = json.loads((run_dir / PLAN_FILE).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != _VERSION:
        return None
    try:
        hosts, exclude = data["hosts"], data["exclude"]
        selection = None if hosts is None else HostSelection(tuple(hosts), tuple(exclude))
        return PlanRecord(
            config_sha256=str(data["config_sha256"]),
            targets=tuple(str(target) for target in data["targets"]),
            selection=selection,
            units={str(key): tuple(map(str, prints)) for key, prints in data["units"].items()},
        )
    except (KeyError, TypeError, AttributeError):
        return None
