"""Stopping a step (timeout, cancel) when the host will not grant the second session the
out-of-band kill needs (sshd's ``MaxSessions 1``, or every session in use): the command's own
channel carries TERM and KILL, and the step still ends within its timeout and the kill grace
and a few seconds, with its processes gone. And the out-of-band kill's reach: every process
group of the step's session, not only the group of its shell.

Every "remote" process runs on this machine: each test looks at /proc for what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_engine.transports.ssh.channel import ChannelRefused, RemoteCommand
from nexus_engine.transports.ssh.pool import SshPool
from nexus_engine.transports.ssh.remote import StepScript
from nexus_engine.transports.ssh.transport import SshTransport
from nexus_engine.words import Failure
from tests.ssh.harness import SshHost, SshLab, processes_matching
from tests.ssh.support import Sink, login, owners, run, token
from tests.transport_helpers import live_members, session_members

pytestmark = pytest.mark.usefixtures("in_ssh_home")

#: A grace long enough to tell "KILL after the grace" from "TERM at once" in timings.
GRACE = 1.0
#: What the stop may take beyond the timeout and the grace: generous for a loaded 2-core CI
#: machine, far below the 120 s the commands would otherwise run.
SLACK = 8.0


@pytest.fixture(scope="module")
def one_session_host(ssh_lab: SshLab) -> Iterator[SshHost]:
    """A server that allows one session per connection. (sshd keeps the *first* value of a
    keyword, so the lab's own ``MaxSessions 10`` would win over a plain line; a ``Match``
    block's values override it.)"""
    with ssh_lab.spare(new_host_key=False, extra_config=["Match all", "MaxSessions 1"]) as host:
        yield host


@pytest.fixture
def one_session(ssh_lab: SshLab, in_ssh_home: Path, one_session_host: SshHost) -> SshHost:
    """``one_session_host``, known to this test's HOME."""
    with (in_ssh_home / ".ssh" / "known_hosts").open("a") as known:
        known.write(ssh_lab.known_hosts_line(one_session_host) + "\n")
    return one_session_host


@pytest.fixture
def transport(ssh_lab: SshLab, pool: SshPool, one_session: SshHost) -> SshTransport:
    return SshTransport(pool, login(ssh_lab, one_session), kill_grace=GRACE)


def group_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])


async def started(sink: Sink, sessions: list[int]) -> int:
    """The step's session id, once it printed ``started``."""
    await sink.wait_for(b"started\n")
    sid = sink.first_line()
    sessions.append(sid)
    return sid


async def test_the_server_really_refuses_a_second_session(
    ssh_lab: SshLab, pool: SshPool, one_session: SshHost
) -> None:
    """The premise of the tests below: while one command runs, the connection it runs on
    cannot carry the out-of-band kill."""
    where = login(ssh_lab, one_session)
    lease = await pool.acquire(where)
    try:
        first = await RemoteCommand.start(
            lease.connection, StepScript("sleep 5").launch(private=False)
        )
        with pytest.raises(ChannelRefused):
            await RemoteCommand.start(lease.connection, StepScript("true").launch(private=False))
        first.signal("KILL")
        first.close()
    finally:
        pool.release(lease)


async def test_timeout_holds_when_no_second_session_is_allowed(
    transport: SshTransport, sessions: list[int]
) -> None:
    """Issue 14: this used to run the command's whole length, then say kill_unverified."""
    sink = Sink()
    task = asyncio.create_task(
        run(transport, "echo $$; sleep 120 & echo started; wait", sink=sink, timeout=2)
    )
    sid = await started(sink, sessions)
    assert len(session_members(sid)) >= 2  # the shell and its sleep: the check sees them
    result, _ = await task
    assert result.timed_out
    assert result.failure is None, result  # the channel ended after our TERM: verified
    assert result.exit_code != 0
    assert not result.succeeded
    assert result.duration < 2 + GRACE + SLACK
    assert session_members(sid) == []


async def test_cancel_holds_when_no_second_session_is_allowed(
    transport: SshTransport, sessions: list[int]
) -> None:
    """Ctrl-C: the cancel event is set once the step has printed something."""
    sink, cancel = Sink(), asyncio.Event()
    task = asyncio.create_task(
        run(transport, "echo $$; sleep 120 & echo started; wait", sink=sink, cancel=cancel)
    )
    sid = await started(sink, sessions)
    assert len(session_members(sid)) >= 2
    cancel.set()
    asked = time.monotonic()
    result, _ = await task
    stopped_in = time.monotonic() - asked
    assert result.cancelled
    assert result.failure is None, result
    assert result.exit_code != 0
    assert stopped_in < GRACE + SLACK
    assert session_members(sid) == []


