"""Fixtures of the ``ensure`` tests: where steps converge (this machine, or a host of the sshd
lab as its key user, in a directory that user owns), and a project directory for the config,
its sources and templates."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_engine.transports.ssh.pool import SshPool
from nexus_engine.transports.ssh.transport import SshTransport
from tests.e2e.conftest import Nexus, make_nexus
from tests.ops.support import Place, lab_place, local_place
from tests.ops.test_hostile import Lab
from tests.ssh.harness import SshLab
from tests.ssh.support import GRACE, login


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Where the test's nexus.toml, sources and templates live."""
    path = tmp_path / "project"
    path.mkdir()
    return path


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """The journal of the test's runs."""
    return tmp_path / "state"


@pytest.fixture
def nexus(tmp_path: Path) -> Nexus:
    """The real ``nexus`` command, in a directory of its own, with a journal of its own."""
    (tmp_path / "nexus").mkdir()
    return make_nexus(tmp_path / "nexus")


@pytest.fixture
def lab_dir() -> Iterator[Path]:
    """A directory the lab's users can reach: the hosts are this machine, and pytest's own
    temporary directories are private to root."""
    path = Path(tempfile.mkdtemp(prefix="nexus-ops-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def here(tmp_path: Path) -> Place:
    """This machine alone, for what does not depend on the transport."""
    return local_place(tmp_path)


@pytest.fixture(params=["local", pytest.param("sshd", marks=pytest.mark.sshd)])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    """Each test that asks for it runs twice: on this machine, and over real sshd."""
    if request.param == "local":
        return local_place(tmp_path)
    lab: SshLab = request.getfixturevalue("ssh_lab")
    request.getfixturevalue("in_ssh_home")
    return lab_place(lab, request.getfixturevalue("lab_dir"))


@pytest.fixture
def host(ssh_lab: SshLab, pool: SshPool, lab_dir: Path, project: Path) -> Lab:
    """A lab host reached over one SSH connection for the whole test (the hostile-value
    tests of every kind): a fresh root per Hypothesis example."""
    transport = SshTransport(pool, login(ssh_lab, ssh_lab.hosts[5]), kill_grace=GRACE)
    return Lab(ssh_lab, transport, lab_dir, project)
