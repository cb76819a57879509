"""The run's durable record: what ``nexus runs`` and ``nexus logs`` read.

One directory per run under the state dir (platformdirs' user state dir, or ``$NEXUS_STATE_DIR``)::

    runs/<run_id>/events.jsonl                            every event but output, one JSON per line
    runs/<run_id>/output/<task>/<host>/<step>-<attempt>.log   stdout+stderr bytes, arrival order
    runs/<run_id>/output/<task>/<host>/<step>-<attempt>.err   stderr bytes alone
    runs/<run_id>/output/<task>/<host>/<step>-<attempt>.out   stdout alone, once it wrote both
    runs/<run_id>/summary.json                            RunFinished, pretty-printed
    runs/<run_id>/controller.json                         who writes the run: pid, boot id

``controller.json`` is written when the journal is made, by the process that runs the run (the
controller): its pid, the kernel's boot id and the process's start time (clock ticks since boot,
``/proc/<pid>/stat``). A run with no summary whose controller is gone (no such pid, a zombie, a
different start time, or another boot) crashed; ``nexus runs`` says so instead of showing it
running forever, with when it was last written to and the units that had a step in flight.
A separate file rather than a field of ``run_started``: it exists before any event, and the
events stay what the bus carried.

Output bytes go to files, never into events.jsonl: they are raw (byte-exact, any size) and are
written as they come, by a thread of their own (``journal_output``), with the bytes waiting for it
bounded, so memory stays bounded whatever a command prints ("nothing lost", clause 3).
Events are written unbuffered, one ``write`` per line, so a crash loses at most a partial last line,
which readers skip; RunFinished is fsynced.

A step's start is on disk before its command is sent: the runner awaits :meth:`Journal.durable`
for its StepStarted, which carries the token its processes are marked with, so even a power cut
cannot leave a process no record knows of. Starts are committed in groups: a background syncer
fsyncs events.jsonl (in a thread, so the loop goes on writing) once the record loop has written
everything that was waiting, and releases every waiter up to what that fsync covered: a hundred
steps starting together cost one fsync, not a hundred. Step ends, output and unit settlements
are written as they come, not each synced. A journal that cannot write releases its waiters with
False: the step is not started.

Logs hold secrets if anything does (openshift/openshift-ansible#7141 made them 0664), so whatever
the umask, directories are 0700 and files 0600; files are created with O_EXCL|O_NOFOLLOW and
directories are checked, so a symlink planted to redirect a write is refused, never followed
(``journal_files``).
Events arrive already redacted: the runner redacts before it publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import platformdirs

from nexus_engine.events import Event, OutputReceived, RunFinished, StepFinished, to_json
from nexus_engine.journal_files import (
    JournalError,
    create,
    ensure_dir,
    fsync_dir,
    make_parents,
    safe_name,
    write_all,
)
from nexus_engine.journal_output import OutputFiles
from nexus_engine.status import RunStatus

ENV_VAR = "NEXUS_STATE_DIR"
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_OUTPUT_NAME = re.compile(r"(\d+)-(\d+)\.(?:log|err|out)\Z")
_MAX_ERRORS = 20


class RunNotFoundError(LookupError):
    """No recorded run matches a reference, or more than one does."""


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One recorded run as listed by ``nexus runs``: id, start, status, and whether it is alive."""

    run_id: str
    started: datetime | None  # None when the run recorded no event
    status: RunStatus | None  # None while unfinished (or if it crashed)
    path: Path
    #: without a summary: whether the process that ran it lives; None when it is not known (a
    #: run recorded before ``controller.json`` existed, or one that has finished)
    controller_alive: bool | None = None
    #: without a summary: when its record was last written to (events or output)
    last_written: datetime | None = None
    #: without a summary: ``task@host step N`` of each unit with a step started, not finished
    in_flight: tuple[str, ...] = ()
    #: the last line of events.jsonl was cut short (the controller died mid-write): skipped
    torn: bool = False

    @property
    def crashed(self) -> bool:
        """No summary, and the controller that would have written it is gone."""
        return self.status is None and self.controller_alive is False

    @property
    def state(self) -> str:
        """``succeeded``/``failed``/``interrupted``; else ``crashed``, ``running``, or
        ``unfinished`` when it cannot be told whether its controller lives."""
        if self.status is not None:
            return str(self.status)
        if self.controller_alive is None:
            return "unfinished"
        return "running" if self.controller_alive else "crashed"


