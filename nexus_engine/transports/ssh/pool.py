"""One pooled connection per host, shared by every unit that runs there.

A connection carries many channels, but an OpenSSH server refuses more than ``MaxSessions``
(10 by default) at once, so each connection lends out at most ``max_sessions - 1`` channels to
commands and keeps the last one for control: the out-of-band kill of a command that timed out
must never wait for a free channel. When every connection to a host is full, another is opened.
A server configured with a lower ``MaxSessions`` may still refuse that control channel; the
transport then stops the command through its own channel, and a connection left holding a
channel the server will not close is marked broken: it is closed once no command uses it.

Handshakes in flight are bounded run-wide (``connect_limit``): a 500-host run opening every
connection at once would trip sshd's ``MaxStartups`` and starve the controller's CPU of the key
exchanges that are already under way. A handshake that stalls (a host that never answers) gives
its slot back after a quarter of ``connect_timeout``, and the time a unit waited for a slot is
reported apart from its handshake (``slot_wait``).

A host whose connections keep failing is marked down (a circuit breaker): its later units fail
at once as unreachable instead of each waiting out another connect timeout. Authentication and
host key failures mark it down at the first failure, since trying again cannot change the
answer. Only the operator's own retry (the dashboard's ``r``) lifts the mark: they may have
fixed the host meanwhile; the automatic ``retries`` of a step do not.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import asyncssh

from nexus_engine.transports.base import Ask
from nexus_engine.transports.ssh.connect import ConnectSettings, Login, connect
from nexus_engine.transports.ssh.errors import SshFailure
from nexus_engine.transports.ssh.keyring import KeyRing
from nexus_engine.transports.ssh.known_hosts import KnownHostsBook
from nexus_engine.words import Failure

#: Of ``connect_timeout``, how long a handshake holds its slot before it counts as stalled.
_STALLED = 0.25
#: A wait for a handshake slot shorter than this is not worth a word in a failure's message.
_WORTH_SAYING = 0.1
#: Failures after which one more connection attempt cannot succeed this run.
_FINAL = frozenset(
    {
        Failure.AUTH_FAILED,
        Failure.HOST_KEY_UNKNOWN,
        Failure.HOST_KEY_CHANGED,
        Failure.HOST_KEY_REVOKED,
    }
)


@dataclass(eq=False)
class Lease:
    """A channel's worth of one pooled connection, held while a command runs on it."""

    connection: asyncssh.SSHClientConnection
    pool_entry: _Pooled
    slot_wait: float = 0.0  # this acquire waited so long for a handshake slot

    def broken(self) -> None:
        """The connection failed under us: never lend it again."""
        self.pool_entry.broken = True


@dataclass(eq=False)
class _Pooled:
    """One connection to a host and how many of its channels are in use."""

    connection: asyncssh.SSHClientConnection
    in_use: int = 0
    capacity: int = 9
    broken: bool = False
    idle_timer: asyncio.TimerHandle | None = None
    closed: bool = False  # told to close: asyncssh would say goodbye to the server again

    @property
    def usable(self) -> bool:
        return not self.broken and not self.closed and not self.connection.is_closed()

    def close(self) -> None:
        """Close the connection, once: each ``close`` sends the server a disconnect."""
        if not self.closed:
            self.closed = True
            self.connection.close()


@dataclass(eq=False)
class _Slot:
    """One handshake slot, given back once: when the handshake ends or when it stalls."""

    semaphore: asyncio.Semaphore
    held: bool = True

    def give_back(self) -> None:
        if self.held:
            self.held = False
            self.semaphore.release()


@dataclass(eq=False)
class _Host:
    """One host's connections, and whether it is known to be down."""

    login: Login
    pooled: list[_Pooled] = field(default_factory=list)
    connecting: asyncio.Lock = field(default_factory=asyncio.Lock)
    failures: int = 0
    down: SshFailure | None = None


