"""``service``: a systemd unit running or not, started at boot or not, through ``systemctl``.

The probe asks ``systemctl is-active`` and ``is-enabled`` (both read-only) and, whatever the
host is, the command name of PID 1 and which other service managers it has, so a host without
systemd (no ``systemctl``, or one that says the system was not booted with it) fails the step
naming what it runs instead. ``started``/``stopped`` and ``enabled`` act only on a difference;
``restarted``/``reloaded`` always act (they are meant for ``when = "changed"``), and start a
unit that is not running, as Ansible's do. ``daemon_reload`` runs ``systemctl daemon-reload``
first, but only when an earlier step of the unit changed something (a unit file, say): the
executor says so in the :data:`~nexus_engine.ops.base.AFTER_CHANGE` fact.
"""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass, field

from nexus_engine.config.ensure_services import unit_problem
from nexus_engine.ops.base import AFTER_CHANGE, Action, Assessment, Facts
from nexus_engine.ops.probe import Probe, decoded

#: What ``is-active`` answers for a unit that runs, or is on its way up.
RUNNING = frozenset({"active", "activating", "reloading", "refreshing"})
#: Every answer of ``is-active`` about a unit (anything else is systemctl unable to operate).
ACTIVE_WORDS = RUNNING | {"inactive", "failed", "deactivating", "maintenance", "unknown"}
#: ``is-enabled`` answers that exit 0: systemd's own "enabled", whether or not it can change.
ENABLED = frozenset(
    {"enabled", "enabled-runtime", "static", "alias", "indirect", "generated", "transient"}
)
#: Answers that ``systemctl disable`` turns into "disabled".
DISABLEABLE = frozenset({"enabled", "enabled-runtime", "alias", "linked", "linked-runtime"})
#: Answers that already mean "not started at boot".
NOT_ENABLED = frozenset({"disabled", "masked", "masked-runtime", "not-found"})
#: What older systemd says of a unit that is not there (newer ones say ``not-found``).
_NO_SUCH_FILE = "No such file"
#: The other service managers a host without systemd may have, named in its failure.
OTHERS = ("service", "rc-service")


def _encoded(command: str) -> str:
    return f"printf '%s' \"$({command} 2>&1 | head -c 1000)\" | base64 -w0; echo"


@dataclass(frozen=True, slots=True)
class Service:
    """``state`` None and ``enabled`` None: left as they are."""

    name: str
    state: str | None = None  # started, stopped, restarted, reloaded
    enabled: bool | None = None
    daemon_reload: bool = False
    kind: str = "service"

    @property
    def path(self) -> str:
        """Not a path: what checking keys this unit's predicted state by."""
        return f"service {self.name}"

    def describe(self) -> str:
        wanted = [self.state or ""]
        if self.enabled is not None:
            wanted.append("enabled" if self.enabled else "disabled")
        if self.daemon_reload:
            wanted.append("daemon-reload after a change")
        return f"service {self.name}: {', '.join(part for part in wanted if part)}"

    def probe(self, *, diff: bool = False) -> Probe:
        name = shlex.quote(self.name)
        others = " ".join(OTHERS)
        script = "\n".join(
            [
                "if command -v systemctl >/dev/null 2>&1; then",
                "  echo systemctl=yes",
                f"  printf active=; {_encoded(f'systemctl is-active -- {name}')}",
                f"  printf enabled=; {_encoded(f'systemctl is-enabled -- {name}')}",
                "fi",
                'read -r nexus_init </proc/1/comm && echo "init=$nexus_init"',
                f"printf others=; for t in {others}; do "
                "command -v $t >/dev/null 2>&1 && printf '%s ' $t; done; echo",
            ]
        )
        return Probe(path="", script=script)

    def assess(self, facts: Facts) -> Assessment:
        problem = unit_problem(self.name)
        if problem is not None:
            return Assessment(failure=f"{self.name!r} is not a systemd unit name: it {problem}")
        active, enabled = _answer(facts, "active"), _answer(facts, "enabled")
        if facts.get("systemctl") != "yes" or active not in ACTIVE_WORDS:
            return Assessment(failure=_no_systemd(facts, active))
        if _NO_SUCH_FILE in enabled:
            enabled = "not-found"
        reloading = self.daemon_reload and facts.get(AFTER_CHANGE) == "1"
        if enabled == "not-found" and reloading:
            enabled = "disabled"  # a unit file an earlier step wrote: daemon-reload loads it
        plan = _Plan(self, active, enabled)
        if reloading:
            plan.commands.append("daemon-reload")
            plan.changes.append("daemon-reload first")
        failure = plan.state() or plan.boot()
        if failure is not None:
            return Assessment(failure=f"service {self.name}: {failure}; nothing was changed")
        if not plan.commands:
            asked = ((active, self.state), (enabled, self.enabled))
            seen = " and ".join(word for word, wanted in asked if wanted is not None)
            return Assessment(detail=f"service {self.name}" + (f" is {seen}" if seen else ""))
        unit = shlex.quote(self.name)
        script = "set -e\n" + "".join(
            f"systemctl {command}\n"
            if command == "daemon-reload"
            else f"systemctl {command} -- {unit}\n"
            for command in plan.commands
        )
        detail = f"service {self.name}"
        if plan.changes:
            detail += f" ({', '.join(plan.changes)})"
        predicted = {key: value for key, value in facts.items() if key != AFTER_CHANGE}
        predicted["active"] = _encode(plan.active)
        predicted["enabled"] = _encode(plan.enabled)
        return Assessment(verb=plan.verb, detail=detail, action=Action(script), predicted=predicted)