@dataclass(frozen=True, slots=True)
class OutputFile:
    """Where one step attempt's output lies in a run's journal."""

    step: int
    attempt: int
    log: Path  # stdout and stderr interleaved
    err: Path  # stderr alone; absent when the step wrote nothing to stderr
    #: stdout alone, kept once the step has written to stderr as well (before that, and for a
    #: step that never does, the .log is stdout); a record older than the .out gives stdout
    #: apart only when the step wrote nothing to stderr (see :meth:`separated`)
    out: Path | None = None

    def separated(self) -> Separated | None:
        """Each stream's bytes on its own, or None when this record only has them interleaved
        (the step wrote to both, and no ``.out`` was kept)."""
        err = self.err if self.err.exists() else None
        if self.out is not None and self.out.exists():
            return Separated(self.out, err)
        if err is None:  # nothing went to stderr: the log is stdout, byte for byte
            return Separated(self.log if self.log.exists() else None, None)
        with contextlib.suppress(OSError):
            if self.log.stat().st_size == err.stat().st_size:  # the log holds stderr alone
                return Separated(None, err)
        return None


@dataclass(frozen=True, slots=True)
class Separated:
    """One step attempt's streams apart; None where the stream carried nothing."""

    stdout: Path | None
    stderr: Path | None


@dataclass(frozen=True, slots=True)
class Ending:
    """How a step attempt, or a unit, ended, as its ``step_finished`` or ``unit_finished``
    event recorded it."""

    status: str
    exit_code: int | None = None
    signal: int | None = None
    reason: str | None = None
    error_kind: str | None = None
    duration: float | None = None
    attempts: int | None = None  # a unit's only

    def describe(self) -> str:
        """``failed: exit status 3 in 1.2s``; a kind of failure the reason does not already
        name is added: ``failed: … [auth_failed]``."""
        word = "ended" if self.status == "succeeded" else self.status.replace("_", " ")
        detail = self.reason
        if detail is None and self.exit_code is not None:
            detail = f"exit status {self.exit_code}"
        elif detail is None and self.signal is not None:
            detail = f"killed by signal {self.signal}"
        if detail and detail.startswith(word):  # "skipped: build@web1 failed" says it already
            text = detail
        else:
            text = f"{word}: {detail}" if detail else word
        if self.error_kind and self.error_kind.replace("_", " ") not in text:
            text += f" [{self.error_kind}]"
        if self.attempts is not None and self.attempts > 1:
            text += f" after {self.attempts} attempts"
        if self.duration is not None:
            text += f" in {self.duration:.1f}s"
        return text


@dataclass(slots=True)
class RecordedAttempt:
    """One step attempt as the journal has it, however far it got."""

    step: int
    attempt: int
    command: str | None = None  # as shown: secrets masked
    ending: Ending | None = None  # None: the record stops before it ended
    output: OutputFile | None = None  # None: it printed nothing


@dataclass(slots=True)
class RecordedUnit:
    """One unit as the journal has it: its attempts in order and how it ended."""

    task: str
    host: str
    attempts: list[RecordedAttempt] = field(default_factory=list)
    ending: Ending | None = None


def state_dir() -> Path:
    """The directory that holds ``runs/``."""
    override = os.environ.get(ENV_VAR)
    return Path(override) if override else platformdirs.user_state_path("nexus")


