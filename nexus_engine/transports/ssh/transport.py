"""The :class:`~nexus_engine.transports.base.Transport` for one SSH host.

The step's deadline covers everything from asking the pool for a channel to the command's exit:
a host that takes the whole timeout to answer costs the step its timeout, never more. A pooled
connection that went stale is replaced once *before* a command starts (a refused channel means
nothing ran); once the exec request has been accepted, a lost connection is reported as
``connection_lost`` and left to the retry policy, never silently sent again.

A timeout or cancel stops the command two ways at once, and the step ends within the kill grace
and a few seconds whatever the host allows:

* on the command's own channel, which needs no second session: TERM at once; KILL once the grace
  is over; then the channel is closed, and a channel the server still holds open is abandoned
  and its connection marked broken (never lent again, closed once no other command uses it);
* out of band, when the host grants the control channel: ``remote.kill_command`` (TERM, grace,
  KILL, then a look at ``/proc``), through sudo when the step used it, so it also reaches the
  root-owned processes a sudo step started, which the login user's signals cannot.

The stop counts as verified when the kill script saw nothing of the command left, or, when the
script could not run, when the command's own channel reported an exit status or a signal and
EOF (sshd saw its shell exit and every holder of its output pipes go; a channel that only
closed because we closed it proves nothing). Otherwise the step says so
(``kill_unverified``) instead of claiming a clean stop. A stopped step never reports exit
status 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Coroutine, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from nexus_engine.transports.base import Ask, CommandResult, CommandSpec, OutputSink
from nexus_engine.transports.ssh.channel import ChannelRefused, Ending, RemoteCommand
from nexus_engine.transports.ssh.connect import Login
from nexus_engine.transports.ssh.errors import SshFailure, lost
from nexus_engine.transports.ssh.pool import Lease, SshPool
from nexus_engine.transports.ssh.remote import (
    Launch,
    StepScript,
    SudoDialogue,
    bourne_login,
    kill_command,
)
from nexus_engine.words import Failure, Stream

T = TypeVar("T")
#: One question for every host, as ``ansible -K`` asks: the asker remembers the answer.
SUDO_QUESTION = "sudo password: "
_HEADER_WAIT = 2.0  # seconds to learn the group id of a command stopped right after start
_KILL_WAIT = 2.0  # seconds for the command's channel to end once it was sent KILL
_CLOSE_WAIT = 2.0  # seconds for the server to close a channel that we closed
_VERDICT_WAIT = 4.0  # seconds beyond the grace for the kill script's verdict (its KILL, its look)


class _Stopped(Exception):
    def __init__(self, *, timed_out: bool, sudo_silent: bool = False) -> None:
        super().__init__("timed out" if timed_out else "cancelled")
        self.timed_out = timed_out
        self.sudo_silent = sudo_silent  # sudo never asked for its password: stopped by us


class SshTransport:
    """Runs steps on one host through the run's :class:`SshPool`."""

    def __init__(
        self,
        pool: SshPool,
        login: Login,
        kill_grace: float = 5.0,
        sudo_prompt_wait: float = 15.0,
        ask_sudo: Ask | None = None,
    ) -> None:
        self.pool = pool
        self.login = login
        self.kill_grace = kill_grace
        self.sudo_prompt_wait = sudo_prompt_wait
        #: asks the operator for the sudo password when a step needs sudo and none is set
        self.ask_sudo = ask_sudo
        #: set by :meth:`hurry`: a command being stopped gets KILL and a kill script without
        #: the grace
        self.urgent = asyncio.Event()
        #: the host's login shell is a Bourne shell (its first step's header said so), so a
        #: step starts with one exec fewer (see ``remote``)
        self.bourne = False

    def hurry(self) -> None:
        """From now on, and for the commands being stopped right now, skip the grace (the
        operator's second Ctrl-C): KILL on the channel, and a kill script with no grace."""
        self.urgent.set()

    async def run(
        self, spec: CommandSpec, on_output: OutputSink, cancel: asyncio.Event
    ) -> CommandResult:
        if cancel.is_set():
            return CommandResult(exit_code=None, cancelled=True)
        if (spec.sudo or spec.user) and self.login.sudo_password is None and self.ask_sudo:
            try:  # before the step's clock starts: a person typing is not the step running
                answer = await _until(self.ask_sudo(SUDO_QUESTION), None, cancel)
            except _Stopped:
                return CommandResult(exit_code=None, cancelled=True)
            if answer:  # remembered by the asker, so every host and step asks once
                self.login = replace(self.login, sudo_password=answer)
        started = time.monotonic()
        deadline = None if spec.timeout is None else started + spec.timeout
        try:
            result = await self._run(spec, on_output, cancel, deadline)
        except SshFailure as failure:
            result = CommandResult(
                exit_code=None,
                error=failure.message,
                failure=failure.kind,
                slot_wait=failure.slot_wait,
            )
        except _Stopped as stopped:  # before the command started: nothing to kill
            result = CommandResult(
                exit_code=None, timed_out=stopped.timed_out, cancelled=not stopped.timed_out
            )
        return replace(result, duration=time.monotonic() - started)

    async def _run(
        self,
        spec: CommandSpec,
        on_output: OutputSink,
        cancel: asyncio.Event,
        deadline: float | None,
    ) -> CommandResult:
        start, sudo, password = self._launch(
            spec.command,
            spec,
            env=spec.env,
            cwd=spec.cwd,
            user=spec.user,
            private=spec.private,
            stdin=spec.stdin is not None,
            marker=spec.step_id,
        )
        starting = self._start(start, sudo, password, again=spec.operator_retry)
        lease, command = await _until(starting, deadline, cancel)
        try:
            result = await self._supervise(
                command,
                lease=lease,
                spec=spec,
                on_output=on_output,
                cancel=cancel,
                deadline=deadline,
            )
        finally:
            self.pool.release(lease)
        return replace(result, slot_wait=lease.slot_wait)

    def _launch(
        self,
        command: str,
        spec: CommandSpec,
        *,
        env: Mapping[str, str],
        cwd: str | None,
        user: str | None,
        private: bool,
        stdin: bool = False,
        marker: str | None = None,
    ) -> tuple[Launch, SudoDialogue | None, str | None]:
        """How to start ``command``, through sudo when ``spec`` needs it, with the dialogue and
        the password that go with it; ``stdin``: the command reads what Nexus feeds it;
        ``marker``: the step's token, which every process of it carries."""
        sudo = SudoDialogue.new() if spec.sudo or spec.user else None
        password = self.login.sudo_password if sudo is not None else None
        script = StepScript(
            command,
            env=env,
            cwd=cwd,
            sudo=sudo,
            user=user,
            password=password is not None,
            stdin=stdin,
            marker=marker,
        )
        return script.launch(private=private, bourne=self.bourne), sudo, password

    async def _start(
        self, start: Launch, sudo: SudoDialogue | None, password: str | None, *, again: bool
    ) -> tuple[Lease, RemoteCommand]:
        """A started command, opening a fresh connection once if the pooled one went stale;
        ``again``: the operator retries, so a host marked down is tried anew."""
        for attempt in (1, 2):
            lease = await self.pool.acquire(self.login, again=again and attempt == 1)
            try:
                command = await RemoteCommand.start(
                    lease.connection, start, sudo=sudo, sudo_password=password
                )
            except ChannelRefused as refused:
                self.pool.release(lease)
                if refused.at_capacity:
                    self.pool.at_capacity(lease)
                else:
                    lease.broken()
                if attempt == 2:
                    raise SshFailure(
                        Failure.CONNECTION_LOST,
                        f"{self.login.where} refused to start the command: {refused}",
                    ) from None
                continue
            except BaseException:
                self.pool.release(lease)
                raise
            return lease, command
        raise AssertionError("unreachable")  # pragma: no cover

    async def _supervise(
        self,
        command: RemoteCommand,
        *,
        lease: Lease,
        spec: CommandSpec,
        on_output: OutputSink,
        cancel: asyncio.Event,
        deadline: float | None,
    ) -> CommandResult:
        pump = asyncio.create_task(command.pump(on_output))
        feeder = None if spec.stdin is None else asyncio.create_task(command.feed(spec.stdin))
        stopped: _Stopped | None = None
        killed = True
        try:
            try:
                silence = None if command.sudo_spoke.is_set() else self._sudo_silence(command)
                await _until(asyncio.shield(pump), deadline, cancel, silence)
            except _Stopped as stop:
                stopped = stop
            if stopped is not None and stopped.sudo_silent:
                # sudo runs as root, out of the user's reach, but gives up when its stdin closes
                command.close_stdin()
                await _settle(pump, None, self.kill_grace)
            if stopped is not None and not (stopped.sudo_silent and pump.done()):
                killed = await self._stop(command, pump, lease, spec)
            ending = await pump
            if command.login_shell is not None:
                self.bourne = bourne_login(command.login_shell)
        except BaseException:
            command.close()
            pump.cancel()
            raise
        finally:
            if feeder is not None:
                feeder.cancel()
        if ending.lost is not None:
            lease.broken()
            if stopped is None:  # reap what the lost connection left behind, on a new one
                killed = await self._kill(command, spec) is True
        return self._result(ending, stopped, killed)

    async def _sudo_silence(self, command: RemoteCommand) -> bool:
        """True if sudo, given a password to feed, neither asks for it with Nexus's prompt
        nor lets the step in within ``sudo_prompt_wait``: a sudo that ignores ``-p`` would
        otherwise wait for an answer that never comes until the step's own timeout."""
        try:
            await asyncio.wait_for(command.sudo_spoke.wait(), self.sudo_prompt_wait)
        except TimeoutError:
            return True
        return False

    async def _stop(
        self,
        command: RemoteCommand,
        pump: asyncio.Task[Ending],
        lease: Lease,
        spec: CommandSpec,
    ) -> bool:
        """Stop a started command on its own channel and out of band at once (see the module's
        docstring); returns once the channel has ended or been given up, True if the stop is
        verified."""
        started = time.monotonic()
        hurried = self.urgent.is_set()
        command.signal("KILL" if hurried else "TERM")
        killer = asyncio.create_task(self._kill(command, spec))
        try:
            await _settle(pump, killer, self.kill_grace, self.urgent)
            if not hurried and self.urgent.is_set() and not pump.done():
                command.signal("KILL")  # hurried during the grace: a kill script without one
                killer.cancel()
                killer = asyncio.create_task(self._kill(command, spec))
            if not pump.done() and _verdict(killer) is None:
                command.signal("KILL")  # the kill script, if one runs, KILLs now too
                await _settle(pump, killer, _KILL_WAIT)
            elif not pump.done():  # the script has finished: let the last output arrive
                await _settle(pump, None, _CLOSE_WAIT)
            if not pump.done():
                command.close()
                await _settle(pump, None, _CLOSE_WAIT)
            if not pump.done():
                # sshd holds a session's channel open while its shell lives, whatever we say:
                # give the channel up, and its connection with it
                lease.broken()
                command.abandon()
            ending = await pump
            if not killer.done():
                left = started + self.kill_grace + _VERDICT_WAIT - time.monotonic()
                await asyncio.wait({killer}, timeout=max(left, 0))
            verdict = _verdict(killer)
        finally:
            killer.cancel()
        if verdict is not None:
            return verdict
        # sshd reports how the shell ended, and EOF once nothing holds its output: both
        # together say the signals reached everything of the command that still had them
        ended = ending.exit_code is not None or ending.signal is not None
        return ending.lost is None and ending.output_closed and ended

    async def _kill(self, command: RemoteCommand, spec: CommandSpec) -> bool | None:
        """TERM, grace, KILL the command's process group and session from a control channel:
        True once nothing of it is left on the host, False when something survived, None when
        there is no verdict (no group id, no control channel, no answer in time)."""
        if command.pgid is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(command.has_pgid.wait(), _HEADER_WAIT)
        if not command.pgid:
            return None
        grace = 0.0 if self.urgent.is_set() else self.kill_grace
        # as root when the step used sudo: its processes may belong to another user
        killing, sudo, password = self._launch(
            kill_command(command.pgid, grace),
            spec,
            env={},
            cwd=None,
            user=None,
            private=False,
        )
        try:
            async with self.pool.lease(self.login, control=True) as lease:
                killer = await RemoteCommand.start(
                    lease.connection, killing, sudo=sudo, sudo_password=password
                )
                try:
                    ending = await asyncio.wait_for(killer.pump(_discard), grace + _VERDICT_WAIT)
                finally:
                    killer.close()
        except (SshFailure, ChannelRefused, TimeoutError):
            return None
        if ending.exit_code == 0:
            return True
        return False if ending.exit_code == 3 else None  # 3: something survived KILL

    def _result(  # noqa: PLR0911 - one answer per way a channel can end
        self, ending: Ending, stopped: _Stopped | None, killed: bool
    ) -> CommandResult:
        base = CommandResult(
            # a stopped step never passes for a success, even if it caught TERM and said 0
            exit_code=None if stopped is not None and ending.exit_code == 0 else ending.exit_code,
            signal=ending.signal,
            timed_out=stopped is not None and stopped.timed_out,
            cancelled=stopped is not None and not (stopped.timed_out or stopped.sudo_silent),
        )
        if stopped is not None and stopped.sudo_silent:
            error = (
                f"sudo on {self.login.where} did not ask for the password with Nexus's prompt "
                f"within {self.sudo_prompt_wait:g} s (does this sudo ignore -p?); the step was "
                "stopped"
            )
            if not killed:
                error += "; whether its processes are gone could not be checked"
            return replace(base, failure=Failure.SUDO_PROMPT_TIMEOUT, error=error)
        if stopped is not None:
            if killed:
                return base
            return replace(
                base,
                failure=Failure.KILL_UNVERIFIED,
                error=f"could not verify that the command's processes on {self.login.where} "
                "are gone",
            )
        if ending.lost is not None:
            failure = lost(self.login.where, ending.lost)
            error = failure.message
            if not killed:
                error += "; whether its processes are gone could not be checked"
            return replace(base, exit_code=None, failure=failure.kind, error=error)
        if ending.closed_without_status:
            return replace(
                base,
                failure=Failure.CONNECTION_LOST,
                error=f"{self.login.where} closed the channel without an exit status",
            )
        if ending.failure is not None:
            return replace(base, failure=ending.failure, error=ending.error)
        if not ending.started:
            return replace(
                base,
                failure=Failure.START_FAILED,
                error=f"the login shell on {self.login.where} could not start the step"
                + ("" if ending.exit_code is None else f" (exit status {ending.exit_code})"),
            )
        return base


