"""Scripted event streams for the renderer tests: events built by hand, numbered in order."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from nexus_engine import events as ev
from nexus_engine.status import RunStatus, UnitStatus
from nexus_engine.words import Stream

T0 = 1_763_961_137.0  # 2025-11-24T05:12:17Z


class Script:
    """Makes events with increasing ``seq`` and a clock that advances one second per event."""

    def __init__(self, run_id: str = "r1") -> None:
        self.run_id = run_id
        self.seq = 0

    def __call__(self, kind: type[ev.Event], **fields: Any) -> Any:
        self.seq += 1
        return kind(run_id=self.run_id, seq=self.seq, time=T0 + self.seq, **fields)

    def run_started(self, *tasks: str, units: int) -> ev.RunStarted:
        return self(
            ev.RunStarted, config_path="nexus.toml", tasks=tasks, unit_count=units, parallel_limit=4
        )

    def unit_started(self, unit: str) -> ev.UnitStarted:
        return self(ev.UnitStarted, **where(unit))

    def step_started(self, unit: str, command: str, step: int = 0) -> ev.StepStarted:
        return self(ev.StepStarted, **where(unit), step=step, attempt=1, command=command)

    def out(
        self, unit: str, data: bytes, stream: Stream = Stream.STDOUT, step: int = 0
    ) -> ev.OutputReceived:
        return self(
            ev.OutputReceived, **where(unit), step=step, attempt=1, stream=stream, data=data
        )

    def step_finished(
        self,
        unit: str,
        status: UnitStatus = UnitStatus.SUCCEEDED,
        exit_code: int | None = 0,
        step: int = 0,
        reason: str | None = None,
    ) -> ev.StepFinished:
        return self(
            ev.StepFinished,
            **where(unit),
            step=step,
            attempt=1,
            status=status,
            exit_code=exit_code,
            signal=None,
            duration=0.25,
            reason=reason,
        )

    def unit_finished(
        self,
        unit: str,
        status: UnitStatus = UnitStatus.SUCCEEDED,
        exit_code: int | None = 0,
        duration: float | None = 1.5,
        reason: str | None = None,
        *,
        attempts: int = 1,
    ) -> ev.UnitFinished:
        return self(
            ev.UnitFinished,
            **where(unit),
            status=status,
            attempts=attempts,
            exit_code=exit_code,
            duration=duration,
            reason=reason,
        )

    def run_finished(self, status: RunStatus, *units: ev.UnitFinished) -> ev.RunFinished:
        tasks: dict[str, dict[str, ev.UnitSummary]] = {}
        for unit in units:
            tasks.setdefault(unit.task, {})[unit.host] = ev.UnitSummary(
                unit.status, unit.exit_code, unit.attempts, unit.duration, unit.reason
            )
        summary = {
            name: ev.TaskSummary(
                status=next(iter(hosts.values())).status if len(hosts) == 1 else UnitStatus.FAILED,
                hosts=hosts,
            )
            for name, hosts in tasks.items()
        }
        event = self(ev.RunFinished, status=status, started=T0, tasks=summary)
        # the run took 60 s on the wall clock, whatever the number of events
        return ev.RunFinished(
            run_id=event.run_id,
            seq=event.seq,
            time=T0 + 60,
            status=event.status,
            started=event.started,
            tasks=event.tasks,
        )


def where(unit: str) -> dict[str, str]:
    task, host = unit.split("@")
    return {"task": task, "host": host}


async def stream(events: Iterable[ev.Event]) -> AsyncIterator[ev.Event]:
    for event in events:
        yield event


#: The addresses of the six hosts of :func:`six_hosts`.
SIX_ADDRESSES = {f"web{n}": f"10.0.0.{n}" for n in range(1, 7)}


def six_hosts(s: Script) -> list[ev.Event]:
    """A deploy on six hosts: four print the same (but for their names, addresses, times and
    request ids), web5 warns on stderr, web6 fails with an error."""
    events: list[ev.Event] = [s.run_started("deploy", units=6)]
    units = []
    for n in range(1, 7):
        unit = f"deploy@web{n}"
        failed = n == 6
        events += [
            s.unit_started(unit),
            s.step_started(unit, "./deploy"),
            s.out(unit, f"deploying release 42 to web{n} (10.0.0.{n})\n".encode()),
            s.out(unit, f"started 2025-11-24T05:12:{17 + n}Z\n".encode()),
        ]
        if n == 5:
            events.append(s.out(unit, b"warning: disk 91% full\n", Stream.STDERR))
        if failed:
            events.append(s.out(unit, b"error: no space left on device\n", Stream.STDERR))
        else:
            events.append(s.out(unit, f"req-{n:02x}3f done\n".encode()))
        status, code = (UnitStatus.FAILED, 1) if failed else (UnitStatus.SUCCEEDED, 0)
        events.append(s.step_finished(unit, status, code))
        units.append(s.unit_finished(unit, status, code))
        events.append(units[-1])
    events.append(s.run_finished(RunStatus.FAILED, *units))
    return events
