"""LocalTransport against real processes, in what only it does: its own child reaped, failures
to start as error results, sudo's argv, the drain after a normal exit, and nothing left behind,
not even what left the process group with setsid (T-PROC-1, 5, 6, 7, 8, 9 in their local
variants).

What every transport promises (exit states, byte-exact output, env and cwd, stdin, timeout and
cancel killing the whole group, back-pressure) is the contract suite's, run on this transport
too: ``tests/contract/test_transport_contract.py``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nexus_engine.transports.base import CommandResult, CommandSpec
from nexus_engine.transports.local import POST_EXIT_CAP, LocalTransport
from nexus_engine.words import Stream
from tests.transport_helpers import Sink, assert_groups_vanish, live_members, run_on

GRACE = 0.5


async def run(
    command: str, sink: Sink | None = None, cancel: asyncio.Event | None = None, **spec: object
) -> tuple[CommandResult, Sink]:
    return await run_on(LocalTransport(kill_grace=GRACE), command, sink=sink, cancel=cancel, **spec)


_GROUPS_TO_CHECK: list[int] = []


async def assert_group_gone(pgid: int) -> None:
    """No process of the group is alive now; and (checked once for all groups at the end of the
    module, see ``groups_disappear``) os.killpg(pgid, 0) raises ProcessLookupError."""
    for _ in range(50):
        if not live_members(pgid):
            break
        await asyncio.sleep(0.02)
    assert live_members(pgid) == []
    _GROUPS_TO_CHECK.append(pgid)


@pytest.fixture(autouse=True, scope="module")
def groups_disappear() -> Iterator[None]:
    """Every group a test killed is gone. Checked once at the end, with a deadline, because a
    killed process stays a zombie until its reaper waits for it: Nexus for the orphans it adopts
    as subreaper, but PID 1, in some containers only every few seconds, for anything else."""
    yield
    assert_groups_vanish(_GROUPS_TO_CHECK)


def assert_reaped(pid: int) -> None:
    """The direct child is not a zombie of ours: it has been waited for."""
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    assert not Path(f"/proc/{pid}").exists() or pid not in live_members(pid)


# ── the step's shell is our child ───────────────────────────────────────────────────────────────


async def test_child_is_reaped() -> None:
    result, sink = await run("echo $$")
    assert result.exit_code == 0
    assert_reaped(sink.first_line())
    await assert_group_gone(sink.first_line())


# ── failures to start are results ───────────────────────────────────────────────────────────────


async def test_missing_cwd_is_an_error_result(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    result, sink = await run("echo never", cwd=str(missing))
    assert result.exit_code is None
    assert not result.succeeded
    assert result.error is not None
    assert str(missing) in result.error
    assert "working directory" in result.error
    assert sink.chunks == []


async def test_cwd_not_a_directory_is_an_error_result(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_text("")
    result, _ = await run("true", cwd=str(file))
    assert result.exit_code is None
    assert result.error is not None
    assert "Not a directory" in result.error


async def test_invalid_env_name_is_an_error_result() -> None:
    result, _ = await run("true", env={"A=B": "x"})
    assert result.exit_code is None
    assert result.error is not None


# ── sudo: argv built as a list, env values never in it ──────────────────────────────────────────


@pytest.fixture
def fake_sudo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[str] | None]:
    """A stand-in sudo early on PATH that records its argv and refuses like ``sudo -n`` does;
    the fixture's value reads the argv it was called with (None if it was not called)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    argv_file = tmp_path / "argv"
    sudo = bindir / "sudo"
    sudo.write_text(
        f'#!/bin/sh\nfor a in "$@"; do printf \'%s\\n\' "$a"; done > {argv_file}\n'
        "echo 'sudo: a password is required' >&2\nexit 1\n"
    )
    sudo.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    return lambda: argv_file.read_text().splitlines() if argv_file.exists() else None


#: a step's token, and the shell behind sudo that sets it again (sudo resets the environment)
STEP_ID = "ab" * 16
MARKED = f'NEXUS_STEP_ID={STEP_ID}; export NEXUS_STEP_ID; exec /bin/sh -c "$0"'


async def test_sudo_argv_and_sudo_error_is_the_result(
    fake_sudo: Callable[[], list[str] | None],
) -> None:
    result, sink = await run(
        "echo $TOKEN",
        sudo=True,
        user="deploy",
        env={"TOKEN": "s3cr3t", "B": "x"},
        step_id=STEP_ID,
    )
    assert (result.exit_code, result.error) == (1, None)
    assert sink.err == b"sudo: a password is required\n"
    argv = fake_sudo()
    assert argv == [
        "-n", "-u", "deploy", "--preserve-env=B,TOKEN", "--", "/bin/sh", "-c", MARKED,
        "echo $TOKEN",
    ]  # fmt: skip
    assert "s3cr3t" not in str(argv)


async def test_sudo_without_env_or_user(fake_sudo: Callable[[], list[str] | None]) -> None:
    await run("id", sudo=True, step_id=STEP_ID)
    assert fake_sudo() == ["-n", "--", "/bin/sh", "-c", MARKED, "id"]


