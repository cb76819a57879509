"""Commands that read and report without running anything: validate, list, runs, logs, version."""

from __future__ import annotations

import platform
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from nexus_engine import __version__, journal
from nexus_engine.render.terminal import table
from nexus_engine.status import EXIT_USAGE

if TYPE_CHECKING:  # the config's models are loaded only by commands that read a config
    from nexus_engine.config import LoadedConfig


def version() -> int:
    print(f"nexus {__version__} (Python {platform.python_version()})")
    return 0


def validate(loaded: LoadedConfig) -> int:
    config = loaded.config
    print(
        f"{loaded.path}: valid: {len(config.tasks)} tasks, {len(config.hosts)} hosts, "
        f"{len(config.groups)} groups"
    )
    return 0


def list_tasks(loaded: LoadedConfig) -> int:
    from nexus_engine.config.hosts import expand_targets  # noqa: PLC0415 - see TYPE_CHECKING

    config = loaded.config
    rows = [["TASK", "ON", "DEPS", "STEPS", "DESCRIPTION"]]
    for name, task in config.tasks.items():
        hosts = expand_targets(config, task.targets)
        on = ", ".join(task.targets)
        if hosts != task.targets:
            on += f" ({len(hosts)} hosts)"
        rows.append(
            [name, on, ", ".join(task.deps) or "-", str(len(task.commands)), task.description]
        )
    for line in table(rows):
        print(line)
    return 0


def runs() -> int:
    records = journal.list_runs()
    if not records:
        print(f"no runs recorded under {journal.state_dir()}")
        return 0
    rows = [["RUN", "STARTED", "STATUS"]]
    for record in records:
        started = (
            record.started.astimezone().strftime("%Y-%m-%d %H:%M:%S") if record.started else "-"
        )
        rows.append([record.run_id, started, record.status or "unfinished"])
    for line in table(rows):
        print(line)
    return 0


def logs(run_ref: str, task: str | None, host: str | None, *, stderr_only: bool) -> int:
    try:
        run_dir = journal.find_run(run_ref)
    except LookupError as error:
        print(f"nexus: {error}", file=sys.stderr)
        return EXIT_USAGE
    units = _recorded_units(run_dir, task, host)
    if not units:
        print(f"nexus: run {run_ref} recorded no output for that selection", file=sys.stderr)
        return EXIT_USAGE
    out = sys.stdout.buffer
    for unit_task, unit_host in units:
        for piece in journal.unit_output(run_dir, unit_task, unit_host):
            # Headers go to stderr: stdout is the recorded output, byte for byte, so that
            # `nexus logs … > file` gives back exactly what the command printed.
            out.flush()
            header = f"── {unit_task}@{unit_host} step {piece.step + 1} attempt {piece.attempt}"
            print(header, file=sys.stderr, flush=True)
            path = piece.err if stderr_only else piece.log
            if path.exists():
                with path.open("rb") as recorded:
                    shutil.copyfileobj(recorded, out)
    out.flush()
    return 0


def _recorded_units(run_dir: Path, task: str | None, host: str | None) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    for event in journal.read_events(run_dir):
        if event.get("event") != "unit_started":
            continue
        key = (event["task"], event["host"])
        if (task is None or key[0] == task) and (host is None or key[1] == host):
            seen.append(key)
    return seen
