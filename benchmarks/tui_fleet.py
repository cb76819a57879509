"""The dashboard at fleet scale: 1,000 hosts, each printing 10 lines a second.

The hosts are simulated by a transport that prints a line every 100 ms and ends after a while
(one host in 25 fails after two seconds, on stderr), so what is measured is the engine and the
dashboard, not a thousand local processes fighting over the machine's cores: over SSH the lines
come just so, from elsewhere. Everything else is real: plan, scheduler, runner, events, journal.
The run asks on failure, as the dashboard's runs do, so the failed hosts wait for a decision.

Once every host is printing (the start of a thousand units is a burst of its own, timed apart:
the journal makes each unit's files on its first output), the child presses keys, as a terminal
driver delivers them, and times each press until the first frame that shows what it did
(``benchmarks.keys``):

- ``j``/``k`` move between the local task and the fleet's (1,000 rows rebuilt, a log reloaded);
- ``F`` the state filter's next state (the table rebuilt with the hosts in that state);
- ``n`` the next failed unit (its log shown; from the other task, the fleet's table too);
- ``g`` the grouped view, on or off (the task's settled output folded into groups).

``python -m benchmarks.tui_fleet CONFIG REPORT SECONDS`` is that child; ``rows`` runs it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.common import Profile, Row
from benchmarks.keys import percentile
from benchmarks.memory import measure

if TYPE_CHECKING:
    from nexus_engine.transports.base import CommandResult, CommandSpec, OutputSink

HOSTS = 1_000
RATE = 10  # lines a second, each host
FAIL_EVERY = 25  # one host in this many fails
FAIL_AFTER = 2.0  # seconds
SECONDS_FULL = 30.0
SECONDS_QUICK = 10.0
KEY_PAUSE = 0.02  # seconds between a press showing on screen and the next press
SIZE = (160, 48)
TARGET_MS = 200.0
KEYS = ("j/k", "F", "n", "g")


def rows(workdir: Path, env: dict[str, str], profile: Profile) -> list[Row]:
    """The child's latencies per key, as median and p99 rows."""
    seconds = SECONDS_QUICK if profile.quick else SECONDS_FULL
    config = write_config(workdir / "fleet.toml")
    report = workdir / "fleet.json"
    argv = [sys.executable, "-m", "benchmarks.tui_fleet", str(config), str(report), str(seconds)]
    measure(argv, env)
    child = json.loads(report.read_text())
    latencies: dict[str, list[float]] = child["latencies"]
    workload = f"{HOSTS:,} hosts x {RATE} lines/s"
    said = (
        f"every host printing after {child['started']:.1f} s; then {child['rate']:.1f} lines/s"
        " from each host while it printed (the run waits for the screen)"
    )
    found: list[Row] = []
    for key in KEYS:
        ms = [latency * 1000 for latency in latencies[key]]
        stat = f"{len(ms)} presses"
        median = statistics.median(ms) if ms else None
        p99 = percentile(ms, 0.99) if ms else None
        worst = f"worst {max(ms):.0f} ms; target: p99 < {TARGET_MS:.0f} ms" if ms else "none"
        found += [
            Row("key-to-screen", f"{workload}, {key}, median", median, "ms", stat=stat, note=said),
            Row("key-to-screen", f"{workload}, {key}, p99", p99, "ms", stat=stat, note=worst),
        ]
    return found


def write_config(path: Path) -> Path:
    """A local task, then the fleet's task on every host (named as SSH hosts are)."""
    names = [f"h{number:04d}" for number in range(1, HOSTS + 1)]
    hosts = "\n".join(f'{name} = "{name}.fleet.invalid"' for name in names)
    path.write_text(
        f"[settings]\nparallel_limit = {HOSTS}\n\n[hosts]\n{hosts}\n\n"
        f"[groups]\nfleet = {json.dumps(names)}\n\n"
        '[tasks.prepare]\ncommands = ["prepare"]\n\n'
        '[tasks.deploy]\ndeps = ["prepare"]\non = "fleet"\ncommands = ["deploy"]\n',
        encoding="utf-8",
    )
    return path


