"""Whole runs through the real ``nexus`` command against the sshd lab: a mixed pipeline, many
hosts at once, failures reported per host, Ctrl-C leaving nothing behind, and no secret in any
artifact of a run that used a password, a sudo password and a ``${secret:…}`` value."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Nexus, make_nexus
from tests.ssh.harness import SshHost, SshLab

TIMEOUT = 60


@pytest.fixture
def nexus(tmp_path: Path, ssh_home: Path) -> Nexus:
    return make_nexus(tmp_path, ssh_home)


@pytest.fixture
def shared() -> Iterator[Path]:
    """A directory every lab user may write to: the hosts are this machine, and pytest's own
    temporary directories are private to root."""
    path = Path(tempfile.mkdtemp(prefix="nexus-shared-"))
    path.chmod(0o777)  # test users of the lab write here
    yield path
    shutil.rmtree(path, ignore_errors=True)


def host_table(hosts: Sequence[SshHost], user: str, **extra: str) -> str:
    lines = ["[hosts]"]
    for host in hosts:
        fields = [f'hostname = "{host.address}"', f"port = {host.port}", f'user = "{user}"']
        fields += [f'{key} = "{value}"' for key, value in extra.items()]
        lines.append(f"{host.name} = {{ {', '.join(fields)} }}")
    return "\n".join(lines) + "\n"


def names(hosts: Sequence[SshHost]) -> str:
    """A TOML list of the hosts' names."""
    return json.dumps([host.name for host in hosts])


def write(nexus: Nexus, text: str) -> None:
    (nexus.cwd / "nexus.toml").write_text(text)


