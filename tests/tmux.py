"""One tmux server per test, for tests that drive the real ``nexus`` in a real terminal."""

from __future__ import annotations

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

    def kill(self) -> None:
        """Kill the server, as closing every terminal window at once does (SIGHUP)."""
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False)
        socket_dir = Path(self.env.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.getuid()}"
        (socket_dir / self.socket).unlink(missing_ok=True)  # tmux leaves it behind


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
        server.kill()
