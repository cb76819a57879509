"""What ``nexus run`` prints: the JSON and JSON Lines contracts, colour and the progress line
only for a person at a terminal, and untrusted output made safe (T-PROC-8)."""

from __future__ import annotations

import base64
import itertools
import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from tests.e2e.conftest import NEXUS, Nexus, config, raw, run_in_pty, unit

pytestmark = pytest.mark.e2e

ESC = "\x1b"
PROGRESS = re.compile(rb"\[\d+/2\] running \d+")
BINARY_OUTPUT = b"a\xff\xfeb\n\x1b]0;title\x07c\x1b[31mred\x1b[0m\n"


def test_jsonl_is_one_event_per_line_in_order(nexus: Nexus) -> None:
    result = nexus("-c", config("quick.toml"), "--headless", "run", "--format", "jsonl")

    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert all({"event", "time", "seq", "run_id"} <= event.keys() for event in events)
    assert events[0]["event"] == "run_started"
    assert events[-1]["event"] == "run_finished"
    assert events[-1]["status"] == "succeeded"
    seqs = [event["seq"] for event in events]
    assert all(a < b for a, b in itertools.pairwise(seqs))
    assert len({event["run_id"] for event in events}) == 1
    for event in events:
        datetime.fromisoformat(event["time"])
    kinds = [event["event"] for event in events]
    for kind in ("unit_started", "step_started", "output_received", "step_finished"):
        assert kind in kinds
    assert kinds.count("unit_finished") == 2
    output = [(e["task"], e["text"]) for e in events if e["event"] == "output_received"]
    assert output == [("first", "first\n"), ("second", "second\n")]
    # the journal recorded the same run
    assert nexus.only_run().name == events[0]["run_id"]


def test_json_is_exactly_one_summary_document(nexus: Nexus) -> None:
    result = nexus("-c", config("failure.toml"), "--headless", "run", "--format", "json")

    assert result.returncode == 1
    document = json.loads(result.stdout)  # raises on anything but exactly one document
    assert {"status", "exit_code", "run_id", "started", "finished", "tasks"} <= document.keys()
    assert document["exit_code"] == result.returncode
    assert document["run_id"] == nexus.only_run().name
    assert datetime.fromisoformat(document["started"]) <= datetime.fromisoformat(
        document["finished"]
    )
    assert set(document["tasks"]) == {"broken", "dependent", "sibling", "sibling_next"}
    for task in document["tasks"].values():
        assert set(task["hosts"]) == {"local"}
        assert task["status"] == task["hosts"]["local"]["status"]
        assert {"status", "exit_code", "attempts", "duration"} <= task["hosts"]["local"].keys()
    sibling = unit(document, "sibling")
    assert sibling["exit_code"] == 0
    assert sibling["attempts"] == 1
    assert 0.4 < sibling["duration"] < 30
    assert unit(document, "dependent")["duration"] is None
    assert "journal:" not in result.stdout


# ── terminals ───────────────────────────────────────────────────────────────────────────────────


def test_no_escapes_when_stdout_is_a_pipe(nexus: Nexus) -> None:
    result = nexus("-c", config("quick.toml"), "--headless", "run")

    assert result.returncode == 0
    assert "second@local | second" in result.stdout
    assert ESC not in result.stdout
    assert ESC not in result.stderr
    assert not PROGRESS.search(raw(result.stdout + result.stderr))


def pty_run(nexus: Nexus, *args: str, **env: str) -> tuple[int, bytes]:
    argv: list[str | Path] = [NEXUS, "-c", config("quick.toml"), "--headless", "run", *args]
    return run_in_pty(argv, env=nexus.environment(env), cwd=nexus.cwd)


def test_colour_and_progress_on_a_terminal(nexus: Nexus) -> None:
    code, output = pty_run(nexus)

    assert code == 0, output
    assert b"\x1b[32m" in output  # green "succeeded"
    assert b"\x1b[1mfirst@local\x1b[0m" in output
    assert PROGRESS.search(output), output
    assert b"\r\x1b[K" in output  # the progress line is redrawn in place
    assert b"second" in output


def test_an_empty_no_color_is_ignored(nexus: Nexus) -> None:
    """no-color.org: NO_COLOR counts when "present and not an empty string"."""
    code, output = pty_run(nexus, NO_COLOR="")

    assert code == 0, output
    assert b"\x1b[32m" in output


@pytest.mark.parametrize(
    ("args", "env"),
    [([], {"NO_COLOR": "1"}), (["--plain"], {}), ([], {"TERM": "dumb"})],
    ids=["NO_COLOR=1", "--plain", "TERM=dumb"],
)
def test_no_escapes_on_a_terminal_when_asked(
    nexus: Nexus, args: list[str], env: dict[str, str]
) -> None:
    code, output = pty_run(nexus, *args, **env)

    assert code == 0, output
    assert b"second@local | second" in output
    assert ESC.encode() not in output
    assert not PROGRESS.search(output)


# ── untrusted bytes ─────────────────────────────────────────────────────────────────────────────


def test_binary_and_escape_output_is_shown_safely(nexus: Nexus) -> None:
    result = nexus("-c", config("binary.toml"), "--headless", "run", "-v")

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert ESC not in result.stdout
    assert "\x07" not in result.stdout
    lines = result.stdout.splitlines()
    assert "bin@local | a\N{REPLACEMENT CHARACTER}\N{REPLACEMENT CHARACTER}b" in lines
    assert "bin@local | cred" in lines
    (log,) = (nexus.only_run() / "output" / "bin" / "local").glob("*.log")
    assert log.read_bytes() == BINARY_OUTPUT


def test_binary_output_on_a_terminal_has_no_foreign_escapes(nexus: Nexus) -> None:
    argv: list[str | Path] = [NEXUS, "-c", config("binary.toml"), "--headless", "run"]
    code, output = run_in_pty(argv, env=nexus.environment(), cwd=nexus.cwd)

    assert code == 0
    assert b"\x1b]0;title" not in output
    assert b"\x07" not in output
    assert b"\x1b[31mred" not in output
    assert b"cred" in output


def test_jsonl_carries_binary_output_losslessly(nexus: Nexus) -> None:
    result = nexus("-c", config("binary.toml"), "--headless", "run", "--format", "jsonl")

    assert result.returncode == 0
    chunks = [
        json.loads(line) for line in result.stdout.splitlines() if '"output_received"' in line
    ]
    assert any("data_b64" in chunk for chunk in chunks)
    data = b"".join(
        base64.b64decode(c["data_b64"]) if "data_b64" in c else c["text"].encode() for c in chunks
    )
    assert data == BINARY_OUTPUT
