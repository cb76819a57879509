"""Machine-readable faces: one summary document at the end, or every event as it happens."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, TextIO

from nexus_engine import events as ev


def summary_document(event: ev.RunFinished) -> dict[str, Any]:
    """The contract scripts read: status, run id, times and per task and host the outcome."""
    return {
        "status": event.status.value,
        "exit_code": event.exit_code,
        "run_id": event.run_id,
        "started": ev.iso_time(event.started),
        "finished": ev.iso_time(event.time),
        "error": event.error,
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
                    }
                    for host, unit in task.hosts.items()
                },
            }
            for name, task in event.tasks.items()
        },
    }


async def write_summary(events: AsyncIterator[ev.Event], out: TextIO) -> None:
    async for event in events:
        if isinstance(event, ev.RunFinished):
            json.dump(summary_document(event), out, indent=2)
            out.write("\n")
            out.flush()


async def write_lines(events: AsyncIterator[ev.Event], out: TextIO) -> None:
    async for event in events:
        out.write(json.dumps(ev.to_json(event), separators=(",", ":")))
        out.write("\n")
        out.flush()
