"""How a run reaches its hosts: one login per host, one pool per run, one transport per unit.

Precedence, from weakest to strongest: ``~/.ssh/config`` (applied by asyncssh), ``[settings]``,
the host's own table in ``nexus.toml``, then ``-u/--user`` and ``-i/--identity``. The faces pass
the command-line part in; everything else comes from the config, so the CLI, the dashboard and
preflight connect the same way.

asyncssh and the SSH modules are imported only once a run needs a remote host: they cost about
150 ms of start-up that a local pipeline should not pay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from nexus_engine.config.hosts import Host
from nexus_engine.config.models import HostTable, NexusConfig
from nexus_engine.plan import Plan, Unit, UnitKey
from nexus_engine.transports.base import Ask, Transport
from nexus_engine.transports.local import LocalTransport

if TYPE_CHECKING:
    from nexus_engine.runner import UnitLife
    from nexus_engine.transports.ssh.connect import Login
    from nexus_engine.transports.ssh.pool import SshPool

KNOWN_HOSTS_OFF_WARNING = (
    'known_hosts = "off": host keys are not verified, so anyone on the network path can '
    "impersonate these hosts and read what Nexus sends them"
)


@dataclass(frozen=True, slots=True)
class Overrides:
    """What the command line says about every host, above anything in the files."""

    user: str | None = None
    identity: str | None = None


def login_for(host: Host, config: NexusConfig, overrides: Overrides = Overrides()) -> Login:
    from nexus_engine.transports.ssh.connect import Login  # noqa: PLC0415 - see the docstring

    settings = config.settings
    entry = config.hosts.get(host.name)
    table = entry if isinstance(entry, HostTable) else None
    return Login(
        name=host.name,
        hostname=host.hostname,
        port=host.port,
        user=overrides.user or host.user or settings.user,
        identity=overrides.identity or host.identity or settings.identity,
        password=(table.password if table else None) or settings.password,
        sudo_password=(table.sudo_password if table else None) or settings.sudo_password,
    )


def remote_hosts(plan: Plan) -> dict[str, Host]:
    """The hosts the plan reaches over SSH, by name."""
    return {unit.host.name: unit.host for unit in plan.units if unit.host is not None}


def warnings(config: NexusConfig) -> list[str]:
    return [KNOWN_HOSTS_OFF_WARNING] if config.settings.known_hosts == "off" else []


def new_pool(config: NexusConfig, ask: Ask | None = None) -> SshPool:
    from nexus_engine.transports.ssh.connect import ConnectSettings  # noqa: PLC0415
    from nexus_engine.transports.ssh.known_hosts import (  # noqa: PLC0415
        HostKeyPolicy,
        KnownHostsBook,
    )
    from nexus_engine.transports.ssh.pool import SshPool  # noqa: PLC0415

    settings = config.settings
    return SshPool(
        ConnectSettings(
            connect_timeout=settings.connect_timeout,
            keepalive_interval=settings.keepalive_interval,
            keepalive_count_max=settings.keepalive_count,
        ),
        KnownHostsBook(HostKeyPolicy(settings.known_hosts)),
        connect_limit=settings.connect_limit,
        ask=ask,
    )


class Connections:
    """The transports of one run; :meth:`close` ends every SSH connection it opened."""

    def __init__(
        self,
        config: NexusConfig,
        overrides: Overrides = Overrides(),
        ask: Ask | None = None,
        *,
        ask_sudo_password: bool = False,
    ) -> None:
        self._config = config
        self._overrides = overrides
        self._ask = ask
        self._ask_sudo = ask if ask_sudo_password else None
        self.pool: SshPool | None = None  # opened with the first remote unit
        self._local = LocalTransport()
        self._remote: dict[str, Transport] = {}

    def transport_for(self, unit: Unit) -> Transport:
        if unit.host is None:
            return self._local
        transport = self._remote.get(unit.host.name)
        if transport is None:
            from nexus_engine.transports.ssh.transport import SshTransport  # noqa: PLC0415

            if self.pool is None:
                self.pool = new_pool(self._config, self._ask)
            login = login_for(unit.host, self._config, self._overrides)
            transport = self._remote[unit.host.name] = SshTransport(
                self.pool, login, ask_sudo=self._ask_sudo
            )
        return transport

    def follow(self, plan: Plan) -> UnitLife:
        """What the runner tells of each unit's life, to close a host's connections as soon as
        its last unit has settled (reopened if the operator retries one): a 1,000-host run then
        holds a connection, and its file, only for the hosts still at work."""
        unsettled: dict[str, set[UnitKey]] = {}
        for unit in plan.units:
            if unit.host is not None:
                unsettled.setdefault(unit.key.host, set()).add(unit.key)

        def life(key: UnitKey, settled: bool) -> None:
            keys = unsettled.get(key.host)
            if keys is None:  # a local unit
                return
            if not settled:
                keys.add(key)
                return
            keys.discard(key)
            if not keys and self.pool is not None:
                self.pool.close_host(key.host)

        return life

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
