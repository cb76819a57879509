"""A second Ctrl-C means now: the first stops the run gracefully (TERM, then KILL after the
kill grace); a second SIGINT or SIGTERM while that is under way KILLs what still runs at once,
and the run is still recorded in full and exits 130."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.e2e.conftest import (
    TIMEOUT,
    Nexus,
    Reaper,
    group_members,
    read_pidfile,
    statuses,
    wait_for_file,
)

pytestmark = pytest.mark.e2e

# TERM is caught and ignored: only KILL ends this step; the grace is the default 5 s
STUBBORN = """\
[tasks.stubborn]
commands = ['''trap 'echo term > got-term' TERM; \
echo $$ $(cut -d' ' -f5 /proc/$$/stat) > pgid.tmp && mv pgid.tmp pgid; \
sleep 30 & while :; do sleep 0.1; done''']
"""


def _alive(pgid: int) -> list[tuple[int, int, str]]:
    return [m for m in group_members(pgid) if m[2] not in ("Z", "X")]


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_second_signal_kills_at_once(
    nexus: Nexus, reaper: Reaper, second: signal.Signals
) -> None:
    (nexus.cwd / "nexus.toml").write_text(STUBBORN)
    proc = nexus.popen("--headless", "run", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, pgid = read_pidfile(wait_for_file(nexus.cwd / "pgid", proc))
        reaper.groups.append(pgid)
        proc.send_signal(signal.SIGINT)
        wait_for_file(nexus.cwd / "got-term", proc)  # the graceful stop is under way
        assert _alive(pgid), "the step must outlive its TERM"
        proc.send_signal(second)
        sent = time.monotonic()
        while _alive(pgid) and time.monotonic() - sent < 1.0:
            time.sleep(0.01)
        gone_after = time.monotonic() - sent
        assert not _alive(pgid), f"still alive 1 s after the second signal: {_alive(pgid)}"
        _, stderr = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert gone_after < 1.0
    assert proc.returncode == 130, stderr
    assert b"Traceback" not in stderr
    reaper.assert_group_gone(pgid)
    summary = nexus.summary()
    assert summary["status"] == "interrupted"
    assert summary["stopped_by"] == "SIGINT"  # the first signal's verdict
    assert statuses(summary) == {"stubborn": "interrupted"}
    events = nexus.events()
    assert events[-1]["event"] == "run_finished"
    (finished,) = [e for e in events if e["event"] == "step_finished"]
    assert finished["status"] == "interrupted"
    assert finished["signal"] == signal.SIGKILL
    assert os.path.exists(nexus.only_run() / "summary.json")
