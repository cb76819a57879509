"""Run a command on this machine, and leave nothing of it behind.

Every command gets its own session, so its process group holds everything it forks. Timeout and
cancellation signal the *group* (TERM, ``kill_grace``, then KILL): killing only the direct child
would orphan its background jobs, as Ansible's Ctrl-C does (ansible/ansible#23958).

Output pipes are ours (``os.pipe``), not asyncio's ``PIPE``: on Python 3.11 ``Process.wait()``
waits for EOF on asyncio-owned pipes too, so a backgrounded grandchild holding stdout open would
hide the child's exit forever. With our own pipes, ``wait()`` reports the exit, and the reading is
read(chunk_size) on StreamReaders, never readline, so a 20 MB line without a newline is just
320 chunks (T-PROC-7). A reader buffers at most about two chunks before asyncio pauses the pipe, so
a slow ``on_output`` throttles the command instead of filling memory.

Leftovers after a normal exit, the documented choice: once the direct child has exited, each pipe
may still be read until EOF, but only for ``drain`` seconds of waiting for data (time spent in
``on_output`` does not count, so back-pressure never truncates the child's own output) and at
most 16 MiB more; a pipe held open beyond that by a leftover is abandoned. Then whatever is left
in the group, holding the pipes or not, gets TERM, the grace, and KILL: a run leaves no process
behind. Processes that escape the group with ``setsid`` are out of reach (that needs cgroups).
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import signal
import subprocess
import time

from nexus_engine.transports.base import CommandResult, CommandSpec, OutputSink, Stream

_POLL = 0.05  # how often the group is checked during the grace period
POST_EXIT_CAP = 16 * 1024 * 1024  # far above a pipe's capacity plus our buffers
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class LocalTransport:
    """Runs commands with ``/bin/sh -c`` in their own process group (see the module docstring)."""

    def __init__(
        self, kill_grace: float = 5.0, chunk_size: int = 65536, drain: float = 0.5
    ) -> None:
        self.kill_grace = kill_grace
        self.chunk_size = chunk_size
        self.drain = drain

    async def run(
        self, spec: CommandSpec, on_output: OutputSink, cancel: asyncio.Event
    ) -> CommandResult:
        started = time.monotonic()
        if cancel.is_set():  # cancelled before it began: start nothing
            return CommandResult(exit_code=None, cancelled=True)
        argv, problem = _argv(spec)
        if problem is not None:
            return CommandResult(exit_code=None, error=problem)
        try:
            proc, pipes = await self._spawn(argv, spec)
        except (OSError, ValueError) as exc:
            return CommandResult(
                exit_code=None, error=_start_error(exc, spec), duration=time.monotonic() - started
            )
        timed_out, cancelled = await self._supervise(proc, pipes, spec, on_output, cancel)
        rc = proc.returncode
        return CommandResult(
            exit_code=rc if rc is not None and rc >= 0 else None,
            signal=-rc if rc is not None and rc < 0 else None,
            timed_out=timed_out,
            cancelled=cancelled,
            duration=time.monotonic() - started,
        )

    async def _spawn(
        self, argv: list[str], spec: CommandSpec
    ) -> tuple[asyncio.subprocess.Process, list[_Pipe]]:
        loop = asyncio.get_running_loop()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            # argv is a list and /bin/sh -c is the point of a shell-step runner; env values
            # travel in the environment, never in argv.
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=err_w,
                env={**os.environ, **spec.env},
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
        pipes: list[_Pipe],
        spec: CommandSpec,
        on_output: OutputSink,
        cancel: asyncio.Event,
    ) -> tuple[bool, bool]:
        """Wait for exit, timeout or cancel; then drain the pipes and sweep the group."""
        lock = asyncio.Lock()  # one on_output call at a time, in arrival order

        async def emit(stream: Stream, data: bytes) -> None:
            async with lock:
                await on_output(stream, data)

        pumps = [asyncio.create_task(p.pump(emit)) for p in pipes]
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
                    await self._terminate(proc.pid)
                    await exited  # the group was sent TERM, then KILL if it had to be
                    break
                for task in done & set(pumps):
                    task.result()  # an on_output failure is the caller's bug: raise it
                watch -= done
            for pipe in pipes:
                pipe.child_exited(self.drain)
            await asyncio.gather(*pumps)
            if not (timed_out or was_cancelled):
                await self._terminate(proc.pid)  # leftovers of a normal exit, if any
        except BaseException:
            _signal_group(proc.pid, signal.SIGKILL)  # the child watcher still reaps the child
            raise
        finally:
            for task in (*pumps, exited, cancelled):
                task.cancel()
            for pipe in pipes:
                pipe.close()
        return timed_out, was_cancelled

    async def _terminate(self, pgid: int) -> None:
        """TERM the group, give it ``kill_grace`` seconds to be gone, then KILL it."""
        if not _group_alive(pgid):
            return
        _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + self.kill_grace
        while time.monotonic() < deadline:
            await asyncio.sleep(_POLL)
            if not _group_alive(pgid):
                return
        _signal_group(pgid, signal.SIGKILL)


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


def _argv(spec: CommandSpec) -> tuple[list[str], str | None]:
    """The argv to execute, or a reason it cannot be built. sudo gets the env *names* to keep
    (``--preserve-env``); their values stay in the environment."""
    shell = ["/bin/sh", "-c", spec.command]
    if not (spec.sudo or spec.user):
        return shell, None
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
    return [*argv, "--", *shell], None


def _start_error(exc: OSError | ValueError, spec: CommandSpec) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        what = "working directory" if exc.filename == spec.cwd else "program"
        return f"cannot start: {what} {exc.filename}: {exc.strerror}"
    return f"cannot start: {exc}"


def _signal_group(pgid: int, sig: int) -> bool:
    """Signal the group; False once no process of it is left (zombies count as left)."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:  # members run as another user (sudo -u): we cannot signal them
        return True
    return True


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs. Zombies do not count: they have exited and
    only their reaper is late (PID 1 of some containers reaps orphans every few seconds, or never
    when it is Nexus itself); without /proc every member counts."""
    if not _signal_group(pgid, 0):
        return False
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    for name in filter(str.isdigit, entries):
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # not a process, or gone meanwhile
        if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            return True
    return False
