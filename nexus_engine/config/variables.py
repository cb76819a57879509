"""Each unit's variables: ``vars`` from ``[settings]``, the task, the host's groups and the host,
the more specific winning (host > group > task > settings), plus ``host`` itself.

Groups apply in the order ``[groups]`` declares them, a later one winning where two set the
same name, and a group nested in another counts as declared where it is declared: the file's
order is the one rule an operator can see.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from typing import Any

from nexus_engine.config.hosts import expand, resolve_hosts
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
