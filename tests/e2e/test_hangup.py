"""The terminal closed under a run (SIGHUP): the run stops as on SIGTERM, its commands are
killed, everything is recorded, and Nexus exits 129, headless and in the dashboard alike.

The terminal is a real one: a tmux server, killed mid-run as closing the window would.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import TIMEOUT, Reaper, config, read_pidfile
from tests.tmux import NEXUS, Tmux

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    ("face", "passed_on"),
    [("headless", True), ("dashboard", True), ("dashboard", False)],
    ids=["headless", "dashboard", "dashboard-no-sighup"],
)
def test_a_closed_terminal_stops_the_run_records_it_and_exits_129(
    tmux: Tmux, tmp_path: Path, reaper: Reaper, face: str, passed_on: bool
) -> None:
    """``passed_on``: the shell passes SIGHUP on to nexus, as an interactive shell does; when it
    does not, the dashboard finds the terminal gone when it next draws."""
    work = tmp_path / "work"
    work.mkdir()
    flags = "--headless run" if face == "headless" else "run"
    nexus = f"{shlex.quote(str(NEXUS))} -c {shlex.quote(str(config('long.toml')))} {flags}"
    rc = shlex.quote(str(tmp_path / "rc"))
    # The kernel sends SIGHUP to the session leader only; an interactive shell passes it on to
    # its jobs, and so does this one, then writes down how nexus ended.
    shell = (
        f"{nexus} </dev/tty & pid=$!; trap '{'kill -HUP $pid' if passed_on else 'true'}' HUP; "
        "while :; do wait $pid; st=$?; kill -0 $pid 2>/dev/null || break; done; "
        f"echo $st > {rc}"
    )
    tmux("new-session", "-d", "-s", "nexus", "-x", "100", "-y", "30", "-c", str(work), shell)

    _, pgid = read_pidfile(_wait_for(work / "pgid"))
    if face == "dashboard":
        tmux.wait_for("running")  # the dashboard is up and drawing
    tmux.kill()

    assert _wait_for(tmp_path / "rc").strip() == "129"
    reaper.assert_group_gone(pgid)
    assert not (work / "marker").exists()
    (summary_path,) = (tmp_path / "state").glob("runs/*/summary.json")
    summary = json.loads(summary_path.read_text())
    assert summary["status"] == "interrupted"
    assert summary["stopped_by"] == "SIGHUP"
    assert summary["tasks"]["long"]["hosts"]["local"]["status"] == "interrupted"
    assert summary["tasks"]["after_long"]["hosts"]["local"]["status"] == "not_run"


def _wait_for(path: Path) -> str:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            text = path.read_text()
        except FileNotFoundError:
            text = ""
        if text.endswith("\n"):
            return text
        time.sleep(0.05)
    pytest.fail(f"{path} did not appear within {TIMEOUT} s ({os.listdir(path.parent)})")