async def test_sudo_rejects_option_like_user(fake_sudo: Callable[[], list[str] | None]) -> None:
    result, _ = await run("id", user="-s")
    assert result.exit_code is None
    assert result.error is not None
    assert fake_sudo() is None


async def test_sudo_not_installed_is_an_error_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    result, _ = await run("id", sudo=True)
    assert result.exit_code is None
    assert result.error is not None
    assert "sudo" in result.error


async def test_real_sudo_runs_the_step_as_root_with_its_environment() -> None:
    """sudo comes with the test command's system packages; as root it always admits us, and as
    anyone else without a sudoers entry ``sudo -n`` must say so itself rather than hang."""
    assert shutil.which("sudo"), "sudo is missing: `just system-deps` installs it"
    result, sink = await run('id -u; printf %s "$STAGE"', sudo=True, env={"STAGE": "prod"})
    assert result.error is None
    if os.geteuid() == 0:
        assert (result.exit_code, sink.out) == (0, b"0\nprod")
    else:
        assert result.exit_code == 1
        assert b"sudo" in sink.err


# ── leftovers after a normal exit ───────────────────────────────────────────────────────────────


async def test_normal_exit_with_background_job_holding_the_pipes() -> None:
    begun = time.monotonic()
    result, sink = await run("echo $$; sleep 300 & echo started")
    assert (result.exit_code, result.timed_out) == (0, False)
    assert sink.out.endswith(b"started\n")
    assert time.monotonic() - begun < 30  # not the background job's 300 s
    await assert_group_gone(sink.first_line())


async def test_normal_exit_with_detached_background_job() -> None:
    result, sink = await run("echo $$; sleep 300 >/dev/null 2>&1 &")
    assert result.exit_code == 0
    await assert_group_gone(sink.first_line())


async def test_output_written_just_before_exit_by_a_background_job_is_kept() -> None:
    result, sink = await run("(sleep 0.2; echo late) & echo early")
    assert result.exit_code == 0
    assert sink.out == b"early\nlate\n"


async def test_slow_sink_after_exit_does_not_truncate_the_childs_output() -> None:
    calls = 0

    async def stalls_once(stream: Stream, data: bytes) -> None:
        nonlocal calls
        calls += 1
        received.extend(data)
        if calls == 1:
            await asyncio.sleep(0.8)  # longer than the drain: the child exits meanwhile

    received = bytearray()
    result = await LocalTransport(kill_grace=GRACE, drain=0.3).run(
        CommandSpec("head -c 200000 /dev/zero"), stalls_once, asyncio.Event()
    )
    assert result.exit_code == 0
    assert len(received) == 200000


async def test_endless_writer_left_behind_is_cut_off_and_killed() -> None:
    # The leftover starts writing only once the shell has been reaped, so everything it wrote
    # counts against the post-exit cap, however fast this machine's `yes` is.
    leftover = "(while kill -0 $$ 2>/dev/null; do sleep 0.01; done; exec yes) &"
    result, sink = await run(f"echo $$; {leftover}")
    assert result.exit_code == 0
    assert POST_EXIT_CAP < len(sink.out) < POST_EXIT_CAP + 1024 * 1024
    await assert_group_gone(sink.first_line())


# ── what leaves the group with setsid: killed and reaped all the same ───────────────────────────

ESCAPEE = "setsid sleep 600 & echo $!; sleep 600"  # the first line is the escapee's pid
ORPHANED_ESCAPEE = "(setsid sleep 600 & echo $!); sleep 600"  # its parent exits at once


async def until(holds: Callable[[], bool], within: float = 10) -> None:
    """Poll until ``holds()`` is true; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not holds():
        assert time.monotonic() < deadline, f"not true within {within} s"
        await asyncio.sleep(0.01)


def stat_of(pid: int) -> tuple[str, int, int] | None:
    """(state, parent, session) of a process; None once it has been reaped."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return None
    return fields[0], int(fields[1]), int(fields[3])


def reaped(pid: int) -> bool:
    """Gone from /proc: not running, and not a zombie waiting for its parent either."""
    return stat_of(pid) is None


def escaped(pid: int) -> bool:
    """Running in a session of its own, so the step's process group does not hold it."""
    stat = stat_of(pid)
    return stat is not None and stat[0] != "Z" and stat[2] == pid


@pytest.fixture
def escapees() -> Iterator[list[int]]:
    """The escapees a test expects to be gone. Each leads its own session and process group;
    any group still there at teardown (the test failed) is KILLed, so that no ``sleep 600`` is
    left behind."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


async def cancel_when(
    sink: Sink,
    cancel: asyncio.Event,
    pids: list[int],
    lines: int,
    ready: Callable[[list[int]], bool],
) -> None:
    """Once the step printed ``lines`` pids (added to ``pids``) and ``ready(pids)`` holds, set
    ``cancel``; on failure too, so that a failing test does not wait for the step's sleep."""
    try:
        await until(lambda: sink.out.count(b"\n") >= lines)
        pids.extend(int(line) for line in sink.out.split()[:lines])
        await until(lambda: ready(pids))
    finally:
        cancel.set()


