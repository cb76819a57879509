"""A step's start is on disk before its command is sent (issue 12, "nothing lost across a
crash"): the journal acknowledges it, the starts of units that begin together share one fsync,
and a start the journal cannot write is never run. Real runs through ``start_session``, with
the real local transport; ``os.fsync`` is watched in-process."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from nexus_engine import events as ev
from nexus_engine import journal
from nexus_engine.config import load_config
from nexus_engine.plan import Unit, build_plan
from nexus_engine.scheduler import FailurePolicy
from nexus_engine.session import RunSession, start_session
from nexus_engine.status import RunStatus, UnitStatus
from nexus_engine.transports.base import CommandResult, CommandSpec, OutputSink
from nexus_engine.transports.local import LocalTransport
from tests.engine.test_session import run_collecting

TOKEN = re.compile(r"[0-9a-f]{32}\Z")


class Synced:
    """Wraps ``os.fsync``: what events.jsonl held each time it was fsynced, in order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        self.events: list[bytes] = []
        real = os.fsync

        def fsync(fd: int) -> None:
            self.calls += 1
            path = os.readlink(f"/proc/self/fd/{fd}")
            if path.endswith("/events.jsonl"):
                self.events.append(Path(path).read_bytes())
            real(fd)

        monkeypatch.setattr(os, "fsync", fsync)


class Watched:
    """The local transport, checking as each command is sent that its start was fsynced with
    its token; ``env`` is added to every command's environment."""

    def __init__(self, synced: Synced, env: dict[str, str] | None = None) -> None:
        self.synced = synced
        self.env = env or {}
        self.sent: list[CommandSpec] = []
        self.unsynced: list[str] = []  # tokens of commands sent before their start was on disk
        self._local = LocalTransport()

    async def run(
        self, spec: CommandSpec, on_output: OutputSink, cancel: asyncio.Event
    ) -> CommandResult:
        self.sent.append(spec)
        assert spec.step_id is not None
        on_disk = self.synced.events[-1] if self.synced.events else b""
        if not any(
            event["event"] == "step_started" and event["step_id"] == spec.step_id
            for event in map(json.loads, on_disk.splitlines())
        ):
            self.unsynced.append(spec.step_id)
        spec = replace(spec, env={**spec.env, **self.env})
        return await self._local.run(spec, on_output, cancel)


async def run(
    tmp_path: Path, body: str, transport: Watched, *, parallel: int | None = None
) -> tuple[RunSession, ev.RunFinished, list[ev.Event]]:
    (tmp_path / "nexus.toml").write_text(body)
    loaded = load_config(tmp_path / "nexus.toml", {})
    plan = build_plan(loaded, parallel_limit=parallel)
    transport_for: Callable[[Unit], Watched] = lambda unit: transport  # noqa: E731
    session = start_session(
        loaded,
        plan,
        policy=FailurePolicy.FAIL_FAST,
        state_dir=tmp_path / "state",
        transport_for=transport_for,
    )
    transport.env["EVENTS"] = str(session.run_dir / "events.jsonl")
    return await run_collecting(session)


async def test_a_command_finds_its_own_start_on_disk_under_its_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced = Synced(monkeypatch)
    transport = Watched(synced)
    body = '[tasks.look]\ncommands = [\'grep -F "\\"step_id\\": \\"$NEXUS_STEP_ID\\"" "$EVENTS"\']'
    _, finished, seen = await run(tmp_path, body + "\n", transport)
    assert finished.status is RunStatus.SUCCEEDED
    (spec,) = transport.sent
    assert spec.step_id is not None
    assert TOKEN.match(spec.step_id)
    assert transport.unsynced == []  # fsynced before the command was sent
    (started,) = [e for e in seen if isinstance(e, ev.StepStarted)]
    assert started.step_id == spec.step_id
    printed = b"".join(e.data for e in seen if isinstance(e, ev.OutputReceived))
    line = json.loads(printed)  # the command read its own start, token and all, in the journal
    assert (line["event"], line["step_id"], line["task"]) == ("step_started", spec.step_id, "look")


async def test_a_hundred_starts_together_share_a_few_fsyncs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced = Synced(monkeypatch)
    transport = Watched(synced)
    body = "".join(f'[tasks.t{i:03d}]\ncommands = ["true"]\n' for i in range(100))
    session, finished, _ = await run(tmp_path, body, transport, parallel=100)
    assert finished.status is RunStatus.SUCCEEDED
    assert len(transport.sent) == 100
    assert transport.unsynced == []
    # the starts' group commit (one, or a few) and RunFinished's: not one per start
    assert len(synced.events) <= 5, [snap.count(b"step_started") for snap in synced.events]
    tokens = [e["step_id"] for e in journal.read_events(session.run_dir) if "step_id" in e]
    assert len(set(tokens)) == 100
    assert all(TOKEN.match(token) for token in tokens)


TWO_STEPS = '[tasks.deploy]\ncommands = ["true", "touch {marker}"]\n'


async def test_a_start_the_journal_cannot_write_is_not_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills just as the second step starts: its command is never sent, the step says
    why, the run ends failed naming the journal, and what was recorded before stays."""
    real_write = journal.write_all

    def write_all(fd: int, data: bytes) -> None:
        if b'"step_started"' in data and b'"step": 1,' in data:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(fd, data)

    monkeypatch.setattr(journal, "write_all", write_all)
    transport = Watched(Synced(monkeypatch))
    marker = tmp_path / "second-step-ran"
    session, finished, _ = await run(tmp_path, TWO_STEPS.format(marker=marker), transport)
    assert [spec.command for spec in transport.sent] == ["true"]
    assert not marker.exists()
    assert finished.status is RunStatus.FAILED
    assert session.exit_code(finished) == 1
    assert finished.error is not None
    assert "the journal could not write: No space left on device" in finished.error
    unit = finished.tasks["deploy"].hosts["local"]
    assert unit.status is UnitStatus.INTERRUPTED
    assert unit.reason is not None
    assert unit.reason.startswith("not started: its start could not be recorded (the journal")
    recorded = [e["event"] for e in journal.read_events(session.run_dir)]
    assert recorded[:5] == [
        "run_started", "task_started", "unit_started", "step_started", "step_finished",
    ]  # fmt: skip
    assert recorded[-1] == "run_finished"
    assert recorded.count("step_started") == 1


async def test_a_failing_fsync_releases_the_waiting_start_as_not_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fsync(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    sent: list[CommandSpec] = []

    class Never:
        async def run(
            self, spec: CommandSpec, on_output: OutputSink, cancel: asyncio.Event
        ) -> CommandResult:
            sent.append(spec)
            return CommandResult(exit_code=0)

    (tmp_path / "nexus.toml").write_text('[tasks.t]\ncommands = ["true"]\n')
    loaded = load_config(tmp_path / "nexus.toml", {})
    session = start_session(
        loaded,
        build_plan(loaded),
        policy=FailurePolicy.FAIL_FAST,
        state_dir=tmp_path / "state",
        transport_for=lambda unit: Never(),
    )
    monkeypatch.setattr(os, "fsync", fsync)
    finished = await session.run(handle_signals=False)
    assert sent == []
    assert finished.status is RunStatus.FAILED
    assert finished.error is not None
    assert "Input/output error" in finished.error
    assert "events.jsonl" in finished.error
