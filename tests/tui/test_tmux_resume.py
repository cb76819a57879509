"""End to end: plain ``nexus`` in a real terminal (tmux) after a headless run that failed.

It opens showing that run, Ctrl+R resumes it, the summary shows the unit that succeeded before
as reused, and ``q`` exits with the resumed run's code.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.tmux import NEXUS, Tmux

CONFIG = """
[tasks.setup]
commands = ["echo setting up"]

[tasks.deploy]
deps = ["setup"]
commands = ["test -f '{dir}/fixed' || { echo 'not yet' >&2; exit 3; }"]
"""


@pytest.mark.e2e
def test_nexus_opens_on_the_failed_run_and_resumes_it(tmux: Tmux, tmp_path: Path) -> None:
    config = tmp_path / "nexus.toml"
    config.write_text(CONFIG.replace("{dir}", str(tmp_path)))
    failed = subprocess.run(
        [NEXUS, "-c", str(config), "--headless", "run"],
        env=tmux.env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert failed.returncode == 1, failed.stderr
    (tmp_path / "fixed").touch()
    command = f"'{NEXUS}' -c '{config}'; echo \"EXIT=$?\"; sleep 60"
    tmux("new-session", "-d", "-s", "nexus", "-x", "100", "-y", "30", "-c", str(tmp_path), command)

    screen = tmux.wait_for("to resume")
    assert "failed — press Ctrl+R to resume" in screen
    tmux("send-keys", "-t", "nexus", "C-r")
    screen = tmux.wait_for("succeeded in")
    assert "✓ reused" in screen

    tmux("send-keys", "-t", "nexus", "q")
    tmux.wait_for("EXIT=0")
    summaries = [
        json.loads(path.read_text()) for path in tmp_path.glob("state/runs/*/summary.json")
    ]
    (resumed,) = [summary for summary in summaries if summary["resumed_from"]]
    assert resumed["status"] == "succeeded"
    assert resumed["tasks"]["setup"]["hosts"]["local"]["reused"] is True
