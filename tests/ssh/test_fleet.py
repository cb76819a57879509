"""A run over a fleet with faults (issue 10, "Big fleets"), through the real ``nexus`` command:
200 lab hosts run ``true``, of which 5 % never answer the SSH handshake, 5 % refuse the
connection and 2 % reject the key (:meth:`~tests.ssh.harness.SshLab.fault_hosts`).

Every host must come out as exactly what was done to it, the run must exit 1, the journal must
hold every unit, and nothing may leak: the controller runs under an ``RLIMIT_NOFILE`` of a
socket per host and :data:`~tests.ssh.harness.FD_RESERVE` more (one file over and it gets
EMFILE, which shows up as a host that failed for another reason), and the lab's processes are
back to what they were before the run. Nothing here is timed: how long a fleet run takes is the
benchmarks' question.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import NEXUS, make_nexus
from tests.ssh.fixtures import start_lab
from tests.ssh.harness import FD_RESERVE, SshHost, SshLab
from tests.ssh.outcomes import (
    AUTH_FAILED,
    CONNECTION_REFUSED,
    HANDSHAKE_TIMEOUT,
    SUCCEEDED,
    outcome,
)
from tests.ssh.test_runs import host_table, names, write

pytestmark = pytest.mark.sshd

N_HOSTS = 200
SILENT, REFUSED, REJECTING = 10, 10, 4  # 5 %, 5 %, 2 %
HEALTHY = N_HOSTS - SILENT - REFUSED - REJECTING
#: seconds: what a silent host costs the run. A healthy handshake shares the CPU with the 31
#: others in flight (``connect_limit``) and, on a shared 2-core machine, takes up to a second
#: (at 0.5 s healthy hosts time out already): the margin keeps the counts exact under load.
CONNECT_TIMEOUT = 5
FD_LIMIT = N_HOSTS + FD_RESERVE
#: the ``nexus`` command, its soft and hard RLIMIT_NOFILE set to FD_LIMIT (util-linux prlimit)
UNDER_FD_LIMIT = ["prlimit", f"--nofile={FD_LIMIT}:{FD_LIMIT}", "--", str(NEXUS)]
TIMEOUT = 120  # seconds for the whole run: a hang fails the test, it never stalls the suite


def lab_settled(lab: SshLab, baseline: set[int], within: float = 30) -> set[int]:
    """The lab's processes once they are back to ``baseline`` or ``within`` seconds have
    passed: sshd ends a session a moment after its client hung up, so the check waits for
    that, and fails (with what is left) only when the processes never go."""
    deadline = time.monotonic() + within
    while (now := lab.process_ids()) != baseline and time.monotonic() < deadline:
        time.sleep(0.05)
    return now


def test_a_fleet_with_faults_reports_each_host_as_what_was_done_to_it(tmp_path: Path) -> None:
    with (
        start_lab(tmp_path / "lab", HEALTHY) as lab,
        lab.fault_hosts(silent=SILENT, refused=REFUSED, rejecting=REJECTING) as faults,
    ):
        nexus = make_nexus(tmp_path, lab.make_home(tmp_path / "home"))
        fleet: list[SshHost] = [*lab.hosts, *faults.all]
        write(
            nexus,
            "[settings]\n"
            f"parallel_limit = {N_HOSTS}\n"
            f"connect_timeout = {CONNECT_TIMEOUT}\n"
            + host_table(fleet, lab.key_user)
            # every host runs: the faults stay within the task's tolerance
            + f'[tasks.fleet]\non = {names(fleet)}\nmax_failures = "12%"\ncommands = ["true"]\n',
        )
        baseline = lab.process_ids()
        done = subprocess.run(
            [*UNDER_FD_LIMIT, "--headless", "run", "fleet", "--format", "json"],
            cwd=nexus.cwd,
            env=nexus.environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        left = lab_settled(lab, baseline)

    assert done.stdout, done.stderr
    document = json.loads(done.stdout)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1, document
    expected = {h.name: SUCCEEDED for h in lab.hosts}
    expected |= {h.name: HANDSHAKE_TIMEOUT for h in faults.silent}
    expected |= {h.name: CONNECTION_REFUSED for h in faults.refused}
    expected |= {h.name: AUTH_FAILED for h in faults.rejecting}
    units = document["tasks"]["fleet"]["hosts"]
    assert {h: outcome(u["status"], u["error"], u["reason"]) for h, u in units.items()} == expected
    assert document["recap"]["failed"] == SILENT + REFUSED + REJECTING
    assert document["tasks"]["fleet"]["status"] == "partial"

    # the journal: the same outcomes, and every unit's end recorded once
    journal = nexus.summary()["tasks"]["fleet"]["hosts"]
    assert {
        h: outcome(u["status"], u["error_kind"], u["reason"]) for h, u in journal.items()
    } == expected
    finished = [e["host"] for e in nexus.events() if e["event"] == "unit_finished"]
    assert sorted(finished) == sorted(expected)

    assert left == baseline, "the run left processes on the lab's hosts"
