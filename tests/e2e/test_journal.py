"""The journal through the real command: ``nexus runs``, ``nexus logs``, private files whatever
the umask (T-SEC-7), and 100 MB of output kept byte for byte with bounded memory (T-PROC-6/7)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import TIMEOUT, Nexus, config, raw

pytestmark = pytest.mark.e2e

TALK_OUTPUT = b"out one\nout two\n\xff no newline"


def run_id_of(result: subprocess.CompletedProcess[str]) -> str:
    run_id: str = json.loads(result.stdout)["run_id"]
    return run_id


def test_logs_prints_a_units_output_byte_for_byte(nexus: Nexus) -> None:
    assert nexus("-c", config("talk.toml"), "--headless", "run").returncode == 0

    result = nexus("logs", "last", "--task", "talk", "--host", "local")

    assert result.returncode == 0, result.stderr
    assert raw(result.stdout) == TALK_OUTPUT  # byte for byte: `nexus logs … > file` is exact
    assert "── talk@local step 1 attempt 1" in result.stderr
    log = nexus.only_run() / "output" / "talk" / "local" / "0-1.log"
    assert log.read_bytes() == TALK_OUTPUT


def test_logs_stderr_prints_only_stderr(nexus: Nexus) -> None:
    assert nexus("-c", config("talk.toml"), "--headless", "run").returncode == 0
    run_id = nexus.only_run().name

    both = nexus("logs", run_id[:15], "--task", "grumble")
    only_err = nexus("logs", run_id, "--task", "grumble", "--host", "local", "--stderr")

    assert both.returncode == 0
    # the step wrote to both streams; the journal keeps each alone too, so each goes its way
    assert both.stdout == "out three\n"
    assert "err one" in both.stderr
    assert only_err.returncode == 0
    assert only_err.stdout == "err one\n"
    header, ending = only_err.stderr.splitlines()
    assert header == "── grumble@local step 1 attempt 1"
    assert ending.startswith("── grumble@local step 1 attempt 1 ended: exit status 0 in ")


def test_logs_say_how_a_failed_attempt_ended_after_its_output(nexus: Nexus) -> None:
    assert nexus("-c", config("failure.toml"), "--headless", "run").returncode == 1
    ended = nexus("logs", "last")
    assert ended.returncode == 0, ended.stderr
    assert "Traceback" not in ended.stderr
    failed = [line for line in ended.stderr.splitlines() if " failed: " in line]
    assert failed, ended.stderr
    assert all(line.startswith("── ") for line in failed)
    assert any("exit status" in line for line in failed)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["logs", "19991231-000000-abcdef"], "no recorded run matches '19991231-000000-abcdef'"),
        (["logs", "last", "--task", "nosuchtask"], "recorded no output for that selection"),
        (["logs", "last", "--host", "web1"], "recorded no output for that selection"),
    ],
)
def test_logs_of_something_not_recorded_exit_2(nexus: Nexus, args: list[str], message: str) -> None:
    assert nexus("-c", config("quick.toml"), "--headless", "run").returncode == 0

    result = nexus(*args)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert message in result.stderr
    assert result.stdout == ""


def test_logs_before_any_run_exit_2(nexus: Nexus) -> None:
    result = nexus("logs", "last")

    assert result.returncode == 2
    assert result.stderr == "nexus: no runs recorded yet\n"


@pytest.mark.parametrize("umask", [0o022, 0o000], ids=["umask-022", "umask-000"])
def test_journal_files_are_private_whatever_the_umask(nexus: Nexus, umask: int) -> None:
    result = nexus("-c", config("talk.toml"), "--headless", "run", umask=umask)
    assert result.returncode == 0, result.stderr

    paths = [nexus.state, *nexus.state.rglob("*")]
    modes = {p.relative_to(nexus.state).as_posix(): stat.S_IMODE(p.lstat().st_mode) for p in paths}
    dirs = {name for name, p in zip(modes, paths, strict=True) if p.is_dir()}
    files = set(modes) - dirs
    kinds = (".log", ".err", ".out", ".json", ".jsonl")
    assert {name for name in files if name.endswith(kinds)} == files
    assert len(files) >= 5  # events, summary, talk's .log, grumble's .log and .err
    assert {name: modes[name] for name in dirs} == dict.fromkeys(dirs, 0o700)
    assert {name: modes[name] for name in files} == dict.fromkeys(files, 0o600)
    assert all(not p.is_symlink() and p.stat().st_uid == os.getuid() for p in paths)


# ── 100 MB ──────────────────────────────────────────────────────────────────────────────────────

BIG_PARTS = ((b"a", 50_000_000), (b"\n", 1), (b"b", 49_999_999))
BIG_SIZE = 100_000_000


def big_digest() -> str:
    digest = hashlib.sha256()
    for byte, count in BIG_PARTS:
        block = byte * (1 << 20)
        full, rest = divmod(count, len(block))
        for _ in range(full):
            digest.update(block)
        digest.update(byte * rest)
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def wait_with_usage(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, int]:
    """Wait for ``proc``: its exit code and its peak RSS in KiB (``wait4`` gives the child's own
    resource usage, not that of every child this test process ever had)."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_maxrss
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            pytest.fail(f"nexus did not finish within {timeout}s")
        time.sleep(0.02)


def test_100_mb_of_output_is_kept_exactly(nexus: Nexus) -> None:
    out_path = nexus.cwd.parent / "stdout"
    with out_path.open("wb") as out:
        proc = nexus.popen(
            "-c", config("big.toml"), "--headless", "run", "--format", "json",
            stdout=out, stderr=subprocess.PIPE,
        )  # fmt: skip
        code, peak_kib = wait_with_usage(proc, TIMEOUT)
        assert proc.stderr is not None
        stderr = proc.stderr.read()
        proc.stderr.close()

    assert code == 0, stderr
    document = json.loads(out_path.read_text())
    assert document["status"] == "succeeded"
    log = nexus.only_run() / "output" / "big" / "local" / "0-1.log"
    assert log.stat().st_size == BIG_SIZE
    assert file_digest(log) == big_digest()
    # the output streamed through: nexus never held it (a generous cap; it needs ~50 MB)
    assert peak_kib < 200 * 1024, f"peak RSS {peak_kib} KiB"
