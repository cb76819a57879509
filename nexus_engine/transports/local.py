"""Run a command on this machine, and leave nothing of it behind.

Every command gets its own session and process group, and a ``NEXUS_STEP_ID`` marker in its
environment; Nexus is the child subreaper, so the command's orphans become Nexus's children.
Timeout and cancellation kill the command's whole *tree* (TERM, ``kill_grace``, then KILL): its
group, plus whatever left the group with ``setsid`` and is still a descendant of the command or an
adopted child of Nexus carrying the marker (``proctree`` says how each is found, and its limits).
Killing only the direct child would orphan its background jobs, as Ansible's Ctrl-C does
(ansible/ansible#23958). What the kill ends is reaped, so it does not linger as a zombie of
Nexus (``proctree`` says which zombies it reaps, and why not every one).

Output pipes are ours (``os.pipe``), not asyncio's ``PIPE``: on Python 3.11 ``Process.wait()``
waits for EOF on asyncio-owned pipes too, so a backgrounded grandchild holding stdout open would
hide the child's exit forever. With our own pipes, ``wait()`` reports the exit, and the reading is
read(chunk_size) on StreamReaders, never readline, so a 20 MB line without a newline is just
320 chunks, never one line held whole. A reader buffers at most about two chunks before asyncio
pauses the pipe, so a slow ``on_output`` throttles the command instead of filling memory.

Leftovers after a normal exit, the documented choice: once the direct child has exited, each pipe
may still be read until EOF, but only for ``drain`` seconds of waiting for data (time spent in
``on_output`` does not count, so back-pressure never truncates the child's own output) and at
most 16 MiB more; a pipe held open beyond that by a leftover is abandoned. Then whatever is left
of the tree, holding the pipes or not, gets TERM, the grace, and KILL: a run leaves no process
behind, ``setsid`` escapees and daemons included. When nothing is left, as usual, that costs one
scan of ``/proc``. The marker is the runner's token (``spec.step_id``, journaled before the step
starts) or, without one, a fresh random one (``transports.marker``). It overrides ``spec.env`` (and
an outer Nexus's marker) and is set again behind sudo, which resets the environment, by a shell
that then runs the command: a sweep after a crash finds a sudo step's processes too. During the
run, a sudo step's processes are found by descent, and signalling them may be refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import shlex
import signal
import subprocess
import time

from nexus_engine.transports import proctree
from nexus_engine.transports.base import CommandResult, CommandSpec, OutputSink
from nexus_engine.transports.marker import MARKER, new_step_id
from nexus_engine.words import Stream

_POLL = 0.05  # how often the tree is checked during the grace period
_KILL_WAIT = 5.0  # how long to wait for KILLed processes to be gone, to reap them
_KILL_BLOCK = 0.5  # the same, when the event loop cannot be awaited
POST_EXIT_CAP = 16 * 1024 * 1024  # far above a pipe's capacity plus our buffers
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: the shell of every step running in this process, of any LocalTransport: never reaped by us
_SHELLS: dict[int, asyncio.subprocess.Process] = {}


class LocalTransport:
    """Runs commands with ``/bin/sh -c`` in their own process group (see the module docstring)."""

    def __init__(
        self, kill_grace: float = 5.0, chunk_size: int = 65536, drain: float = 0.5
    ) -> None:
        self.kill_grace = kill_grace
        self.chunk_size = chunk_size
        self.drain = drain
        #: set by :meth:`hurry`: a tree being stopped is KILLed without the grace
        self.urgent = asyncio.Event()
        proctree.become_subreaper()

    def hurry(self) -> None:
        """From now on, and for the trees being stopped right now, skip the grace: KILL at
        once (the operator's second Ctrl-C). Checked every ``_POLL`` of a grace."""
        self.urgent.set()

    async def run(
        self, spec: CommandSpec, on_output: OutputSink, cancel: asyncio.Event
    ) -> CommandResult:
        started = time.monotonic()
        if cancel.is_set():  # cancelled before it began: start nothing
            return CommandResult(exit_code=None, cancelled=True)
        token = spec.step_id or new_step_id()
        argv, problem = _argv(spec, token)
        if problem is not None:
            return CommandResult(exit_code=None, error=problem)
        try:
            proc, pipes = await self._spawn(argv, spec, token)
        except (OSError, ValueError) as exc:
            return CommandResult(
                exit_code=None, error=_start_error(exc, spec), duration=time.monotonic() - started
            )
        step = proctree.Step(proc.pid, token)
        try:
            timed_out, cancelled = await self._supervise(
                proc, step, pipes, spec, on_output=on_output, cancel=cancel
            )
        finally:
            if proc.returncode is not None:  # else forgotten once asyncio has reaped it
                _SHELLS.pop(proc.pid, None)
        rc = proc.returncode
        return CommandResult(
            exit_code=rc if rc is not None and rc >= 0 else None,
            signal=-rc if rc is not None and rc < 0 else None,
            timed_out=timed_out,
            cancelled=cancelled,
            duration=time.monotonic() - started,
        )

    async def _spawn(
        self, argv: list[str], spec: CommandSpec, token: str
    ) -> tuple[asyncio.subprocess.Process, list[_Pipe]]:
        loop = asyncio.get_running_loop()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            # argv is a list and /bin/sh -c is the point of a shell-step runner; env values
            # travel in the environment, never in argv.
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=subprocess.DEVNULL if spec.stdin is None else subprocess.PIPE,
                stdout=out_w,
                stderr=err_w,
                env={**os.environ, **spec.env, MARKER: token},
                cwd=spec.cwd,
                start_new_session=True,
            )
        except BaseException:
            os.close(out_r)
            os.close(err_r)
            raise
        finally:
            os.close(out_w)
            os.close(err_w)
        _SHELLS[proc.pid] = proc
        pipes = []
        for stream, fd in ((Stream.STDOUT, out_r), (Stream.STDERR, err_r)):
            reader = asyncio.StreamReader(limit=self.chunk_size)
            transport, _ = await loop.connect_read_pipe(
                functools.partial(asyncio.StreamReaderProtocol, reader),
                os.fdopen(fd, "rb", buffering=0),
            )
            pipes.append(_Pipe(stream, reader, transport, self.chunk_size))
        return proc, pipes

    async def _supervise(
        self,
        proc: asyncio.subprocess.Process,
        step: proctree.Step,
        pipes: list[_Pipe],
        spec: CommandSpec,
        *,
        on_output: OutputSink,
        cancel: asyncio.Event,
    ) -> tuple[bool, bool]:
        """Wait for exit, timeout or cancel; then drain the pipes and sweep the tree."""
        lock = asyncio.Lock()  # one on_output call at a time, in arrival order

        async def emit(stream: Stream, data: bytes) -> None:
            async with lock:
                await on_output(stream, data)

        pumps = [asyncio.create_task(p.pump(emit)) for p in pipes]
        feeder = asyncio.create_task(_feed(proc, spec))
        exited = asyncio.create_task(proc.wait())
        cancelled = asyncio.create_task(cancel.wait())
        deadline = None if spec.timeout is None else time.monotonic() + spec.timeout
        timed_out = was_cancelled = False
        try:
            watch: set[asyncio.Task[object]] = {exited, cancelled, *pumps}
            while not exited.done():
                left = None if deadline is None else max(deadline - time.monotonic(), 0)
                done, _ = await asyncio.wait(
                    watch, timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    timed_out = True
                elif cancelled in done:
                    was_cancelled = True
                if timed_out or was_cancelled:
                    await self._terminate(proc, step)
                    await exited  # the tree was sent TERM, then KILL if it had to be
                    break
                for task in done & set(pumps):
                    task.result()  # an on_output failure is the caller's bug: raise it
                watch -= done
            for pipe in pipes:
                pipe.child_exited(self.drain)
            await asyncio.gather(*pumps)
            if not (timed_out or was_cancelled):
                await self._terminate(proc, step)  # leftovers of a normal exit, if any
        except BaseException:
            _kill_at_once(proc, step)  # the child watcher still reaps the shell
            raise
        finally:
            for task in (*pumps, feeder, exited, cancelled):
                task.cancel()
            for pipe in pipes:
                pipe.close()
        return timed_out, was_cancelled

    async def _terminate(self, proc: asyncio.subprocess.Process, step: proctree.Step) -> None:
        """TERM the tree, give it ``kill_grace`` seconds to be gone (cut short by
        :meth:`hurry`), then KILL what is left and wait (at most ``_KILL_WAIT``) for it to
        die, so that its zombies are reaped."""
        found = _sweep(proc, step)
        if not found.alive:
            return
        if not self.urgent.is_set():
            proctree.kill(step, found, signal.SIGTERM)
        deadline = time.monotonic() + self.kill_grace
        while time.monotonic() < deadline and not self.urgent.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.urgent.wait(), _POLL)
            found = _sweep(proc, step)
            if not found.alive:
                return
        deadline = time.monotonic() + _KILL_WAIT
        proctree.kill(step, found, signal.SIGKILL)
        while proctree.killable(found) and time.monotonic() < deadline:  # no /proc: one KILL
            await asyncio.sleep(_POLL)
            found = _sweep(proc, step)
            proctree.kill(step, found, signal.SIGKILL)  # what was forked meanwhile


