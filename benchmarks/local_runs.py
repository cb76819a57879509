"""Trivial local commands: what Nexus costs per unit, beside xargs and plain asyncio.

* start-up alone: ``nexus version``, ``run --dry-run`` and a real 1-task run, beside a bare
  ``python -c pass`` (the floor for any Python command) and ``sh -c true``;
* the real CLI running 100 independent ``true`` tasks at ``-p N``, beside
  ``xargs -P N sh -c true`` doing the same 100 commands;
* in-process, through ``nexus_cli.main`` (no interpreter start-up), divided by the
  unit count, beside asyncio spawning ``sh -c true`` with the same concurrency;
* the engine alone (Runner, scheduler, journal, JSON face) with a transport that runs nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import statistics
import subprocess
import sys
from functools import partial
from pathlib import Path

from benchmarks.common import (
    STATE_ENV,
    Profile,
    Row,
    bench_env,
    environ,
    median_time,
    median_times,
    nexus_argv,
    rounds,
    run_quiet,
    write_local_config,
)
from nexus_cli import main as nexus_main
from nexus_engine.config import LoadedConfig, load_config
from nexus_engine.plan import Plan, build_plan
from nexus_engine.render import json as json_render
from nexus_engine.scheduler import FailurePolicy
from nexus_engine.session import start_session
from nexus_engine.transports.base import CommandResult, CommandSpec, OutputSink

IN_PROCESS_PARALLELS = (1, 10)
ENGINE_UNITS = (100, 1_000)


class NullTransport:
    """Runs nothing and succeeds at once: what is left is the engine's own cost."""

    async def run(
        self, spec: CommandSpec, on_output: OutputSink, cancel: asyncio.Event
    ) -> CommandResult:
        await asyncio.sleep(0)
        return CommandResult(exit_code=0)


def run(profile: Profile, workdir: Path) -> list[Row]:
    state = workdir / "state"
    env = bench_env(state)
    nexus = nexus_argv()
    units = profile.trivial_units
    one = write_local_config(workdir / "one.toml", {"one": ((), "true")})
    many = write_local_config(
        workdir / "trivial.toml", {f"t{i:03d}": ((), "true") for i in range(units)}
    )
    reps = profile.repeats
    stat = f"median of {reps}"
    ms = 1000.0

    one_argv = [*nexus, "-c", str(one), "--headless", "run", "--format", "json"]
    python_s, import_s, version_s, dry_s, one_s, sh_s = median_times(
        [
            partial(run_quiet, [sys.executable, "-c", "pass"], env),
            partial(run_quiet, [sys.executable, "-c", "import nexus_cli"], env),
            partial(run_quiet, [*nexus, "version"], env),
            partial(run_quiet, [*nexus, "-c", str(one), "--headless", "run", "--dry-run"], env),
            partial(run_quiet, one_argv, env),
            partial(run_quiet, ["sh", "-c", "true"], env),
        ],
        reps,
    )
    rows = [
        Row(
            "start-up",
            "nexus version",
            version_s * ms,
            "ms",
            python_s * ms,
            "python -c pass",
            stat,
            note=f"import nexus_cli alone {import_s * ms:.0f} ms",
        ),
        Row(
            "start-up",
            "run --dry-run, 1 task",
            dry_s * ms,
            "ms",
            python_s * ms,
            "python -c pass",
            stat,
        ),
        Row(
            "start-up",
            "run --format json, 1 x true",
            one_s * ms,
            "ms",
            sh_s * ms,
            "sh -c true",
            stat,
        ),
    ]

    for parallel in profile.parallels:
        argv = [*nexus, "-c", str(many), "--headless", "run", "--format", "json"]
        argv += ["-p", str(parallel)]
        xargs = ["xargs", "-P", str(parallel), "-n", "1", "sh", "-c"]
        one_times, nexus_times, xargs_times = rounds(
            [
                partial(run_quiet, one_argv, env),
                partial(run_quiet, argv, env),
                partial(run_quiet, xargs, env, stdin=b"true\n" * units),
            ],
            reps,
        )
        nexus_s, xargs_s = statistics.median(nexus_times), statistics.median(xargs_times)
        extra = statistics.median(n - o for n, o in zip(nexus_times, one_times, strict=True))
        per_unit = extra / (units - 1) * ms
        rows.append(
            Row(
                f"{units} x true, CLI",
                f"-p {parallel}",
                nexus_s * ms,
                "ms",
                xargs_s * ms,
                f"xargs -P {parallel}",
                stat,
                note=f"{per_unit:.1f} ms/unit beyond a 1-task run; "
                f"xargs {xargs_s / units * ms:.2f} ms/unit",
            )
        )

    with environ(STATE_ENV, str(state)):
        fixed_s = median_time(partial(_in_process, one, 1), reps)
        for parallel in IN_PROCESS_PARALLELS:
            if profile.quick and parallel not in profile.parallels:
                continue
            nexus_s, spawn_s = median_times(
                [partial(_in_process, many, parallel), partial(_spawn_all, units, parallel)], reps
            )
            rows.append(
                Row(
                    f"{units} x true, in-process",
                    f"-p {parallel}, per unit",
                    nexus_s / units * ms,
                    "ms",
                    spawn_s / units * ms,
                    "asyncio sh -c",
                    stat,
                    note=f"{(nexus_s - spawn_s) / units * ms:+.2f} ms/unit vs asyncio; "
                    f"a 1-task run in-process {fixed_s * ms:.0f} ms",
                )
            )
        for count in ENGINE_UNITS if not profile.quick else ENGINE_UNITS[:1]:
            config = write_local_config(
                workdir / f"engine-{count}.toml", {f"t{i:05d}": ((), "true") for i in range(count)}
            )
            engine_loaded = load_config(config)
            plan = build_plan(engine_loaded, parallel_limit=10)
            engine_s = median_time(partial(_engine_only, plan, engine_loaded), reps)
            rows.append(
                Row(
                    "engine only, no process",
                    f"{count:,} units, -p 10, per unit",
                    engine_s / count * ms,
                    "ms",
                    stat=stat,
                    note=f"total {engine_s * ms:.0f} ms; Runner+journal+JSON, null transport",
                )
            )
    return rows


