"""End to end: the real ``nexus`` command in a real terminal (tmux), driven by keystrokes.

It opens the dashboard, runs a task whose step fails, retries it with ``r`` and sees the run
finish, then quits with ``q`` and checks the exit code and the journal.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

NEXUS = Path(sys.executable).with_name("nexus")
DEADLINE = 20.0  # seconds for each thing to appear; each takes well under one
CONFIG = """
[tasks.flaky]
description = "fails once, then works"
commands = [
    "test -f '{dir}/marker' || { touch '{dir}/marker'; echo 'first try fails' >&2; exit 3; }",
    "echo fixed",
]
"""


class Tmux:
    """One tmux server on its own socket, one fixed-size window."""

    def __init__(self, env: dict[str, str]) -> None:
        self.socket = f"nexus-test-{uuid.uuid4().hex[:12]}"
        self.env = env

    def __call__(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            env=self.env,
            check=True,
            timeout=10,
        )
        return result.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "nexus")

    def wait_for(self, text: str) -> str:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            if text in (screen := self.screen()):
                return screen
            time.sleep(0.1)
        pytest.fail(f"{text!r} did not appear; the screen shows:\n{self.screen()}")


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    if shutil.which("tmux") is None:  # never a skip: a terminal test that did not run is a gap
        pytest.fail("tmux is missing: `just system-deps` installs it")
    env = {**os.environ, "NEXUS_STATE_DIR": str(tmp_path / "state"), "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    server = Tmux(env)
    try:
        yield server
    finally:
        subprocess.run(
            ["tmux", "-L", server.socket, "kill-server"], capture_output=True, check=False
        )
        socket_dir = Path(env.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}"
        (socket_dir / server.socket).unlink(missing_ok=True)  # tmux leaves it behind


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
