"""Fixtures for tests against real OpenSSH servers (see :mod:`tests.ssh.harness`).

The lab needs root and OpenSSH: where they are missing the fixture *fails*, never skips, so a
CI machine without them cannot pass by silently running none of the SSH tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from nexus_engine.transports.ssh.pool import SshPool
from tests.ssh.harness import SshLab, SshLabUnavailable
from tests.ssh.support import pool_for_test, use_home


@pytest.fixture(scope="session")
def ssh_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshLab]:
    """One lab of 20 hosts per session (per xdist worker): starting sshd per test is waste."""
    try:
        lab = SshLab.start(tmp_path_factory.mktemp("sshlab"), n_hosts=20)
    except SshLabUnavailable as exc:
        pytest.fail(f"cannot start the SSH test lab: {exc}", pytrace=False)
    with lab:
        yield lab


@pytest.fixture
def ssh_home(ssh_lab: SshLab, tmp_path: Path) -> Path:
    """A fresh fake HOME with the lab's client key and known_hosts in ``.ssh``."""
    return ssh_lab.make_home(tmp_path / "home")


@pytest.fixture
def in_ssh_home(monkeypatch: pytest.MonkeyPatch, ssh_home: Path) -> Path:
    """``ssh_home`` as $HOME for Nexus in this process, with no ssh-agent."""
    use_home(monkeypatch, ssh_home)
    return ssh_home


@pytest.fixture
async def pool() -> AsyncIterator[SshPool]:
    """A strict-policy pool, closed after the test whatever it did."""
    async with pool_for_test() as pool:
        yield pool