def _in_process(config: Path, parallel: int) -> None:
    """The real command line, ``nexus_main``, in this process: no interpreter start-up, no
    imports; it still loads the config and builds the plan (a few ms for 100 tasks)."""
    argv = ["-c", str(config), "--headless", "run", "--format", "json", "-p", str(parallel)]
    with contextlib.redirect_stdout(io.StringIO()):
        code = nexus_main(argv)
    if code != 0:
        raise RuntimeError(f"in-process run exited {code}")


def _spawn_all(count: int, parallel: int) -> None:
    asyncio.run(_spawn_all_async(count, parallel))


async def _spawn_all_async(count: int, parallel: int) -> None:
    """The asyncio floor: ``sh -c true`` in its own session, output piped and read."""
    gate = asyncio.Semaphore(parallel)

    async def one() -> None:
        async with gate:
            proc = await asyncio.create_subprocess_exec(
                "/bin/sh",
                "-c",
                "true",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            await proc.communicate()

    await asyncio.gather(*(one() for _ in range(count)))


def _engine_only(plan: Plan, loaded: LoadedConfig) -> None:
    asyncio.run(_engine_only_async(plan, loaded))


async def _engine_only_async(plan: Plan, loaded: LoadedConfig) -> None:
    """What ``nexus run`` wires up (runner, journal, JSON summary), with the null transport."""
    null = NullTransport()
    session = start_session(
        loaded, plan, policy=FailurePolicy.FAIL_FAST, transport_for=lambda unit: null
    )
    out = io.StringIO()
    summary = asyncio.create_task(json_render.write_summary(session.runner.bus.subscribe(), out))
    finished = await session.run(handle_signals=False)
    await summary
    if session.exit_code(finished) != 0:
        raise RuntimeError(f"engine-only run exited {finished.exit_code}")