@dataclass
class _Plan:
    """The ``systemctl`` commands that take a unit from what it is to what was asked, in the
    order they run, and the unit's state once they have."""

    service: Service
    active: str
    enabled: str
    verb: str = "update"
    commands: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)  # in words: "inactive → active"

    def state(self) -> str | None:
        """Start, stop, restart or reload; the reason it cannot, or None."""
        state, running = self.service.state, self.active in RUNNING
        if state is None or (state == "stopped" and not running):
            return None
        if state != "stopped" and self.enabled == "not-found":
            return "there is no such unit on this host"
        if state == "stopped":
            self._do("stop", f"{self.active} → inactive", "inactive")
        elif not running:
            self._do("start", f"{self.active} → active", "active")
        elif state in ("restarted", "reloaded"):
            self.verb = state.removesuffix("ed")
            self.commands.append(self.verb)
        return None

    def boot(self) -> str | None:
        """Enable or disable; the reason it cannot, or None."""
        enabled = self.service.enabled
        if enabled is None:
            return None
        if self.enabled not in ENABLED | DISABLEABLE | NOT_ENABLED | {"bad"}:
            return f"systemctl is-enabled says: {self.enabled or 'nothing'}"
        if enabled and self.enabled not in ENABLED:
            if self.enabled in NOT_ENABLED - {"disabled"}:
                return f"it is {self.enabled}, so it cannot be enabled"
            self._do("enable", f"{self.enabled} → enabled", enabled="enabled")
        if not enabled and self.enabled not in NOT_ENABLED:
            if self.enabled not in DISABLEABLE:
                return f"it is {self.enabled}, which systemctl disable cannot change"
            self._do("disable", f"{self.enabled} → disabled", enabled="disabled")
        return None

    def _do(self, command: str, change: str, active: str = "", enabled: str = "") -> None:
        self.commands.append(command)
        self.changes.append(change)
        self.active = active or self.active
        self.enabled = enabled or self.enabled


def _answer(facts: Facts, key: str) -> str:
    """The first line of what ``systemctl`` answered, or ``""``."""
    said = decoded(facts, key)
    return "" if said is None else said.decode("utf-8", "replace").strip().split("\n")[0]


def _encode(word: str) -> str:
    return base64.b64encode(f"{word}\n".encode()).decode("ascii")


def _no_systemd(facts: Facts, said: str) -> str:
    """Why ``systemctl`` cannot manage services here, naming what the host runs instead."""
    init = facts.get("init") or "unknown"
    others = facts.get("others", "").split()
    has = f"; it has {' and '.join(others)}" if others else ""
    why = "it has no systemctl" if facts.get("systemctl") != "yes" else f"systemctl says: {said}"
    return (
        f"systemd does not manage services on this host (PID 1 is {init}{has}): {why}; "
        "nothing was changed"
    )
