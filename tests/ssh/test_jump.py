"""Hosts behind a jump host (``ProxyJump`` in ``~/.ssh/config``): a failure on the way names the
target and the jump, and which of them failed; a failure at the target itself is the target's.
And the route a dry run shows is the one a connection takes."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus_engine.transports.ssh.connect import Login, Route, route
from nexus_engine.transports.ssh.transport import SshTransport
from nexus_engine.words import Failure
from tests.ssh.harness import SshLab
from tests.ssh.support import pool_for_test, run

pytestmark = pytest.mark.usefixtures("in_ssh_home")


def behind(home: Path, alias: str, target: tuple[str, int], jump: str) -> None:
    """``alias`` in ~/.ssh/config: ``target`` through ``jump``."""
    address, port = target
    (home / ".ssh" / "config").write_text(
        f"Host {alias}\n  HostName {address}\n  Port {port}\n  ProxyJump {jump}\n"
    )


async def reach(lab: SshLab, alias: str, user: str | None = None) -> tuple[Failure | None, str]:
    async with pool_for_test() as pool:
        transport = SshTransport(pool, Login(alias, alias, None, user or lab.key_user))
        result, _ = await run(transport, "true")
    return result.failure, result.error or ""


async def test_a_jump_host_that_refuses_is_named_as_what_failed(
    ssh_lab: SshLab, in_ssh_home: Path
) -> None:
    target = ssh_lab.hosts[3]
    address, port = ssh_lab.refused()
    jump = f"{ssh_lab.key_user}@{address}:{port}"
    behind(in_ssh_home, "inner", (target.address, target.port), jump)

    failure, error = await reach(ssh_lab, "inner")

    assert failure is Failure.UNREACHABLE
    where = f"{ssh_lab.key_user}@{target.address}:{target.port}"
    assert error == (
        f"cannot reach inner ({where}) through jump {jump}: the jump host failed: "
        f"connection refused by {jump}"
    )


async def test_a_target_that_refuses_behind_a_working_jump_is_named(
    ssh_lab: SshLab, in_ssh_home: Path
) -> None:
    hop = ssh_lab.hosts[2]
    address, port = ssh_lab.refused()
    jump = f"{ssh_lab.key_user}@{hop.address}:{hop.port}"
    behind(in_ssh_home, "inner", (address, port), jump)

    failure, error = await reach(ssh_lab, "inner")

    assert failure is Failure.UNREACHABLE
    where = f"{ssh_lab.key_user}@{address}:{port}"
    assert error.startswith(
        f"cannot reach inner ({where}) through jump {jump}: {jump} could not connect to it: "
    ), error
    assert "refused" in error.lower()


async def test_a_login_refused_by_the_target_itself_is_the_targets(
    ssh_lab: SshLab, in_ssh_home: Path
) -> None:
    """The way there worked: the jump is not blamed for what the target said."""
    hop, target = ssh_lab.hosts[2], ssh_lab.hosts[3]
    behind(
        in_ssh_home,
        "inner",
        (target.address, target.port),
        f"{ssh_lab.key_user}@{hop.address}:{hop.port}",
    )

    failure, error = await reach(ssh_lab, "inner", user="nosuchuser")

    assert failure is Failure.AUTH_FAILED
    assert error.startswith("authentication failed for nosuchuser@inner"), error
    assert "jump" not in error


async def test_a_host_behind_a_working_jump_runs(ssh_lab: SshLab, in_ssh_home: Path) -> None:
    hop, target = ssh_lab.hosts[2], ssh_lab.hosts[3]
    behind(
        in_ssh_home,
        "inner",
        (target.address, target.port),
        f"{ssh_lab.key_user}@{hop.address}:{hop.port}",
    )
    failure, error = await reach(ssh_lab, "inner")
    assert failure is None, error


def test_the_route_is_the_one_ssh_config_gives(ssh_lab: SshLab, in_ssh_home: Path) -> None:
    target = ssh_lab.hosts[3]
    behind(in_ssh_home, "inner", (target.address, target.port), "ops@bastion:2222")

    assert route(Login("inner", "inner", None, "deploy")) == Route(
        "deploy", target.address, target.port, jump="ops@bastion:2222"
    )
    # nexus.toml's port and user come first; a host ssh_config does not name goes direct
    assert route(Login("inner", "inner", 2200)).port == 2200
    assert route(Login("web1", "10.0.0.5", None, "deploy")) == Route("deploy", "10.0.0.5", 22)
    assert route(Login("web1", "10.0.0.5", 22, "deploy")).where == "deploy@10.0.0.5:22"
