"""One command on one channel: start it, feed its script, stream its output, learn how it ended.

Output arrives through asyncssh's session callbacks as raw bytes (``encoding=None``), never
``readline``: a 20 MB line is just many chunks. The callbacks only queue; a consumer hands each
chunk to ``on_output`` and, while that is slow, the channel is paused, so the SSH window
throttles the command instead of memory filling up.

The first line of stdout is the group id and login shell the bootstrap prints (see ``remote``),
and under sudo stderr carries sudo's random prompt and then the random marker; both are taken out
of the stream before anyone sees it, and nothing else is.

A command being stopped is sent SSH ``signal`` requests on its own channel (:meth:`signal`): on
OpenSSH ≥ 7.9 sshd answers one with ``killpg`` of the group its session's shell leads, as the
login user, so that needs no second session. A server that does not implement them ignores
them silently; the transport's out-of-band kill and its own deadlines cover that.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from dataclasses import dataclass
from typing import cast

import asyncssh

from nexus_engine.transports.base import OutputSink, StdinSource
from nexus_engine.transports.ssh.remote import Launch, SudoDialogue
from nexus_engine.words import Failure, Stream

_HIGH_WATER = 16  # queued chunks before the channel is paused
_HEADER_LIMIT = 1024  # bytes: a group id and a login shell's path are far shorter
_SUDO_LIMIT = 64 * 1024  # stderr held back while waiting for sudo's verdict
_PASSWORD_REQUIRED = b"a password is required"


class ChannelRefused(Exception):
    """The channel could not be opened or the command not started: nothing ran, so the
    caller may safely try again on another connection."""

    def __init__(self, error: BaseException, *, at_capacity: bool) -> None:
        super().__init__(str(error))
        self.at_capacity = at_capacity


@dataclass
class Ending:
    """What the channel said about how the command ended."""

    exit_code: int | None = None
    signal: int | None = None
    lost: BaseException | None = None  # the connection failed under the command
    closed_without_status: bool = False
    #: the server said the output ended (EOF): nothing holds the command's stdout and stderr
    #: any more. Not sent when the channel closes while they are still open.
    output_closed: bool = False
    started: bool = False  # the group id line came: the login shell reached the script
    failure: Failure | None = None
    error: str | None = None


class _Session(asyncssh.SSHClientSession[bytes]):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[Stream, bytes] | None] = asyncio.Queue()
        self.exit_status: int | None = None
        self.exit_signal: str | None = None
        self.lost: BaseException | None = None
        self.closed = False
        self.eof = False
        self.paused = False
        #: cleared while the channel's send buffer is full: the feed of stdin waits for it
        self.writable = asyncio.Event()
        self.writable.set()
        self._channel: asyncssh.SSHClientChannel[bytes] | None = None

    def connection_made(self, chan: asyncssh.SSHClientChannel[bytes]) -> None:
        self._channel = chan

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        stream = Stream.STDERR if datatype == asyncssh.EXTENDED_DATA_STDERR else Stream.STDOUT
        self.queue.put_nowait((stream, data))
        if self.queue.qsize() >= _HIGH_WATER and self._channel is not None and not self.paused:
            self.paused = True
            self._channel.pause_reading()

    def resume(self) -> None:
        if self.paused and self._channel is not None:
            self.paused = False
            self._channel.resume_reading()

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def eof_received(self) -> bool:
        """Keep our side open: stdin was settled by the script (``/dev/null``, or sudo's
        password), so an EOF packet back would be one more packet per step for nothing."""
        self.eof = True
        return True

    def exit_status_received(self, status: int) -> None:
        self.exit_status = status

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self.exit_signal = signal

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.lost = exc
        self.writable.set()  # a feed waiting to write learns there is nobody to write to
        self.queue.put_nowait(None)


class RemoteCommand:
    """A command started on a channel; :meth:`pump` streams it until the channel closes."""

    def __init__(
        self,
        channel: asyncssh.SSHClientChannel[bytes],
        session: _Session,
        sudo: SudoDialogue | None,
        sudo_password: str | None,
    ) -> None:
        self._channel = channel
        self._session = session
        self._sudo = sudo
        self._password = sudo_password
        self._header = bytearray()
        self.pgid: int | None = None
        self.login_shell: str | None = None  # the login shell, as the header named it
        self.has_pgid = asyncio.Event()
        self._held = bytearray()  # stderr before sudo's marker
        self._inside = sudo is None  # sudo has let the command in (or there is no sudo)
        self._prompts = 0
        #: set once sudo has said something of its own (its prompt, or the marker), or when
        #: there is no password dialogue to wait for
        self.sudo_spoke = asyncio.Event()
        if sudo is None or sudo_password is None:
            self.sudo_spoke.set()
        #: set once what is written to stdin reaches the command (sudo has let it in)
        self.inside = asyncio.Event()
        if sudo is None:
            self.inside.set()
        self._feeding = False  # the command reads a stdin Nexus feeds: sudo must not close it
        self.ending = Ending()

    @classmethod
    async def start(
        cls,
        connection: asyncssh.SSHClientConnection,
        launch: Launch,
        *,
        sudo: SudoDialogue | None = None,
        sudo_password: str | None = None,
    ) -> RemoteCommand:
        try:
            channel, session = await connection.create_session(
                _Session, launch.request, encoding=None
            )
        except asyncssh.ChannelOpenError as error:
            prohibited = error.code == asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED
            raise ChannelRefused(error, at_capacity=prohibited) from error
        except (asyncssh.Error, OSError) as error:
            raise ChannelRefused(error, at_capacity=False) from error
        command = cls(channel, cast(_Session, session), sudo, sudo_password)
        if launch.stdin:
            command._send(launch.stdin)
        return command

    async def pump(self, on_output: OutputSink) -> Ending:
        """Stream output until the channel closes; then say how the command ended."""
        session = self._session
        while (item := await session.queue.get()) is not None:
            if session.queue.qsize() < _HIGH_WATER // 2:
                session.resume()
            stream, data = item
            if stream is Stream.STDOUT and self.pgid is None:
                data = self._take_header(data)
            elif stream is Stream.STDERR and not self._inside:
                data = self._take_sudo(data)
            if data:
                await on_output(stream, data)
        if self._held:
            await on_output(Stream.STDERR, bytes(self._held))
        if self._header and self.pgid is None:
            await on_output(Stream.STDOUT, bytes(self._header))
        return self._ending()

    def _take_header(self, data: bytes) -> bytes:
        self._header += data
        line, newline, rest = self._header.partition(b"\n")
        if not newline:
            if len(self._header) > _HEADER_LIMIT:
                self.pgid, data = 0, bytes(self._header)  # not our bootstrap talking
                self._header.clear()
                return data
            return b""
        pgid, _, shell = bytes(line).partition(b" ")
        self.pgid = int(pgid) if pgid.isdigit() else 0
        if self.pgid and shell:
            self.login_shell = shell.decode(errors="replace")
        self._header.clear()
        self.has_pgid.set()
        return bytes(rest)

    def _take_sudo(self, data: bytes) -> bytes:
        assert self._sudo is not None  # noqa: S101 - only held back under sudo
        self._held += data
        while (at := self._held.find(self._sudo.prompt)) >= 0:
            del self._held[at : at + len(self._sudo.prompt)]
            self._prompts += 1
            self.sudo_spoke.set()
            if self._prompts > 1 or self._password is None:
                self.ending.failure = Failure.SUDO_AUTH_FAILED
                self.ending.error = "sudo refused the configured sudo password"
                self._send(None)  # sudo gives up without another answer
            else:
                self._send(f"{self._password}\n".encode())
        at = self._held.find(self._sudo.marker)
        if at >= 0:
            end = self._held.find(b"\n", at)
            if end >= 0:
                rest = bytes(self._held[:at] + self._held[end + 1 :])
                self._held.clear()
                self._enter()
                if self._password is not None and not self._feeding:
                    self._send(None)
                return rest
        if len(self._held) > _SUDO_LIMIT:  # not sudo talking: let it through
            self._enter()  # something runs: not a sudo stuck waiting for its password
            rest = bytes(self._held)
            self._held.clear()
            return rest
        return b""

    def _enter(self) -> None:
        self._inside = True
        self.sudo_spoke.set()
        self.inside.set()

    async def feed(self, source: StdinSource) -> int:
        """Write ``source`` to the command's stdin once sudo (if any) has let it in, as fast as
        the channel's window allows, then close stdin; returns the bytes written. A command
        that ends first ends the feed: how it ended is for :meth:`pump` to say."""
        self._feeding = True
        sent = 0
        session = self._session
        await self.inside.wait()
        try:
            async for chunk in source():
                await session.writable.wait()
                if session.closed:
                    return sent
                self._send(chunk)
                sent += len(chunk)
        finally:
            if not session.closed:
                self._send(None)
        return sent

    def _ending(self) -> Ending:
        session, ending = self._session, self.ending
        ending.exit_code = session.exit_status
        ending.started = self.pgid is not None
        ending.output_closed = session.eof
        if session.exit_signal is not None:
            ending.signal = _signal_number(session.exit_signal)
        if session.lost is not None:
            ending.lost = session.lost
        elif ending.exit_code is None and ending.signal is None:
            ending.closed_without_status = True
        refused = ending.exit_code == 1 and _PASSWORD_REQUIRED in self._held
        if self._sudo is not None and not self._inside and ending.failure is None and refused:
            ending.failure = Failure.SUDO_PASSWORD_REQUIRED
            ending.error = (
                "sudo needs a password on this host: set sudo_password "
                '(e.g. sudo_password = "${secret:SUDO_PASSWORD}") or allow NOPASSWD'
            )
        return ending

    def _send(self, data: bytes | None) -> None:
        """Write to the command's stdin, or close it (``None``). A command that has already
        ended, or a server that closed stdin, makes this a no-op: how it ended is for
        :meth:`pump` to say, not a write that came too late."""
        with contextlib.suppress(BrokenPipeError):
            if data is None:
                self._channel.write_eof()
            else:
                self._channel.write(data)

    def close_stdin(self) -> None:
        self._send(None)

    def close(self) -> None:
        self._channel.close()

    def signal(self, name: str) -> None:
        """Ask the server to send signal ``name`` (``"TERM"``, ``"KILL"``) to the command. Nothing
        comes back to say whether it did (asyncssh asks for no reply); a channel that has
        already closed, or whose connection failed, makes this a no-op."""
        if self._session.closed:
            return
        with contextlib.suppress(OSError, asyncssh.Error):
            self._channel.send_signal(name)

    def abandon(self) -> None:
        """Stop waiting for the server to close the channel: :meth:`pump` hands on what has
        arrived and returns how the command ended as far as anyone knows (sshd keeps a
        session's channel open while its shell lives, whatever the client says)."""
        self._session.queue.put_nowait(None)


def _signal_number(name: str) -> int:
    try:
        return int(signal.Signals[f"SIG{name}"])
    except KeyError:
        return 0
