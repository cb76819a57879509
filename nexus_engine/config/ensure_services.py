"""``ensure = "service"``: a systemd unit's model, as ``nexus.toml`` writes it.

A unit name is checked here against systemd's own characters (``[A-Za-z0-9:_.\\@-]``, not
starting with ``-``), so a typo is a config error on its line rather than a failed
``systemctl`` on every host; a name that comes from ``${var:…}`` is checked again, filled in,
when the step is assessed.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, model_validator

from nexus_engine.config.ensure_base import VAR_REFERENCE, Name, StepBase

#: A unit name as systemd spells it (``systemd.unit(5)``), its suffix optional.
UNIT_NAME = re.compile(r"[A-Za-z0-9:_.\\@][A-Za-z0-9:_.\\@-]*")
#: The longest unit name systemd takes (``UNIT_NAME_MAX``).
UNIT_NAME_MAX = 255


def unit_problem(name: str) -> str | None:
    """Why ``name`` is not a unit name systemd would take, or None."""
    if len(name) > UNIT_NAME_MAX:
        return f"is longer than {UNIT_NAME_MAX} characters"
    if name.startswith("-"):
        return "must not start with '-'"
    if not UNIT_NAME.fullmatch(name):
        return "may hold only letters, digits and : _ . \\ @ - (systemd's unit-name characters)"
    return None


def _unit(value: str) -> str:
    problem = unit_problem(VAR_REFERENCE.sub("x", value))
    if problem is not None:
        raise ValueError(f"{value!r} is not a systemd unit name: it {problem}")
    return value


class ServiceStep(StepBase):
    """A systemd unit's state and whether it starts at boot. ``restarted``/``reloaded``
    always act (they are meant for ``when = "changed"``); ``daemon_reload`` runs
    ``systemctl daemon-reload`` first when an earlier step of the unit changed something."""

    ensure: Literal["service"]
    name: Annotated[Name, AfterValidator(_unit)]
    state: Literal["started", "stopped", "restarted", "reloaded"] | None = None
    enabled: bool | None = None
    daemon_reload: bool = False

    @model_validator(mode="after")
    def _asks_something(self) -> ServiceStep:
        if self.state is None and self.enabled is None and not self.daemon_reload:
            raise ValueError("give state, enabled or daemon_reload: otherwise it does nothing")
        return self
