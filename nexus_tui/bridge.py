"""Engine events in, Textual messages out: the only place the two meet.

Events update the model at once; what they changed is posted on ``flush`` (a timer, ~50 ms):
each changed row once, with its latest state, and all complete lines of output as one batch.
A hundred hosts printing at full speed cost the screen twenty updates a second, not a hundred
thousand, and a burst of status changes to the same row reaches the screen as one. Only the
hosts on screen have their output decoded as it comes; every host keeps its last bytes
(bounded) to decode when it is selected. The journal keeps everything.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable

from textual.message import Message

from nexus_engine import events as ev
from nexus_engine.plan import UnitKey
from nexus_engine.render.terminal import printable
from nexus_engine.status import Change
from nexus_engine.words import Stream
from nexus_tui import messages as msg
from nexus_tui.model import RunModel

#: Lines a log pane keeps (``Log.max_lines``); older lines are in the journal.
HISTORY = 5_000
#: Bytes of output kept per host for when it is selected: the last few thousand lines.
HISTORY_BYTES = 256 * 1024
#: A partial line longer than this is shown anyway, so a 20 MB line never sits in memory.
MAX_PENDING = 64 * 1024
#: Marks a line that came on stderr; the log widget colours such lines.
STDERR_MARK = "▌"
#: Mark the line that says what a step did to its host; the log widget colours them.
OUTCOME_MARKS = {Change.OK: "✓", Change.CHANGED: "±", Change.SKIPPED: "·"}
#: Marks the lines of a diff (``--check --diff``).
DIFF_MARK = "│ "
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class Bridge:
    def __init__(
        self,
        model: RunModel,
        post: Callable[[Message], object],
        also: Callable[[ev.Event], object] | None = None,
    ) -> None:
        """``also`` is given every event too (the grouped view's folding)."""
        self.model = model
        self._post = post
        self._also = also
        self._pending: dict[tuple[UnitKey, Stream], bytearray] = {}
        self._ready: dict[UnitKey, list[str]] = {}
        #: Per host: (whether on stderr, bytes). A flag, not the ``Stream``: a tuple of plain
        #: values is left out of the garbage collector's passes, and a fleet makes thousands
        #: of these a second.
        self._history: dict[UnitKey, deque[tuple[bool, bytes]]] = {}
        self._history_bytes: dict[UnitKey, int] = {}
        #: Hosts whose logs are on screen: only their output is decoded as it comes.
        self.visible: set[UnitKey] = set()
        self._tasks: set[str] = set()
        self._hosts: set[UnitKey] = set()
        self._totals = False
        self._decisions: list[UnitKey] = []

    def accept(self, event: ev.Event) -> None:
        """Fold one event in; what it changed is posted at the next flush."""
        if isinstance(event, ev.OutputReceived):
            self._buffer(event)
        elif isinstance(event, ev.StepFinished):
            key = UnitKey(event.task, event.host)
            self._end_lines(key)  # a step's last line is its own
            self._outcome(key, event)
        changed = self.model.apply(event)
        if self._also is not None:
            self._also(event)
        self._tasks.update(changed.tasks)
        self._hosts.update(changed.hosts)
        self._totals = self._totals or changed.run
        if isinstance(event, ev.DecisionNeeded):
            self._decisions.append(UnitKey(event.task, event.host))

    def lines(self, key: UnitKey) -> list[str]:
        """The host's recent output as lines, decoded now: what a pane shows when it
        switches to this host."""
        lines: list[str] = []
        for stderr, data in self._history.get(key, ()):
            lines += _text_lines(data, Stream.STDERR if stderr else Stream.STDOUT)
        return lines[-HISTORY:]

    def flush(self) -> None:
        """Post what changed since the last flush: each changed row once (its latest state),
        the totals once, every complete line of output as one batch, then the decisions."""
        for name in self._tasks:
            self._post(msg.TaskChanged(self.model.tasks[name]))
        for key in self._hosts:
            self._post(msg.HostChanged(self.model.hosts[key]))
        if self._totals:
            self._post(msg.TotalsChanged(self.model.totals))
        self._tasks, self._hosts, self._totals = set(), set(), False
        self._flush_output()
        for key in self._decisions:
            self._post(msg.DecisionWaiting(key))
        self._decisions = []

    def _flush_output(self) -> None:
        self._collect()
        if self._ready:
            ready, self._ready = self._ready, {}
            self._post(msg.OutputBatch(ready))

    def _collect(self, only: UnitKey | None = None) -> None:
        """Move complete lines (and overlong partial ones) from the byte buffers to ``_ready``:
        every host's, or ``only`` one's (its buffers looked up, not searched for among a
        fleet's: a step's end does this)."""
        buffers: Iterable[tuple[tuple[UnitKey, Stream], bytearray]] = self._pending.items()
        if only is not None:
            keys = [(only, stream) for stream in Stream]
            buffers = [(key, self._pending[key]) for key in keys if key in self._pending]
        for (key, stream), data in buffers:
            end = data.rfind(b"\n")
            if end >= 0:
                self._emit(key, stream, bytes(data[:end]))
                del data[: end + 1]
            if len(data) > MAX_PENDING:  # a partial line too long to wait for its end
                self._emit(key, stream, bytes(data))
                data.clear()

    # -- output --

    def _buffer(self, event: ev.OutputReceived) -> None:
        key = (UnitKey(event.task, event.host), event.stream)
        pending = self._pending.get(key)
        if pending is None:
            self._pending[key] = bytearray(event.data)
        else:
            pending += event.data

    def _end_lines(self, key: UnitKey) -> None:
        self._collect(key)
        for stream in Stream:
            rest = self._pending.pop((key, stream), None)
            if rest:
                self._emit(key, stream, bytes(rest))

    def _outcome(self, key: UnitKey, event: ev.StepFinished) -> None:
        """What a step did, as a line of the host's log (``✓ ok: …``, ``± updated …``), and
        a check's diff under it: the log tells the whole story of the host."""
        if event.summary is None or event.change is None:
            return
        lines = [f"{OUTCOME_MARKS[event.change]} {event.summary}"]
        if event.diff:
            lines += [DIFF_MARK + line for line in event.diff.splitlines()]
        self._emit(key, Stream.STDOUT, "\n".join(lines).encode())

    def show(self, keys: Iterable[UnitKey]) -> None:
        """These hosts' logs are on screen now (each pane has just loaded its history)."""
        shown = set(keys)
        for key in shown - self.visible:
            self._ready.pop(key, None)  # already part of the history the pane loaded
        self.visible = shown

    def _emit(self, key: UnitKey, stream: Stream, data: bytes) -> None:
        history = self._history.get(key)
        if history is None:
            history = self._history[key] = deque()
            self._history_bytes[key] = 0
        kept = _tail(data, HISTORY_BYTES)
        history.append((stream is Stream.STDERR, kept))
        size = self._history_bytes[key] + len(kept)
        while size > HISTORY_BYTES and len(history) > 1:
            size -= len(history.popleft()[1])
        self._history_bytes[key] = size
        if key in self.visible:
            ready = self._ready.setdefault(key, [])
            ready += _text_lines(_tail(data, 4 * HISTORY_BYTES), stream)
            if len(ready) > HISTORY:
                del ready[:-HISTORY]


def _tail(data: bytes, size: int) -> bytes:
    """The last whole lines of ``data`` that fit in about ``size`` bytes."""
    if len(data) <= size:
        return data
    tail = data[-size:]
    start = tail.find(b"\n")
    return tail[start + 1 :] if start >= 0 else tail


def _text_lines(data: bytes, stream: Stream) -> list[str]:
    """Bytes to lines of plain text: invalid UTF-8 replaced, escape sequences and control
    characters removed line by line (a line needs the check only if it holds any), and stderr
    lines marked."""
    text = data.decode("utf-8", errors="replace")
    lines = text.split("\n")
    if _UNPRINTABLE.search(text) is not None:
        lines = [printable(line) for line in lines]
    if stream is Stream.STDERR:
        lines = [STDERR_MARK + line for line in lines]
    return lines
