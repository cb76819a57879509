"""A password asked for in a real terminal (tmux), by a headless run against the sshd lab: the
question keeps its own line (the progress line gives way), the connect timeout waits for the
person, and a wrong or empty answer ends as ``auth_failed``, never as a handshake timeout."""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import pytest

from tests.ssh.harness import SshLab
from tests.tmux import NEXUS, Tmux

pytestmark = pytest.mark.e2e

#: Shorter than a person takes to type (the test waits longer): a timeout that did not pause
#: would fire while the question is open; long enough for a handshake on a loaded CI machine.
CONNECT_TIMEOUT = 3


def _start(tmux: Tmux, ssh_lab: SshLab, ssh_home: Path, tmp_path: Path) -> str:
    host = ssh_lab.hosts[0]
    config = tmp_path / "nexus.toml"
    config.write_text(
        f"[settings]\nconnect_timeout = {CONNECT_TIMEOUT}\n"
        f'[hosts.pw]\nhostname = "{host.address}"\nport = {host.port}\n'
        f'user = "{ssh_lab.password_user}"\nidentity = "{ssh_lab.keys["stranger"]}"\n'
        '[tasks.who]\non = "pw"\ncommands = ["echo logged-in-as-$(id -un)"]\n'
    )
    command = (
        f"HOME={shlex.quote(str(ssh_home))} {shlex.quote(str(NEXUS))} -c {shlex.quote(str(config))}"
        f' --headless run; echo "EXIT=$?"; sleep 60'
    )
    tmux("new-session", "-d", "-s", "nexus", "-x", "120", "-y", "30", "-c", str(tmp_path), command)
    return f"password for {ssh_lab.password_user}@{host.address}:{host.port}: "


def _still_asking(tmux: Tmux, question: str, seconds: float) -> None:
    """The question stays on screen, on its own line, for ``seconds`` (several connect timeouts
    and progress ticks): nothing overwrote it and nothing timed out meanwhile."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        screen = tmux.screen()
        assert any(line.startswith(question.rstrip()) for line in screen.splitlines()), screen
        assert "handshake" not in screen
        time.sleep(0.2)


@pytest.mark.parametrize("answer", ["right", "wrong", "empty"])
def test_a_password_prompt_keeps_its_line_waits_for_the_person_and_says_auth_failed(
    tmux: Tmux, ssh_lab: SshLab, ssh_home: Path, tmp_path: Path, answer: str
) -> None:
    question = _start(tmux, ssh_lab, ssh_home, tmp_path)
    tmux.wait_for(question.rstrip())  # a screen line ends at its last printed character
    _still_asking(tmux, question, 1.5 * CONNECT_TIMEOUT)
    typed = {"right": ssh_lab.password, "wrong": "not-the-password", "empty": ""}[answer]
    if typed:
        tmux("send-keys", "-t", "nexus", "-l", typed)
    tmux("send-keys", "-t", "nexus", "Enter")
    screen = tmux.wait_for("EXIT=")
    assert typed not in screen or not typed  # never echoed
    if answer == "right":
        assert f"logged-in-as-{ssh_lab.password_user}" in screen
        assert "EXIT=0" in screen
    else:
        assert "authentication failed" in screen
        assert "handshake" not in screen
        assert "EXIT=1" in screen
