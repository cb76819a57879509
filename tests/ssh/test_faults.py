"""SshTransport when things go wrong: stopping what runs as another user or cannot be killed,
a deadline that covers connecting, connections that die under a command or between commands,
hosts that never answer (T-PROC-2, 3, 5; T-SSH-1, 6, 7, 8, 9).

That a timeout or a cancel kills the whole tree, as on every transport, is the contract suite's
(``tests/contract/test_transport_contract.py``), which on this lab also asks the host over a
second, independent SSH connection, as an operator would.

Every "remote" process runs on this machine, so a test can look at what is left in /proc.
Sleeps carry a random fraction (``sleep 300.NNNN``) so a test can find exactly its own
processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_engine.transports.ssh.connect import ConnectSettings, Login
from nexus_engine.transports.ssh.pool import SshPool
from nexus_engine.transports.ssh.transport import SshTransport
from nexus_engine.words import Failure
from tests.ssh.harness import SshHost, SshLab, processes_matching
from tests.ssh.support import (
    GRACE,
    Sink,
    login,
    owners,
    pool_for_test,
    remove,
    run,
    token,
    until,
    wait_gone,
)

pytestmark = pytest.mark.usefixtures("in_ssh_home")


@pytest.fixture
def host(ssh_lab: SshLab) -> SshHost:
    return ssh_lab.hosts[1]


@pytest.fixture
def transport(ssh_lab: SshLab, pool: SshPool, host: SshHost) -> SshTransport:
    return SshTransport(pool, login(ssh_lab, host), kill_grace=GRACE)


@pytest.fixture
def tag() -> Iterator[str]:
    """A unique ``sleep`` argument; whatever still sleeps with it at the end is killed, so a
    failing test does not leave 300-second sleepers behind for the next."""
    value = f"300.{random.randrange(10**8):08d}"
    yield value
    for pid, _ in processes_matching(f"sleep {value}"):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def sleepers(tag: str) -> list[int]:
    """The ``sleep`` processes of a test (not the shells and sudo whose argv mention them)."""
    return [pid for pid, argv in processes_matching(f"sleep {tag}") if argv == f"sleep {tag}"]


async def warm(transport: SshTransport) -> None:
    """Connect before a test whose deadline must cover only the command, not a handshake on
    a loaded machine."""
    result, _ = await run(transport, "true")
    assert result.succeeded, result


# --- stopping what the login user cannot simply kill ---------------------------------------------


@pytest.mark.parametrize(
    ("who", "spec", "uid"),
    [
        ("key", {"sudo": True}, 0),
        ("key", {"user": "nobody"}, 65534),
        ("password", {"sudo": True}, 0),  # the kill itself goes through sudo's password dialogue
    ],
    ids=["sudo", "as-nobody", "sudo-with-password"],
)
async def test_timeout_kills_a_command_running_as_another_user(
    ssh_lab: SshLab,
    pool: SshPool,
    host: SshHost,
    *,
    tag: str,
    who: str,
    spec: dict[str, object],
    uid: int,
) -> None:
    fields: dict[str, object] = {}
    if who == "password":
        fields = {
            "name": "as-password-user",
            "user": ssh_lab.password_user,
            "sudo_password": ssh_lab.password,
        }
    transport = SshTransport(pool, login(ssh_lab, host, **fields), kill_grace=GRACE)
    await warm(transport)
    task = asyncio.create_task(run(transport, f"sleep {tag} & sleep {tag}", timeout=1.5, **spec))
    await until(lambda: len(sleepers(tag)) == 2)
    assert owners(sleepers(tag)) == {uid}
    result, sink = await task
    assert result.timed_out
    assert result.failure is None, (result, sink.err)
    assert processes_matching(f"sleep {tag}") == []


async def test_unkillable_member_gives_kill_unverified(transport: SshTransport, tag: str) -> None:
    """T-PROC-2's last resort: a process of the group the user cannot kill (root's, through
    sudo) survives; the step must say the kill is unverified, not claim a clean stop. The step
    is stopped once root's process is known to run (a deadline could pass before sudo has
    started it, on a loaded machine), through the same stop a deadline takes."""
    await warm(transport)
    command = f"sudo -n sh -c 'sleep {tag} </dev/null >/dev/null 2>&1 &'; echo started; sleep {tag}"
    sink, cancel = Sink(), asyncio.Event()
    task = asyncio.create_task(run(transport, command, sink=sink, cancel=cancel, timeout=60))
    await sink.wait_for(b"started\n")
    cancel.set()
    result, _ = await task
    assert result.cancelled
    assert result.failure is Failure.KILL_UNVERIFIED, (result, sink.err)
    assert "could not verify" in (result.error or "")
    assert not result.succeeded
    assert result.duration < 10
    assert owners(sleepers(tag)) == {0}  # root's sleep: really left


async def test_the_deadline_covers_connecting(ssh_lab: SshLab) -> None:
    """A host that never answers costs the step its timeout, not the connect timeout."""
    with ssh_lab.silent_listener() as (address, port):
        async with pool_for_test() as pool:
            transport = SshTransport(pool, Login("hung", address, port, ssh_lab.key_user))
            result, _ = await run(transport, "true", timeout=0.5)
    assert result.timed_out
    assert not result.succeeded
    assert result.duration < 2


# --- connections lost -----------------------------------------------------------------------


async def test_connection_killed_mid_command_is_connection_lost(
    ssh_lab: SshLab, pool: SshPool, transport: SshTransport, host: SshHost, tag: str
) -> None:
    """T-SSH-6 / T-PROC-5: the sshd serving the command dies. Its outcome is unknown, so it is
    ``connection_lost`` (never success, never re-sent), the output so far is kept, the orphaned
    group is reaped over a new connection, and the next command gets a working one."""
    runs = f"/tmp/nexus-runs-{token()}"
    sink = Sink()
    command = f"echo once >> {runs}; echo $PPID; echo partial >&2; sleep {tag}"
    try:
        task = asyncio.create_task(run(transport, command, sink=sink, timeout=30))
        await sink.wait_for(b"\n")
        await until(lambda: b"partial" in sink.err)  # stderr is its own stream: may come later
        sshd = int(sink.out.split(b"\n")[0])
        title = await asyncio.to_thread(Path(f"/proc/{sshd}/cmdline").read_bytes)
        assert title.startswith(f"sshd: {ssh_lab.key_user}@".encode())  # the right victim
        os.kill(sshd, signal.SIGKILL)
        result, _ = await task
        assert result.failure is Failure.CONNECTION_LOST, result
        assert result.exit_code is None
        assert not result.succeeded
        assert not result.timed_out
        assert result.duration < 10
        assert "lost" in (result.error or "")
        assert "could not be checked" not in (result.error or "")  # the reap was verified
        assert sink.out == f"{sshd}\n".encode()
        assert b"partial" in sink.err
        assert processes_matching(f"sleep {tag}") == []  # reaped on a new connection
        assert await asyncio.to_thread(Path(runs).read_text) == "once\n"  # not re-sent

        result, sink = await run(transport, "echo again")
        assert result.succeeded, result
        assert sink.out == b"again\n"
        assert pool.opened == 2  # the dead one was not reused
        assert pool.connections(host.name) == 1
    finally:
        remove(runs)


async def test_a_silent_dead_server_is_noticed_by_keepalive(ssh_lab: SshLab, tag: str) -> None:
    """T-SSH-8: the sshd stops answering (SIGSTOP) while the command is silent; keepalives
    declare the connection dead long before the command's own timeout."""
    settings = ConnectSettings(connect_timeout=5, keepalive_interval=0.5, keepalive_count_max=2)
    host = ssh_lab.hosts[2]
    sshd = 0
    async with pool_for_test(settings=settings) as pool:
        transport = SshTransport(pool, login(ssh_lab, host), kill_grace=GRACE)
        sink = Sink()
        try:
            task = asyncio.create_task(
                run(transport, f"echo $PPID; sleep {tag}", sink=sink, timeout=60)
            )
            await sink.wait_for(b"\n")
            sshd = int(sink.out.split(b"\n")[0])
            os.kill(sshd, signal.SIGSTOP)
            result, _ = await task
        finally:
            if sshd:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(sshd, signal.SIGKILL)
                    os.kill(sshd, signal.SIGCONT)
    assert result.failure is Failure.CONNECTION_LOST, result
    assert result.duration < 6
    assert processes_matching(f"sleep {tag}") == []  # reaped on a new connection


