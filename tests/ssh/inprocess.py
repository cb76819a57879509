"""An SSH server in this process (asyncssh) that runs commands the way sshd does, for everything
that needs an SSH host but not OpenSSH itself: no root, no sshd, no users to create.

What it does, as sshd does without a PTY:

* key authentication only, as the current user, with a client key made once per test session
  (its host key too);
* an exec request runs as ``/bin/sh -c REQUEST`` in a session of its own (the shell leads its
  process group, which the transport's kill relies on), from the user's home directory, with a
  fresh login-like environment, channel data on its stdin;
* stdout and stderr are streamed as they come, with the channel's flow control: a client that
  stops reading throttles the command;
* once the shell has exited and nothing holds its output any more: EOF, then the exit status,
  or the signal that killed the shell;
* a ``signal`` channel request is ``killpg`` of the shell's group while the shell lives
  (OpenSSH ≥ 7.9).

It knows no sudo, no other users, no ``MaxSessions``, and writes no log: the tests that need
those run against the real sshd lab (``tests.ssh.harness``, marked ``sshd``). At close, whatever
it started and is still running is killed, so a failed test leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import signal
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
import pytest

from nexus_engine.transports.ssh.connect import Login
from tests.ssh.support import use_home

#: The user every command runs as: whoever runs the tests.
ME = pwd.getpwuid(os.getuid())
_START_IN = ME.pw_dir if Path(ME.pw_dir).is_dir() else "/"
_CHUNK = 65536
_SIGNALS = signal.Signals.__members__


@dataclass(frozen=True)
class Keys:
    """The server's host key and the one client key it lets in."""

    host: asyncssh.SSHKey
    client: asyncssh.SSHKey

    @classmethod
    def new(cls) -> Keys:
        return cls(
            host=asyncssh.generate_private_key("ssh-ed25519"),
            client=asyncssh.generate_private_key("ssh-ed25519"),
        )


@dataclass
class _Started:
    """The process groups the server started, killed at close if still there."""

    groups: set[int] = field(default_factory=set)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def kill_all(self) -> None:
        for pgid in self.groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        for task in self.tasks:
            task.cancel()


class _Shell(asyncssh.SSHServerSession[bytes]):
    """One session channel: one exec request, run by ``/bin/sh -c``."""

    def __init__(self, started: _Started) -> None:
        self._started = started
        self._chan: asyncssh.SSHServerChannel[bytes] | None = None
        self._command: str | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._stdin = bytearray()  # what came before the shell started
        self._stdin_eof = False
        self._writable = asyncio.Event()
        self._writable.set()
        self._closed = False

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:  # type: ignore[override]
        self._chan = chan

    def shell_requested(self) -> bool:
        return False  # commands only, as Nexus sends them

    def exec_requested(self, command: str) -> bool:
        self._command = command
        return True

    def session_started(self) -> None:
        task = asyncio.create_task(self._run())
        self._started.tasks.add(task)
        task.add_done_callback(self._started.tasks.discard)

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if self._proc is None or self._proc.stdin is None:
            self._stdin += data
        else:
            with contextlib.suppress(ConnectionError):
                self._proc.stdin.write(data)

    def eof_received(self) -> bool:
        self._stdin_eof = True
        if self._proc is not None and self._proc.stdin is not None:
            self._proc.stdin.close()
        return True  # our side stays open: output and the exit status are still to come

    def signal_received(self, signal: str) -> None:
        proc = self._proc
        number = _SIGNALS.get(f"SIG{signal}")
        if proc is None or proc.returncode is not None or number is None:
            return  # sshd signals the session's shell only while it lives
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, number)

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        # as sshd without a PTY: the command is not killed; its stdin ends, and its output goes
        # nowhere (the pumps stop; a write to a full pipe then blocks, or fails once closed)
        self._closed = True
        self._writable.set()
        if self._proc is not None and self._proc.stdin is not None:
            self._proc.stdin.close()

    async def _run(self) -> None:
        assert self._chan is not None
        assert self._command is not None
        chan = self._chan
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh",
            "-c",
            self._command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            cwd=_START_IN,
            env=_login_environment(chan),
        )
        self._proc = proc
        self._started.groups.add(proc.pid)
        assert proc.stdin is not None
        assert proc.stdout is not None
        assert proc.stderr is not None
        if self._stdin:
            proc.stdin.write(bytes(self._stdin))
            self._stdin.clear()
        if self._stdin_eof or self._closed:
            proc.stdin.close()
        await asyncio.gather(
            self._pump(proc.stdout, chan.write),
            self._pump(proc.stderr, chan.write_stderr),
        )
        status = await proc.wait()
        if self._closed:
            return
        with contextlib.suppress(OSError, asyncssh.Error):
            chan.write_eof()
            if status < 0:
                chan.exit_with_signal(signal.Signals(-status).name.removeprefix("SIG"))
            else:
                chan.exit(status)

    async def _pump(self, reader: asyncio.StreamReader, write: Callable[[bytes], None]) -> None:
        """Hand the command's output to the channel as it comes, waiting while the channel's
        window is full; once the channel is gone, read on and drop it, as sshd does."""
        while data := await reader.read(_CHUNK):
            if self._closed:
                continue
            try:
                write(data)
            except (OSError, asyncssh.Error):
                self._closed = True
                continue
            await self._writable.wait()


