"""A password typed into the dashboard (tmux, the real ``nexus``) against the sshd lab.

``nexus run who --hosts 'web*'`` opens the dashboard; web2's login is refused its key, so the
connection asks for a password: a dialog on the screen, where what is typed shows as dots. The
run then succeeds on the selected hosts only (web1, web2; never db1), and the password is on no
screen and in no file of the journal. With ``--preflight`` the same dialog comes while the
hosts are checked, and the run that follows does not ask again. Escape answers nothing: the
login fails and waits for a decision, and ``r`` asks again.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from tests.ssh.harness import SshLab
from tests.tmux import NEXUS, Tmux

pytestmark = pytest.mark.e2e


def _config(ssh_lab: SshLab, tmp_path: Path) -> Path:
    web1, web2, db1 = ssh_lab.hosts[:3]
    key, pw = ssh_lab.key_user, ssh_lab.password_user
    config = tmp_path / "nexus.toml"
    config.write_text(
        "[settings]\nconnect_timeout = 5\n"
        f'[hosts.web1]\nhostname = "{web1.address}"\nport = {web1.port}\nuser = "{key}"\n'
        f'[hosts.web2]\nhostname = "{web2.address}"\nport = {web2.port}\nuser = "{pw}"\n'
        f'identity = "{ssh_lab.keys["stranger"]}"\n'
        f'[hosts.db1]\nhostname = "{db1.address}"\nport = {db1.port}\nuser = "{key}"\n'
        '[tasks.who]\non = ["web1", "web2", "db1"]\n'
        'commands = ["echo logged-in-as-$(id -un)"]\n'
    )
    return config


def _open(tmux: Tmux, ssh_home: Path, tmp_path: Path, *args: str) -> None:
    """``nexus ARGS`` in the dashboard, with the lab's HOME and no ssh-agent."""
    config = tmp_path / "nexus.toml"
    argv = [str(NEXUS), "-c", str(config), *args]
    command = (
        f"env -u SSH_AUTH_SOCK HOME={shlex.quote(str(ssh_home))} {shlex.join(argv)}"
        '; echo "EXIT=$?"; sleep 60'
    )
    tmux("new-session", "-d", "-s", "nexus", "-x", "120", "-y", "30", "-c", str(tmp_path), command)


@pytest.mark.parametrize("preflight", [False, True], ids=["run", "preflight"])
def test_a_password_typed_into_the_dashboard_runs_the_selected_hosts(
    tmux: Tmux, ssh_lab: SshLab, ssh_home: Path, tmp_path: Path, preflight: bool
) -> None:
    _config(ssh_lab, tmp_path)
    _open(tmux, ssh_home, tmp_path, "run", "who", "--hosts", "web*", *(["--preflight"] * preflight))

    web2 = ssh_lab.hosts[1]
    screen = tmux.wait_for(f"Password for {ssh_lab.password_user}@{web2.address}:{web2.port}")
    assert "Esc cancels" in screen
    if preflight:
        assert "Preflight: checking" in screen  # asked while the hosts are checked
    tmux("send-keys", "-t", "nexus", "-l", ssh_lab.password)
    screen = tmux.wait_for("•" * len(ssh_lab.password))
    assert ssh_lab.password not in screen
    tmux("send-keys", "-t", "nexus", "Enter")

    screen = tmux.wait_for("exit code 0")  # the summary: asked once, even with preflight
    assert "succeeded in" in screen
    assert ssh_lab.password not in screen
    tmux("send-keys", "-t", "nexus", "q")
    tmux.wait_for("EXIT=0")

    (summary,) = (tmp_path / "state").glob("runs/*/summary.json")
    recorded = json.loads(summary.read_text())
    assert recorded["status"] == "succeeded"
    hosts = recorded["tasks"]["who"]["hosts"]
    assert sorted(hosts) == ["web1", "web2"]  # db1 is not selected
    assert {host["status"] for host in hosts.values()} == {"succeeded"}
    journal = summary.parent
    said = b"".join(path.read_bytes() for path in journal.rglob("*") if path.is_file())
    assert f"logged-in-as-{ssh_lab.password_user}".encode() in said
    assert ssh_lab.password.encode() not in said


def test_escape_fails_the_login_and_r_asks_again(
    tmux: Tmux, ssh_lab: SshLab, ssh_home: Path, tmp_path: Path
) -> None:
    """No answer is an ``auth_failed`` that waits for a decision; the retry asks once more."""
    _config(ssh_lab, tmp_path)
    _open(tmux, ssh_home, tmp_path, "run", "who", "--hosts", "web2")
    web2 = ssh_lab.hosts[1]
    question = f"Password for {ssh_lab.password_user}@{web2.address}:{web2.port}"
    tmux.wait_for(question)
    tmux("send-keys", "-t", "nexus", "Escape")
    # the header counts it; the bar's own words may be cut by a long reason (the key's path)
    screen = tmux.wait_for("? 1 waiting")
    assert "who@web2 authentication failed" in screen
    tmux("send-keys", "-t", "nexus", "r")
    tmux.wait_for(question)
    tmux("send-keys", "-t", "nexus", "-l", ssh_lab.password)
    tmux("send-keys", "-t", "nexus", "Enter")
    tmux.wait_for("exit code 0")
    tmux("send-keys", "-t", "nexus", "q")
    tmux.wait_for("EXIT=0")
    (summary,) = (tmp_path / "state").glob("runs/*/summary.json")
    web2_unit = json.loads(summary.read_text())["tasks"]["who"]["hosts"]["web2"]
    assert (web2_unit["status"], web2_unit["attempts"]) == ("succeeded", 2)
