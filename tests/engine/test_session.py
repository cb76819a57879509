"""A run wired by start_session: journal, redaction, local transport, and quiet-host flags."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
from pathlib import Path

import pytest

from nexus_engine import events as ev
from nexus_engine.config import load_config
from nexus_engine.connections import remote_hosts
from nexus_engine.plan import build_plan
from nexus_engine.scheduler import FailurePolicy
from nexus_engine.session import RunRefused, RunSession, start_session
from nexus_engine.status import RunStatus, UnitStatus
from nexus_engine.transports.base import CommandResult, CommandSpec, OutputSink
from nexus_engine.words import Stream
from tests.engine.clock import HeldStep, ManualClock


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "nexus.toml"
    path.write_text(body)
    return path


async def _run(
    tmp_path: Path, body: str, environ: dict[str, str] | None = None
) -> tuple[RunSession, ev.RunFinished, list[ev.Event]]:
    loaded = load_config(_config(tmp_path, body), environ or {})
    plan = build_plan(loaded)
    session = start_session(
        loaded, plan, policy=FailurePolicy.FAIL_FAST, state_dir=tmp_path / "state"
    )
    return await run_collecting(session)


async def run_collecting(
    session: RunSession,
) -> tuple[RunSession, ev.RunFinished, list[ev.Event]]:
    """Run ``session`` to its end, keeping every event it published."""
    seen: list[ev.Event] = []

    async def collect() -> None:
        async for event in session.runner.bus.subscribe():
            seen.append(event)

    collecting = asyncio.create_task(collect())
    finished = await session.run(handle_signals=False)
    await collecting
    return session, finished, seen


async def test_a_session_runs_records_and_redacts(tmp_path: Path) -> None:
    body = '[[tasks.hello.commands]]\ncmd = "echo hello $T"\nenv = { T = "${secret:S}" }\n'
    session, finished, seen = await _run(tmp_path, body, {"S": "hunter2"})
    assert finished.status is RunStatus.SUCCEEDED
    assert session.exit_code(finished) == 0
    output = b"".join(e.data for e in seen if isinstance(e, ev.OutputReceived))
    assert output == b"hello ***\n"
    recorded = b"".join(p.read_bytes() for p in session.run_dir.rglob("*") if p.is_file())
    assert b"hunter2" not in recorded
    assert b"hello ***" in recorded
    summary = json.loads((session.run_dir / "summary.json").read_text())
    assert summary["status"] == "succeeded"


async def test_a_silent_step_is_flagged_quiet_once_per_silence(tmp_path: Path) -> None:
    """The session times silence with the config's ``quiet_after`` (here 4 s, on the test's own
    clock): the silent step is flagged before and after it spoke, the chatty one never."""
    body = """
