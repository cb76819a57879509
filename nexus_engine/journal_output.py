"""Step output into the journal's files, written by a thread of its own.

Output is most of what a run writes: a megabyte from each of fifty hosts is fifty megabytes
(a hundred for steps that also write to stderr: see :class:`_StepFiles`). Written from the
event loop, each chunk held the loop for its ``write``, and each step's first chunk held it for
making the step's directory and files, which on ext4 waits behind the fsync of ``events.jsonl``
that other steps' starts ask for: profiled at 50 hosts printing 1 MB each, about a tenth of the
controller's samples. This thread does that I/O, in the order the chunks came (a system call lets
go of the GIL, so the loop goes on meanwhile). The loop hands chunks over and learns, in batches,
how far the writing has got and what failed. The bytes handed over and not yet written are
bounded: a disk slower than the hosts slows the run down, as before, rather than filling memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import resource
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nexus_engine.events import OutputReceived, StepFinished
from nexus_engine.journal_files import (
    OLD_FILE,
    READ_FILE,
    JournalError,
    create,
    ensure_dir,
    safe_name,
    write_all,
)
from nexus_engine.words import Stream

#: Steps whose output files (up to three each) may stay open at once: a twelfth of the
#: process's file limit (so a quarter of it, the rest left to connections and the run), but
#: never fewer than 128 steps, as before this followed the limit.
#: 1,000 hosts printing at once would hold 3,000 files, over the common limit of 1,024 with the
#: connections beside; past this many, the step heard from longest ago closes its files and
#: appends when it next prints. Where the limit allows, each printing step keeps its files
#: open: reopening two files for every line costs more than the rest of the journal's work.
MIN_OPEN_STEPS = 128
MAX_OPEN_STEPS = 4096
#: Bytes of output handed to the thread and not yet written, past which the record loop waits.
MAX_WAITING = 8 * 1024 * 1024
#: The thread says how far it got at least this often (items, bytes), and at once on an error:
#: under a steady stream its queue may never run empty.
REPORT_ITEMS = 256
REPORT_BYTES = 1024 * 1024
#: About what a waiting item costs beside its bytes (the item, its key, the queue's slot).
_ITEM_COST = 200
#: Bytes read at a time when a step's stdout so far is copied into its .out.
COPY_BLOCK = 1024 * 1024

StepKey = tuple[str, str, int, int]  # task, host, step, attempt


def open_steps_allowed(file_limit: int) -> int:
    """How many steps may keep their output files open under a soft ``RLIMIT_NOFILE`` of
    ``file_limit`` (``RLIM_INFINITY``: no limit)."""
    if file_limit == resource.RLIM_INFINITY:
        return MAX_OPEN_STEPS
    return max(MIN_OPEN_STEPS, min(MAX_OPEN_STEPS, file_limit // 12))


@dataclass(frozen=True, slots=True)
class _Chunk:
    """Output of one step attempt, to append to its files."""

    key: StepKey
    stream: Stream
    data: bytes
    seq: int


@dataclass(frozen=True, slots=True)
class _End:
    """A step attempt finished: its files close (output after this reopens them to append)."""

    key: StepKey
    seq: int


class OutputFiles:
    """The output files of one run. :meth:`write` and :meth:`end` are called from the event loop
    in the order of the events; the thread starts with the first chunk."""

    def __init__(
        self,
        run_dir: Path,
        *,
        on_progress: Callable[[], None],
        on_error: Callable[[OSError | JournalError], None],
    ) -> None:
        """``on_progress`` and ``on_error`` are called on the event loop, as the thread reports:
        after some chunks were written (see :attr:`written`), and for each write that failed."""
        self.run_dir = run_dir
        self.open_steps = open_steps_allowed(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        #: the seq of the last chunk written (or whose write failed)
        self.written = 0
        self._progress = asyncio.Event()  # set at each report
        self._last: dict[StepKey, int] = {}  # the seq of each open step's last chunk handed over
        self._on_progress = on_progress
        self._on_error = on_error
        self._queue: queue.SimpleQueue[_Chunk | _End | None] = queue.SimpleQueue()
        self._handed = 0  # items handed over and not yet reported done
        self._waiting = 0  # what they hold in memory, about (bytes)
        self._room = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Future[None] | None = None
        # the thread's own: the steps with open files, the one written to last at the end
        self._steps: dict[StepKey, _StepFiles] = {}
        self._dirs: set[Path] = set()  # output directories made and checked already
        self._finished: set[StepKey] = set()

    @property
    def idle(self) -> bool:
        """Whether everything handed over has been written (or has failed)."""
        return self._handed == 0

    def write(self, event: OutputReceived) -> None:
        key = _step_key(event)
        if self._thread is None:
            self._start()
        self._last[key] = event.seq
        self._hand(_Chunk(key, event.stream, event.data, event.seq))

    async def written_for(self, end: StepFinished) -> None:
        """Until the output handed over for the step that ``end`` ends is written (or has
        failed): its end then goes into events.jsonl after its last byte, as when output was
        written in line."""
        last = self._last.get(_step_key(end), 0)
        while self.written < last:
            self._progress.clear()
            await self._progress.wait()

    def end(self, end: StepFinished) -> None:
        """The step has ended: its files close (output after this reopens them to append)."""
        key = _step_key(end)
        self._last.pop(key, None)
        if self._thread is not None:  # else nothing was written: nothing to close
            self._hand(_End(key, end.seq))

    async def room(self) -> None:
        """Until the bytes waiting to be written are few enough to hand over more."""
        while self._waiting > MAX_WAITING:
            self._room.clear()
            await self._room.wait()

    async def close(self) -> None:
        """Write what is waiting, close every file, and end the thread."""
        if self._thread is None or self._stopped is None:
            return
        self._queue.put(None)
        await self._stopped
        self._thread.join()

    # -- the event loop's side --

    def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = self._loop.create_future()
        self._thread = threading.Thread(target=self._work, name="nexus-journal", daemon=True)
        self._thread.start()

    def _hand(self, item: _Chunk | _End) -> None:
        self._handed += 1
        self._waiting += _cost(item)
        self._queue.put(item)

    def _report(
        self, items: int, size: int, seq: int, errors: list[OSError | JournalError]
    ) -> None:
        self._handed -= items
        self._waiting -= size
        self.written = max(self.written, seq)
        if self._waiting <= MAX_WAITING:
            self._room.set()
        self._progress.set()
        for error in errors:
            self._on_error(error)
        self._on_progress()

    def _stop(self) -> None:
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)

    # -- the thread's side --

    def _work(self) -> None:
        loop = self._loop
        assert loop is not None  # noqa: S101 - set before the thread starts
        items, size, seq = 0, 0, 0
        errors: list[OSError | JournalError] = []
        while (item := self._queue.get()) is not None:
            try:
                size += _cost(item)
                if isinstance(item, _Chunk):
                    self._append(item)
                else:
                    self._close_step(item.key)
            except (OSError, JournalError) as error:
                errors.append(error)
            except Exception as error:  # noqa: BLE001 - a bug here must not leave the run waiting
                errors.append(JournalError(f"writing output failed: {error!r}"))
            items, seq = items + 1, item.seq
            # a batch done: one wake-up of the loop per batch, not per chunk
            if errors or items >= REPORT_ITEMS or size >= REPORT_BYTES or self._queue.empty():
                _tell(loop, self._report, items, size, seq, errors)
                items, size, errors = 0, 0, []
        for files in self._steps.values():
            try:
                files.close()
            except OSError as error:
                errors.append(error)
        self._steps.clear()
        _tell(loop, self._report, items, size, seq, errors)
        _tell(loop, self._stop)

    def _append(self, chunk: _Chunk) -> None:
        files = self._steps.pop(chunk.key, None)  # put back last: the dict is in order of use
        if files is None:
            task, host, step, attempt = chunk.key
            unit_dir = self.run_dir / "output" / safe_name(task) / safe_name(host)
            for directory in (unit_dir.parent.parent, unit_dir.parent, unit_dir):
                if directory not in self._dirs:
                    ensure_dir(directory)
                    self._dirs.add(directory)
            files = _StepFiles(unit_dir / f"{step}-{attempt}", reopen=chunk.key in self._finished)
        self._steps[chunk.key] = files
        if len(self._steps) > self.open_steps:  # the step heard from longest ago lets go
            oldest = next(iter(self._steps))
            self._steps.pop(oldest).close()
            self._finished.add(oldest)  # its files exist: more output is appended
        if chunk.stream == Stream.STDERR and not files.split:
            files.split_off()  # before this chunk: the .log still holds stdout alone
        write_all(files.fd(".log"), chunk.data)
        if chunk.stream == Stream.STDERR:
            write_all(files.fd(".err"), chunk.data)
        elif files.split:
            write_all(files.fd(".out"), chunk.data)

    def _close_step(self, key: StepKey) -> None:
        if files := self._steps.pop(key, None):
            files.close()
            self._finished.add(key)


def _step_key(event: OutputReceived | StepFinished) -> StepKey:
    return (event.task, event.host, event.step, event.attempt)


def _cost(item: _Chunk | _End) -> int:
    """What an item holds in memory while it waits, about: a thousand one-byte chunks are not
    a thousand bytes."""
    return _ITEM_COST + (len(item.data) if isinstance(item, _Chunk) else 0)


def _tell(loop: asyncio.AbstractEventLoop, callback: Callable[..., None], *args: object) -> None:
    """Have the loop call ``callback``; a loop already closed (the run was torn down while the
    thread finished its last writes) has nobody left to tell."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, *args)


