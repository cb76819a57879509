"""Machine-readable faces: one summary document at the end, or every event as it happens."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, TextIO

from nexus_engine import events as ev
from nexus_engine.fold import Collector, Group, Rules
from nexus_engine.words import Stream


def summary_document(event: ev.RunFinished, folded: Collector | None = None) -> dict[str, Any]:
    """The contract scripts read: status, run id, times and per task and host the outcome;
    given the run's output ``folded``, per task its ``groups`` of hosts that printed the same."""
    document: dict[str, Any] = {
        "status": event.status.value,
        "exit_code": event.exit_code,
        "run_id": event.run_id,
        "started": ev.iso_time(event.started),
        "finished": ev.iso_time(event.time),
        "error": event.error,
        "resumed_from": event.resumed_from,
        "recap": dataclasses.asdict(event.recap()),
        "tasks": {
            name: {
                "status": task.status.value,
                "hosts": {
                    host: {
                        "status": unit.status.value,
                        "exit_code": unit.exit_code,
                        "attempts": unit.attempts,
                        "duration": None if unit.duration is None else round(unit.duration, 3),
                        "reason": unit.reason,
                        "error": unit.error_kind,
                        "ok": unit.ok_steps,
                        "changed": unit.changed_steps,
                        "skipped": unit.skipped_steps,
                        "reused": unit.reused,
                    }
                    for host, unit in task.hosts.items()
                },
            }
            for name, task in event.tasks.items()
        },
    }
    if folded is not None:
        for name, task in event.tasks.items():
            groups = folded.groups(name, list(task.hosts))
            document["tasks"][name]["groups"] = [group_document(group) for group in groups]
    return document


def group_document(group: Group) -> dict[str, Any]:
    """Hosts that printed the same and ended alike (``error``: the kind of error, as each
    host's ``error`` says): their output normalised (``{host}``, ``{address}``, ``{time}``,
    ``{ignored}``) per stream, and a unified diff against the task's first (largest) group:
    null for that group, empty when only the ending differs. An incomplete group printed more
    than was kept: no output, compared with no other."""
    return {
        "hosts": list(group.hosts),
        "hosts_folded": group.folded,
        "status": group.status.value,
        "exit_code": group.exit_code,
        "error": group.error,
        "complete": group.complete,
        "stdout": group.text(Stream.STDOUT) if group.complete else None,
        "stderr": group.text(Stream.STDERR) if group.complete else None,
        "diff": group.diff,
    }


async def write_summary(
    events: AsyncIterator[ev.Event], out: TextIO, folding: Rules | None = None
) -> None:
    """The summary document once the run has finished, with its output folded per task;
    ``folding``: what folding normalises beyond timestamps."""
    folded = Collector(folding)
    async for event in events:
        folded.take(event)
        if isinstance(event, ev.RunFinished):
            json.dump(summary_document(event, folded), out, indent=2)
            out.write("\n")
            out.flush()


async def write_lines(events: AsyncIterator[ev.Event], out: TextIO) -> None:
    """Every event as one compact JSON line. An ``output_received`` event carries whole lines:
    its data ends with a newline, the rest of a chunk waiting (per task, host, step, attempt
    and stream) for the chunk that ends its line; a step's last line without a newline comes
    just before the step's ``step_finished``, and a line longer than ``MAX_PENDING`` in
    pieces. An event that carries lines has the ``seq`` and time of the chunk that ended the
    last of them."""
    lines = _Lines()
    async for event in events:
        for shown in lines.take(event):
            out.write(json.dumps(ev.to_json(shown), separators=(",", ":")))
            out.write("\n")
        out.flush()


#: A partial line longer than this is sent anyway, so a 20 MB line never sits in memory.
MAX_PENDING = 64 * 1024

_Key = tuple[str, str, int, int, Stream]


class _Lines:
    """Cuts output events at line ends: what a line-oriented consumer can take as it is."""

    def __init__(self) -> None:
        self._pending: dict[_Key, ev.OutputReceived] = {}

    def take(self, event: ev.Event) -> list[ev.Event]:
        match event:
            case ev.OutputReceived():
                return self._output(event)
            case ev.StepFinished():
                step = (event.task, event.host, event.step, event.attempt)
                return [*self._flush(lambda key: key[:4] == step), event]
            case ev.RunFinished():
                return [*self._flush(lambda _: True), event]
        return [event]

    def _output(self, event: ev.OutputReceived) -> list[ev.Event]:
        key = (event.task, event.host, event.step, event.attempt, event.stream)
        held = self._pending.pop(key, None)
        data = held.data + event.data if held else event.data
        cut = data.rfind(b"\n") + 1
        if len(data) - cut > MAX_PENDING:  # a huge line goes in pieces, never held whole
            cut = len(data)
        if cut < len(data):
            self._pending[key] = dataclasses.replace(event, data=data[cut:])
        return [dataclasses.replace(event, data=data[:cut])] if cut else []

    def _flush(self, which: Callable[[_Key], bool]) -> list[ev.Event]:
        keys = [key for key in self._pending if which(key)]
        return sorted((self._pending.pop(key) for key in keys), key=lambda held: held.seq)
