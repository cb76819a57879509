"""What the SSH transport tests share: an output sink, login and pool builders, and process
checks on the "remote" hosts (which are this machine).

Kept apart from :mod:`tests.ssh.harness` on purpose: the harness knows nothing of Nexus, so it
keeps working while Nexus's SSH code is broken; this module is the thin layer that points Nexus
at the lab.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from nexus_engine.transports.base import CommandResult
from nexus_engine.transports.ssh.connect import ConnectSettings, Login
from nexus_engine.transports.ssh.known_hosts import HostKeyPolicy, KnownHostsBook
from nexus_engine.transports.ssh.pool import SshPool
from nexus_engine.transports.ssh.transport import SshTransport
from tests.ssh.harness import SshHost, SshLab
from tests.transport_helpers import Sink, run_on

#: Kill grace for tests: long enough for a shell to die of TERM, short enough to keep tests fast.
GRACE = 0.5
#: Connect timeout for tests: the lab is on loopback, anything slower is a failure.
SETTINGS = ConnectSettings(connect_timeout=5)


def use_home(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Point Nexus (which resolves ``~`` from $HOME) at a fake HOME, with no agent unless a
    test sets one: the developer's own keys and agent must never decide a test."""
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)


def login(lab: SshLab, host: SshHost, **fields: object) -> Login:
    """A Login for a lab host as the key user; ``fields`` override any part of it."""
    values: dict[str, object] = {
        "name": host.name,
        "hostname": host.address,
        "port": host.port,
        "user": lab.key_user,
    }
    values.update(fields)
    return Login(**values)  # type: ignore[arg-type]


def new_pool(
    policy: HostKeyPolicy = HostKeyPolicy.STRICT,
    settings: ConnectSettings = SETTINGS,
    **options: object,
) -> SshPool:
    return SshPool(settings, KnownHostsBook(policy), **options)  # type: ignore[arg-type]


@asynccontextmanager
async def pool_for_test(
    policy: HostKeyPolicy = HostKeyPolicy.STRICT, **options: object
) -> AsyncIterator[SshPool]:
    """A pool closed at the end of the block, whatever the test did."""
    pool = new_pool(policy, **options)
    try:
        yield pool
    finally:
        await pool.close()


async def run(
    transport: SshTransport,
    command: str,
    *,
    sink: Sink | None = None,
    cancel: asyncio.Event | None = None,
    **spec: object,
) -> tuple[CommandResult, Sink]:
    """Run one command on a host, collecting its output."""
    return await run_on(transport, command, sink=sink, cancel=cancel, **spec)


def remote_group_members(lab: SshLab, host: SshHost, pgid: int) -> list[str]:
    """The same question asked on the host over a second, independent connection (OpenSSH's
    client), the way an operator would check: ``pid state`` of each live member."""
    # cat, not awk, opens the files: mawk gives up at the first process that vanished
    program = (
        '{ pid = $1; sub(/^.*\\) /, ""); if ($3 == g && $1 != "Z" && $1 != "X") print pid, $1 }'
    )
    script = f"cat /proc/[0-9]*/stat 2>/dev/null | awk -v g={pgid} '{program}'"
    done = lab.remote(host, script)
    assert done.returncode == 0, done.stderr
    return done.stdout.split("\n")[:-1]


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_gone(pid: int, timeout: float = 5) -> None:
    """Block until ``pid`` is dead (a killed sshd takes a moment); blocking on purpose, so
    that the event loop has not yet seen what the kill did."""
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"process {pid} did not die"
        time.sleep(0.01)


async def until(check: object, within: float = 5, interval: float = 0.05) -> None:
    """Poll a no-argument callable until it returns something true, or fail."""
    assert callable(check)
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"not true within {within}s: {check}"
        await asyncio.sleep(interval)


def session_processes(user: str) -> list[tuple[int, str]]:
    """sshd processes serving ``user``'s connections (``sshd: user@notty``, ``sshd: user
    [priv]``): one pair per open connection."""
    wanted = (f"sshd: {user}@", f"sshd: {user} ")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        text = raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
        if text.startswith(wanted) and alive(int(entry.name)):
            found.append((int(entry.name), text))
    return found


def owners(pids: Iterable[int]) -> set[int]:
    """The uids that ``pids`` run as."""
    return {Path(f"/proc/{pid}").stat().st_uid for pid in pids}


def exists(path: str | Path) -> bool:
    """A local file check, out of the async tests' way (they check files the remote made)."""
    return Path(path).exists()


def remove(path: str | Path) -> None:
    Path(path).unlink(missing_ok=True)


class Gate:
    """A file the remote commands wait for: every command of a test is surely running at once
    until the test opens the gate, however slowly a loaded machine starts them."""

    def __init__(self) -> None:
        self.path = Path(f"/tmp/nexus-gate-{token()}")

    @property
    def wait(self) -> str:
        """Shell text that returns once the gate is open."""
        return f"while [ ! -e {self.path} ]; do sleep 0.02; done"

    def open(self) -> None:
        self.path.touch()

    def close(self) -> None:
        self.path.unlink(missing_ok=True)


def token() -> str:
    return os.urandom(6).hex()


class Prompter:
    """Stands for the operator at a terminal: gives one answer, remembers every question."""

    def __init__(self, answer: str | None) -> None:
        self.answer = answer
        self.asked: list[str] = []

    async def __call__(self, prompt: str) -> str | None:
        self.asked.append(prompt)
        return self.answer
