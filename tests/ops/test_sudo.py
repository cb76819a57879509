"""``sudo = true`` writes where the login may not: as the lab's password user, whose sudo asks
for a password (``sudo_password = "${secret:SUDO_PW}"``), a file owned by root with mode 0600
lands in a root-owned 0755 directory, exactly; the second run finds it as asked (its probe goes
through sudo too, so it can read the file). The password is in no process's argv or
environment on the host while the run goes, nor is the content (it travels on stdin); neither
is in the journal or the output."""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import Nexus, make_nexus
from tests.ssh.harness import SshLab

pytestmark = pytest.mark.e2e

TIMEOUT = 60


@pytest.fixture
def nexus(tmp_path: Path, ssh_home: Path) -> Nexus:
    return make_nexus(tmp_path, ssh_home)


#: In the environment of the ``nexus`` process (the controller, which is given the password as
#: the operator gives it): what tells it from the host's processes, which share this machine.
CONTROLLER = b"NEXUS_OPS_CONTROLLER=1"


def scan(needles: dict[str, bytes], seen: dict[str, set[str]]) -> None:
    """One pass over every process's argv, and the environment of every process on the host
    side, on this machine."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            argv = Path(entry.path, "cmdline").read_bytes()
            environ = Path(entry.path, "environ").read_bytes()
        except OSError:
            continue
        parts = {"cmdline": argv}
        if CONTROLLER not in environ:
            parts["environ"] = environ
        for part, data in parts.items():
            for name, needle in needles.items():
                if needle in data:
                    seen.setdefault(name, set()).add(f"{entry.name}/{part}")


def test_sudo_writes_a_root_owned_file_and_the_password_shows_nowhere(
    nexus: Nexus, ssh_lab: SshLab, lab_dir: Path
) -> None:
    etc = lab_dir / "etc"
    etc.mkdir(mode=0o755)  # root's: the login cannot write here
    target = etc / "secret.conf"
    content = f"token={secrets.token_hex(12)}\n"
    gate = Path(f"/tmp/nexus-ops-gate-{secrets.token_hex(6)}")
    host = ssh_lab.hosts[2]
    # validate waits at the gate: the step is surely running while the test looks at /proc
    validate = f"while [ ! -e {gate} ]; do sleep 0.01; done; grep -q '^token=' %s"
    (nexus.cwd / "nexus.toml").write_text(
        f"""[hosts.pw]
hostname = "{host.address}"
port = {host.port}
user = "{ssh_lab.password_user}"
sudo_password = "${{secret:SUDO_PW}}"

[tasks.t]
on = "pw"

[[tasks.t.commands]]
ensure = "file"
path = "{target}"
content = {json.dumps(content)}
owner = "root"
mode = "0600"
sudo = true
validate = "{validate}"
"""
    )
    env = {"SUDO_PW": ssh_lab.password, "NEXUS_OPS_CONTROLLER": "1"}
    needles = {"password": ssh_lab.password.encode(), "content": content.encode().strip()}
    seen: dict[str, set[str]] = {}
    proc = nexus.popen(
        "--headless", "run", "-v", "--format", "jsonl",
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + TIMEOUT
        while proc.poll() is None:
            assert time.monotonic() < deadline, "the run did not end"
            scan({**needles, "gate": str(gate).encode()}, seen)
            if "gate" in seen and not gate.exists():
                gate.touch()  # the step is seen running: let it finish
        out, err = (data.decode(errors="replace") for data in proc.communicate(timeout=TIMEOUT))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        gate.unlink(missing_ok=True)
    assert proc.returncode == 0, (out, err)
    assert "gate" in seen  # the scan saw the step's processes
    assert seen.get("password") is None
    assert seen.get("content") is None
    info = target.stat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (0, 0o600)
    assert target.read_text() == content
    assert sorted(p.name for p in etc.iterdir()) == ["secret.conf"]  # no temp file left
    events = [json.loads(line) for line in out.splitlines()]
    (step,) = [e for e in events if e["event"] == "step_finished"]
    assert (step["change"], step["sent"]) == ("changed", len(content))

    again = nexus("--headless", "run", "-v", "--plain", env=env, timeout=TIMEOUT)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "steps: 1 ok, 0 changed, 0 failed" in again.stdout
    assert target.read_text() == content

    artifacts = [p.read_bytes() for p in nexus.state.rglob("*") if p.is_file()]
    assert artifacts
    for text in (out, err, again.stdout, again.stderr):
        assert ssh_lab.password not in text
    assert not [blob for blob in artifacts if ssh_lab.password.encode() in blob]
