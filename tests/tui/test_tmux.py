"""End to end: the real ``nexus`` command in a real terminal (tmux), driven by keystrokes.

It opens the dashboard, runs a task whose step fails, retries it with ``r`` and sees the run
finish, then quits with ``q`` and checks the exit code and the journal.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.tmux import NEXUS, Tmux

CONFIG = """
[tasks.flaky]
description = "fails once, then works"
commands = [
    "test -f '{dir}/marker' || { touch '{dir}/marker'; echo 'first try fails' >&2; exit 3; }",
    "echo fixed",
]
"""


@pytest.mark.e2e
def test_the_dashboard_runs_a_failing_task_retries_it_and_exits(tmux: Tmux, tmp_path: Path) -> None:
    config = tmp_path / "nexus.toml"
    config.write_text(CONFIG.replace("{dir}", str(tmp_path)))
    command = f"'{NEXUS}' -c '{config}'; echo \"EXIT=$?\"; sleep 60"
    tmux("new-session", "-d", "-s", "nexus", "-x", "100", "-y", "30", "-c", str(tmp_path), command)

    tmux.wait_for("Enter runs them")
    tmux("send-keys", "-t", "nexus", "Enter")
    screen = tmux.wait_for("waiting for you")
    assert "flaky@local exit status 3" in screen
    assert "first try fails" in screen

    tmux("send-keys", "-t", "nexus", "r")
    screen = tmux.wait_for("succeeded in")
    assert "exit code 0" in screen
    assert "journal:" in screen

    tmux("send-keys", "-t", "nexus", "q")
    tmux.wait_for("EXIT=0")
    (summary,) = (tmp_path / "state").glob("runs/*/summary.json")
    recorded = json.loads(summary.read_text())
    assert recorded["status"] == "succeeded"
    assert recorded["tasks"]["flaky"]["hosts"]["local"]["attempts"] == 2
