"""A ``${env:…}``/``${secret:…}`` value in a step's command is never parsed as shell syntax:
from nexus.toml through the plan to a real ``/bin/sh`` on this machine, in every quoting
context, hostile values arrive byte for byte and run nothing. Over SSH: ``tests/ssh``."""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from hypothesis import given, settings

from nexus_engine.config import load_config
from nexus_engine.plan import build_plan, describe
from nexus_engine.transports.local import LocalTransport
from tests.injection import CANARY, HOSTILE, expected, spec_of, the_step
from tests.transport_helpers import Sink


@settings(max_examples=60, deadline=None)
@given(value=HOSTILE)
def test_hostile_values_arrive_exactly_and_run_nothing_locally(value: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _, step = the_step(Path(tmp), value)
    sink = Sink()
    result = asyncio.run(LocalTransport().run(spec_of(step), sink, asyncio.Event()))
    assert result.succeeded, (result, sink.err)
    assert sink.out == expected(value)
    assert not CANARY.exists()


def test_a_secret_is_in_no_argv_and_masked_where_the_command_is_shown(tmp_path: Path) -> None:
    loaded, step = the_step(tmp_path, "hunter2-secret")
    assert "hunter2-secret" not in step.cmd  # so in no argv: it rides in the environment
    assert ("NEXUS_SECRET_S", "hunter2-secret") in step.env
    assert step.private
    # shown with the values substituted, and the secret masked wherever its text stands
    assert "printf %s ***" in step.shown
    assert "hunter2-secret" not in step.shown
    plan_text = "\n".join(describe(build_plan(loaded)))
    assert "printf %s ***" in plan_text


def test_the_command_line_of_a_running_local_step_holds_no_secret(tmp_path: Path) -> None:
    path = tmp_path / "nexus.toml"
    path.write_text('[tasks.t]\ncommands = ["sleep 0.5; echo ${secret:TOKEN}"]\n')
    loaded = load_config(path, environ={"TOKEN": "s3cr3t-in-argv?"})
    (unit,) = build_plan(loaded).units
    seen: list[bytes] = []

    async def scan_while_running() -> None:
        sink = Sink()
        running = asyncio.create_task(
            LocalTransport().run(spec_of(unit.steps[0]), sink, asyncio.Event())
        )
        while not running.done():
            seen.extend(_command_lines())
            await asyncio.sleep(0.05)
        result = await running
        assert result.succeeded
        assert sink.out == b"s3cr3t-in-argv?\n"

    asyncio.run(scan_while_running())
    assert any(b"sleep 0.5" in line for line in seen)  # the scan did see the step
    assert not any(b"s3cr3t-in-argv?" in line for line in seen)


def _command_lines() -> list[bytes]:
    lines = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                lines.append(Path(f"/proc/{entry}/cmdline").read_bytes())
            except OSError:
                continue
    return lines
