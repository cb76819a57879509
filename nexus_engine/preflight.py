"""Preflight: can every host a plan touches be reached and used, before anything runs there?

A deploy that fails on its fortieth host because of a stale known_hosts line or a missing
``NOPASSWD`` has already changed thirty-nine hosts. Preflight answers the questions that decide
that in advance, per host, in the order a run would meet them:

- ``tcp``: does anything answer on the port SSH will use? ssh_config may rewrite the host
  (``HostName``, ``Port``), so the address is the one asyncssh would connect to. A host that
  ssh_config reaches through ``ProxyJump`` or ``ProxyCommand`` has no direct TCP path to test;
  its ``tcp`` check is "n/a" and the ``ssh`` check, which goes through the proxy, answers for it.
- ``ssh``: host key and authentication, through the same pool, known_hosts policy and logins a
  run uses, so a pass means the run's own connection will be let in.
- ``sudo``: only where a step of the host needs it (``sudo = true`` or ``user = …``), run as
  each identity the steps switch to, exactly as a step runs it: ``sudo -n`` or, with a
  configured ``sudo_password``, ``sudo -S``. So "sudo needs a password" shows up here, not
  halfway through a deploy.

A check after a failed one is not tried ("skipped"): its answer would only repeat the failure.
Local units are not checked: they need no connection. Nothing is printed here; faces print.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import asyncssh

from nexus_engine.config.hosts import Host
from nexus_engine.config.models import NexusConfig
from nexus_engine.connections import Overrides, login_for, new_pool, remote_hosts
from nexus_engine.plan import Plan
from nexus_engine.transports.base import Ask, CommandSpec
from nexus_engine.transports.ssh.connect import Login
from nexus_engine.transports.ssh.errors import SshFailure
from nexus_engine.transports.ssh.pool import SshPool
from nexus_engine.transports.ssh.transport import SshTransport
from nexus_engine.words import Failure, Stream

CheckName = Literal["tcp", "ssh", "sudo"]
CHECKS: tuple[CheckName, ...] = ("tcp", "ssh", "sudo")
DEFAULT_PORT = 22
#: Seconds for ``sudo true`` once connected: enough for sudo's delay after a wrong password
#: (two seconds on most PAM stacks) and a slow host, not for a hang.
SUDO_TIMEOUT = 30.0
_STDERR_KEPT = 4096  # bytes of sudo's stderr kept to explain a refusal nobody classified
_SAID_MAX = 300  # characters of it shown: a table cell, not a log


class Verdict(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # not tried: an earlier check of the host failed
    NOT_APPLICABLE = "n/a"  # nothing to check: no step needs sudo, or TCP goes via a proxy


@dataclass(frozen=True, slots=True)
class Check:
    """One answer about one host. ``kind`` classifies a failure the way a run would."""

    host: str
    name: CheckName
    verdict: Verdict
    detail: str = ""
    kind: Failure | None = None
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        """Nothing wrong found: passed, or nothing to check."""
        return self.verdict in (Verdict.PASSED, Verdict.NOT_APPLICABLE)


@dataclass(frozen=True, slots=True)
class HostReport:
    """Every check of one host, in :data:`CHECKS` order."""

    host: str
    where: str  # user@host:port as the config says; ssh_config may fill in the rest
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return not any(check.verdict is Verdict.FAILED for check in self.checks)

    @property
    def failed(self) -> Check | None:
        """The check that failed (later ones are skipped), or None."""
        return next((c for c in self.checks if c.verdict is Verdict.FAILED), None)

    def check(self, name: CheckName) -> Check:
        return next(check for check in self.checks if check.name == name)


def all_ok(reports: Iterable[HostReport]) -> bool:
    return all(report.ok for report in reports)


async def preflight(
    plan: Plan,
    config: NexusConfig,
    overrides: Overrides | None = None,
    *,
    ask: Ask | None = None,
    ask_sudo_password: bool = False,
) -> list[HostReport]:
    """Check every remote host of ``plan``, at most ``connect_limit`` at once; one report per
    host, in plan order. Connects the way a run would (``overrides`` from the command line,
    ``ask`` for a password, and for the sudo password with ``ask_sudo_password``), and closes
    every connection it opened before returning."""
    hosts = remote_hosts(plan)
    if not hosts:
        return []
    sudo_as = _sudo_identities(plan)
    limit = asyncio.Semaphore(config.settings.connect_limit)
    pool = new_pool(config, ask)
    prober = _Prober(pool, config.settings.connect_timeout, ask if ask_sudo_password else None)

    async def one(host: Host) -> HostReport:
        async with limit:
            login = login_for(host, config, overrides or Overrides())
            return await prober.check(login, sudo_as.get(host.name))

    try:
        return list(await asyncio.gather(*(one(host) for host in hosts.values())))
    finally:
        await pool.close()


def _sudo_identities(plan: Plan) -> dict[str, tuple[str | None, ...]]:
    """Per host, who its steps become through sudo (None: root), in first-use order; hosts
    whose steps never use sudo are absent."""
    found: dict[str, dict[str | None, None]] = {}
    for unit in plan.units:
        if unit.host is None:
            continue
        for step in unit.steps:
            if step.sudo or step.user:
                found.setdefault(unit.host.name, {})[step.user] = None
    return {name: tuple(users) for name, users in found.items()}


@dataclass(frozen=True, slots=True)
class _Route:
    """Where SSH opens its TCP connection for a login, after ssh_config; ``via`` names the
    proxy when there is no direct connection to test."""

    hostname: str
    port: int
    via: str | None = None


class _Prober:
    def __init__(self, pool: SshPool, connect_timeout: float, ask_sudo: Ask | None) -> None:
        self._pool = pool
        self._timeout = connect_timeout
        self._ask_sudo = ask_sudo

    async def check(self, login: Login, sudo_as: tuple[str | None, ...] | None) -> HostReport:
        tcp = await self._tcp(login)
        ssh = await self._ssh(login) if tcp.ok else _skipped(login, "ssh", "tcp")
        if not sudo_as:
            sudo = Check(login.name, "sudo", Verdict.NOT_APPLICABLE, "no step needs sudo")
        elif ssh.verdict is Verdict.PASSED:
            sudo = await self._sudo(login, sudo_as)
        else:
            sudo = _skipped(login, "sudo", "ssh" if tcp.ok else "tcp")
        return HostReport(login.name, login.where, (tcp, ssh, sudo))

    async def _tcp(self, login: Login) -> Check:
        started = time.monotonic()
        route = await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(_route_of, login)
        )
        address = _address(route.hostname, route.port)
        if route.via is not None:
            return _timed(
                login,
                "tcp",
                started,
                Verdict.NOT_APPLICABLE,
                f"reached through {route.via} (ssh_config): the ssh check covers it",
            )
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(route.hostname, route.port), self._timeout
            )
        except (TimeoutError, OSError) as error:
            return _timed(
                login,
                "tcp",
                started,
                Verdict.FAILED,
                _tcp_failure(error, address, self._timeout),
                kind=Failure.UNREACHABLE,
            )
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return _timed(login, "tcp", started, Verdict.PASSED, f"{address} answers")

    async def _ssh(self, login: Login) -> Check:
        """Open the connection a run would use (the control slot: no command will run on it
        here); it stays pooled for the sudo check."""
        started = time.monotonic()
        try:
            async with self._pool.lease(login, control=True):
                pass
        except SshFailure as failure:
            return _timed(login, "ssh", started, Verdict.FAILED, failure.message, kind=failure.kind)
        return _timed(login, "ssh", started, Verdict.PASSED, f"logged in to {login.where}")

    async def _sudo(self, login: Login, sudo_as: tuple[str | None, ...]) -> Check:
        """``true`` through sudo as each identity the host's steps become, stopping at the
        first refusal."""
        started = time.monotonic()
        transport = SshTransport(self._pool, login, ask_sudo=self._ask_sudo)
        for user in sudo_as:
            stderr = bytearray()

            async def keep(stream: Stream, data: bytes, stderr: bytearray = stderr) -> None:
                if stream is Stream.STDERR and len(stderr) < _STDERR_KEPT:
                    stderr.extend(data[: _STDERR_KEPT - len(stderr)])

            spec = CommandSpec("true", sudo=True, user=user, timeout=SUDO_TIMEOUT)
            result = await transport.run(spec, keep, asyncio.Event())
            if not result.succeeded:
                said = _said(stderr)
                detail = result.error or (
                    f"sudo as {user or 'root'} did not finish within {SUDO_TIMEOUT:g}s"
                    if result.timed_out
                    else f"sudo as {user or 'root'} exited {result.exit_code}"
                    + (f": {said}" if said else "")
                )
                return _timed(login, "sudo", started, Verdict.FAILED, detail, kind=result.failure)
        names = ", ".join(user or "root" for user in sudo_as)
        return _timed(login, "sudo", started, Verdict.PASSED, f"sudo works as {names}")


def _timed(
    login: Login,
    name: CheckName,
    started: float,
    verdict: Verdict,
    detail: str,
    *,
    kind: Failure | None = None,
) -> Check:
    """A check's answer, timed from ``started``."""
    return Check(login.name, name, verdict, detail, kind, time.monotonic() - started)


