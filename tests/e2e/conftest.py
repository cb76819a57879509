"""Helpers for end-to-end tests: the real ``nexus`` console script in a subprocess.

Every test gets its own working directory and journal (``NEXUS_STATE_DIR``) under ``tmp_path``,
a clean environment (no ``NO_COLOR``, no leftover ``NEXUS_*``), and every subprocess a timeout.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from nexus_engine.journal import list_runs

NEXUS = Path(sys.executable).with_name("nexus")
CONFIGS = Path(__file__).parent / "configs"
EXAMPLE = Path(__file__).resolve().parents[2] / "nexus.toml.example"
TIMEOUT = 30  # seconds; generous: every run here takes well under 2 s
SECRET = "hunter2-s3cret"  # noqa: S105 - the value the redaction tests look for


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``root`` the tests that mount a file system (``full_disk``): like the sshd lab they
    fail, never skip, without root, and ``-m 'not sshd and not root'`` leaves both out."""
    for item in items:
        if "full_disk" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.root)


def config(name: str) -> Path:
    path = CONFIGS / name
    assert path.is_file(), path
    return path


def clean_env(state: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NO_COLOR", "FORCE_COLOR") and not k.startswith("NEXUS_")
    }
    env["NEXUS_STATE_DIR"] = str(state)
    env.setdefault("TERM", "xterm-256color")
    # the example's files go under $TMPDIR: a test's own, so parallel runs never share them
    scratch = state.parent / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    env["TMPDIR"] = str(scratch)
    return env


