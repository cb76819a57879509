"""Everything that happens in a run, as frozen values, and the bus that fans them out.

One vocabulary for every face: the text and JSON renderers, the journal and the dashboard are
all subscribers reading the same stream. Each subscriber has its own bounded queue, so a slow
reader slows the run down (back-pressure) instead of growing memory or dropping output.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import functools
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nexus_engine.status import EXIT_HANGUP, HANGUP, Change, RunStatus, UnitStatus
from nexus_engine.words import Stream


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """What every event carries: its run, its place in the stream (``seq``, gapless) and when."""

    run_id: str
    seq: int
    time: float  # seconds since the epoch, wall clock

    @property
    def name(self) -> str:
        return _snake(type(self).__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(Event):
    """The run is planned and about to start: what it runs, how wide, and where it is recorded."""

    config_path: str
    tasks: tuple[str, ...]
    unit_count: int
    parallel_limit: int
    journal_dir: str | None = None
    warnings: tuple[str, ...] = ()  # said once, before anything runs, and kept in the journal
    checking: bool = False  # --check: the run probes and changes nothing
    resumed_from: str | None = None  # ``--resume``: the run this one carries on


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskStarted(Event):
    """The first unit of a task started."""

    task: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskFinished(Event):
    """Every unit of a task has settled; ``status`` is the worst of them."""

    task: str
    status: UnitStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitStarted(Event):
    """A task began on one host."""

    task: str
    host: str
    first_step: int = 0  # a resumed unit starts again at the step that did not finish


@dataclass(frozen=True, slots=True, kw_only=True)
class StepStarted(Event):
    """An attempt of a step is about to be sent to its host."""

    task: str
    host: str
    step: int
    attempt: int
    command: str  # redacted
    #: false: running it again may do its work twice (a retry asks first); None: not said
    idempotent: bool | None = None
    #: the random token every process of the attempt carries as ``NEXUS_STEP_ID``: recorded
    #: (and on disk, when a journal acknowledges starts) before the command is sent, so the
    #: processes of a run that died can be found and killed. Not shown by any face.
    step_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LeftoversCleared(Event):
    """A resumed run looked on a unit's host for the processes of the steps that were running
    when the run it resumes died, and stopped them: how many it found, how many needed KILL
    after TERM, how many are still there, or why it could not look (``error``)."""

    task: str
    host: str
    found: int
    killed: int
    left: int
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BytesSent(Event):
    """File content on its way to a host: said every few MiB of a transfer, so a face can
    show a large file moving; the step's StepFinished says the total."""

    task: str
    host: str
    step: int
    attempt: int
    sent: int
    total: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OutputReceived(Event):
    """Bytes a step printed, as they came: faces show them, the journal keeps them."""

    task: str
    host: str
    step: int
    attempt: int
    stream: Stream
    data: bytes  # redacted, raw otherwise


@dataclass(frozen=True, slots=True, kw_only=True)
class StepFinished(Event):
    """An attempt of a step ended, however it ended, and what it did to the host."""

    task: str
    host: str
    step: int
    attempt: int
    status: UnitStatus
    exit_code: int | None
    signal: int | None
    duration: float
    reason: str | None = None
    error_kind: str | None = None  # why it could not run or finish: unreachable, auth_failed, …
    #: what the step did to the host: ok (nothing to do), changed (checking: would change),
    #: skipped (not run: check mode, or a ``when`` that did not hold); None when it failed
    change: Change | None = None
    summary: str | None = None  # the change in words: "created /etc/app.conf (312 bytes)"
    diff: str | None = None  # checking with --diff: a unified diff of the content, redacted
    sent: int = 0  # bytes of file content sent to the host
    #: of ``duration``, seconds spent waiting for a handshake slot (``connect_limit``) before
    #: connecting to the host: a crowd of slow hosts, not this host's own handshake
    slot_wait: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitQuiet(Event):
    """A running step has printed nothing for ``silent_for`` seconds: maybe hung, maybe slow.
    Sent once per silence; output ends it, and a later silence is reported again."""

    task: str
    host: str
    step: int
    attempt: int
    silent_for: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryScheduled(Event):
    """A failed step will run again after ``delay`` seconds."""

    task: str
    host: str
    step: int
    attempt: int  # the attempt that will run
    delay: float


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionNeeded(Event):
    """A failed unit waits for the operator: retry, skip or abort."""

    task: str
    host: str
    status: UnitStatus
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitFinished(Event):
    """A unit (a task on one host) settled: how it ended and its recap."""

    task: str
    host: str
    status: UnitStatus
    attempts: int
    exit_code: int | None
    duration: float | None
    reason: str | None = None
    error_kind: str | None = None
    ok_steps: int = 0  # the recap: steps that found nothing to do
    changed_steps: int = 0  # steps that changed something (checking: would)
    skipped_steps: int = 0  # steps not run: check mode, or a ``when`` that did not hold
    reused: bool = False  # succeeded in the run this one resumes: not run again


@dataclass(frozen=True, slots=True)
class UnitSummary:
    """How one unit ended, as the run's summary keeps it."""

    status: UnitStatus
    exit_code: int | None
    attempts: int
    duration: float | None
    reason: str | None = None
    error_kind: str | None = None
    ok_steps: int = 0  # the recap: steps that found nothing to do
    changed_steps: int = 0  # steps that changed something (checking: would)
    skipped_steps: int = 0  # steps not run: check mode, or a ``when`` that did not hold
    reused: bool = False  # succeeded in the run this one resumes: not run again


