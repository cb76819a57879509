"""A secret echoed by a command appears nowhere Nexus prints or stores (T-SEC-1), even split
across two writes that arrive as separate reads (T-SEC-2)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.e2e.conftest import SECRET, Nexus, config, raw

pytestmark = pytest.mark.e2e

ENV = {"NEXUS_TEST_SECRET": SECRET}
#: the halves the command prints on their own; neither is in the config's text
HALVES = (SECRET[:-6], SECRET[-6:])
RUN = ("-c", config("secrets.toml"), "--headless", "run")


def assert_no_secret(data: bytes, where: str) -> None:
    assert SECRET.encode() not in data, where
    for half in HALVES:  # everything printed is the whole secret: no half may survive either
        assert half.encode() not in data, (where, half)


def assert_journal_clean(state: Path) -> int:
    files = [p for p in state.rglob("*") if p.is_file()]
    for path in files:
        assert_no_secret(path.read_bytes(), str(path))
    return len(files)


def test_the_config_does_not_hold_the_secret() -> None:
    text = config("secrets.toml").read_bytes()
    assert SECRET.encode() not in text
    assert all(half.encode() not in text for half in HALVES)


@pytest.mark.parametrize("verbosity", [[], ["-v"], ["-vv"]])
def test_text_output_masks_the_secret(nexus: Nexus, verbosity: list[str]) -> None:
    result = nexus(*RUN, *verbosity, env=ENV)

    assert result.returncode == 1, result.stderr  # the second step exits 4
    assert_no_secret(raw(result.stdout), "stdout")
    assert_no_secret(raw(result.stderr), "stderr")
    lines = result.stdout.splitlines()
    assert "leak@local | out:***" in lines
    assert "leak@local ! err:***" in lines
    assert lines.count("leak@local | ***") == 1  # the halves, put back together and masked
    assert lines.count("leak@local ! ***") == 1
    assert "leak@local $ echo in-command:***; exit 4" in lines
    assert "leak@local | in-command:***" in lines
    assert assert_journal_clean(nexus.state) >= 4


def test_json_output_masks_the_secret(nexus: Nexus) -> None:
    result = nexus(*RUN, "--format", "json", env=ENV)

    assert result.returncode == 1
    assert_no_secret(raw(result.stdout + result.stderr), "json")
    json.loads(result.stdout)
    assert_journal_clean(nexus.state)


def test_jsonl_output_masks_the_secret(nexus: Nexus) -> None:
    result = nexus(*RUN, "--format", "jsonl", env=ENV)

    assert result.returncode == 1
    assert_no_secret(raw(result.stdout + result.stderr), "jsonl")
    streams: dict[tuple[int, str], bytes] = {}
    for line in result.stdout.splitlines():
        event = json.loads(line)
        if event["event"] == "step_started":
            assert SECRET not in event["command"]
        if event["event"] == "output_received":
            data = (
                event["text"].encode() if "text" in event else base64.b64decode(event["data_b64"])
            )
            key = (event["step"], event["stream"])
            streams[key] = streams.get(key, b"") + data
    # events may cut the output anywhere: put each stream back together before looking
    for key, data in streams.items():
        assert_no_secret(data, str(key))
    assert streams[0, "stdout"] == b"out:***\n***\n"
    assert streams[0, "stderr"] == b"err:***\n***\n"
    assert streams[1, "stdout"] == b"in-command:***\n"
    assert_journal_clean(nexus.state)


def test_the_journal_and_logs_hold_the_masked_output(nexus: Nexus) -> None:
    assert nexus(*RUN, env=ENV).returncode == 1
    unit_dir = nexus.only_run() / "output" / "leak" / "local"

    names = sorted(p.name for p in unit_dir.iterdir())
    assert names == ["0-1.err", "0-1.log", "0-1.out", "1-1.log"]  # 1-1: stdout alone, its .log
    assert (unit_dir / "0-1.err").read_bytes() == b"err:***\n***\n"
    assert (unit_dir / "0-1.out").read_bytes() == b"out:***\n***\n"
    # both streams in arrival order; each stream's redactor may hold back a partial line
    log = (unit_dir / "0-1.log").read_bytes()
    assert len(log) == len(b"out:***\n***\n" + b"err:***\n***\n")
    assert log.count(b"***") == 4
    logs = nexus("logs", "last", "--task", "leak")
    assert logs.returncode == 0
    assert "in-command:***" in logs.stdout
    assert_no_secret(raw(logs.stdout + logs.stderr), "nexus logs")
    # controller, plan, events, summary, 4 outputs
    assert assert_journal_clean(nexus.state) == 8