async def test_stale_pooled_connection_is_replaced_before_the_command(
    ssh_lab: SshLab, pool: SshPool, transport: SshTransport, host: SshHost
) -> None:
    """T-SSH-9: the server side of the pooled connection died between commands, and the pool
    has not noticed yet (the loop never ran since: the wait below blocks it). The next command
    finds the channel refused, nothing having run, and starts on a new connection."""
    result, sink = await run(transport, "echo $PPID")
    assert result.succeeded
    sshd = int(sink.out)
    os.kill(sshd, signal.SIGKILL)
    wait_gone(sshd)
    assert pool.connections(host.name) == 1  # still looks alive to the pool
    mark = ssh_lab.log_mark()
    result, sink = await run(transport, "echo $PPID")
    assert result.succeeded, result
    assert int(sink.out) != sshd
    assert pool.opened == 2
    assert ssh_lab.connections_since(mark, host) == 1


async def test_closed_pooled_connection_is_replaced(
    ssh_lab: SshLab, pool: SshPool, transport: SshTransport, host: SshHost
) -> None:
    """The same, once the pool has seen the connection close: it just opens another."""
    result, sink = await run(transport, "echo $PPID")
    assert result.succeeded
    os.kill(int(sink.out), signal.SIGKILL)
    await until(lambda: pool.connections(host.name) == 0)
    result, sink = await run(transport, "echo ok")
    assert result.succeeded, result
    assert pool.opened == 2


# --- hosts that cannot be reached ---------------------------------------------------------------