@dataclass
class Nexus:
    """Runs ``nexus`` with ``cwd`` = a fresh directory and the journal under ``state``."""

    cwd: Path
    state: Path
    env: dict[str, str] = field(default_factory=dict)

    def __call__(
        self,
        *args: str | Path,
        env: Mapping[str, str | None] | None = None,
        cwd: Path | None = None,
        timeout: float = TIMEOUT,
        **kwargs: Any,
    ) -> subprocess.CompletedProcess[str]:
        """``nexus args`` to completion. Output is text; undecodable bytes survive as surrogates
        (``raw(text)`` gives them back)."""
        return subprocess.run(
            [str(NEXUS), *map(str, args)],
            cwd=cwd or self.cwd,
            env=self.environment(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            encoding="utf-8",
            errors="surrogateescape",
            timeout=timeout,
            check=False,
            **kwargs,
        )

    def popen(
        self, *args: str | Path, env: Mapping[str, str | None] | None = None, **kwargs: Any
    ) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [str(NEXUS), *map(str, args)],
            cwd=self.cwd,
            env=self.environment(env),
            stdin=subprocess.DEVNULL,
            **kwargs,
        )

    def environment(self, extra: Mapping[str, str | None] | None = None) -> dict[str, str]:
        env = dict(self.env)
        for key, value in (extra or {}).items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    # -- the journal --

    def runs(self) -> list[Path]:
        """Oldest first, by when each started: two runs in one second have ids that sort by
        their random suffix, not by time."""
        return [record.path for record in reversed(list_runs(self.state))]

    def only_run(self) -> Path:
        runs = self.runs()
        assert len(runs) == 1, runs
        return runs[0]

    def summary(self, run_dir: Path | None = None) -> dict[str, Any]:
        run_dir = run_dir or self.only_run()
        document: dict[str, Any] = json.loads((run_dir / "summary.json").read_text())
        return document

    def events(self, run_dir: Path | None = None) -> list[dict[str, Any]]:
        run_dir = run_dir or self.only_run()
        lines = (run_dir / "events.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]


def make_nexus(tmp_path: Path, home: Path | None = None) -> Nexus:
    """The real ``nexus`` in a fresh directory with a journal of its own; ``home``: the SSH
    lab's HOME (its key and known_hosts), with no agent to fall back on."""
    work = tmp_path / "work"
    work.mkdir()
    state = tmp_path / "state"
    env = clean_env(state)
    if home is not None:
        env["HOME"] = str(home)
        env.pop("SSH_AUTH_SOCK", None)
    return Nexus(cwd=work, state=state, env=env)


@pytest.fixture
def nexus(tmp_path: Path) -> Nexus:
    return make_nexus(tmp_path)


def raw(text: str) -> bytes:
    """The bytes a ``Nexus`` call's text output was decoded from."""
    return text.encode("utf-8", "surrogateescape")


def unit(document: Mapping[str, Any], task: str, host: str = "local") -> dict[str, Any]:
    """One unit's outcome in a ``--format json`` document (or summary.json)."""
    result: dict[str, Any] = document["tasks"][task]["hosts"][host]
    return result


def statuses(document: Mapping[str, Any]) -> dict[str, str]:
    """``{task: status}`` of the local units of a ``--format json`` document."""
    return {name: task["hosts"]["local"]["status"] for name, task in document["tasks"].items()}


def wait_for_file(path: Path, proc: subprocess.Popen[bytes], timeout: float = TIMEOUT) -> str:
    """The content of ``path`` once it exists (written atomically with ``mv``)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"nexus exited ({proc.returncode}) before {path.name} appeared")
        if time.monotonic() > deadline:
            pytest.fail(f"{path.name} did not appear within {timeout}s")
        time.sleep(0.02)
    return path.read_text()


# ── process groups ──────────────────────────────────────────────────────────────────────────────

_PR_SET_CHILD_SUBREAPER = 36


def _set_subreaper(on: bool) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) != 0:
        pytest.skip(f"prctl(PR_SET_CHILD_SUBREAPER) failed: errno {ctypes.get_errno()}")


def group_members(pgid: int) -> list[tuple[int, int, str]]:
    """``(pid, ppid, state)`` of every process in the group, zombies included."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[2]) == pgid:
            found.append((int(entry.name), int(fields[1]), fields[0]))
    return found


@dataclass
class Reaper:
    """Makes this test process the child subreaper, so processes orphaned by a command are
    re-parented to us rather than to PID 1 (which, in some containers, reaps only every few
    seconds): once dead, we reap them, and ``os.killpg(pgid, 0)`` can be checked at once."""

    groups: list[int] = field(default_factory=list)

    def assert_group_gone(self, pgid: int) -> None:
        """No process of the group is left: none alive, and once the dead (zombies re-parented to
        us) are reaped, the group does not exist at all."""
        self.groups.append(pgid)
        members = group_members(pgid)
        alive = [m for m in members if m[2] not in ("Z", "X")]
        assert alive == [], f"processes of group {pgid} still alive: {alive}"
        deadline = time.monotonic() + 5
        while True:
            self._reap(pgid)
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"group {pgid} still exists: {group_members(pgid)}")
            time.sleep(0.02)

    @staticmethod
    def _reap(pgid: int) -> None:
        for pid, ppid, state in group_members(pgid):
            if ppid == os.getpid() and state in ("Z", "X"):
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)

    def cleanup(self) -> None:
        for pgid in self.groups:  # a failed test must not leave `sleep 30` behind
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            time.sleep(0.01)
            self._reap(pgid)


@pytest.fixture
def reaper() -> Iterator[Reaper]:
    if not sys.platform.startswith("linux"):
        pytest.skip("needs Linux: prctl and /proc")
    _set_subreaper(True)
    keeper = Reaper()
    try:
        yield keeper
    finally:
        _set_subreaper(False)
        keeper.cleanup()


def read_pidfile(text: str) -> tuple[int, int]:
    """``(pid, pgid)`` as the fixture commands write them: ``echo $$ <pgid>``."""
    pid, pgid = map(int, text.split())
    return pid, pgid


# ── a pseudo-terminal ───────────────────────────────────────────────────────────────────────────


def run_in_pty(
    argv: Sequence[str | Path],
    *,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float = TIMEOUT,
) -> tuple[int, bytes]:
    """Run ``argv`` with stdout and stderr on a pseudo-terminal; (exit code, all it wrote)."""
    import pty  # noqa: PLC0415 - POSIX only, and only these tests need it

    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [str(a) for a in argv],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=slave,
        )
    finally:
        os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                proc.kill()
                pytest.fail(f"{argv} did not finish within {timeout}s")
            ready, _, _ = select.select([master], [], [], min(left, 0.5))
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every slave end is closed, i.e. the command has exited
                break
            if not data:
                break
            chunks.append(data)
        code = proc.wait(timeout=max(deadline - time.monotonic(), 1))
    finally:
        os.close(master)
    return code, b"".join(chunks)


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "Traceback" not in result.stdout, result.stdout
