"""A host's connection is closed as soon as its last unit has settled, not at the end of the
run: a 1,000-host run would otherwise hold a socket (a file) per host until every host is done.
Checked in this process against the sshd lab, through the engine's own wiring."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from nexus_engine import events as ev
from nexus_engine.config import load_config
from nexus_engine.plan import build_plan
from nexus_engine.scheduler import FailurePolicy
from nexus_engine.session import start_session
from tests.ssh.harness import SshLab
from tests.ssh.support import until
from tests.ssh.test_runs import host_table

pytestmark = pytest.mark.usefixtures("in_ssh_home")


@pytest.fixture
def word() -> Iterator[Path]:
    """Where the test gives a waiting step its word: a file the lab's user can look for."""
    where = Path(tempfile.mkdtemp(prefix="nexus-go-"))
    where.chmod(0o755)
    yield where / "go"
    shutil.rmtree(where)


async def test_a_host_done_with_its_units_is_let_go_while_others_work(
    ssh_lab: SshLab, tmp_path: Path, word: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = ssh_lab.hosts[:2]
    go = word
    config = tmp_path / "nexus.toml"
    config.write_text(
        host_table([first, second], ssh_lab.key_user)
        + f'[tasks.quick]\non = "{first.name}"\ncommands = ["true"]\n'
        + f'[tasks.slow]\non = "{second.name}"\ndeps = ["quick"]\n'
        # the slow step waits for the test's word, so the check below sees it running
        + f'commands = ["while [ ! -e {go} ]; do sleep 0.05; done"]\n'
    )
    closes: list[asyncssh.SSHClientConnection] = []
    close = asyncssh.SSHClientConnection.close

    def counted(connection: asyncssh.SSHClientConnection) -> None:
        closes.append(connection)
        close(connection)

    monkeypatch.setattr(asyncssh.SSHClientConnection, "close", counted)
    loaded = load_config(config)
    session = start_session(
        loaded, build_plan(loaded, []), policy=FailurePolicy.FAIL_FAST, state_dir=tmp_path
    )
    events = session.runner.bus.subscribe()
    running = asyncio.create_task(session.run(handle_signals=False))
    async for event in events:
        if isinstance(event, ev.StepStarted) and event.task == "slow":
            break
    pool = session.connections.pool if session.connections else None
    assert pool is not None
    await until(lambda: pool.connections(second.name) == 1)  # slow's host: at work
    await until(lambda: pool.connections(first.name) == 0)  # quick's host: let go meanwhile
    assert pool.connections(second.name) == 1
    go.touch()
    async for _ in events:  # the rest, so the bus never waits on this subscriber
        pass
    finished = await running
    assert session.exit_code(finished) == 0, finished
    assert pool.opened == 2  # one connection each, none reopened
    # each closed once: the host let go early is not told goodbye again at the run's end
    assert len(closes) == len(set(closes)) == 2