@dataclass(frozen=True, slots=True)
class TaskSummary:
    """How one task ended, and each of its hosts."""

    status: UnitStatus
    hosts: dict[str, UnitSummary]


@dataclass(frozen=True, slots=True)
class Recap:
    """The recap operators know from Ansible: steps ok, changed and skipped; units failed."""

    ok: int
    changed: int
    skipped: int
    failed: int

    def __str__(self) -> str:
        skipped = f", {self.skipped} skipped" if self.skipped else ""
        return f"{self.ok} ok, {self.changed} changed{skipped}, {self.failed} failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFinished(Event):
    """The run ended: its status and every unit, the summary faces print and the journal keeps."""

    status: RunStatus
    started: float
    tasks: dict[str, TaskSummary] = field(default_factory=dict)
    #: Why the run failed beyond its units: its record (the journal) is incomplete.
    error: str | None = None
    #: The signal that stopped the run (``SIGINT``, ``SIGTERM``, ``SIGHUP``), if one did.
    stopped_by: str | None = None
    resumed_from: str | None = None  # ``--resume``: the run this one carries on

    def recap(self) -> Recap:
        """Steps ok, changed and skipped, and units failed, over the whole run."""
        units = [unit for task in self.tasks.values() for unit in task.hosts.values()]
        return Recap(
            ok=sum(unit.ok_steps for unit in units),
            changed=sum(unit.changed_steps for unit in units),
            skipped=sum(unit.skipped_steps for unit in units),
            failed=sum(1 for unit in units if unit.status.failure),
        )

    @property
    def exit_code(self) -> int:
        if self.status is RunStatus.INTERRUPTED and self.stopped_by == HANGUP:
            return EXIT_HANGUP
        return self.status.exit_code


@functools.cache
def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def iso_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


def to_json(event: Event) -> dict[str, Any]:
    """A JSON-ready dict: ``event`` and ``time`` first; bytes as text when they are UTF-8,
    else base64 (``data_b64``) so nothing is lost or mangled."""
    out: dict[str, Any] = {"event": event.name, "time": iso_time(event.time)}
    for name in _field_names(type(event)):
        value = getattr(event, name)
        if isinstance(value, bytes):
            try:
                out["text"] = value.decode("utf-8")
            except UnicodeDecodeError:
                out["data_b64"] = base64.b64encode(value).decode("ascii")
        elif name == "started":
            out[name] = iso_time(value)
        else:
            out[name] = _jsonable(value)
    return out


def _field_names(kind: type[Event]) -> tuple[str, ...]:
    """An event class's fields but ``time`` (written first), found once per class: the journal
    encodes every event of the run, so this is on every step's path."""
    names = _FIELDS.get(kind)
    if names is None:
        names = _FIELDS[kind] = tuple(f.name for f in dataclasses.fields(kind) if f.name != "time")
    return names


_FIELDS: dict[type[Event], tuple[str, ...]] = {}


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float):  # most fields: as they are
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


class EventBus:
    """Fan-out of events to subscribers, each with its own bounded mailbox.

    ``publish`` waits while any subscriber's mailbox is full: output is never dropped, and a
    slow subscriber throttles the commands' output instead of filling memory. A mailbox is full
    at ``maxsize`` events or at ``max_bytes`` of output, whichever comes first: a count alone
    lets a subscriber lagging behind 64 KiB chunks hold tens of megabytes.
    """

    def __init__(self, maxsize: int = 1024, max_bytes: int = 8 * 1024 * 1024) -> None:
        self._maxsize = maxsize
        self._max_bytes = max_bytes
        self._mailboxes: list[_Mailbox] = []
        self._closed = False

    def subscribe(self) -> AsyncIterator[Event]:
        if self._closed:
            raise RuntimeError("the run has finished; subscribe before it starts")
        mailbox = _Mailbox(self._maxsize, self._max_bytes)
        self._mailboxes.append(mailbox)
        return mailbox.drain()

    async def publish(self, event: Event) -> None:
        for mailbox in self._mailboxes:
            await mailbox.put(event)

    async def close(self) -> None:
        """Tell every subscriber the stream has ended; they finish what is queued first."""
        self._closed = True
        for mailbox in self._mailboxes:
            await mailbox.put(None)


class _Mailbox:
    def __init__(self, maxsize: int, max_bytes: int) -> None:
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)
        self._max_bytes = max_bytes
        self._bytes = 0
        self._room = asyncio.Event()

    async def put(self, event: Event | None) -> None:
        size = _output_size(event)
        while size and self._bytes and self._bytes + size > self._max_bytes:  # one always fits
            self._room.clear()
            await self._room.wait()
        self._bytes += size
        await self._queue.put(event)

    async def drain(self) -> AsyncIterator[Event]:
        while (event := await self._queue.get()) is not None:
            self._bytes -= _output_size(event)
            self._room.set()
            yield event


def _output_size(event: Event | None) -> int:
    return len(event.data) if isinstance(event, OutputReceived) else 0