def _route_of(login: Login) -> _Route:
    """The host and port ssh_config makes of ``login`` (read from disk: call off the loop).
    A config asyncssh cannot read leaves the login as it is: the ssh check reports the error."""
    literal = _Route(login.hostname, login.port or DEFAULT_PORT)
    settings: dict[str, object] = {
        "host": login.hostname,
        "config": (),  # () reads ~/.ssh/config, as asyncssh.connect does; None would not
        "client_keys": None,  # no key is read: only the host's address is wanted here
        "known_hosts": None,
        "agent_path": None,
    }
    if login.port:
        settings["port"] = login.port
    if login.user:
        settings["username"] = login.user
    try:
        options = asyncssh.SSHClientConnectionOptions(**settings)
    except (OSError, ValueError, asyncssh.Error):
        return literal
    via = None
    if options.tunnel:
        via = f"ProxyJump {options.tunnel}"
    elif options.proxy_command:
        via = "ProxyCommand"
    return _Route(str(options.host or login.hostname), int(options.port or literal.port), via)


def _address(hostname: str, port: int) -> str:
    return f"[{hostname}]:{port}" if ":" in hostname else f"{hostname}:{port}"


def _tcp_failure(error: BaseException, address: str, timeout: float) -> str:
    if isinstance(error, TimeoutError):
        return f"no TCP answer from {address} within {timeout:g}s (connect timeout)"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the host name of {address}"
    if isinstance(error, ConnectionRefusedError):
        return f"connection refused by {address}: nothing listens there"
    reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return f"cannot connect to {address}: {reason}"


def _skipped(login: Login, name: CheckName, after: CheckName) -> Check:
    return Check(login.name, name, Verdict.SKIPPED, f"not tried: {after} failed")


def _said(data: bytes | bytearray) -> str:
    """What sudo wrote, on one line: its reason can come before or after other complaints."""
    lines = (line.strip() for line in data.decode(errors="replace").splitlines())
    text = "; ".join(line for line in lines if line)
    return text if len(text) <= _SAID_MAX else text[: _SAID_MAX - 1] + "…"