class Fleet:
    """A transport whose every host prints ``RATE`` lines a second for a while, then ends: the
    hosts of one task end over the last half of ``seconds``, one in ``FAIL_EVERY`` fails."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.lines = 0  # printed by every host so far
        self.printed: set[str] = set()  # the hosts that have printed a line
        #: each host's printing, from its start to its end (inf while it prints)
        self.spans: dict[str, list[float]] = {}

    def rate(self, lines: int, since: float, until: float) -> float:
        """Lines a second each host printed between ``since`` and ``until``, ``lines`` having
        been printed then: over the seconds hosts were printing, so hosts that had ended (the
        fleet's hosts end over the second half of the run) do not count as slow ones."""
        printing = sum(
            max(min(end, until) - max(start, since), 0) for start, end in self.spans.values()
        )
        return lines / printing if printing else 0.0

    async def run(
        self, spec: CommandSpec, on_output: OutputSink, cancel: asyncio.Event
    ) -> CommandResult:
        from nexus_engine.transports.base import CommandResult  # noqa: PLC0415
        from nexus_engine.words import Stream  # noqa: PLC0415

        host = spec.env.get("NEXUS_HOST", "local")
        number = int(host[1:]) if host[1:].isdigit() else 0
        failing = number % FAIL_EVERY == 0 and number > 0
        lasts = FAIL_AFTER if failing else self.seconds * (0.5 + 0.05 * (number % 10))
        if not number:  # the local task, which the fleet's waits for
            lasts = 1 / RATE
        started = time.monotonic()
        span = self.spans[host] = [started, math.inf]
        try:
            await asyncio.sleep((number % RATE) / (RATE * RATE))  # hosts do not print in step
            line = 0
            while time.monotonic() < started + lasts:  # by the clock: a slow screen slows the lines
                if cancel.is_set():
                    return CommandResult(None, cancelled=True, duration=time.monotonic() - started)
                text = f"{host}: step {spec.command}: line {line}, 12 packages fetched, all well\n"
                await on_output(Stream.STDOUT, text.encode())
                self.lines += 1
                self.printed.add(host)
                line += 1
                await asyncio.sleep(max(started + line / RATE - time.monotonic(), 0))
            if failing:
                await on_output(Stream.STDERR, f"error: disk full on {host}\n".encode())
            return CommandResult(1 if failing else 0, duration=time.monotonic() - started)
        finally:
            span[1] = time.monotonic()  # its printing ended, however


# -- the child: the dashboard itself ------------------------------------------------------------


async def drive(config: Path, seconds: float) -> dict[str, Any]:
    """Run the fleet in the dashboard for ``seconds``, pressing keys all along; then abort."""
    from benchmarks.keys import KeyTimer  # noqa: PLC0415 - the parent process never needs Textual
    from nexus_engine.config import load_config  # noqa: PLC0415
    from nexus_engine.plan import build_plan  # noqa: PLC0415
    from nexus_engine.scheduler import FailurePolicy  # noqa: PLC0415
    from nexus_engine.session import start_session  # noqa: PLC0415
    from nexus_tui.app import NexusApp  # noqa: PLC0415
    from nexus_tui.source import LiveRun  # noqa: PLC0415
    from nexus_tui.widgets.dag_tree import DagTree  # noqa: PLC0415

    loaded = load_config(config)
    fleet = Fleet(seconds)

    def start(tasks: Sequence[str]) -> LiveRun:
        plan = build_plan(loaded, tasks)
        policy = FailurePolicy.ASK  # as the dashboard's own runs
        session = start_session(loaded, plan, policy=policy, transport_for=lambda unit: fleet)
        return LiveRun(session, plan)

    app = NexusApp(build_plan(loaded), start, autostart=[])
    latencies: dict[str, list[float]] = {key: [] for key in KEYS}
    async with app.run_test(headless=True, size=SIZE) as pilot:
        while app.bridge is None:
            await pilot.pause(0.01)
        screen, tree = app.dashboard, app.dashboard.query_one(DagTree)
        keys = KeyTimer(app, lambda: app.ended is not None)
        began = time.monotonic()
        await _until_all_printing(pilot, fleet, lambda: app.model.totals.journal, began + seconds)
        started = time.monotonic() - began
        keys_from, lines_before = time.monotonic(), fleet.lines
        deadline = keys_from + seconds

        async def press(name: str, key: str, shown: Callable[[], bool]) -> None:
            if (latency := await keys.press(key, shown)) is not None:
                latencies[name].append(latency)
            await asyncio.sleep(KEY_PAUSE)

        while time.monotonic() < deadline:
            line = tree.cursor_line
            move = "k" if line >= tree.last_line else "j"
            await press("j/k", move, lambda: tree.cursor_line != line)  # noqa: B023
            kind = screen.status_filter
            await press("F", "F", lambda: screen.status_filter != kind)  # noqa: B023
            if app.model.totals.failed >= 2:  # else n has nowhere to go
                unit = screen.selected
                await press("n", "n", lambda: screen.selected != unit)  # noqa: B023
            grouped = screen.grouped
            await press("g", "g", lambda: screen.grouped != grouped)  # noqa: B023
        rate = fleet.rate(fleet.lines - lines_before, keys_from, time.monotonic())
        app.abort()
        while app.ended is None:
            await pilot.pause(0.05)
        await pilot.pause()
        app.exit()
    await app.close_run()
    return {"latencies": latencies, "rate": rate, "started": started}


async def _until_all_printing(
    pilot: Any, fleet: Fleet, journal: Callable[[], str | None], deadline: float
) -> None:
    """Until every host prints (as the fleet tells: a thousand files listed every 50 ms cost
    the run a tenth of its time) and the journal has every host's output file."""
    while len(fleet.printed) < HOSTS and time.monotonic() < deadline:
        await pilot.pause(0.05)
    while not _all_printing(journal()) and time.monotonic() < deadline:
        await pilot.pause(0.2)


def _all_printing(journal: str | None) -> bool:
    """Whether the journal has made the output files of every host: each has printed."""
    if journal is None:
        return False
    return len(list(Path(journal, "output", "deploy").glob("*/*.log"))) >= HOSTS


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tui_fleet")
    parser.add_argument("config", type=Path)
    parser.add_argument("report", type=Path)
    parser.add_argument("seconds", type=float)
    args = parser.parse_args(argv)
    result = asyncio.run(drive(args.config, args.seconds))
    args.report.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
