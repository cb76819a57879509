"""``hurry()``, the second Ctrl-C, on each transport: a command that ignores TERM and is being
stopped with a long kill grace is KILLed at once, without waiting the grace out."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from nexus_engine.transports.base import CommandResult
from nexus_engine.transports.local import LocalTransport
from nexus_engine.transports.ssh.pool import SshPool
from nexus_engine.transports.ssh.transport import SshTransport
from tests.ssh.harness import SshLab
from tests.ssh.support import login
from tests.transport_helpers import Sink, run_on, session_members

#: far longer than the test may take: only a hurry ends the stop in time
GRACE = 30.0
STUBBORN = "trap 'echo term' TERM; echo $$; echo started; sleep 120 & while :; do sleep 0.1; done"


async def _hurried(
    transport: LocalTransport | SshTransport, sessions: list[int]
) -> tuple[CommandResult, float]:
    sink, cancel = Sink(), asyncio.Event()
    task = asyncio.create_task(run_on(transport, STUBBORN, sink=sink, cancel=cancel))
    await sink.wait_for(b"started\n")
    sid = sink.first_line()
    sessions.append(sid)
    cancel.set()
    await sink.wait_for(b"term\n")  # the graceful stop is under way, and ignored
    await asyncio.sleep(0.2)
    assert not task.done()
    transport.hurry()
    asked = time.monotonic()
    result, _ = await asyncio.wait_for(task, 15)
    took = time.monotonic() - asked
    assert session_members(sid) == []
    return result, took


async def test_local_hurry_kills_at_once(sessions: list[int]) -> None:
    result, took = await _hurried(LocalTransport(kill_grace=GRACE), sessions)
    assert result.cancelled
    assert result.signal == signal.SIGKILL
    assert took < 1.0


@pytest.mark.sshd
@pytest.mark.usefixtures("in_ssh_home")
async def test_ssh_hurry_kills_at_once(ssh_lab: SshLab, pool: SshPool, sessions: list[int]) -> None:
    transport = SshTransport(pool, login(ssh_lab, ssh_lab.hosts[0]), kill_grace=GRACE)
    result, took = await _hurried(transport, sessions)
    assert result.cancelled
    assert result.failure is None, result  # the stop is verified
    assert took < 5.0
