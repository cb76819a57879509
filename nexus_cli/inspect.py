"""Commands that read and report without running anything: validate, list, runs, logs, version."""

from __future__ import annotations

import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from nexus_engine import journal
from nexus_engine.render.terminal import table
from nexus_engine.status import EXIT_USAGE

if TYPE_CHECKING:  # the config's models are loaded only by commands that read a config
    from nexus_engine.config import LoadedConfig


def validate(loaded: LoadedConfig) -> int:
    """Valid, or (raised before this) every problem. Values that are not set here are notes,
    on stderr: the file is right, and a run where they are set can use it."""
    config = loaded.config
    for note in loaded.notes:
        print(f"{note.location()}: {note.key}: note: {note.message}", file=sys.stderr)
    unset = ""
    if count := len(loaded.notes):
        unset = f"; {count} value{'s' if count != 1 else ''} not set here, which a run needs"
    print(
        f"{loaded.path}: valid: {len(config.tasks)} tasks, {len(config.hosts)} hosts, "
        f"{len(config.groups)} groups{unset}"
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
        rows.append([record.run_id, _when(record.started), record.state])
    for line in table(rows):
        print(line)
    for record in records:
        if note := _run_note(record):
            print(f"{record.run_id}: {note}")
    return 0


def _when(moment: datetime | None) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _run_note(record: journal.RunRecord) -> str:
    """What the table cannot say about a run: how a crashed one was left, a torn record."""
    parts = []
    if record.crashed:
        parts.append(f"crashed: its controller is gone; last written {_when(record.last_written)}")
        if record.in_flight:
            parts.append(f"in flight: {', '.join(record.in_flight)}")
        else:
            parts.append("no step in flight")
    if record.torn:
        parts.append("its last record was cut short (skipped)")
    return "; ".join(parts)


def logs(
    run_ref: str, task: str | None, host: str | None, *, stderr_only: bool, combined: bool = False
) -> int:
    """A recorded unit's output, each step attempt under a header and over a line saying how
    it ended (both on stderr). stdout bytes go to stdout and stderr bytes to stderr where the
    record keeps them apart; ``combined``: both on stdout, in the order they arrived;
    ``stderr_only``: stderr's bytes alone, on stdout (``--stderr > file``)."""
    try:
        run_dir = journal.find_run(run_ref)
    except LookupError as error:
        print(f"nexus: {error}", file=sys.stderr)
        return EXIT_USAGE
    units = journal.recorded_units(run_dir, task, host)
    if not units:
        print(f"nexus: run {run_ref} recorded no output for that selection", file=sys.stderr)
        return EXIT_USAGE
    for unit in units:
        name = f"{unit.task}@{unit.host}"
        for attempt in unit.attempts:
            # Headers go to stderr: stdout is the recorded output, byte for byte, so that
            # `nexus logs … > file` gives back exactly what the command printed.
            where = f"{name} step {attempt.step + 1} attempt {attempt.attempt}"
            _note(f"── {where}")
            if attempt.output is not None:
                _print_output(attempt.output, stderr_only=stderr_only, combined=combined)
            ending = attempt.ending.describe() if attempt.ending else _NO_ENDING
            _note(f"── {where} {ending}")
        if unit.ending is not None and (unit.ending.status != "succeeded" or not unit.attempts):
            _note(f"── {name} {unit.ending.describe()}")
    sys.stdout.buffer.flush()
    return 0


_NO_ENDING = "did not end in the record: the run stopped before it did"
_INTERLEAVED = (
    "   (this record keeps stdout only interleaved with stderr: both are above, on stdout;"
    " --stderr shows stderr alone)"
)


def _note(text: str) -> None:
    sys.stdout.buffer.flush()  # what was printed before it comes first on a shared terminal
    sys.stderr.buffer.flush()
    print(text, file=sys.stderr, flush=True)


def _print_output(piece: journal.OutputFile, *, stderr_only: bool, combined: bool) -> None:
    out, err = sys.stdout.buffer, sys.stderr.buffer
    if stderr_only:
        _copy(piece.err, out)
        return
    apart = None if combined else piece.separated()
    if apart is None:
        _copy(piece.log, out)
        if not combined:
            _note(_INTERLEAVED)
        return
    if apart.stdout is not None:
        _copy(apart.stdout, out)
    if apart.stderr is not None:
        out.flush()
        _copy(apart.stderr, err)


def _copy(path: Path, to: BinaryIO) -> None:
    if path.exists():
        with path.open("rb") as recorded:
            shutil.copyfileobj(recorded, to)
        to.flush()