class SshPool:
    """Connections for one run; :meth:`close` ends them all."""

    def __init__(
        self,
        settings: ConnectSettings,
        known_hosts: KnownHostsBook,
        *,
        connect_limit: int = 32,
        max_sessions: int = 10,
        idle_timeout: float = 60.0,
        breaker_after: int = 2,
        ask: Ask | None = None,
    ) -> None:
        self.settings = settings
        self.known_hosts = known_hosts
        self.max_sessions = max_sessions
        self.idle_timeout = idle_timeout
        self.breaker_after = breaker_after
        self._ask = ask
        self.connect_limit = connect_limit
        self._handshakes = asyncio.Semaphore(connect_limit)
        self._hosts: dict[str, _Host] = {}
        self.keys = KeyRing()  # the client's key files, read once for every host
        self.opened = 0  # connections opened this run, for tests and benchmarks

    async def acquire(self, login: Login, *, control: bool = False, again: bool = False) -> Lease:
        """A channel slot on a live connection to ``login``'s host, connecting if needed;
        give it back with :meth:`release`. ``control`` may take the slot kept back for kills;
        ``again`` (the operator's own retry) lifts a mark of down, so the host is tried anew.
        Raises :class:`SshFailure`."""
        host = self._host(login)
        if again:
            host.down, host.failures = None, 0
        waits: list[float] = []
        pooled = await self._acquire(host, control=control, waits=waits)
        return Lease(pooled.connection, pooled, slot_wait=sum(waits))

    def release(self, lease: Lease) -> None:
        self._release(lease.pool_entry)

    @contextlib.asynccontextmanager
    async def lease(self, login: Login, *, control: bool = False) -> AsyncIterator[Lease]:
        """:meth:`acquire` and :meth:`release` around a block."""
        lease = await self.acquire(login, control=control)
        try:
            yield lease
        finally:
            self.release(lease)

    def _host(self, login: Login) -> _Host:
        host = self._hosts.get(login.name)
        if host is None:
            host = self._hosts[login.name] = _Host(login)
        return host

    async def _acquire(self, host: _Host, *, control: bool, waits: list[float]) -> _Pooled:
        while True:
            if host.down is not None:
                raise host.down
            free = self._free(host, control)
            if free is not None:
                return self._take(free)
            async with host.connecting:
                free = self._free(host, control)  # one may have opened while we waited
                if free is not None:
                    return self._take(free)
                if host.down is None:
                    # not ``host.pooled.append(await …)``: that binds the list before the
                    # await, and ``_free`` replaces the list meanwhile, losing the connection
                    opened = await self._open(host, waits)
                    host.pooled.append(opened)

    def _free(self, host: _Host, control: bool) -> _Pooled | None:
        host.pooled = [p for p in host.pooled if p.usable or p.in_use]
        for pooled in host.pooled:
            limit = pooled.capacity + (1 if control else 0)
            if pooled.usable and pooled.in_use < limit:
                return pooled
        return None

    def _take(self, pooled: _Pooled) -> _Pooled:
        pooled.in_use += 1
        if pooled.idle_timer is not None:
            pooled.idle_timer.cancel()
            pooled.idle_timer = None
        return pooled

    def _release(self, pooled: _Pooled) -> None:
        pooled.in_use -= 1
        if not pooled.usable:
            if not pooled.in_use:
                pooled.close()
        elif not pooled.in_use:
            loop = asyncio.get_running_loop()
            pooled.idle_timer = loop.call_later(self.idle_timeout, self._close_idle, pooled)

    def _close_idle(self, pooled: _Pooled) -> None:
        if not pooled.in_use:
            pooled.broken = True  # not lent again; _free drops it
            pooled.close()

    def at_capacity(self, lease: Lease) -> None:
        """The server refused a channel below our limit: its ``MaxSessions`` is lower. Lend
        this connection no more than it holds now."""
        lease.pool_entry.capacity = max(lease.pool_entry.in_use - 1, 1)

    async def _open(self, host: _Host, waits: list[float]) -> _Pooled:
        """A new connection to ``host``, once a handshake slot is free; the time spent waiting
        for the slot goes to ``waits`` (and into the failure's message, if it fails), kept
        apart from the handshake itself, which alone ``connect_timeout`` limits.

        A handshake gives its slot back once it has taken a quarter of ``connect_timeout``
        (:data:`_STALLED`): a key exchange costs milliseconds of CPU, so one still going on is
        a host that does not answer (or a person typing a password), and keeping the slot would
        let 50 hung hosts over 32 slots cost the whole run two connect timeouts."""
        loop = asyncio.get_running_loop()
        queued = loop.time()
        await self._handshakes.acquire()
        waits.append(loop.time() - queued)
        slot = _Slot(self._handshakes)
        stalled = loop.call_later(self.settings.connect_timeout * _STALLED, slot.give_back)
        try:
            connection = await connect(
                host.login, self.settings, self.known_hosts, self._ask, self.keys
            )
        except SshFailure as failure:
            host.failures += 1
            if failure.kind in _FINAL or host.failures >= self.breaker_after:
                host.down = _marked_down(failure, host.failures)  # later units never wait
            raise self._after_waiting(failure, sum(waits)) from None
        finally:
            stalled.cancel()
            slot.give_back()
        host.failures = 0
        self.opened += 1
        return _Pooled(connection, capacity=max(self.max_sessions - 1, 1))

    def _after_waiting(self, failure: SshFailure, waited: float) -> SshFailure:
        """``failure``, saying how long the attempt first waited for a handshake slot."""
        message = failure.message
        if waited >= _WORTH_SAYING:
            message += (
                f" (before that it waited {waited:.1f}s for one of {self.connect_limit}"
                " handshake slots: connect_limit)"
            )
        return SshFailure(failure.kind, message, slot_wait=waited)

    def close_host(self, name: str) -> None:
        """The host has no work left this run: close its connections now (one still lent out,
        as soon as it is given back), rather than hold a socket per host until the run ends.
        A later unit there (the operator's retry) opens a new one."""
        host = self._hosts.get(name)
        if host is None:
            return
        for pooled in host.pooled:
            if pooled.idle_timer is not None:
                pooled.idle_timer.cancel()
                pooled.idle_timer = None
            pooled.broken = True  # never lent again; _release closes it once it is free
            if not pooled.in_use:
                pooled.close()

    def connections(self, name: str) -> int:
        """Live pooled connections to a host."""
        host = self._hosts.get(name)
        return sum(1 for p in host.pooled if p.usable) if host else 0

    async def close(self) -> None:
        """Close every connection and wait for them to be closed: nothing outlives the run."""
        closing = []
        for host in self._hosts.values():
            for pooled in host.pooled:
                if pooled.idle_timer is not None:
                    pooled.idle_timer.cancel()
                pooled.close()
                closing.append(pooled.connection.wait_closed())
            host.pooled.clear()
        await asyncio.gather(*closing, return_exceptions=True)


def _marked_down(failure: SshFailure, failures: int) -> SshFailure:
    if failure.kind in _FINAL:
        return failure
    return SshFailure(
        failure.kind,
        f"{failure.message}; marked down for the rest of the run after {failures} failed "
        f"connections (retry the host to try it again)",
    )
