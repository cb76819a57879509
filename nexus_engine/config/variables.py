"""Each unit's variables, and how a value is pasted as text. A unit's variables are ``vars`` from
``[settings]``, the task, the host's groups and the host, the more specific winning
(host > group > task > settings), plus ``host`` itself.

Groups apply in the order ``[groups]`` declares them, a later one winning where two set the
same name, and a group nested in another counts as declared where it is declared: the file's
order is the one rule an operator can see.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Mapping
from typing import Any

from nexus_engine.config.ensure_base import VAR_REFERENCE
from nexus_engine.config.hosts import expand, resolve_hosts
from nexus_engine.config.interpolate import ShellCommand
from nexus_engine.config.models import LOCAL, GroupTable, HostTable, NexusConfig


class Variables:
    """Looks up a unit's variables; the group membership of each host is worked out once."""

    def __init__(self, config: NexusConfig) -> None:
        self._config = config
        self._hosts = resolve_hosts(config)
        members = config.group_members
        self._groups_of: dict[str, list[str]] = {}
        for group, entry in config.groups.items():
            if not isinstance(entry, GroupTable) or not entry.vars:
                continue
            for host in expand([group], config.hosts, members):
                self._groups_of.setdefault(host, []).append(group)

    def for_unit(self, task: str, host: str) -> dict[str, Any]:
        config = self._config
        merged: dict[str, Any] = {**config.settings.vars, **config.tasks[task].vars}
        for group in self._groups_of.get(host, ()):
            table = config.groups[group]
            assert isinstance(table, GroupTable)  # noqa: S101 - only table groups are listed
            merged.update(table.vars)
        entry = config.hosts.get(host)
        if isinstance(entry, HostTable):
            merged.update(entry.vars)
        merged["host"] = self._host(host)
        return merged

    def _host(self, name: str) -> Mapping[str, Any]:
        """``host.name``, ``host.hostname`` and ``host.user`` (the login, as ssh would pick it
        without a ``~/.ssh/config``: the host's, the settings', or yours)."""
        if name == LOCAL:
            return {"name": LOCAL, "hostname": "localhost", "user": getpass.getuser()}
        host = self._hosts[name]
        user = host.user or self._config.settings.user or getpass.getuser()
        return {"name": name, "hostname": host.hostname, "user": user}


def as_text(value: Any) -> str:
    """A variable as a parameter or an environment variable holds it: strings as they are,
    TOML's ``true``/``false`` as written, arrays and tables as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, default=str)


def substitute(text: str, variables: Mapping[str, Any]) -> str:
    """``text`` with each ``${var:NAME}`` replaced (every name was checked at load)."""
    return VAR_REFERENCE.sub(lambda match: as_text(variables[match["name"]]), text)


def var_env(command: ShellCommand | None, variables: Mapping[str, Any]) -> dict[str, str]:
    """The environment that carries a command's ``${var:…}`` values, and its ``${env:…}``."""
    if command is None:
        return {}
    env = dict(command.env)
    env.update({name: as_text(variables[var]) for name, var in command.vars})
    return env