def _login_environment(chan: asyncssh.SSHServerChannel[bytes]) -> dict[str, str]:
    """What sshd gives a session: the user's basics and where the connection comes from; none of
    the test process's own environment but its PATH."""
    peer = chan.get_extra_info("peername") or ("", 0)
    local = chan.get_extra_info("sockname") or ("", 0)
    return {
        "HOME": ME.pw_dir,
        "USER": ME.pw_name,
        "LOGNAME": ME.pw_name,
        "SHELL": "/bin/sh",
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "SSH_CONNECTION": f"{peer[0]} {peer[1]} {local[0]} {local[1]}",
    }


class _Server(asyncssh.SSHServer):
    def __init__(self, client_key: asyncssh.SSHKey, started: _Started) -> None:
        self._client_key = client_key
        self._started = started

    def begin_auth(self, username: str) -> bool:
        return True  # authentication is required

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return username == ME.pw_name and key.public_data == self._client_key.public_data

    def session_requested(self) -> _Shell:
        return _Shell(self._started)


@dataclass
class InProcessHost:
    """A running in-process server and a HOME whose ``.ssh`` holds the client key and the
    server's host key in ``known_hosts``, so a strict pool connects to it."""

    port: int
    home: Path
    server: asyncssh.SSHAcceptor
    started: _Started

    address = "127.0.0.1"

    def login(self, **fields: object) -> Login:
        values: dict[str, object] = {
            "name": "inprocess",
            "hostname": self.address,
            "port": self.port,
            "user": ME.pw_name,
        }
        values.update(fields)
        return Login(**values)  # type: ignore[arg-type]

    @classmethod
    async def start(cls, keys: Keys, home: Path) -> InProcessHost:
        started = _Started()
        server = await asyncssh.create_server(
            lambda: _Server(keys.client, started),
            cls.address,
            0,
            server_host_keys=[keys.host],
            encoding=None,
        )
        port = server.sockets[0].getsockname()[1]
        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(parents=True, mode=0o700)
        keys.client.write_private_key(ssh_dir / "id_ed25519")
        keys.client.write_public_key(ssh_dir / "id_ed25519.pub")
        host_key = keys.host.export_public_key("openssh").decode().split()
        (ssh_dir / "known_hosts").write_text(
            f"[{cls.address}]:{port} {host_key[0]} {host_key[1]}\n"
        )
        (ssh_dir / "config").write_text("")
        for path in ssh_dir.iterdir():
            path.chmod(0o600)
        return cls(port, home, server, started)

    async def close(self) -> None:
        self.server.close()
        await self.server.wait_closed()
        self.started.kill_all()


@pytest.fixture(scope="session")
def inprocess_keys() -> Keys:
    """Made once per test session (per xdist worker)."""
    return Keys.new()


@pytest.fixture
async def inprocess_host(
    inprocess_keys: Keys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[InProcessHost]:
    """An in-process SSH server for this test, and its fake HOME as $HOME (no agent)."""
    host = await InProcessHost.start(inprocess_keys, tmp_path / "inprocess-home")
    use_home(monkeypatch, host.home)
    try:
        yield host
    finally:
        await host.close()


@pytest.fixture
def empty_ssh_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake HOME with an empty ``.ssh`` as $HOME, and no agent: for tests whose server needs
    no key and whose pool checks no host key."""
    home = tmp_path / "empty-home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    (home / ".ssh" / "config").write_text("")
    use_home(monkeypatch, home)
    return home