def new_run_id() -> str:
    """``20261124-051217-3fa9c2``: sortable UTC time, and random so concurrent runs never clash."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


class Journal:
    """Writes one run's record; create it before the run, then ``await record(bus.subscribe())``."""

    def __init__(self, run_id: str, state_dir: Path | None = None) -> None:
        if not _RUN_ID.match(run_id):
            raise JournalError(f"invalid run id {run_id!r}")
        runs = _runs_dir(state_dir)
        make_parents(runs.parent.parent)  # e.g. ~/.local/state, when it does not exist yet
        ensure_dir(runs.parent, strict=False)
        ensure_dir(runs)
        self.run_id = run_id
        self.run_dir = runs / run_id
        ensure_dir(self.run_dir, new=True)
        _write_controller(self.run_dir)
        self.errors: list[str] = []
        #: Told once, at the first write that fails, so the run stops starting new work.
        self.on_failure: Callable[[str], None] | None = None
        self._logged = 0  # the seq of the last event taken: in events.jsonl, or output handed over
        self._seen = 0  # the seq up to which every event is written (or its failure known)
        self._progress = asyncio.Event()
        self._durable = 0  # events.jsonl is fsynced up to this seq
        self._wanted = 0  # the highest seq a waiter of durable() needs on disk
        self._want_sync = asyncio.Event()  # wakes the syncer
        self._synced = asyncio.Event()  # wakes the waiters of durable()
        self._ended = False  # the stream has ended: nothing more will be synced
        self._dirs_synced = False
        self._events = -1
        self._events_size = 0
        self.output = OutputFiles(self.run_dir, on_progress=self._advance, on_error=self._failed)

    async def record(self, events: AsyncIterator[Event]) -> None:
        """Consume the stream to its end. A write that fails does not stop the draining (that
        would stall the bus and the run); the failures are raised together at the end."""
        syncer = asyncio.create_task(self._sync_starts())
        try:
            async for event in events:
                if isinstance(event, OutputReceived):
                    self.output.write(event)
                    await self.output.room()
                else:
                    if isinstance(event, StepFinished):  # its end after its last byte
                        await self.output.written_for(event)
                    try:
                        self._take(event)
                    except (OSError, JournalError) as exc:
                        self._failed(exc)
                self._logged = event.seq
                self._advance()
                if self._wanted > self._durable:
                    self._want_sync.set()
        finally:
            self._ended = True
            self._want_sync.set()
            await syncer  # never close the file under an fsync in flight
            try:
                await self.output.close()
            finally:
                self._close()
        if self.errors:
            raise JournalError(f"run {self.run_id}: journal incomplete: {'; '.join(self.errors)}")

    def _advance(self) -> None:
        """Move ``_seen`` on: to the last event taken when all output is written, else to the
        last output written (the events between it and the output still waiting are written,
        but one seq says it all for :meth:`caught_up`, which only needs a bound)."""
        done = self._logged if self.output.idle else self.output.written
        if done > self._seen:
            self._seen = done
            self._progress.set()

    async def caught_up(self, seq: int) -> None:
        """Until every event up to ``seq`` has been taken (written, or its failure known)."""
        while self._seen < seq:
            self._progress.clear()
            await self._progress.wait()

    async def durable(self, seq: int) -> bool:
        """Until every event up to ``seq`` is written and fsynced: True. False as soon as the
        journal has failed (a step waiting to start must then not start: its record may be
        missing), or the stream ended first."""
        if seq > self._wanted:
            self._wanted = seq
            self._want_sync.set()
        while self._durable < seq:
            if self.errors or self._ended:
                return False
            self._synced.clear()
            await self._synced.wait()
        return True

    async def _sync_starts(self) -> None:
        """The group commit: woken when a waiter needs an event on disk, it syncs once the
        record loop has written the newest event waited for (a waiter publishes before it
        waits, so that event is on its way) and everything else that was queued (the loop does
        not yield while events are queued): one fsync covers every start written so far, and
        starts written during that fsync are covered by the next."""
        while True:
            await self._want_sync.wait()
            self._want_sync.clear()
            if (
                self._logged >= self._wanted > self._durable
                and self._events >= 0
                and not self.errors
            ):
                upto = self._logged
                try:
                    await asyncio.to_thread(self._fsync_events)
                except OSError as exc:
                    self._failed(exc)
                else:
                    self._durable = upto
                self._synced.set()
            if self._ended:
                self._synced.set()
                return

    def _fsync_events(self) -> None:
        """fsync events.jsonl; the first time, the directories too, so that the file (and the
        run's directory) are found after a power cut, not only its data."""
        try:
            os.fsync(self._events)
        except OSError as exc:
            exc.filename = exc.filename or str(self.run_dir / "events.jsonl")
            raise
        if not self._dirs_synced:
            fsync_dir(self.run_dir)
            fsync_dir(self.run_dir.parent)
            self._dirs_synced = True

    def _failed(self, exc: OSError | JournalError) -> None:
        if isinstance(exc, OSError):
            message = f"{exc.strerror or exc} (writing in {exc.filename or self.run_dir})"
        else:
            message = str(exc)
        if not self.errors and self.on_failure is not None:
            self.on_failure(f"the journal could not write: {message}")
        if len(self.errors) < _MAX_ERRORS:
            self.errors.append(message)
        self._synced.set()  # a start waiting for its record will not get it

    def _take(self, event: Event) -> None:
        if self._events < 0:
            self._events = create(self.run_dir / "events.jsonl")
        line = (json.dumps(to_json(event)) + "\n").encode()
        try:
            write_all(self._events, line)
        except OSError as exc:
            # no torn line left behind: the lines before it still read, and a later one may
            # still fit once there is room again
            os.ftruncate(self._events, self._events_size)
            exc.filename = exc.filename or str(self.run_dir / "events.jsonl")
            raise
        self._events_size += len(line)
        if isinstance(event, StepFinished):
            self.output.end(event)
        elif isinstance(event, RunFinished):
            os.fsync(self._events)
            fd = create(self.run_dir / "summary.json")
            try:
                write_all(fd, (json.dumps(to_json(event), indent=2) + "\n").encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            fsync_dir(self.run_dir)

    def _close(self) -> None:
        if self._events >= 0:
            os.close(self._events)
            self._events = -1


# ── reading ─────────────────────────────────────────────────────────────────────────────────────


def list_runs(state_dir: Path | None = None) -> list[RunRecord]:
    """Every recorded run, newest first."""
    runs = _runs_dir(state_dir)
    if not runs.is_dir():
        return []
    records = [_run_record(p) for p in runs.iterdir() if p.is_dir() and not p.is_symlink()]
    oldest = datetime.min.replace(tzinfo=UTC)
    return sorted(records, key=lambda r: (r.started or oldest, r.run_id), reverse=True)


def find_run(ref: str, state_dir: Path | None = None) -> Path:
    """The directory of the run named by a full id, a unique prefix of one, or ``last``."""
    records = list_runs(state_dir)
    if ref == "last":
        if not records:
            raise RunNotFoundError("no runs recorded yet")
        return records[0].path
    matches = [r for r in records if r.run_id == ref] or [
        r for r in records if ref and r.run_id.startswith(ref)
    ]
    if not matches:
        raise RunNotFoundError(f"no recorded run matches {ref!r}")
    if len(matches) > 1:
        ids = ", ".join(r.run_id for r in matches[:5])
        raise RunNotFoundError(f"{ref!r} matches {len(matches)} runs ({ids}); give more of the id")
    return matches[0].path


def unit_output(run_dir: Path, task: str, host: str) -> list[OutputFile]:
    """The output files of one unit, in step then attempt order."""
    unit_dir = run_dir / "output" / safe_name(task) / safe_name(host)
    if not unit_dir.is_dir():
        return []
    keys = {(int(m[1]), int(m[2])) for p in unit_dir.iterdir() if (m := _OUTPUT_NAME.match(p.name))}
    return [
        OutputFile(
            step,
            attempt,
            unit_dir / f"{step}-{attempt}.log",
            unit_dir / f"{step}-{attempt}.err",
            unit_dir / f"{step}-{attempt}.out",
        )
        for step, attempt in sorted(keys)
    ]


def recorded_units(
    run_dir: Path, task: str | None = None, host: str | None = None
) -> list[RecordedUnit]:
    """The units of a run (only ``task``'s, only on ``host``, when given) in the order they
    started or settled, each with its step attempts, how each ended, and its output files:
    what ``nexus logs`` prints. Read from the events once, whatever the run's size."""
    units: dict[tuple[str, str], RecordedUnit] = {}
    for event in read_events(run_dir):
        kind, its_task, its_host = event.get("event"), event.get("task"), event.get("host")
        if kind not in ("unit_started", "step_started", "step_finished", "unit_finished"):
            continue
        if not (isinstance(its_task, str) and isinstance(its_host, str)):
            continue
        if task not in (None, its_task) or host not in (None, its_host):
            continue
        unit = units.setdefault((its_task, its_host), RecordedUnit(its_task, its_host))
        if kind == "unit_finished":
            unit.ending = _ending(event, unit=True)
        elif kind != "unit_started" and (attempt := _attempt(unit, event)) is not None:
            if kind == "step_started":
                attempt.command = _text(event.get("command"))
            else:
                attempt.ending = _ending(event)
    for unit in units.values():
        for piece in unit_output(run_dir, unit.task, unit.host):
            found = next(
                (a for a in unit.attempts if (a.step, a.attempt) == (piece.step, piece.attempt)),
                None,
            )
            if found is None:  # output whose events were lost: shown all the same
                found = RecordedAttempt(piece.step, piece.attempt)
                unit.attempts.append(found)
            found.output = piece
        unit.attempts.sort(key=lambda a: (a.step, a.attempt))
    return list(units.values())


def _attempt(unit: RecordedUnit, event: dict[str, Any]) -> RecordedAttempt | None:
    step, number = event.get("step"), event.get("attempt")
    if not (isinstance(step, int) and isinstance(number, int)):
        return None
    for attempt in unit.attempts:
        if (attempt.step, attempt.attempt) == (step, number):
            return attempt
    unit.attempts.append(RecordedAttempt(step, number))
    return unit.attempts[-1]


def _ending(event: dict[str, Any], *, unit: bool = False) -> Ending:
    duration = event.get("duration")
    attempts = event.get("attempts")
    return Ending(
        status=_text(event.get("status")) or "unknown",
        exit_code=_number(event.get("exit_code")),
        signal=_number(event.get("signal")),
        reason=_text(event.get("reason")),
        error_kind=_text(event.get("error_kind")),
        duration=float(duration) if isinstance(duration, int | float) else None,
        attempts=attempts if unit and isinstance(attempts, int) else None,
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_events(run_dir: Path) -> Iterator[dict[str, Any]]:
    """The recorded events as dicts, as ``events.to_json`` made them. A last line cut short by a
    crash has no newline and is skipped, as is any line that is not JSON."""
    try:
        handle = (run_dir / "events.jsonl").open("rb")
    except FileNotFoundError:
        return
    with handle:
        for line in handle:
            if not line.endswith(b"\n"):
                return
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                yield event


def _run_record(path: Path) -> RunRecord:
    first = next(read_events(path), None)
    try:
        started = datetime.fromisoformat(first["time"]) if first else None
    except (KeyError, TypeError, ValueError):
        started = None
    try:
        status = RunStatus(json.loads((path / "summary.json").read_bytes())["status"])
    except (OSError, ValueError, KeyError, TypeError):
        status = None  # unfinished, or the summary was cut short
    if status is not None:
        return RunRecord(path.name, started, status, path, torn=_torn(path))
    return RunRecord(
        path.name,
        started,
        status,
        path,
        controller_alive=controller_alive(path),
        last_written=_last_written(path),
        in_flight=in_flight(path),
        torn=_torn(path),
    )


def in_flight(run_dir: Path) -> tuple[str, ...]:
    """``task@host step N`` (N from 1) of each unit whose record has a step started and no
    step or unit finished after it, in the order they started."""
    running: dict[tuple[str, str], int] = {}
    for event in read_events(run_dir):
        kind, task, host = event.get("event"), event.get("task"), event.get("host")
        if not (isinstance(task, str) and isinstance(host, str)):
            continue
        if kind == "step_started" and isinstance(step := event.get("step"), int):
            running.pop((task, host), None)
            running[(task, host)] = step
        elif kind in ("step_finished", "unit_finished"):
            running.pop((task, host), None)
    return tuple(f"{task}@{host} step {step + 1}" for (task, host), step in running.items())


def controller_alive(run_dir: Path) -> bool | None:
    """Whether the process that ran this run still lives; None when the run does not say
    which process that was (recorded before ``controller.json`` existed, or it is unreadable)."""
    try:
        data = json.loads((run_dir / "controller.json").read_bytes())
    except (OSError, ValueError):
        return None
    pid = data.get("pid") if isinstance(data, dict) else None
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    boot, now = data.get("boot_id"), _boot_id()
    if isinstance(boot, str) and now is not None and boot != now:
        return False  # another boot: whatever has that pid now is not it
    recorded = data.get("start_time")
    return _lives(pid, recorded if isinstance(recorded, int) else None)


def _lives(pid: int, start_time: int | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process has the pid now; its start time tells
    state, ticks = _process_stat(pid)
    if state is None:  # no /proc to ask: the pid answered, that is all there is to know
        return True
    if state in ("Z", "X"):
        return False  # killed, not yet reaped by its parent
    return start_time is None or ticks is None or ticks == start_time


def _write_controller(run_dir: Path) -> None:
    pid = os.getpid()
    record = {"pid": pid, "boot_id": _boot_id(), "start_time": _process_stat(pid)[1]}
    fd = create(run_dir / "controller.json")
    try:
        write_all(fd, (json.dumps(record) + "\n").encode())
    finally:
        os.close(fd)


def write_record(run_dir: Path, name: str, data: bytes) -> None:
    """A file of the run's record beside its events (``plan.json``), written once and synced:
    private, never over an existing file, never through a symlink."""
    fd = create(run_dir / name)
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _process_stat(pid: int) -> tuple[str | None, int | None]:
    """A process's state letter and start time (clock ticks since boot), from /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None, None
    fields = text[text.rfind(")") + 2 :].split()  # after the command name, which may hold ")"
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return (fields[0] if fields else None), None


def _torn(run_dir: Path) -> bool:
    """The last line of events.jsonl has no newline: it was cut short, and readers skip it."""
    try:
        with (run_dir / "events.jsonl").open("rb") as handle:
            if handle.seek(0, os.SEEK_END) == 0:
                return False
            handle.seek(-1, os.SEEK_END)
            return handle.read(1) != b"\n"
    except OSError:
        return False


def _last_written(run_dir: Path) -> datetime | None:
    """When the run's record was last written to: its events, or any output file."""
    times = []
    candidates = [run_dir / "events.jsonl"]
    output = run_dir / "output"
    if output.is_dir():
        candidates += [p for p in output.rglob("*") if not p.is_symlink()]
    for candidate in candidates:
        with contextlib.suppress(OSError):
            times.append(candidate.stat().st_mtime)
    return datetime.fromtimestamp(max(times), UTC) if times else None


# ── files and directories, safely ───────────────────────────────────────────────────────────────


def _runs_dir(base: Path | None) -> Path:
    return (base if base is not None else state_dir()) / "runs"
