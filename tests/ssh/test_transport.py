"""SshTransport against real sshd, in what only SSH does: a cwd that cannot be entered as the
script's exit status, sudo and other users, what shows on the host's process list, a login
shell that never runs the step, and how many connections a host costs (T-SEC-4, 6; the pool's
reuse promises).

What every transport promises (exit states, byte-exact output, env and cwd, stdin, timeout and
cancel killing the whole tree) is the contract suite's, run on this lab too:
``tests/contract/test_transport_contract.py``.

The "remote" hosts are this machine, so a test can look at their processes directly as well as
through a second connection.
"""

from __future__ import annotations

import asyncio
import collections
import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_engine.transports.ssh.known_hosts import HostKeyPolicy
from nexus_engine.transports.ssh.pool import SshPool
from nexus_engine.transports.ssh.transport import SshTransport
from nexus_engine.words import Failure
from tests.ssh.harness import SshHost, SshLab, processes_matching
from tests.ssh.support import (
    GRACE,
    Gate,
    Sink,
    alive,
    exists,
    login,
    pool_for_test,
    remove,
    run,
    session_processes,
    token,
    until,
)

pytestmark = pytest.mark.usefixtures("in_ssh_home")


@pytest.fixture
def host(ssh_lab: SshLab) -> SshHost:
    return ssh_lab.hosts[0]


@pytest.fixture
def transport(ssh_lab: SshLab, pool: SshPool, host: SshHost) -> SshTransport:
    return SshTransport(pool, login(ssh_lab, host), kill_grace=GRACE)


# --- what the command is given ------------------------------------------------------------------


async def test_stdin_is_empty_under_sudo(transport: SshTransport) -> None:
    result, sink = await run(transport, "cat; echo done", sudo=True, timeout=5)
    assert result.succeeded, result
    assert sink.out == b"done\n"


INJECTIONS = [
    "x; touch {pwned}",
    "$(touch {pwned})",
    "`touch {pwned}`",
    "'; touch {pwned}; '",
    '"; touch {pwned}; "',
    "x\ntouch {pwned}\n",
]


async def test_a_cwd_that_cannot_be_entered_is_exit_status_126(transport: SshTransport) -> None:
    """The script's ``cd`` fails, and the step with it, before the command runs; a cwd that
    holds shell syntax is just a directory that does not exist (T-SEC-4)."""
    pwned = f"/tmp/nexus-pwned-{token()}"
    try:
        for where in ["/nonexistent/nexus", *(v.format(pwned=pwned) for v in INJECTIONS)]:
            result, sink = await run(transport, "echo ran", cwd=where)
            assert result.exit_code == 126, (where, result)
            assert sink.out == b""
        assert not exists(pwned)
    finally:
        remove(pwned)


async def test_injection_through_user_or_under_sudo_creates_nothing(
    transport: SshTransport,
) -> None:
    """T-SEC-4: ``x; touch /tmp/pwned`` as a user to run as, or in an env value that goes
    through sudo, is data, never a command."""
    pwned = f"/tmp/nexus-pwned-{token()}"
    try:
        for value in (v.format(pwned=pwned) for v in INJECTIONS):
            result, _ = await run(transport, "true", user=value)
            assert not result.succeeded  # sudo: unknown user
            result, sink = await run(transport, 'printf %s "$V"', env={"V": value}, sudo=True)
            assert result.succeeded, (result, sink.err)
            assert sink.out == value.encode()
        assert not exists(pwned)
    finally:
        remove(pwned)


# --- sudo ---------------------------------------------------------------------------------------


async def test_sudo_nopasswd_runs_as_root(transport: SshTransport) -> None:
    result, sink = await run(transport, "id -u", sudo=True)
    assert result.succeeded, (result, sink.err)
    assert sink.out == b"0\n"
    assert sink.err == b""


async def test_user_runs_as_that_user(transport: SshTransport) -> None:
    result, sink = await run(transport, "id -un", user="nobody")
    assert result.succeeded, (result, sink.err)
    assert sink.out == b"nobody\n"


def password_transport(lab: SshLab, pool: SshPool, host: SshHost, **fields: object) -> SshTransport:
    """The password user, who needs its password for sudo. A name of its own: the pool keeps
    one connection per name, and sudo's cache is per connection."""
    fields.setdefault("name", f"{host.name}-pw-{token()}")
    return SshTransport(pool, login(lab, host, user=lab.password_user, **fields), kill_grace=GRACE)


