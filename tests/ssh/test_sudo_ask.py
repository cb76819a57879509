"""``-K``: the sudo password asked for once, when a step needs sudo and the config sets none;
against real sshd and sudo (the lab's password user needs its password for sudo)."""

from __future__ import annotations

import pytest

from nexus_engine.transports.ssh.pool import SshPool
from nexus_engine.transports.ssh.transport import SUDO_QUESTION, SshTransport
from nexus_engine.words import Failure
from tests.ssh.harness import SshLab
from tests.ssh.support import GRACE, Prompter, login, run, token

pytestmark = pytest.mark.usefixtures("in_ssh_home")


def asking(lab: SshLab, pool: SshPool, answer: str | None) -> tuple[SshTransport, Prompter]:
    prompter = Prompter(answer)
    host = lab.hosts[0]
    where = login(
        lab, host, name=f"{host.name}-k-{token()}", user=lab.password_user, password=lab.password
    )
    return SshTransport(pool, where, kill_grace=GRACE, ask_sudo=prompter), prompter


async def test_the_sudo_password_is_asked_once_and_never_shown(
    ssh_lab: SshLab, pool: SshPool
) -> None:
    transport, prompter = asking(ssh_lab, pool, ssh_lab.password)
    for _ in range(2):
        result, sink = await run(transport, "id -u", sudo=True, timeout=10)
        assert result.succeeded, (result, sink.err)
        assert sink.out == b"0\n"
        assert ssh_lab.password.encode() not in sink.out + sink.err
    assert prompter.asked == [SUDO_QUESTION]  # the answer is kept for the host's next steps
    result, _ = await run(transport, "true", timeout=10)
    assert result.succeeded
    assert prompter.asked == [SUDO_QUESTION]  # a step without sudo asks nothing


@pytest.mark.parametrize("answer", [None, "wrong-answer"], ids=["unanswered", "wrong"])
async def test_no_or_a_wrong_answer_fails_the_sudo_step_as_sudo_does(
    ssh_lab: SshLab, pool: SshPool, answer: str | None
) -> None:
    transport, _ = asking(ssh_lab, pool, answer)
    result, sink = await run(transport, "echo ran", sudo=True, timeout=30)
    expected = Failure.SUDO_PASSWORD_REQUIRED if answer is None else Failure.SUDO_AUTH_FAILED
    assert result.failure is expected, (result, sink.err)
    assert b"ran" not in sink.out
