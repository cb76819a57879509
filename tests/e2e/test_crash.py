"""Issue 12, "nothing lost across a crash": a run whose controller was SIGKILLed is named
``crashed`` by ``nexus runs``, with when it was last written to and what was in flight; a last
record cut short by the crash still reads, and the listing says it was cut short."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest

from nexus_engine.journal import read_events
from nexus_engine.transports.local import LocalTransport
from nexus_engine.transports.sweep import sweep
from tests.e2e.conftest import TIMEOUT, Nexus, Reaper, read_pidfile, wait_for_file
from tests.marked_tree import carrying

pytestmark = pytest.mark.e2e

SLOW = """\
[tasks.slow]
commands = ['''echo $$ $(cut -d' ' -f5 /proc/$$/stat) > pgid.tmp && mv pgid.tmp pgid; \
echo started; sleep 30''']
"""


def _runs(nexus: Nexus) -> list[str]:
    result = nexus("runs")
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_a_killed_controller_is_named_crashed(nexus: Nexus, reaper: Reaper) -> None:
    (nexus.cwd / "nexus.toml").write_text(SLOW)
    proc = nexus.popen("--headless", "run", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, pgid = read_pidfile(wait_for_file(nexus.cwd / "pgid", proc))
        run_dir = nexus.only_run()
        controller = json.loads((run_dir / "controller.json").read_text())
        assert controller["pid"] == proc.pid
        assert controller["boot_id"] == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        header, line = _runs(nexus)
        assert line.split()[-1] == "running"
        proc.kill()  # SIGKILL: no summary, no cleanup
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if "pgid" in locals():
            reaper.groups.append(pgid)  # the orphaned step: killed at cleanup
    assert not (run_dir / "summary.json").exists()

    header, line, note = _runs(nexus)
    assert header.split() == ["RUN", "STARTED", "STATUS"]
    assert line.split()[0] == run_dir.name
    assert line.split()[-1] == "crashed"
    assert note.startswith(f"{run_dir.name}: crashed: its controller is gone; last written 2")
    assert "in flight: slow@local step 1" in note
    assert "cut short" not in note

    # the controller killed mid-write: a torn last line is skipped, and the listing says so
    with (run_dir / "events.jsonl").open("ab") as events:
        events.write(b'{"event": "step_finished", "task": "slow", "host": "loc')
    header, line, note = _runs(nexus)
    assert line.split()[-1] == "crashed"
    assert "in flight: slow@local step 1" in note
    assert note.endswith("its last record was cut short (skipped)")
    logs = nexus("logs", "last")
    assert logs.returncode == 0, logs.stderr
    assert "started" in logs.stdout


def test_a_reused_pid_after_a_reboot_is_not_the_controller(nexus: Nexus) -> None:
    (nexus.cwd / "nexus.toml").write_text('[tasks.t]\ncommands = ["true"]\n')
    assert nexus("--headless", "run").returncode == 0
    run_dir = nexus.only_run()
    (run_dir / "summary.json").unlink()  # as if it had died before writing it
    controller = run_dir / "controller.json"
    # a live pid (this test's), recorded in another boot
    controller.write_text(json.dumps({"pid": os.getpid(), "boot_id": "another-boot"}))
    assert _runs(nexus)[1].split()[-1] == "crashed"
    controller.write_text(json.dumps({"pid": os.getpid(), "boot_id": None}))
    assert _runs(nexus)[1].split()[-1] == "running"


ESCAPING = """\
[tasks.slow]
commands = ['''setsid sleep 300 & echo $! > escapee.tmp && mv escapee.tmp escapee; sleep 300''']
"""


def test_a_crashed_runs_steps_are_found_by_the_token_in_their_record(
    nexus: Nexus, reaper: Reaper, tokens: list[str]
) -> None:
    """The step's start, with its token, was on disk before the step ran: after the controller
    is SIGKILLed, the record names the token every process of the step carries (a ``setsid``
    escapee too), and a sweep with it leaves none of them running."""
    (nexus.cwd / "nexus.toml").write_text(ESCAPING)
    proc = nexus.popen("--headless", "run", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        escapee = int(wait_for_file(nexus.cwd / "escapee", proc))
        proc.kill()
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    run_dir = nexus.only_run()
    (started,) = [e for e in read_events(run_dir) if e["event"] == "step_started"]
    token = started["step_id"]
    tokens.append(token)
    marked = carrying(token)
    assert escapee in marked
    assert len(marked) >= 3  # the step's shell, its sleep, the escapee
    report = asyncio.run(sweep(LocalTransport(), [token], grace=1.0))
    assert report.clean, report
    assert {p.pid for p in report.found} >= set(marked)
    assert carrying(token) == []
    assert _runs(nexus)[1].split()[-1] == "crashed"