async def test_sudo_with_password(ssh_lab: SshLab, pool: SshPool, host: SshHost) -> None:
    transport = password_transport(ssh_lab, pool, host, sudo_password=ssh_lab.password)
    result, sink = await run(transport, "id -u; cat", sudo=True, timeout=10)
    assert result.succeeded, (result, sink.err)
    assert sink.out == b"0\n"  # and `cat` saw no password on its stdin
    assert sink.err == b""
    assert ssh_lab.password.encode() not in sink.out + sink.err


async def test_sudo_with_password_as_another_user(
    ssh_lab: SshLab, pool: SshPool, host: SshHost
) -> None:
    transport = password_transport(ssh_lab, pool, host, sudo_password=ssh_lab.password)
    result, sink = await run(transport, "id -un", user="nobody", timeout=10)
    assert result.succeeded, (result, sink.err)
    assert sink.out == b"nobody\n"


async def test_wrong_sudo_password_fails_fast(
    ssh_lab: SshLab, pool: SshPool, host: SshHost
) -> None:
    wrong = f"wrong-{token()}"
    transport = password_transport(ssh_lab, pool, host, sudo_password=wrong)
    result, sink = await run(transport, "echo ran", sudo=True, timeout=30)
    assert result.failure is Failure.SUDO_AUTH_FAILED, (result, sink.err)
    assert not result.succeeded
    assert result.duration < 10
    assert b"ran" not in sink.out
    for secret in (wrong, ssh_lab.password):
        assert secret.encode() not in sink.out + sink.err
        assert secret not in (result.error or "")


async def test_sudo_without_password_says_it_is_required(
    ssh_lab: SshLab, pool: SshPool, host: SshHost
) -> None:
    transport = password_transport(ssh_lab, pool, host)
    result, sink = await run(transport, "echo ran", sudo=True, timeout=30)
    assert result.failure is Failure.SUDO_PASSWORD_REQUIRED, (result, sink.err)
    assert "sudo_password" in (result.error or "")
    assert result.duration < 5
    assert b"ran" not in sink.out


def _scan_for(needles: list[bytes], found: set[bytes]) -> None:
    """One pass over every process's argv and environment on this machine (the "remote")."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        for part in ("cmdline", "environ"):
            try:
                data = (entry / part).read_bytes()
            except OSError:
                continue
            found.update(n for n in needles if n in data)


@pytest.fixture
def sudo_ignoring_prompt() -> Iterator[Path]:
    """A directory with a ``sudo`` that asks in its own words (as one that ignores ``-p``
    would) and gives up when its stdin closes; readable by the lab's users."""
    where = Path(tempfile.mkdtemp(prefix="nexus-fake-sudo-"))
    fake = where / "sudo"
    fake.write_text(
        "#!/bin/sh\nprintf 'Password: ' >&2\nIFS= read -r line || exit 3\n"
        'echo "read: $line" >&2\nexit 1\n'
    )
    fake.chmod(0o755)
    where.chmod(0o755)
    try:
        yield where
    finally:
        shutil.rmtree(where)


async def test_a_sudo_that_never_shows_our_prompt_is_stopped_soon(
    ssh_lab: SshLab, pool: SshPool, host: SshHost, sudo_ignoring_prompt: Path
) -> None:
    """T-SEC-6: with a password to feed and no prompt of ours in sight, the step is stopped
    after ``sudo_prompt_wait``, not the step's timeout; the password is never sent."""
    transport = password_transport(ssh_lab, pool, host, sudo_password=ssh_lab.password)
    transport.sudo_prompt_wait = 0.5
    path = {"PATH": f"{sudo_ignoring_prompt}:/usr/bin:/bin"}
    result, sink = await run(transport, "echo inside", sudo=True, env=path, timeout=60)
    assert result.failure is Failure.SUDO_PROMPT_TIMEOUT, result
    assert (result.timed_out, result.cancelled) == (False, False)
    assert result.exit_code == 3  # the fake sudo saw its stdin close, and gave up
    assert "did not ask for the password" in (result.error or "")
    assert ssh_lab.password.encode() not in sink.out + sink.err
    assert b"inside" not in sink.out
    assert processes_matching(str(sudo_ignoring_prompt)) == []


