"""The transports the contract suite runs on, each as a :class:`Subject`: the transport itself,
and the means to look at the processes it starts.

Every subject runs its commands on this machine, so a test can look at them in ``/proc``:

* ``local``: :class:`LocalTransport`;
* ``sshd``: :class:`SshTransport` to a host of the real OpenSSH lab (root; marked ``sshd``),
  where what is left is also asked of the host over a second, independent connection;
* ``asyncssh``: :class:`SshTransport` to an SSH server in this process (:mod:`tests.ssh.inprocess`),
  which needs neither root nor sshd.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import random
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nexus_engine.transports.base import CommandResult, CommandSpec, OutputSink, Transport
from nexus_engine.transports.local import LocalTransport
from nexus_engine.transports.ssh.transport import SshTransport
from tests.ssh.harness import SshLab, processes_matching
from tests.ssh.inprocess import InProcessHost
from tests.ssh.support import login, remote_group_members, token
from tests.transport_helpers import assert_groups_vanish, live_members

#: Kill grace for every subject: long enough for a shell to die of TERM, short for a test.
GRACE = 0.5
#: How long a local group may take to vanish after a stop (see ``Subject.assert_gone``).
_LOCAL_SETTLE = 1.0
#: The local groups a test stopped, checked once at the end of the session (``groups_vanish``).
_STOPPED_LOCAL_GROUPS: list[int] = []


@dataclass
class Subject:
    """A transport under contract. It *is* a :class:`Transport` (``run`` is delegated), so the
    tests call it like any other."""

    kind: str
    transport: Transport
    #: the live members of a process group as the host tells it over a second, independent
    #: connection, the way an operator would check (the sshd lab only)
    ask_host: Callable[[int], list[str]] | None = None

    async def run(
        self, spec: CommandSpec, on_output: OutputSink, cancel: asyncio.Event
    ) -> CommandResult:
        return await self.transport.run(spec, on_output, cancel)

    async def views(self, pgid: int) -> dict[str, list[str]]:
        """The live members of group ``pgid``, as ``/proc`` shows them and, on the lab, as the
        host says over a second connection."""
        seen = {"proc": [str(pid) for pid in live_members(pgid)]}
        if self.ask_host is not None:
            seen["second connection"] = await asyncio.to_thread(self.ask_host, pgid)
        return seen

    async def assert_gone(self, pgid: int) -> None:
        """Nothing of the command's group is alive once ``run`` has returned.

        Locally the command's shell is this process's own child: it must have been waited for,
        and the group must vanish altogether (checked once at the end, ``groups_vanish``: a
        killed orphan stays a zombie until its reaper waits for it, PID 1 in some containers
        only every few seconds); a killed process may take a moment to leave ``/proc``. Over
        SSH the check is at once, and on the lab over a second connection too."""
        if self.kind == "local":
            for _ in range(int(_LOCAL_SETTLE / 0.02)):
                if not live_members(pgid):
                    break
                await asyncio.sleep(0.02)
            _assert_reaped(pgid)
            _STOPPED_LOCAL_GROUPS.append(pgid)
        seen = await self.views(pgid)
        assert seen == {view: [] for view in seen}, seen


def _assert_reaped(pid: int) -> None:
    """Our child ``pid`` has been waited for: it is not a zombie of ours."""
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _subject_kinds() -> list[object]:
    return ["local", pytest.param("sshd", marks=pytest.mark.sshd), "asyncssh"]


@pytest.fixture(params=_subject_kinds())
def transport(request: pytest.FixtureRequest) -> Subject:
    """Each transport in turn. The SSH ones get a fresh strict pool (``pool``) and a HOME that
    trusts their host; the lab is started only for the ``sshd`` subject."""
    kind: str = request.param
    if kind == "local":
        return Subject(kind, LocalTransport(kill_grace=GRACE))
    if kind == "sshd":
        lab: SshLab = request.getfixturevalue("ssh_lab")
        request.getfixturevalue("in_ssh_home")
        host = lab.hosts[0]
        where = login(lab, host)
        ask = functools.partial(remote_group_members, lab, host)
    else:
        server: InProcessHost = request.getfixturevalue("inprocess_host")
        where, ask = server.login(), None
    ssh = SshTransport(request.getfixturevalue("pool"), where, kill_grace=GRACE)
    return Subject(kind, ssh, ask_host=ask)


@pytest.fixture(scope="session", autouse=True)
def groups_vanish() -> Iterator[None]:
    """Every local group a test stopped is gone, zombies and all (see ``Subject.assert_gone``);
    checked once at the end, with a deadline."""
    yield
    assert_groups_vanish(_STOPPED_LOCAL_GROUPS)


@pytest.fixture
def tag() -> Iterator[str]:
    """A unique ``sleep`` argument, so a test finds exactly its own processes; whatever still
    sleeps with it at the end is killed, so a failing test leaves no sleeper behind."""
    value = f"300.{random.randrange(10**8):08d}"
    yield value
    for pid, _ in processes_matching(f"sleep {value}"):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def marker() -> Iterator[Path]:
    """A file a command must never get to create."""
    path = Path(f"/tmp/nexus-marker-{token()}")
    yield path
    path.unlink(missing_ok=True)
