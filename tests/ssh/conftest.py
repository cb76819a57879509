"""Fixtures for tests against real OpenSSH servers (see :mod:`tests.ssh.harness`).

The lab needs root and OpenSSH: where they are missing the fixture *fails*, never skips, so a
CI machine without them cannot pass by silently running none of the SSH tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ssh.harness import SshLab, SshLabUnavailable


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