async def test_sudo_password_never_in_argv_or_environment(
    ssh_lab: SshLab, pool: SshPool, host: SshHost
) -> None:
    """T-SEC-6: while a sudo step runs, no process on the host carries the password in its
    command line or environment. The probe (part of the command text, which is in argv once
    sudo runs it) shows the scan does see the step's processes."""
    probe = f"probe{token()}".encode()
    password = ssh_lab.password.encode()
    transport = password_transport(ssh_lab, pool, host, sudo_password=ssh_lab.password)
    task = asyncio.create_task(
        run(transport, f"sleep 2; : {probe.decode()}", sudo=True, timeout=20)
    )
    found: set[bytes] = set()
    scans = 0
    while not task.done():
        await asyncio.to_thread(_scan_for, [probe, password], found)
        scans += 1
    result, sink = await task
    assert result.succeeded, (result, sink.err)
    assert scans >= 1
    assert probe in found  # the scan saw the step while it ran
    assert password not in found


@pytest.mark.parametrize("private", [False, True], ids=["plain", "carrying-a-secret"])
async def test_only_a_step_without_secrets_shows_on_the_process_list(
    transport: SshTransport, private: bool
) -> None:
    """A step carrying a ``${secret:…}`` value travels on stdin, so no process on the host has
    it in its command line; a plain step goes inline in the exec request, where the same scan
    finds it (which shows the scan can see a step)."""
    secret = f"secret{token()}"
    task = asyncio.create_task(run(transport, f"sleep 2; : {secret}", private=private, timeout=20))
    found: set[bytes] = set()
    while not task.done():
        await asyncio.to_thread(_scan_for, [secret.encode()], found)
    result, _ = await task
    assert result.succeeded, result
    assert (secret.encode() in found) is not private


async def test_a_login_shell_that_never_runs_the_step_is_start_failed(
    ssh_lab: SshLab,
) -> None:
    """A server whose ``ForceCommand`` replaces every command: the channel ends with an exit
    status but without the line every start prints first, so the step never ran."""
    async with pool_for_test(HostKeyPolicy.ACCEPT_NEW) as pool:
        with ssh_lab.spare(new_host_key=False, extra_config=["ForceCommand exit 7"]) as spare:
            transport = SshTransport(pool, login(ssh_lab, spare), kill_grace=GRACE)
            for private in (False, True):
                result, _ = await run(transport, "echo hello", private=private, timeout=20)
                assert result.failure is Failure.START_FAILED, result
                assert result.exit_code == 7
                assert result.error is not None
                assert "could not start the step (exit status 7)" in result.error


async def test_a_bourne_login_shell_is_learned_and_the_marker_still_reaches_the_step(
    transport: SshTransport,
) -> None:
    """The lab's users log in with bash: the first step's header says so, and later steps
    start with one exec fewer, their first shell still carrying the marker a sweep reads."""
    step_id = token().ljust(32, "0")[:32]
    environ = "tr '\\0' '\\n' < /proc/$$/environ"
    assert not transport.bourne
    for _ in range(2):
        result, sink = await run(transport, environ, step_id=step_id)
        assert result.succeeded, result
        assert f"NEXUS_STEP_ID={step_id}".encode() in sink.out.splitlines()
        assert transport.bourne  # learned from the first step's header


# --- the pool -----------------------------------------------------------------------------------


async def test_sequential_and_concurrent_commands_share_one_connection(
    ssh_lab: SshLab, pool: SshPool
) -> None:
    host = ssh_lab.hosts[4]
    transport = SshTransport(pool, login(ssh_lab, host), kill_grace=GRACE)
    mark = ssh_lab.log_mark()
    for i in range(10):
        result, sink = await run(transport, f"echo {i}")
        assert result.succeeded
        assert sink.out == f"{i}\n".encode()
    results = await asyncio.gather(*(run(transport, f"sleep 0.3; echo {i}") for i in range(8)))
    assert [sink.out for _, sink in results] == [f"{i}\n".encode() for i in range(8)]
    assert all(result.succeeded for result, _ in results)
    assert pool.opened == 1
    assert ssh_lab.connections_since(mark, host) == 1
    assert pool.connections(host.name) == 1


async def test_concurrent_first_commands_share_one_connection(
    ssh_lab: SshLab, pool: SshPool
) -> None:
    """Eight commands that all find the pool empty wait for one handshake, not eight (and the
    connection they share is the one the pool keeps, so close() ends it)."""
    host = ssh_lab.hosts[7]
    transport = SshTransport(pool, login(ssh_lab, host), kill_grace=GRACE)
    mark = ssh_lab.log_mark()
    results = await asyncio.gather(*(run(transport, "echo $PPID; sleep 0.3") for _ in range(8)))
    assert all(result.succeeded for result, _ in results)
    assert len({sink.out for _, sink in results}) == 1
    assert pool.opened == 1
    assert ssh_lab.connections_since(mark, host) == 1
    assert pool.connections(host.name) == 1