async def test_a_command_ignoring_term_gets_kill_on_its_own_channel(
    transport: SshTransport, sessions: list[int]
) -> None:
    """``trap '' TERM`` is inherited by the children: only the KILL that follows the grace
    ends them, and it too must come on the command's own channel."""
    sink = Sink()
    command = "trap '' TERM; echo $$; sh -c 'sleep 120 & echo started; sleep 120'"
    task = asyncio.create_task(run(transport, command, sink=sink, timeout=1))
    sid = await started(sink, sessions)
    result, _ = await task
    assert result.timed_out
    assert result.failure is None, result
    assert result.signal == signal.SIGKILL
    assert result.exit_code is None
    assert 1 + GRACE - 0.1 <= result.duration < 1 + GRACE + SLACK
    assert session_members(sid) == []


async def test_the_kill_reaches_a_job_moved_to_another_group_of_the_session(
    ssh_lab: SshLab, pool: SshPool, sessions: list[int]
) -> None:
    """With a normal server: ``set -m`` puts a background job in a process group of its own,
    out of reach of a signal to the shell's group (the own channel's, or ``kill -- -PGID``),
    but it stays in the session, where ``remote.kill_command`` finds it."""
    transport = SshTransport(pool, login(ssh_lab, ssh_lab.hosts[5]), kill_grace=GRACE)
    sink, cancel = Sink(), asyncio.Event()
    command = "echo $$; bash -c 'set -m; sleep 120 & set +m; echo job $!; echo started; sleep 120'"
    task = asyncio.create_task(run(transport, command, sink=sink, cancel=cancel))
    sid = await started(sink, sessions)
    job = int(sink.out.split(b"job ")[1].split(b"\n")[0])
    assert group_of(job) == job != sid  # really in a group of its own
    assert job in session_members(sid)
    assert job not in live_members(sid)
    cancel.set()
    result, _ = await task
    assert result.cancelled
    assert result.failure is None, result
    assert session_members(sid) == []


async def test_a_server_that_ignores_signals_costs_the_connection_not_the_deadline(
    ssh_lab: SshLab, pool: SshPool, in_ssh_home: Path, sessions: list[int]
) -> None:
    """The last resort: one session per connection, and sshd refuses ``signal`` requests on a
    ``ForceCommand`` session (as a server older than OpenSSH 7.9 ignores them). Nothing can
    stop the command, so the step says kill_unverified, on time, and the connection that still
    holds its channel is never lent again."""
    config = ["Match all", "MaxSessions 1", 'ForceCommand eval "$SSH_ORIGINAL_COMMAND"']
    with ssh_lab.spare(new_host_key=False, extra_config=config) as host:
        with (in_ssh_home / ".ssh" / "known_hosts").open("a") as known:
            known.write(ssh_lab.known_hosts_line(host) + "\n")
        transport = SshTransport(pool, login(ssh_lab, host), kill_grace=GRACE)
        sink = Sink()
        task = asyncio.create_task(
            run(transport, "echo $$; sleep 120 & echo started; wait", sink=sink, timeout=1)
        )
        sid = await started(sink, sessions)
        result, _ = await task
        assert result.timed_out
        assert result.failure is Failure.KILL_UNVERIFIED, result
        assert result.exit_code is None
        assert result.duration < 1 + GRACE + SLACK
        assert session_members(sid)  # really out of reach: the test's teardown kills it
        again, _ = await run(transport, "true")
        assert again.succeeded, again
        assert pool.opened == 2  # a new connection: the stuck one was not lent again


async def test_root_processes_of_a_sudo_step_out_of_reach_are_not_claimed_killed(
    transport: SshTransport,
) -> None:
    """Without the control channel, the kill cannot go through sudo: the login user's signals
    end sudo and its shell, not root's background ``sleep``, which keeps the channel's output
    open. The channel closes only because Nexus closes it, which proves nothing."""
    tag = f"120.{int(token(), 16)}"  # a number sleep accepts, and ours alone
    try:
        result, sink = await run(transport, f"sleep {tag} & sleep {tag}", sudo=True, timeout=1)
        assert result.timed_out
        assert result.failure is Failure.KILL_UNVERIFIED, (result, sink.err)
        assert result.duration < 1 + GRACE + SLACK
        assert owners(pid for pid, _ in processes_matching(f"sleep {tag}")) == {0}
    finally:
        for pid, _ in processes_matching(f"sleep {tag}"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
