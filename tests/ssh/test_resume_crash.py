"""Issue 12's test: the ``nexus`` process SIGKILLed mid-run, with a local unit and two SSH units
each with a step in flight, then ``nexus run --resume``. Marks in a shared file show that no
step that had succeeded ran twice and that every unfinished one ran once more; the old run's
processes (on the hosts and here) are found by their recorded ``NEXUS_STEP_ID`` and killed
before anything runs; both journals parse line by line."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from tests.e2e.conftest import Nexus
from tests.ssh.harness import SshLab
from tests.ssh.test_runs import TIMEOUT, host_table, names, nexus, shared, write

__all__ = ["nexus", "shared"]  # fixtures, used by name


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _parses(run_dir: Path) -> list[dict[str, object]]:
    lines = (run_dir / "events.jsonl").read_bytes().split(b"\n")
    complete = lines[:-1]  # a torn last line (no newline) is what a crash may leave
    return [json.loads(line) for line in complete]


def test_a_killed_run_resumes_without_running_a_finished_step_twice(
    nexus: Nexus, ssh_lab: SshLab, shared: Path
) -> None:
    web = ssh_lab.hosts[:2]
    marks, go = shared / "marks", shared / "go"
    marks.touch(mode=0o666)  # every host appends here: the lab's user and root alike
    marks.chmod(0o666)
    pidfile = f"{shared}/pid-$NEXUS_HOST"
    record_pid = f"echo $$ > {pidfile}.tmp && mv {pidfile}.tmp {pidfile}"
    write(
        nexus,
        host_table(web, ssh_lab.key_user)
        + f"""
[tasks.first]
on = {json.dumps(["local", *json.loads(names(web))])}
commands = ["echo first-$NEXUS_HOST >> {marks}"]

[tasks.work]
deps = ["first"]
on = {json.dumps(["local", *json.loads(names(web))])}
commands = [
  "echo one-$NEXUS_HOST >> {marks}",
  "echo two-$NEXUS_HOST >> {marks}; [ -e {go} ] || {{ {record_pid}; sleep 300; }}",
  "echo three-$NEXUS_HOST >> {marks}",
]
""",
    )
    hosts = ["local", *(host.name for host in web)]
    proc = nexus.popen("--headless", "run", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    pids: dict[str, int] = {}
    try:
        deadline = time.monotonic() + TIMEOUT
        while len(pids) < len(hosts):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, f"steps in flight: {sorted(pids)}"
            for host in hosts:
                if (pidfile := shared / f"pid-{host}").exists():
                    pids[host] = int(pidfile.read_text())
            time.sleep(0.05)
        proc.kill()  # SIGKILL: no cleanup, no summary
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    (old,) = nexus.runs()
    assert not (old / "summary.json").exists()
    assert all(_alive(pid) for pid in pids.values()), "the old steps outlive their controller"

    go.touch()
    done = nexus("--headless", "run", "--resume", "--format", "json", timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["resumed_from"] == old.name
    for host in hosts:
        assert document["tasks"]["first"]["hosts"][host]["reused"] is True
        assert document["tasks"]["work"]["hosts"][host]["status"] == "succeeded"
    assert not [host for host, pid in pids.items() if _alive(pid)], "old steps left running"

    written = marks.read_text().split()
    for host in hosts:
        assert written.count(f"first-{host}") == 1  # succeeded: never again
        assert written.count(f"one-{host}") == 1  # succeeded before the crash
        assert written.count(f"two-{host}") == 2  # in flight: once more
        assert written.count(f"three-{host}") == 1  # never started: once
    new = next(run for run in nexus.runs() if run != old)
    cleared = {e["host"]: e for e in _parses(new) if e["event"] == "leftovers_cleared"}
    assert sorted(cleared) == sorted(hosts)
    for event in cleared.values():
        assert event["found"] >= 1
        assert (event["left"], event["error"]) == (0, None)
    started = [e for e in _parses(old) if e["event"] == "step_started"]
    assert all(isinstance(e["step_id"], str) for e in started)
    assert os.path.exists(new / "summary.json")


def test_resume_honours_hosts_given_now(nexus: Nexus, ssh_lab: SshLab, shared: Path) -> None:
    """``--hosts`` on a resume runs again only the failed units of those hosts."""
    web = ssh_lab.hosts[:2]
    marks = shared / "marks"
    marks.touch(mode=0o666)
    marks.chmod(0o666)
    write(
        nexus,
        host_table(web, ssh_lab.key_user)
        + f"""
[tasks.t]
on = {names(web)}
commands = ["echo $NEXUS_HOST >> {marks}; [ -e {shared}/fixed ]"]
""",
    )
    assert nexus("--headless", "run", timeout=TIMEOUT).returncode == 1
    (shared / "fixed").touch()
    first, second = (host.name for host in web)
    done = nexus("--headless", "run", "--resume", "--hosts", first, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert list(json.loads(done.stdout)["tasks"]["t"]["hosts"]) == [first]
    assert sorted(marks.read_text().split()) == sorted([first, first, second])
