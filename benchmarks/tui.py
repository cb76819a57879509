"""The dashboard under load: 100 units each printing lines as fast as they can; and 1,000 hosts
each printing 10 lines a second (``benchmarks.tui_fleet``).

The dashboard runs in a fresh interpreter under Textual's headless driver (everything is
rendered, nothing is written to a terminal), beside ``nexus --headless run`` of the same config
with its text output going to /dev/null. Each runs under a small helper process that reports
the wall time and peak RSS (``ru_maxrss`` of RUSAGE_CHILDREN: the largest process of the tree,
the Nexus process itself here).

While the run goes on, the dashboard child presses ``j``/``k``, the way a real terminal driver
delivers keys (``driver.send_message``), and times each press until the first frame whose tree
cursor has moved: the key-to-screen latency; then it presses again. Moving the cursor switches task,
so each press also rebuilds the host table and reloads a log pane with its host's history.

The same latency is also measured at a steady pace (every host printing 100 lines a second),
which is what a deploy usually looks like.

``python -m benchmarks.tui --child CONFIG REPORT`` is that child; the table comes from ``run``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks import tui_fleet
from benchmarks.common import Profile, Row, bench_env, nexus_argv, write_local_config
from benchmarks.keys import percentile
from benchmarks.memory import Sample, measure

UNITS = 100
LINES_FULL = 10_000
LINES_QUICK = 1_000
KEY_PAUSE = 0.01  # seconds between a press showing on screen and the next press
SIZE = (160, 48)


def run(profile: Profile, workdir: Path) -> list[Row]:
    lines = LINES_QUICK if profile.quick else LINES_FULL
    repeats = 1 if profile.quick else 5
    state = workdir / "state"
    env = bench_env(state)
    command = f"seq -f 'line %g of a busy host, printing as fast as it can' {lines}"
    config = write_local_config(
        workdir / "flood.toml",
        {f"t{i:03d}": ((), command) for i in range(UNITS)},
        parallel_limit=UNITS,
    )
    headless_argv = [*nexus_argv(), "-c", str(config), "--headless", "run"]
    report = workdir / "latency.json"
    child_argv = [sys.executable, "-m", "benchmarks.tui", "--child", str(config), str(report)]
    headless: list[Sample] = []
    dashboard: list[Sample] = []
    latencies: list[float] = []
    runs: list[float] = []
    for _ in range(repeats):  # in turn, so a neighbour's load hits both alike
        headless.append(measure(headless_argv, env))
        shutil.rmtree(state / "runs", ignore_errors=True)
        dashboard.append(measure(child_argv, env))
        shutil.rmtree(state / "runs", ignore_errors=True)
        child = json.loads(report.read_text())
        latencies += child["latencies"]
        runs.append(child["run"])
    workload = f"{UNITS} units x {lines:,} lines at once"
    stat = f"best of {repeats}"
    best_dash = min(s.wall for s in dashboard)
    best_head = min(s.wall for s in headless)
    peak_dash = max(s.peak for s in dashboard)
    peak_head = max(s.peak for s in headless)
    return [
        Row(
            "dashboard",
            f"{workload}, wall",
            best_dash,
            "s",
            best_head,
            "--headless",
            stat,
            note=f"the run itself {min(runs):.2f} s; the rest is Textual's start-up and exit",
        ),
        Row(
            "dashboard",
            f"{workload}, peak RSS",
            peak_dash,
            "MB",
            peak_head,
            "--headless",
            f"max of {repeats}",
            note=f"{peak_dash - peak_head:+.0f} MB",
            ratio=False,
        ),
        *_latency_rows("during that flood", latencies),
        *_latency_rows(f"{UNITS} hosts x 100 lines/s", _steady(workdir, env, profile)),
        *tui_fleet.rows(workdir, env, profile),
    ]


def _steady(workdir: Path, env: dict[str, str], profile: Profile) -> list[float]:
    """Latency at a steady pace rather than a flood: every host prints a line every 10 ms."""
    seconds = 1 if profile.quick else 4
    loop = f"[(print('line', i, flush=True), time.sleep(0.01)) for i in range({seconds * 100})]"
    command = f'{sys.executable} -c "import time; {loop}"'
    config = write_local_config(
        workdir / "steady.toml",
        {f"t{i:03d}": ((), command) for i in range(UNITS)},
        parallel_limit=UNITS,
    )
    report = workdir / "steady.json"
    measure([sys.executable, "-m", "benchmarks.tui", "--child", str(config), str(report)], env)
    return [float(latency) for latency in json.loads(report.read_text())["latencies"]]


def _latency_rows(workload: str, latencies: Sequence[float]) -> list[Row]:
    ms = [latency * 1000 for latency in latencies]
    stat = f"{len(ms)} presses"
    return [
        Row(
            "key-to-screen",
            f"{workload}, median",
            statistics.median(ms) if ms else None,
            "ms",
            stat=stat,
            note="j/k pressed again as soon as the last press showed",
        ),
        Row(
            "key-to-screen",
            f"{workload}, worst",
            max(ms) if ms else None,
            "ms",
            stat=stat,
            note=f"p90 {percentile(ms, 0.9):.0f} ms" if ms else "",
        ),
    ]


# -- the child: the dashboard itself ------------------------------------------------------------


async def drive(config: Path) -> dict[str, Any]:
    """Run every task of ``config`` in the dashboard; press keys while it runs."""
    from benchmarks.keys import KeyTimer  # noqa: PLC0415 - the parent process never needs Textual
    from nexus_engine.config import load_config  # noqa: PLC0415
    from nexus_engine.plan import build_plan  # noqa: PLC0415
    from nexus_tui.app import NexusApp  # noqa: PLC0415
    from nexus_tui.source import start_live  # noqa: PLC0415
    from nexus_tui.widgets.dag_tree import DagTree  # noqa: PLC0415

    loaded = load_config(config)
    app = NexusApp(build_plan(loaded), partial(start_live, loaded), autostart=[])
    latencies: list[float] = []
    async with app.run_test(headless=True, size=SIZE) as pilot:
        while app.bridge is None:
            await pilot.pause(0.01)
        began = time.perf_counter()
        tree = app.dashboard.query_one(DagTree)
        keys = KeyTimer(app, lambda: app.ended is not None)
        key, presses = "j", 0
        while app.ended is None:
            before = tree.cursor_line
            key = "k" if before >= UNITS - 1 else "j" if before == 0 else key
            presses += 1
            latency = await keys.press(key, lambda: tree.cursor_line != before)  # noqa: B023
            if latency is not None:  # else the run ended first: the summary took the key
                latencies.append(latency)
            await asyncio.sleep(KEY_PAUSE)
        run = time.perf_counter() - began
        code = app.ended.exit_code
        await pilot.pause()  # a key still queued is handled before the app closes
        app.exit()
    await app.close_run()
    return {"latencies": latencies, "exit_code": code, "presses": presses, "run": run}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tui")
    parser.add_argument("--child", nargs=2, metavar=("CONFIG", "REPORT"), required=True)
    args = parser.parse_args(argv)
    config, report = (Path(p) for p in args.child)
    result = asyncio.run(drive(config))
    report.write_text(json.dumps(result), encoding="utf-8")
    return int(result["exit_code"])


if __name__ == "__main__":
    sys.exit(main())
