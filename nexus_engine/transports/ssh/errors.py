"""SSH failures as values with words: what went wrong with a host, said so an operator can act.

asyncssh and the socket layer raise a dozen exception types; a face needs one of a few kinds
(:class:`~nexus_engine.transports.base.Failure`) and a sentence naming the host. Everything that
can go wrong while reaching a host becomes an :class:`SshFailure` here, in one place.
"""

from __future__ import annotations

import asyncio
import errno
import socket

import asyncssh

from nexus_engine.words import Failure


class SshFailure(Exception):
    """A host could not be reached or used; ``kind`` classifies it, ``str()`` explains it."""

    def __init__(self, kind: Failure, message: str, slot_wait: float = 0.0) -> None:
        super().__init__(message)
        self.kind = kind
        #: seconds the attempt waited for a handshake slot (``connect_limit``) before its own
        #: handshake began: not part of what ``connect_timeout`` limits
        self.slot_wait = slot_wait

    @property
    def message(self) -> str:
        return str(self.args[0])


def classify_connect_error(  # noqa: PLR0911 - one answer per kind of failure
    error: BaseException, where: str, *, timeout: float, auth_tried: str
) -> SshFailure:
    """The failure of one connection attempt to ``where`` (``user@host:port``)."""
    if isinstance(error, SshFailure):
        return error
    if isinstance(error, asyncssh.PermissionDenied):
        return SshFailure(
            Failure.AUTH_FAILED,
            f"authentication failed for {where}: the server refused {auth_tried}",
        )
    if isinstance(error, asyncssh.HostKeyNotVerifiable):
        kind = Failure.HOST_KEY_REVOKED if "revoked" in error.reason else Failure.HOST_KEY_UNKNOWN
        return SshFailure(kind, f"host key of {where} not accepted: {error.reason}")
    if isinstance(error, asyncssh.KeyImportError | asyncssh.KeyEncryptionError):
        return SshFailure(Failure.AUTH_FAILED, f"cannot use the key for {where}: {error}")
    if isinstance(error, asyncssh.DisconnectError) and _refused_login(error):
        # sshd hangs up after MaxAuthTries failed keys (a crowded agent): still a refusal
        return SshFailure(
            Failure.AUTH_FAILED,
            f"authentication failed for {where}: the server refused {auth_tried} ({error.reason})",
        )
    if isinstance(error, asyncssh.DisconnectError):
        return SshFailure(
            Failure.UNREACHABLE, f"{where} closed the connection during the handshake: {error}"
        )
    if isinstance(error, asyncio.TimeoutError | TimeoutError):
        return SshFailure(
            Failure.UNREACHABLE,
            f"{where} did not complete the SSH handshake within {timeout:g}s (connect timeout)",
        )
    if isinstance(error, socket.gaierror):
        return SshFailure(Failure.UNREACHABLE, f"cannot resolve the host name of {where}")
    if isinstance(error, ConnectionRefusedError):
        return SshFailure(Failure.UNREACHABLE, f"connection refused by {where}")
    if isinstance(error, OSError):
        reason = error.strerror or errno.errorcode.get(error.errno or 0, str(error))
        return SshFailure(Failure.UNREACHABLE, f"cannot connect to {where}: {reason}")
    return SshFailure(Failure.UNREACHABLE, f"cannot connect to {where}: {error}")


#: How asyncssh logs in to a jump host: ssh_config and the default keys, not Nexus's login.
JUMP_AUTH = "the keys in ~/.ssh and ssh_config, and the ssh-agent's keys"


def through_jump(
    error: BaseException, target: str, where: str, jump: str, *, timeout: float
) -> SshFailure:
    """The failure of a connection to ``target`` (``where``: ``user@host:port``) through the
    jump host ``jump`` (ssh_config's ``ProxyJump``) before the target itself answered: asyncssh
    raises the jump connection's error, or the jump's refusal to forward. Says both hosts, and
    which one failed, keeping the kind of what went wrong."""
    head = f"cannot reach {target} ({where}) through jump {jump}"
    if isinstance(error, asyncssh.ChannelOpenError):
        # the jump host is fine; it could not open a connection onwards to the target
        return SshFailure(
            Failure.UNREACHABLE, f"{head}: {jump} could not connect to it: {error.reason}"
        )
    if isinstance(error, asyncio.TimeoutError | TimeoutError):
        return SshFailure(
            Failure.UNREACHABLE,
            f"{head}: no answer through the jump within {timeout:g}s (connect timeout)",
        )
    failed = classify_connect_error(error, jump, timeout=timeout, auth_tried=JUMP_AUTH)
    return SshFailure(failed.kind, f"{head}: the jump host failed: {failed.message}")


def _refused_login(error: asyncssh.DisconnectError) -> bool:
    """Whether the server hung up because it would not let us in, not because it broke."""
    refusals = (asyncssh.DISC_NO_MORE_AUTH_METHODS_AVAILABLE, asyncssh.DISC_ILLEGAL_USER_NAME)
    return error.code in refusals or "authentication failures" in error.reason.lower()


def lost(where: str, error: BaseException | None) -> SshFailure:
    """The connection went away under a command: its outcome is unknown, never a success."""
    detail = f": {error}" if error is not None and str(error) else ""
    return SshFailure(
        Failure.CONNECTION_LOST, f"connection to {where} lost while the command ran{detail}"
    )
