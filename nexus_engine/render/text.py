"""The run as lines of text: every output line prefixed with its task and host, a live progress
line on a terminal, and at the end each task's output folded (hosts that printed the same said
once, the others as a diff) and a summary table."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import TextIO

from nexus_engine import events as ev
from nexus_engine import hostrange
from nexus_engine.fold import Collector, Group, Rules
from nexus_engine.render.terminal import COLOURS, paint, printable, status_text, table
from nexus_engine.status import Change, UnitStatus
from nexus_engine.words import Stream, duration_text, size_text

#: A partial line longer than this is printed anyway, so a 20 MB line never sits in memory.
MAX_PENDING = 64 * 1024
PROGRESS_INTERVAL = 0.1


class TextRenderer:
    def __init__(
        self,
        out: TextIO,
        err: TextIO,
        *,
        colour: bool = False,
        progress: bool = False,
        verbosity: int = 0,
        folding: Rules | None = None,
    ) -> None:
        """``folding``: what output folding normalises beyond timestamps (``fold_ignore``,
        the hosts' addresses). Output is folded unless ``verbosity`` is below 0 (quiet)."""
        self._out = out
        self._err = err
        self._colour = colour
        self._progress = progress
        self._verbosity = verbosity
        self._pending: dict[tuple[str, str, Stream], bytes] = {}
        self._prefixes: dict[tuple[str, str, str, str | None], str] = {}
        self._total = 0
        self._done = 0
        self._running: set[tuple[str, str]] = set()  # units with a step executing now
        self._failed = 0
        self._started = time.monotonic()
        self._progress_shown = False
        self._progress_drawn_at = 0.0
        self._asking = False
        self._folding = Collector(folding) if verbosity >= 0 else None

    async def consume(self, events: AsyncIterator[ev.Event]) -> None:
        ticker = asyncio.create_task(self._tick()) if self._progress else None
        try:
            async for event in events:
                self.handle(event)
        finally:
            if ticker:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker

    def handle(self, event: ev.Event) -> None:
        loud = self._verbosity >= 0
        if self._folding is not None:
            self._folding.take(event)
        match event:
            case ev.RunStarted():
                self._run_started(event, loud)
            case ev.StepStarted():
                self._running.add((event.task, event.host))
                if loud:
                    self._line(event.task, event.host, "$", event.command, "1")
            case ev.OutputReceived() if loud:
                self._output(event)
            case ev.StepFinished():
                self._step_finished(event, loud)
            case ev.RetryScheduled() if loud:
                self._flush(event.task, event.host)
                step, delay, attempt = event.step + 1, event.delay, event.attempt
                text = f"retrying step {step} in {delay:.1f}s (attempt {attempt})"
                self._line(event.task, event.host, "↻", text, "33")
            case ev.BytesSent() if self._verbosity > 0:
                text = f"sent {size_text(event.sent)} of {size_text(event.total)}"
                self._line(event.task, event.host, "·", text, "2")
            case ev.UnitFinished():
                self._unit_finished(event)
            case ev.UnitQuiet() if loud:
                text = f"quiet for {duration_text(event.silent_for)} (step {event.step + 1})"
                self._line(event.task, event.host, "…", text, "33")
            case ev.DecisionNeeded():
                self._line(event.task, event.host, "?", "waiting for a decision", "33")
            case ev.RunFinished():
                self._finish(event)
        self._draw_progress()

    # -- pieces --

    def _run_started(self, event: ev.RunStarted, loud: bool) -> None:
        self._total = event.unit_count
        self._started = time.monotonic()
        for warning in event.warnings:  # said even with --quiet: it is about safety
            self._say(f"nexus: warning: {warning}")
        if loud:
            tasks = ", ".join(event.tasks)
            self._say(f"nexus: run {event.run_id}: {event.unit_count} units ({tasks})")
            if event.resumed_from:
                self._say(f"nexus: resuming run {event.resumed_from}")
        if event.checking:  # said even with --quiet: nothing this run says was done
            self._say("nexus: check mode: hosts are probed, nothing is changed, no cmd step runs")

    def _step_finished(self, event: ev.StepFinished, loud: bool) -> None:
        """What the step did (ok, changed, skipped) and its diff; with ``-v`` how it ended."""
        self._running.discard((event.task, event.host))
        self._flush(event.task, event.host)  # a step's last partial line is its own
        if loud and event.summary and event.change is not None:
            mark, code = _CHANGE_MARKS[event.change]
            self._line(event.task, event.host, mark, event.summary, code)
        if loud and event.diff:
            self._diff(event.task, event.host, event.diff)
        if self._verbosity > 0:
            detail = event.reason or f"exit status {event.exit_code}"
            if event.sent:
                detail += f", {size_text(event.sent)} sent"
            self._line(event.task, event.host, "·", f"step {event.step + 1}: {detail}", "2")

    def _unit_finished(self, event: ev.UnitFinished) -> None:
        self._done += 1
        if event.status.failure:
            self._failed += 1
        self._flush(event.task, event.host)
        shown = self._verbosity >= 0 or event.status is not UnitStatus.SUCCEEDED
        if not shown or (event.status is UnitStatus.NOT_RUN and self._verbosity < 1):
            return
        text = f"{event.status.value} in {duration_text(event.duration)}"
        if event.reason and event.status is not UnitStatus.SUCCEEDED:
            text += f": {event.reason}"
        elif event.reused and event.reason:
            text = event.reason  # "reused: it succeeded in run …"
        glyph = status_text(event.status, False).split()[0]
        self._line(event.task, event.host, glyph, text, COLOURS[event.status])

    def _output(self, event: ev.OutputReceived) -> None:
        """Whole lines are printed as one block per chunk, decoded and cleaned once: output
        of many short lines must not cost a Python round trip per line, since a slow face
        slows the command itself through back-pressure."""
        key = (event.task, event.host, event.stream)
        data = self._pending.pop(key, b"") + event.data
        cut = data.rfind(b"\n")
        complete, rest = (b"", data) if cut < 0 else (data[:cut], data[cut + 1 :])
        if len(rest) > MAX_PENDING:  # a huge line is printed in pieces, never held whole
            complete, rest = (complete + b"\n" + rest if cut >= 0 else rest), b""
        elif cut < 0:
            self._pending[key] = rest
            return
        if rest:
            self._pending[key] = rest
        marker = "!" if event.stream is Stream.STDERR else "|"
        self._block(event.task, event.host, marker, _decode(complete))

    def _flush(self, task: str, host: str) -> None:
        for stream in Stream:
            rest = self._pending.pop((task, host, stream), b"")
            if rest:
                marker = "!" if stream is Stream.STDERR else "|"
                self._block(task, host, marker, _decode(rest))

    def _finish(self, event: ev.RunFinished) -> None:
        for task, host, _stream in list(self._pending):
            self._flush(task, host)
        self._clear_progress()
        self._progress = False
        if self._folding is not None:
            for task, summary in event.tasks.items():
                self._folded(self._folding, task, summary)
        rows, bare = [["TASK", "HOST", "STATUS", "EXIT", "TRIES", "OK", "CHANGED", "TIME"]], []
        bare.append(list(rows[0]))
        for task, summary in event.tasks.items():
            for hosts, unit, longest in _alike(summary):
                exit_code = "-" if unit.exit_code is None else str(unit.exit_code)
                time_cell = duration_text(longest)
                cells = [
                    task,
                    hostrange.text(hosts),
                    "",
                    exit_code,
                    str(unit.attempts),
                    str(unit.ok_steps),
                    str(unit.changed_steps),
                    time_cell if len(hosts) == 1 else f"≤ {time_cell}",
                ]
                status = [
                    status_text(unit.status, colour, reused=unit.reused)
                    for colour in (False, self._colour)
                ]
                bare.append([*cells[:2], status[0], *cells[3:]])
                rows.append([*cells[:2], status[1], *cells[3:]])
        self._write("")
        for line in table(rows, bare):
            self._write(line)
        self._write(f"steps: {event.recap()}")
        for task, summary in event.tasks.items():
            if summary.status is UnitStatus.PARTIAL:
                self._write(self._partial(task, summary))
        elapsed = duration_text(event.time - event.started)
        verdict = paint(event.status.value, "32" if event.exit_code == 0 else "31", self._colour)
        self._write(f"\nrun {event.run_id} {verdict} in {elapsed} (exit {event.exit_code})")
        if event.error:
            self._write(paint(f"run failed: {event.error}", "31", self._colour))

    def _diff(self, task: str, host: str, diff: str) -> None:
        for line in diff.splitlines():
            code = "32" if line.startswith("+") else "31" if line.startswith("-") else None
            self._line(task, host, " ", line, code)

    def _partial(self, task: str, summary: ev.TaskSummary) -> str:
        """A task whose failures stayed within its ``max_failures``: said once, under the
        table, since its hosts' rows alone read as a failed task."""
        failed = [host for host, unit in summary.hosts.items() if unit.status.failure]
        hosts = len(summary.hosts)
        status = status_text(UnitStatus.PARTIAL, self._colour)
        named = f" ({hostrange.text(failed)})" if failed else ""
        return (
            f"task {task} {status}: {len(failed)} of {_hosts(hosts)} failed{named},"
            " within its max_failures, so its dependents could go on"
        )

    def _folded(self, folding: Collector, task: str, summary: ev.TaskSummary) -> None:
        """A task's output with its hosts folded: each group of hosts that printed the same
        and ended alike once, the largest with its lines, every other as a diff against it.
        Only for a task of more than one host, and not when they all printed nothing."""
        if len(summary.hosts) < 2:
            return
        groups = folding.groups(task, list(summary.hosts))
        if not groups or (len(groups) == 1 and groups[0].complete and not any(groups[0].keys)):
            return
        alike = "all alike" if len(groups) == 1 else f"{len(groups)} groups"
        self._write("")
        self._write(
            paint(f"output of {task}: {_hosts(len(summary.hosts))}, {alike}", "1", self._colour)
        )
        reference = next((group.folded for group in groups if group.diff is None), "")
        for group in groups:
            self._group(group, reference, folding.limit)

    def _group(self, group: Group, reference: str, limit: int) -> None:
        head = f"  {group.folded} ({_hosts(len(group.hosts))}) {group.ending}"
        if not group.complete:
            self._write(f"{head}: more than {size_text(limit)} of output, compared with no other")
            return
        if group.diff is None:
            lines = group.lines()
            self._write(head + (":" if lines else ": no output"))
            for line in lines:
                self._write("    " + printable(line))
            return
        body = group.diff.split("\n")[2:]  # past the ---/+++ lines: the hosts said above
        if not body:
            self._write(f"{head}: the same output as {reference}")
            return
        self._write(f"{head}, differs from {reference}:")
        for line in body:
            self._write("    " + paint(printable(line), _DIFF_COLOURS.get(line[:1]), self._colour))

    def _line(self, task: str, host: str, marker: str, text: str, code: str | None) -> None:
        """Every line gets its prefix, also each line of a multi-line command."""
        self._block(task, host, marker, printable(text), code)

    def _block(self, task: str, host: str, marker: str, text: str, code: str | None = None) -> None:
        """``text`` (already printable) as lines, each with the ``task@host marker`` prefix."""
        prefix = self._prefixes.get((task, host, marker, code))
        if prefix is None:
            painted = (
                f"{paint(f'{task}@{host}', '1', self._colour)} {paint(marker, code, self._colour)}"
            )
            prefix = self._prefixes[(task, host, marker, code)] = painted + " "
        self._write(prefix + text.replace("\n", "\n" + prefix))

    def _say(self, text: str) -> None:
        self._clear_progress()
        print(text, file=self._err, flush=True)

    def _write(self, text: str) -> None:
        self._clear_progress()
        print(text, file=self._out)

    # -- progress line --

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(1)
            self._draw_progress(force=True)

    def question(self, open_: bool) -> None:
        """A question to the operator opens (``True``) or closes on the terminal: the progress
        line is cleared and not drawn while it is open, so the question keeps its line."""
        self._asking = open_
        if open_:
            self._clear_progress()

    def _draw_progress(self, force: bool = False) -> None:
        if not self._progress or self._asking:
            return
        now = time.monotonic()
        if not force and now - self._progress_drawn_at < PROGRESS_INTERVAL:
            return
        self._out.flush()
        self._progress_drawn_at = now
        failed = paint(f"failed {self._failed}", "31" if self._failed else None, self._colour)
        line = (
            f"[{self._done}/{self._total}] running {len(self._running)} · {failed} · "
            f"{duration_text(now - self._started)}"
        )
        self._err.write(f"\r\x1b[K{line}")
        self._err.flush()
        self._progress_shown = True

    def _clear_progress(self) -> None:
        if self._progress_shown:
            self._err.write("\r\x1b[K")
            self._err.flush()
            self._progress_shown = False


#: How a step's change is marked: ok, changed (checking: would change), skipped.
_CHANGE_MARKS = {
    Change.OK: ("=", "32"),
    Change.CHANGED: ("~", "33"),
    Change.SKIPPED: ("-", "2"),
}


#: Lines of a diff between groups of hosts: added, removed, where a hunk starts.
_DIFF_COLOURS = {"+": "32", "-": "31", "@": "36"}


def _alike(summary: ev.TaskSummary) -> list[tuple[list[str], ev.UnitSummary, float | None]]:
    """A task's hosts that ended alike (status, exit, tries, steps ok and changed), one row
    each, in the order their first host came, with the longest time among them: 1,000 hosts
    that all succeeded are one line, ``web[001-980]``, and each host that did not stands out."""
    groups: dict[tuple[object, ...], tuple[list[str], ev.UnitSummary, float | None]] = {}
    for host, unit in summary.hosts.items():
        key: tuple[object, ...] = (unit.status, unit.reused, unit.exit_code, unit.attempts)
        key += (unit.ok_steps, unit.changed_steps)
        hosts, first, longest = groups.get(key, ([], unit, None))
        hosts.append(host)
        if unit.duration is not None and (longest is None or unit.duration > longest):
            longest = unit.duration
        groups[key] = (hosts, first, longest)
    return list(groups.values())


def _hosts(count: int) -> str:
    return f"{count} host{'s' if count != 1 else ''}"


def _decode(data: bytes) -> str:
    return printable(data.decode("utf-8", errors="replace"))