class _StepFiles:
    """The files of one step attempt, each opened on first use: the .log (both streams, in the
    order they came), the .err once it writes to stderr, and the .out (stdout alone) only once
    it has written to both. Until then its .log is its stdout byte for byte, which is how the
    journal's readers take a step without a .err: most steps never write to stderr, and each
    of their chunks is written once, not twice."""

    def __init__(self, base: Path, *, reopen: bool) -> None:
        self._base = base
        self._reopen = reopen  # the step's files were let go: append, still no symlinks
        self._fds: dict[str, int] = {}
        #: the step has written to stderr: its stdout goes to the .out as well
        self.split = reopen and self._path(".err").exists()

    def fd(self, suffix: str) -> int:
        if (fd := self._fds.get(suffix)) is None:
            path = self._path(suffix)
            reopen = self._reopen and path.exists()
            fd = self._fds[suffix] = os.open(path, OLD_FILE) if reopen else create(path)
        return fd

    def split_off(self) -> None:
        """The step writes to stderr for the first time: from now on its stdout is kept alone
        too, in a .out that starts with what its .log holds (stdout alone, until now)."""
        self.split = True
        try:
            source = os.open(self._path(".log"), READ_FILE)
        except FileNotFoundError:
            return  # nothing printed yet: the .out starts with the next stdout
        try:
            while block := os.read(source, COPY_BLOCK):
                write_all(self.fd(".out"), block)
        finally:
            os.close(source)

    def _path(self, suffix: str) -> Path:
        return self._base.with_name(self._base.name + suffix)

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