[settings]
quiet_after = 4
[tasks.slow]
commands = ["held"]
[tasks.chatty]
commands = ["held"]
"""
    loaded = load_config(_config(tmp_path, body), {})
    steps = {"slow": HeldStep(), "chatty": HeldStep()}
    session = start_session(
        loaded,
        build_plan(loaded),
        policy=FailurePolicy.FAIL_FAST,
        state_dir=tmp_path / "state",
        transport_for=lambda unit: steps[unit.key.task],
    )
    clock = session.runner.quiet_clock = ManualClock()
    seen: list[ev.Event] = []

    async def collect() -> None:
        async for event in session.runner.bus.subscribe():
            seen.append(event)

    collecting = asyncio.create_task(collect())
    running = asyncio.create_task(session.run(handle_signals=False))
    for step in steps.values():
        await step.started.wait()
    await clock.sleeping()
    for _ in range(3):  # chatty speaks every 3 s; slow is flagged at 4 s
        await clock.advance(3)
        await steps["chatty"].say(b"tick\n")
    await steps["slow"].say(b"awake\n")  # at 9 s
    await clock.advance(3)
    await steps["chatty"].say(b"tick\n")
    await clock.advance(1)  # at 13 s slow has been silent for 4 s again
    for step in steps.values():
        await step.end()
    finished = await running
    await collecting
    assert finished.status is RunStatus.SUCCEEDED
    quiet = [e for e in seen if isinstance(e, ev.UnitQuiet)]
    assert [(e.task, e.silent_for) for e in quiet] == [("slow", 4.0), ("slow", 4.0)]
    awake = next(
        i for i, e in enumerate(seen) if isinstance(e, ev.OutputReceived) and e.task == "slow"
    )
    assert seen.index(quiet[0]) < awake < seen.index(quiet[1])


def test_remote_hosts_are_named(tmp_path: Path) -> None:
    body = '[hosts]\nweb1 = "web1.example"\n[tasks.a]\non = ["local", "web1"]\ncommands = ["x"]\n'
    plan = build_plan(load_config(_config(tmp_path, body), {}))
    assert list(remote_hosts(plan)) == ["web1"]


async def test_a_journal_that_fails_turns_success_into_failure(tmp_path: Path) -> None:
    session, finished, _ = await _run(tmp_path, '[tasks.a]\ncommands = ["true"]\n')
    assert session.exit_code(finished) == 0
    broken = dataclasses.replace(session, journal_errors=["disk full"])
    assert broken.exit_code(finished) == 1
    assert finished.tasks["a"].hosts["local"].status is UnitStatus.SUCCEEDED


async def test_a_session_runs_each_unit_on_the_transport_chosen_for_it(tmp_path: Path) -> None:
    ran: list[tuple[str, str]] = []

    class Recording:
        async def run(
            self, spec: CommandSpec, on_output: OutputSink, cancel: asyncio.Event
        ) -> CommandResult:
            await on_output(Stream.STDOUT, b"pretend\n")
            ran.append((spec.command, dict(spec.env)["K"]))
            return CommandResult(exit_code=0)

    body = '[[tasks.a.commands]]\ncmd = "echo real"\nenv = { K = "v" }\n'
    loaded = load_config(_config(tmp_path, body), {})
    recording = Recording()
    session = start_session(
        loaded,
        build_plan(loaded),
        policy=FailurePolicy.FAIL_FAST,
        state_dir=tmp_path / "state",
        transport_for=lambda unit: recording,
    )
    finished = await session.run(handle_signals=False)
    assert finished.status is RunStatus.SUCCEEDED
    assert ran == [("echo real", "v")]  # the command went to the chosen transport, not a shell
    (log,) = session.run_dir.rglob("*.log")
    assert log.read_bytes() == b"pretend\n"


FAIL_FAST = FailurePolicy.FAIL_FAST


def test_a_run_that_cannot_be_recorded_is_refused(tmp_path: Path) -> None:
    loaded = load_config(_config(tmp_path, '[tasks.a]\ncommands = ["true"]\n'), {})
    not_a_dir = tmp_path / "state"
    not_a_dir.write_text("a file where the state directory should be")
    with pytest.raises(RunRefused, match="cannot record the run, so not starting it"):
        start_session(
            loaded, build_plan(loaded), policy=FailurePolicy.FAIL_FAST, state_dir=not_a_dir
        )


async def test_a_remote_host_that_refuses_fails_as_unreachable_and_local_units_run(
    tmp_path: Path,
) -> None:
    """Remote units go over SSH, local ones run here: the host's failure is its own."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    body = (
        f'[hosts]\nweb1 = "127.0.0.1:{port}"\n'
        '[tasks.d]\non = ["web1", "local"]\ncommands = ["true"]\n'
    )
    loaded = load_config(_config(tmp_path, body), {})
    session = start_session(
        loaded, build_plan(loaded), policy=FailurePolicy.CONTINUE, state_dir=tmp_path / "state"
    )
    finished = await session.run(handle_signals=False)
    hosts = finished.tasks["d"].hosts
    assert hosts["local"].status is UnitStatus.SUCCEEDED
    assert hosts["web1"].status is UnitStatus.FAILED
    assert hosts["web1"].error_kind == "unreachable"
    assert hosts["web1"].reason is not None
    assert hosts["web1"].reason.startswith("unreachable: connection refused")
