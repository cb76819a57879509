"""Faults OpenSSH's sshd cannot be made to commit, from an in-process asyncssh server.

sshd always reports how a session's command ended (an exit status, or the signal that killed
it); a server that closes a channel without either does happen (a crashing subsystem, a
broken appliance's SSH stack), and the step's outcome is then unknown: ``connection_lost``,
never a success (T-PROC-5).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncssh
import pytest

from nexus_engine.transports.ssh.connect import Login
from nexus_engine.transports.ssh.known_hosts import HostKeyPolicy
from nexus_engine.transports.ssh.transport import SshTransport
from nexus_engine.words import Failure
from tests.ssh.support import pool_for_test, run

pytestmark = pytest.mark.usefixtures("empty_ssh_home")  # no lab: runs without root


class _ClosesWithoutStatus(asyncssh.SSHServerSession[bytes]):
    """Prints a group id line and some output, then closes the channel, saying nothing of how
    the command ended."""

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        self._chan = chan

    def exec_requested(self, command: str) -> bool:
        return True

    def session_started(self) -> None:
        self._chan.write(b"4242\npartial output\n")
        self._chan.close()


class _AnyoneIn(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return False  # no authentication needed: the fault is in the session, not the login

    def session_requested(self) -> _ClosesWithoutStatus:
        return _ClosesWithoutStatus()


@pytest.fixture
async def broken_server() -> AsyncIterator[int]:
    server = await asyncssh.create_server(
        _AnyoneIn,
        "127.0.0.1",
        0,
        server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")],
        encoding=None,
    )
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("private", [False, True], ids=["inline", "script-on-stdin"])
async def test_a_channel_closed_without_exit_status_is_connection_lost(
    broken_server: int, *, private: bool
) -> None:
    async with pool_for_test(HostKeyPolicy.OFF) as pool:
        login = Login(name="broken", hostname="127.0.0.1", port=broken_server, user="anyone")
        result, sink = await run(SshTransport(pool, login), "true", private=private, timeout=20)
    assert result.failure is Failure.CONNECTION_LOST, result
    assert (result.exit_code, result.signal) == (None, None)
    assert not result.succeeded
    assert result.error == "anyone@127.0.0.1:" + str(broken_server) + (
        " closed the channel without an exit status"
    )
    assert sink.out == b"partial output\n"  # what came before is kept