async def test_connection_refused_is_unreachable_at_once(ssh_lab: SshLab) -> None:
    """T-SSH-1."""
    address, port = ssh_lab.refused()
    async with pool_for_test() as pool:
        transport = SshTransport(pool, Login("gone", address, port, ssh_lab.key_user))
        result, _ = await run(transport, "true")
    assert result.failure is Failure.UNREACHABLE, result
    assert "refused" in (result.error or "")
    assert address in (result.error or "")
    assert result.duration < 1
    assert not result.succeeded


async def test_hung_host_is_unreachable_after_the_connect_timeout(ssh_lab: SshLab) -> None:
    """T-SSH-7: TCP accepted, no SSH banner ever."""
    with ssh_lab.silent_listener() as (address, port):
        async with pool_for_test(settings=ConnectSettings(connect_timeout=1)) as pool:
            transport = SshTransport(pool, Login("hung", address, port, ssh_lab.key_user))
            result, _ = await run(transport, "true")
    assert result.failure is Failure.UNREACHABLE, result
    error = result.error or ""
    assert "handshake" in error or "timeout" in error
    assert 0.9 <= result.duration < 3


async def test_the_wait_for_a_handshake_slot_is_counted_apart_from_the_handshake(
    ssh_lab: SshLab,
) -> None:
    """With one handshake slot, a hung host holds it until its handshake has stalled for a
    quarter of the connect timeout, then gives it back. The hosts queued behind report that
    wait apart from their own handshake, which the timeout alone limits: a second hung host
    still gets its full timeout, and says it waited first; a healthy host behind both waits
    for the two stalls, not for two whole timeouts."""
    timeout = 2.0
    with ssh_lab.silent_listener() as (address, port):
        async with pool_for_test(
            settings=ConnectSettings(connect_timeout=timeout), connect_limit=1
        ) as pool:
            hung = [
                SshTransport(pool, Login(f"hung{i}", address, port, ssh_lab.key_user))
                for i in range(2)
            ]
            fine = SshTransport(pool, login(ssh_lab, ssh_lab.hosts[3]))
            # started in this order, each runs up to its handshake, so the first takes the slot
            (alone, _), (second, _), (healthy, _) = await asyncio.gather(
                run(hung[0], "true"), run(hung[1], "true"), run(fine, "true")
            )
    stall = timeout / 4
    assert alone.failure is Failure.UNREACHABLE, alone
    assert alone.slot_wait < stall
    assert "waited" not in (alone.error or "")
    assert second.failure is Failure.UNREACHABLE, second
    assert second.slot_wait >= stall * 0.9  # the first one's stall
    assert "handshake slots: connect_limit" in (second.error or "")
    assert second.duration >= second.slot_wait + timeout * 0.9  # then its own timeout in full
    assert healthy.succeeded, healthy
    assert 2 * stall * 0.9 <= healthy.slot_wait < timeout  # two stalls, not a whole timeout


async def test_the_operators_retry_gives_a_host_marked_down_a_fresh_chance(
    ssh_lab: SshLab, in_ssh_home: Path
) -> None:
    """The breaker holds against the step's own retries; when the operator, having fixed the
    host (here: ssh_config now points the alias at a live server), says retry, it is tried."""
    config = in_ssh_home / ".ssh" / "config"
    kept = config.read_text() if config.exists() else ""
    address, port = ssh_lab.refused()
    config.write_text(f"Host flaky\n    HostName {address}\n    Port {port}\n" + kept)
    async with pool_for_test() as pool:
        flaky = SshTransport(pool, Login("flaky", "flaky", None, ssh_lab.key_user))
        for _ in range(2):
            refused, _ = await run(flaky, "true")
            assert refused.failure is Failure.UNREACHABLE, refused
        live = ssh_lab.hosts[4]
        config.write_text(f"Host flaky\n    HostName {live.address}\n    Port {live.port}\n" + kept)
        still_down, _ = await run(flaky, "true")
        fresh, sink = await run(flaky, "echo back", operator_retry=True)
    assert still_down.failure is Failure.UNREACHABLE
    assert "marked down" in (still_down.error or "")
    assert fresh.succeeded, fresh
    assert sink.out == b"back\n"


async def test_circuit_breaker_marks_a_host_down_after_two_failures(ssh_lab: SshLab) -> None:
    """After two failed connections the host's later steps fail at once, and other hosts in the
    same pool are unaffected."""
    with ssh_lab.silent_listener() as (address, port):
        async with pool_for_test(settings=ConnectSettings(connect_timeout=0.5)) as pool:
            dead = SshTransport(pool, Login("hung", address, port, ssh_lab.key_user))
            first, _ = await run(dead, "true")
            second, _ = await run(dead, "true")
            third, _ = await run(dead, "true")
            fine = SshTransport(pool, login(ssh_lab, ssh_lab.hosts[3]))
            other, _ = await run(fine, "true")
    for result in (first, second, third):
        assert result.failure is Failure.UNREACHABLE, result
    assert first.duration >= 0.4
    assert second.duration >= 0.4
    assert "marked down" not in (first.error or "")
    assert "marked down" in (third.error or "")
    assert third.duration < 0.1
    assert other.succeeded, other