async def test_timeout_kills_and_reaps_a_setsid_escapee(escapees: list[int]) -> None:
    result, sink = await run(ESCAPEE, timeout=1)
    escapees.append(sink.first_line())
    assert result.timed_out
    assert reaped(escapees[0])


async def test_cancel_kills_and_reaps_a_setsid_escapee(escapees: list[int]) -> None:
    cancel, sink = asyncio.Event(), Sink()
    ready = lambda pids: escaped(pids[0])  # noqa: E731
    waiting = asyncio.create_task(cancel_when(sink, cancel, escapees, 1, ready))
    result, _ = await run(ESCAPEE, sink=sink, cancel=cancel, timeout=60)
    await waiting
    (escapee,) = escapees
    assert result.cancelled
    assert reaped(escapee)


async def test_cancel_reaches_an_escapee_already_adopted_by_nexus(escapees: list[int]) -> None:
    """Its parent has exited: only its NEXUS_STEP_ID ties it to the step."""
    cancel, sink = asyncio.Event(), Sink()

    def adopted(pids: list[int]) -> bool:
        return escaped(pids[0]) and (stat_of(pids[0]) or ("", 0))[1] == os.getpid()

    waiting = asyncio.create_task(cancel_when(sink, cancel, escapees, 1, adopted))
    result, _ = await run(ORPHANED_ESCAPEE, sink=sink, cancel=cancel, timeout=60)
    await waiting
    (escapee,) = escapees
    assert result.cancelled
    assert reaped(escapee)


async def test_normal_exit_kills_and_reaps_a_setsid_escapee(escapees: list[int]) -> None:
    begun = time.monotonic()
    result, sink = await run("setsid sleep 600 & echo $!")
    escapees.append(sink.first_line())
    assert (result.exit_code, result.timed_out) == (0, False)
    assert time.monotonic() - begun < 15  # it holds stdout: the drain, not its 600 s
    assert reaped(escapees[0])


@pytest.mark.parametrize("end", ["exit", "cancel"])
async def test_a_double_escape_is_reached(tmp_path: Path, end: str, escapees: list[int]) -> None:
    """A setsid'd shell that setsids a sleep: after a normal exit the shell is an adopted child of
    Nexus and the sleep its child; on cancel both descend from the step's shell."""
    inner = tmp_path / "inner"
    command = (
        f"setsid sh -c 'setsid sleep 600 & echo $! > {inner}; sleep 600' & echo $!; "
        f"until [ -s {inner} ]; do sleep 0.01; done; cat {inner}"
    )
    cancel, sink = asyncio.Event(), Sink()
    if end == "cancel":
        command += "; sleep 600"
        both = lambda pids: all(map(escaped, pids))  # noqa: E731
        waiting = asyncio.create_task(cancel_when(sink, cancel, escapees, 2, both))
    result, _ = await run(command, sink=sink, cancel=cancel, timeout=60)
    if end == "cancel":
        await waiting
    else:
        escapees.extend(int(line) for line in sink.out.split())
    outer, innermost = escapees
    assert result.cancelled == (end == "cancel")
    assert result.exit_code == (0 if end == "exit" else None)
    assert reaped(outer)
    assert reaped(innermost)


@pytest.fixture
def outsiders() -> Iterator[tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]]:
    """Two children of this process in sessions of their own, as asyncssh starts a ProxyCommand:
    a ``sleep 600``, and a shell that exits 3 at once."""
    running = subprocess.Popen(["sleep", "600"], start_new_session=True)
    finished = subprocess.Popen(["sh", "-c", "exit 3"], start_new_session=True)
    yield running, finished
    running.kill()
    running.wait()
    finished.wait()


async def test_a_sweep_spares_processes_that_are_not_the_steps(
    outsiders: tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]], escapees: list[int]
) -> None:
    """A sweep that killed and reaped an escapee neither kills nor reaps Nexus's other children."""
    running, finished = outsiders
    await until(lambda: (stat_of(finished.pid) or ("",))[0] == "Z")
    result, sink = await run("setsid sleep 600 & echo $!")
    escapees.append(sink.first_line())
    assert result.exit_code == 0
    assert reaped(escapees[0])  # the sweep did kill and reap
    assert escaped(running.pid)  # alive, and not a zombie
    assert finished.poll() == 3  # its status was left for its owner (stolen, it would read 0)


# ── a sink that fails, a task that is cancelled ─────────────────────────────────────────────────


async def test_sink_failure_propagates_and_kills_the_group() -> None:
    pids: list[int] = []

    async def failing(stream: Stream, data: bytes) -> None:
        pids.append(int(data.split(b"\n", 1)[0]))
        raise RuntimeError("sink broke")

    with pytest.raises(RuntimeError, match="sink broke"):
        await LocalTransport(kill_grace=GRACE).run(
            CommandSpec("echo $$; sleep 300"), failing, asyncio.Event()
        )
    await assert_group_gone(pids[0])


async def test_task_cancellation_kills_the_group() -> None:
    sink = Sink()
    task = asyncio.create_task(run("echo $$; sleep 300", sink=sink))
    await sink.started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await assert_group_gone(sink.first_line())