async def _feed(proc: asyncio.subprocess.Process, spec: CommandSpec) -> None:
    """Write ``spec.stdin`` to the command as fast as it reads, then close its stdin. A command
    that stops reading early (it failed, or wanted less) ends the feed, not the step."""
    if spec.stdin is None or proc.stdin is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        async for chunk in spec.stdin():
            proc.stdin.write(chunk)
            await proc.stdin.drain()
        proc.stdin.close()


def _kill_at_once(proc: asyncio.subprocess.Process, step: proctree.Step) -> None:
    """KILL the tree without awaiting anything (our task is being cancelled, or failed), and
    block up to ``_KILL_BLOCK`` for it to die so that its orphans are reaped: the loop may be
    closed next. Whatever outlives that is reaped by a later sweep, if the loop lives on."""
    deadline = time.monotonic() + _KILL_BLOCK
    found = _sweep(proc, step)
    proctree.kill(step, found, signal.SIGKILL)
    while proctree.killable(found):  # without /proc: one KILL, as ever
        if time.monotonic() >= deadline:
            loop = asyncio.get_running_loop()
            loop.call_later(1.0, lambda: proctree.reap_orphans(_running_shells()))
            return
        time.sleep(0.005)  # SIGKILL takes effect in microseconds, bar a process stuck in I/O
        found = _sweep(proc, step)
        proctree.kill(step, found, signal.SIGKILL)  # what was forked meanwhile