async def test_twenty_concurrent_commands_stay_within_max_sessions(
    ssh_lab: SshLab, pool: SshPool
) -> None:
    """9 command channels per connection (MaxSessions 10, one kept for control): 20 at once
    need 3 connections, and no connection ever carries more than 9 of them."""
    host = ssh_lab.hosts[5]
    transport = SshTransport(pool, login(ssh_lab, host), kill_grace=GRACE)
    mark = ssh_lab.log_mark()
    gate, sinks = Gate(), [Sink() for _ in range(20)]
    try:
        tasks = [
            asyncio.create_task(run(transport, f"echo $PPID; {gate.wait}", sink=sink, timeout=30))
            for sink in sinks
        ]
        for sink in sinks:
            await sink.wait_for(b"\n")  # all twenty are running now
        gate.open()
        results = [await task for task in tasks]
    finally:
        gate.close()
    assert all(result.succeeded for result, _ in results), [r for r, _ in results]
    # $PPID is the sshd process serving the command's connection
    per_connection = collections.Counter(sink.out.strip() for sink in sinks)
    assert sorted(per_connection.values()) == [2, 9, 9], per_connection
    assert pool.opened == 3
    assert ssh_lab.connections_since(mark, host) == 3


async def test_close_leaves_no_connection_on_the_server(ssh_lab: SshLab) -> None:
    """After close() the server serves none of the pool's connections: the sshd processes of
    each (``sshd: user@notty``, the commands' parent, and its ``[priv]`` monitor) are gone."""
    host = ssh_lab.hosts[6]
    earlier = set(session_processes(ssh_lab.key_user))
    gate, sinks = Gate(), [Sink() for _ in range(12)]
    async with pool_for_test() as pool:
        transport = SshTransport(pool, login(ssh_lab, host), kill_grace=GRACE)
        try:
            tasks = [
                asyncio.create_task(run(transport, f"echo $PPID; {gate.wait}", sink=sink))
                for sink in sinks
            ]
            for sink in sinks:
                await sink.wait_for(b"\n")
            gate.open()
            results = [await task for task in tasks]
            assert all(result.succeeded for result, _ in results), results
        finally:
            gate.close()
        assert pool.opened == 2
        servers = {int(sink.out) for sink in sinks}
        ours = set(session_processes(ssh_lab.key_user)) - earlier
        assert len(servers) == 2
        assert servers <= {pid for pid, _ in ours}
        assert len(ours) == 4  # two processes per connection
        await pool.close()
        assert pool.connections(host.name) == 0
        await until(lambda: not set(session_processes(ssh_lab.key_user)) & ours, within=5)
    assert set(session_processes(ssh_lab.key_user)) <= earlier


async def test_hosts_get_their_own_connections(ssh_lab: SshLab, pool: SshPool) -> None:
    hosts = random.sample(ssh_lab.hosts[10:], 3)
    mark = ssh_lab.log_mark()
    for host in hosts:
        transport = SshTransport(pool, login(ssh_lab, host), kill_grace=GRACE)
        result, sink = await run(transport, 'echo "$SSH_CONNECTION"')
        assert result.succeeded
        assert sink.out.split()[2:] == [host.address.encode(), str(host.port).encode()]
    assert [ssh_lab.connections_since(mark, host) for host in hosts] == [1, 1, 1]
    assert pool.opened == 3


async def test_idle_connection_is_closed_after_the_idle_timeout(ssh_lab: SshLab) -> None:
    host = ssh_lab.hosts[14]
    async with pool_for_test(idle_timeout=0.2) as pool:
        transport = SshTransport(pool, login(ssh_lab, host), kill_grace=GRACE)
        result, sink = await run(transport, "echo $PPID")
        assert result.succeeded
        server = int(sink.out)
        assert pool.connections(host.name) == 1
        await until(lambda: pool.connections(host.name) == 0, within=3)
        await until(lambda: not alive(server), within=3)  # closed on the server too
        result, _ = await run(transport, "true")
        assert result.succeeded
        assert pool.opened == 2
