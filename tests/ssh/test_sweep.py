"""The sweep of a dead run's processes over SSH (issue 12), against the real sshd lab: a step
leaves a marked tree on a host (a child, a ``setsid`` escapee, a TERM-ignoring escapee), plain
or behind sudo; a sweep over a fresh connection, as a resumed run's, finds every process by the
token in its environment, ends them, and verifies none is left. The "remote" processes run on
this machine, so ``/proc`` here tells independently what is left."""

from __future__ import annotations

import pwd

import pytest

from nexus_engine.transports.ssh.pool import SshPool
from nexus_engine.transports.ssh.transport import SshTransport
from nexus_engine.transports.sweep import sweep
from tests.marked_tree import MarkedStep, carrying
from tests.ssh.harness import SshLab
from tests.ssh.support import GRACE, login, owners, pool_for_test

pytestmark = pytest.mark.usefixtures("in_ssh_home")


#: how the step ran; the sweep runs as root wherever a step used sudo or ``user``: root reads
#: every process's environment, sudo's own (root's) included
IDENTITIES = [{}, {"sudo": True}, {"user": "nobody"}]


@pytest.mark.parametrize("identity", IDENTITIES, ids=str)
async def test_a_dead_runs_tree_is_swept_over_a_fresh_connection(
    ssh_lab: SshLab, pool: SshPool, tokens: list[str], identity: dict[str, object]
) -> None:
    host = ssh_lab.hosts[3]
    step = MarkedStep(SshTransport(pool, login(ssh_lab, host), kill_grace=GRACE), **identity)
    tokens.append(step.token)
    await step.started()
    marked = carrying(step.token)
    assert len(marked) >= 4  # the step's shell, its child, both escapees: through sudo too
    user = "root" if identity.get("sudo") else str(identity.get("user", ssh_lab.key_user))
    assert pwd.getpwnam(user).pw_uid in owners(marked)
    async with pool_for_test() as fresh:
        transport = SshTransport(fresh, login(ssh_lab, host), kill_grace=GRACE)
        report = await sweep(transport, [step.token], grace=GRACE, sudo=bool(identity))
    assert report.clean, report
    assert {p.pid for p in report.found} >= set(marked)
    assert step.ignoring in {p.pid for p in report.killed}
    assert carrying(step.token) == []
    await step.ended()