def _running_shells(but: asyncio.subprocess.Process | None = None) -> set[int]:
    for pid, proc in list(_SHELLS.items()):
        if proc.returncode is not None:
            del _SHELLS[pid]
    return {pid for pid, proc in _SHELLS.items() if proc is not but}


def _sweep(proc: asyncio.subprocess.Process, step: proctree.Step) -> proctree.Found:
    return proctree.sweep(step, _running_shells(but=proc), running=proc.returncode is None)


class _Pipe:
    """One output pipe of the child; once the child has exited it may idle only ``drain``."""

    def __init__(
        self,
        stream: Stream,
        reader: asyncio.StreamReader,
        transport: asyncio.ReadTransport,
        size: int,
    ) -> None:
        self.stream = stream
        self._reader = reader
        self._transport = transport
        self._size = size
        self._budget: float | None = None  # seconds of waiting left, once the child has exited
        self._after_exit = 0
        self._since = 0.0
        self._scope: asyncio.Timeout | None = None

    def child_exited(self, drain: float) -> None:
        self._budget = drain
        if self._scope is not None:  # a read is waiting: from now on it is on the clock
            self._since = asyncio.get_running_loop().time()
            self._scope.reschedule(self._since + drain)

    async def pump(self, emit: OutputSink) -> None:
        """Read to EOF, or until the pipe outstays its welcome after the child's exit."""
        while chunk := await self._read():
            await emit(self.stream, chunk)
        self.close()

    async def _read(self) -> bytes:
        """The next chunk; b"" at EOF and when the pipe is abandoned."""
        loop = asyncio.get_running_loop()
        if self._budget is not None and (self._budget <= 0 or self._after_exit > POST_EXIT_CAP):
            return b""
        self._since = loop.time()
        when = None if self._budget is None else self._since + self._budget
        try:
            async with asyncio.timeout(when) as self._scope:
                chunk = await self._reader.read(self._size)
        except TimeoutError:
            return b""
        finally:
            self._scope = None
        if self._budget is not None:
            self._budget -= loop.time() - self._since
            self._after_exit += len(chunk)
        return chunk

    def close(self) -> None:
        self._transport.close()


def _argv(spec: CommandSpec, token: str) -> tuple[list[str], str | None]:
    """The argv to execute, or a reason it cannot be built. sudo gets the env *names* to keep
    (``--preserve-env``); their values stay in the environment. Behind sudo, a first shell sets
    the marker and ``exec``s the command's: a kept variable would need sudo's ``SETENV``
    permission, which a step without ``env`` must not start to need, and sudo still runs
    ``/bin/sh`` (what a sudoers rule may allow)."""
    if not (spec.sudo or spec.user):
        return ["/bin/sh", "-c", spec.command], None
    names = sorted(spec.env)
    bad = [n for n in names if not _ENV_NAME.match(n)]
    if bad:
        return [], f"environment names cannot be passed through sudo: {', '.join(bad)}"
    argv = ["sudo", "-n"]
    if spec.user:
        if spec.user.startswith("-") or not spec.user.isprintable():
            return [], f"invalid user name {spec.user!r}"
        argv += ["-u", spec.user]
    if names:
        argv.append("--preserve-env=" + ",".join(names))
    marked = f"{MARKER}={shlex.quote(token)}; export {MARKER}; "
    return [*argv, "--", "/bin/sh", "-c", marked + 'exec /bin/sh -c "$0"', spec.command], None


def _start_error(exc: OSError | ValueError, spec: CommandSpec) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        what = "working directory" if exc.filename == spec.cwd else "program"
        return f"cannot start: {what} {exc.filename}: {exc.strerror}"
    return f"cannot start: {exc}"
