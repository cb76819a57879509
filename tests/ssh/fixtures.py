"""The SSH test fixtures, a plugin of the whole suite (``tests/conftest.py``) so that tests
outside ``tests/ssh`` (the transport contract suite) can use the lab too.

Two tiers:

* the real OpenSSH lab (:mod:`tests.ssh.harness`): needs root and sshd. Where they are missing
  the ``ssh_lab`` fixture *fails*, never skips, so a CI machine without them cannot pass by
  silently running none of the SSH tests. Every test that uses it is marked ``sshd``
  (:func:`pytest_collection_modifyitems`), so ``pytest -m 'not sshd'`` leaves exactly those out;
* an SSH server in this process (:mod:`tests.ssh.inprocess`): needs neither, and runs everywhere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from nexus_engine.transports.ssh.pool import SshPool
from tests.ssh.harness import SshLab, SshLabUnavailable
from tests.ssh.support import pool_for_test, use_home


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``sshd`` every test that needs the lab, whether it asks for ``ssh_lab`` or for a
    fixture that does (the contract suite marks its lab parameter itself)."""
    for item in items:
        if "ssh_lab" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.sshd)


def start_lab(root: Path, n_hosts: int) -> SshLab:
    """A lab of its own for a test that needs another size than the session's; like that one,
    a failure (never a skip) where the machine cannot run it. Mark such a test ``sshd``."""
    try:
        return SshLab.start(root, n_hosts=n_hosts)
    except SshLabUnavailable as exc:
        pytest.fail(f"cannot start the SSH test lab: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def ssh_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshLab]:
    """One lab of 20 hosts per session (per xdist worker): starting sshd per test is waste."""
    with start_lab(tmp_path_factory.mktemp("sshlab"), n_hosts=20) as lab:
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