def run_json(nexus: Nexus, *args: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    done = nexus("--headless", "run", "--format", "json", *args, timeout=TIMEOUT, **kwargs)
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def test_a_mixed_pipeline_builds_here_deploys_serially_and_checks_in_parallel(
    nexus: Nexus, ssh_lab: SshLab, shared: Path
) -> None:
    web = ssh_lab.hosts[:3]
    log = shared / "deploy.log"
    write(
        nexus,
        host_table(web, ssh_lab.key_user)
        + f"""
[groups]
web = {names(web)}

[tasks.build]
commands = ["echo built > artifact.txt"]

[tasks.deploy]
deps = ["build"]
on = "web"
strategy = "serial"
commands = ["echo start $(hostname -I 2>/dev/null | wc -c) >> {log}; sleep 0.2; echo end >> {log}",
            "echo deployed"]

[tasks.check]
deps = ["deploy"]
on = "web"
commands = ["test -s {log} && echo healthy"]
""",
    )
    code, document = run_json(nexus)
    assert code == 0, document
    assert (nexus.cwd / "artifact.txt").read_text() == "built\n"
    lines = [line.split()[0] for line in log.read_text().splitlines()]
    assert lines == ["start", "end"] * 3  # serial: never two deploys at once
    for task in ("deploy", "check"):
        hosts = document["tasks"][task]["hosts"]
        assert {name: unit["status"] for name, unit in hosts.items()} == {
            h.name: "succeeded" for h in web
        }
    run_dir = nexus.only_run()
    for host in web:
        (out,) = (run_dir / "output" / "check" / host.name).glob("*.log")
        assert out.read_text() == "healthy\n"


def test_twenty_hosts_run_in_parallel_on_one_connection_each(nexus: Nexus, ssh_lab: SshLab) -> None:
    hosts = ssh_lab.hosts[:20]
    write(
        nexus,
        host_table(hosts, ssh_lab.key_user)
        + "[settings]\nparallel_limit = 20\n"
        + f"[tasks.fan]\non = {names(hosts)}\n"
        + 'commands = ["echo one", "echo two", "echo three"]\n',
    )
    mark = ssh_lab.log_mark()
    code, document = run_json(nexus)
    assert code == 0, document
    units = document["tasks"]["fan"]["hosts"]
    assert sorted(units) == sorted(h.name for h in hosts)
    assert {unit["status"] for unit in units.values()} == {"succeeded"}
    # three steps per host, one pooled connection per host
    assert [ssh_lab.connections_since(mark, h) for h in hosts] == [1] * 20


def test_failures_are_reported_per_host_in_text_and_json(nexus: Nexus, ssh_lab: SshLab) -> None:
    good = ssh_lab.hosts[0]
    address, port = ssh_lab.refused()
    write(
        nexus,
        host_table([good], ssh_lab.key_user)
        + f'dead = {{ hostname = "{address}", port = {port} }}\n'
        + '[tasks.t]\non = ["h1", "dead"]\ncommands = ["echo fine"]\n',
    )
    text = nexus("--headless", "run", "--continue-on-error", "--plain", timeout=TIMEOUT)
    assert text.returncode == 1
    assert "t@h1" in text.stdout
    assert f"unreachable: connection refused by {address}:{port}" in text.stdout
    assert "Traceback" not in text.stderr
    code, document = run_json(nexus, "--continue-on-error")
    assert code == 1
    dead = document["tasks"]["t"]["hosts"]["dead"]
    assert dead["error"] == "unreachable"
    assert document["tasks"]["t"]["hosts"]["h1"]["status"] == "succeeded"
    events = nexus.events(nexus.runs()[-1])
    finished = [e for e in events if e["event"] == "step_finished" and e["host"] == "dead"]
    assert finished
    assert finished[0]["error_kind"] == "unreachable"


def test_an_unknown_host_key_is_refused_and_off_warns_but_connects(
    nexus: Nexus, ssh_lab: SshLab
) -> None:
    with ssh_lab.spare() as spare:
        body = (
            host_table([spare], ssh_lab.key_user) + '[tasks.t]\non = "spare"\ncommands = ["true"]\n'
        )
        body = body.replace(f"{spare.name} =", "spare =")
        write(nexus, body)
        refused = nexus("--headless", "run", "--plain", timeout=TIMEOUT)
        assert refused.returncode == 1
        assert "host key not verified" in refused.stdout
        assert ssh_lab.host_key_fingerprint not in refused.stdout  # it is the spare's key
        write(nexus, '[settings]\nknown_hosts = "off"\n' + body)
        off = nexus("--headless", "run", "--plain", "-q", timeout=TIMEOUT)
        assert off.returncode == 0, off.stdout + off.stderr
        assert 'warning: known_hosts = "off"' in off.stderr
        started = nexus.events(nexus.runs()[-1])[0]
        assert started["warnings"]


def test_no_secret_reaches_any_artifact_of_a_run(
    nexus: Nexus, ssh_lab: SshLab, tmp_path: Path
) -> None:
    """T-SEC-1: a login password, a sudo password and a ${secret:…} value, the last echoed by
    the command to both streams, appear in no output, journal file or JSON."""
    host = ssh_lab.hosts[1]
    token = "tok-" + os.urandom(6).hex()
    write(
        nexus,
        f"""[hosts.pw]
hostname = "{host.address}"
port = {host.port}
user = "{ssh_lab.password_user}"
identity = "{ssh_lab.keys["stranger"]}"
password = "${{secret:PW}}"
sudo_password = "${{secret:PW}}"

[tasks.t]
on = "pw"
commands = [
  "echo token=${{secret:TOKEN}}; echo token=${{secret:TOKEN}} >&2",
  {{ cmd = "id -u; echo ${{secret:TOKEN}}", sudo = true }},
]
""",
    )
    env = {"PW": ssh_lab.password, "TOKEN": token}
    outputs = []
    for fmt in ("text", "jsonl", "json"):
        done = nexus("--headless", "run", "-v", "--format", fmt, env=env, timeout=TIMEOUT)
        assert done.returncode == 0, done.stdout + done.stderr
        outputs += [done.stdout, done.stderr]
    assert any("token=" in text for text in outputs)
    artifacts = [p.read_bytes() for p in nexus.state.rglob("*") if p.is_file()]
    assert artifacts
    for secret in (ssh_lab.password, token):
        assert not [text for text in outputs if secret in text]
        assert not [blob for blob in artifacts if secret.encode() in blob]


def test_ctrl_c_with_twenty_hosts_mid_command_leaves_nothing_running(
    nexus: Nexus, ssh_lab: SshLab
) -> None:
    """T-PROC-3: SIGINT kills every remote group; the run exits 130, each unit interrupted."""
    hosts = ssh_lab.hosts[:20]
    marker = "nexus-ctrlc-" + os.urandom(4).hex()
    write(
        nexus,
        host_table(hosts, ssh_lab.key_user)
        + "[settings]\nparallel_limit = 20\n"
        + f"[tasks.hang]\non = {names(hosts)}\n"
        + f'commands = ["echo up; sleep 300 & sleep 301; echo {marker}"]\n',
    )
    proc = nexus.popen(
        "--headless", "run", "--format", "jsonl", stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert proc.stdout is not None
        up = 0
        deadline = time.monotonic() + TIMEOUT
        while up < 20:
            assert time.monotonic() < deadline, "hosts never all started"
            event = json.loads(proc.stdout.readline())
            up += event["event"] == "output_received"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    summary = nexus.summary()
    assert {u["status"] for u in summary["tasks"]["hang"]["hosts"].values()} == {"interrupted"}
    left = ssh_lab.remote(hosts[0], "pgrep -u $(id -u) -f 'sleep 30[01]' || true")
    assert left.stdout.strip() == ""
    assert marker.encode() not in out