async def _until(
    work: Awaitable[T],
    deadline: float | None,
    cancel: asyncio.Event,
    silence: Coroutine[Any, Any, bool] | None = None,
) -> T:
    """``work``'s result, or :class:`_Stopped` when the deadline passes, ``cancel`` is set or
    ``silence`` says sudo never spoke, whichever comes first (``work`` is then cancelled)."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.create_task(cancel.wait())
    watched = {task, waiter}
    sudo = None if silence is None else asyncio.ensure_future(silence)
    if sudo is not None:
        watched.add(sudo)
    try:
        while True:
            left = None if deadline is None else max(deadline - time.monotonic(), 0)
            done, _ = await asyncio.wait(watched, timeout=left, return_when=asyncio.FIRST_COMPLETED)
            if task in done:
                return task.result()
            if sudo in done and not sudo.result():  # sudo spoke: nothing more to watch there
                watched.discard(sudo)
                continue
            task.cancel()
            raise _Stopped(timed_out=not done, sudo_silent=sudo in done)
    finally:
        waiter.cancel()
        if sudo is not None:
            sudo.cancel()


async def _settle(
    pump: asyncio.Task[Ending],
    killer: asyncio.Task[bool | None] | None,
    within: float,
    urgent: asyncio.Event | None = None,
) -> None:
    """Until the channel has ended, the kill script has given its verdict, ``within``
    seconds have passed, or ``urgent`` is set."""
    deadline = time.monotonic() + within
    hurry = None if urgent is None else asyncio.create_task(urgent.wait())
    try:
        while not pump.done() and (killer is None or _verdict(killer) is None):
            left = deadline - time.monotonic()
            if left <= 0 or (urgent is not None and urgent.is_set()):
                return
            watched: set[asyncio.Future[Any]] = {pump}
            if killer is not None and not killer.done():
                watched.add(killer)
            if hurry is not None:
                watched.add(hurry)
            await asyncio.wait(watched, timeout=left, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if hurry is not None:
            hurry.cancel()


def _verdict(killer: asyncio.Task[bool | None]) -> bool | None:
    return killer.result() if killer.done() else None


async def _discard(stream: Stream, data: bytes) -> None:
    """The kill script's output says nothing anyone needs."""
