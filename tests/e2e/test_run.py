"""``nexus --headless run`` end to end: outcomes, exit codes, fail-fast, continue-on-error,
retries and timeouts. How the text and the dry run read, and which tasks a target selects, are
checked in-process (``tests/cli/test_run.py``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    EXAMPLE,
    Nexus,
    Reaper,
    config,
    no_traceback,
    read_pidfile,
    statuses,
    unit,
)

pytestmark = pytest.mark.e2e

EXAMPLE_TASKS = ["prepare", "build", "configure", "lint", "test", "package"]


def prefixed(stdout: str, marker: str) -> list[tuple[str, str]]:
    """``(task, text)`` of every ``task@local <marker> text`` line, in order."""
    pattern = re.compile(rf"^(\w+)@local {re.escape(marker)} (.*)$")
    return [(m[1], m[2]) for line in stdout.splitlines() if (m := pattern.match(line))]


def first_index(pairs: list[tuple[str, str]], task: str) -> int:
    return next(i for i, (name, _) in enumerate(pairs) if name == task)


def test_the_example_runs_in_dependency_order(nexus: Nexus) -> None:
    result = nexus("-c", EXAMPLE, "--headless", "run", env={"VERSION": "1.0; touch pwned"})

    assert result.returncode == 0, result.stderr
    no_traceback(result)
    commands = prefixed(result.stdout, "$")
    output = prefixed(result.stdout, "|")
    assert ("prepare", "workspace ready") in output
    assert ("test", "testing for dev") in output
    assert ("package", "packaged nexus-demo-1.0; touch pwned.tar.gz") in output
    # prepare before build (and lint), build before test, package last of all
    assert first_index(commands, "prepare") < first_index(commands, "build")
    assert first_index(commands, "prepare") < first_index(commands, "lint")
    assert first_index(commands, "build") < first_index(commands, "test")
    assert commands[-1][0] == "package"
    assert output[-1] == ("package", "packaged nexus-demo-1.0; touch pwned.tar.gz")
    assert not (nexus.cwd / "pwned").exists()  # the value was one word, never a command
    build_steps = [text for task, text in commands if task == "build"]
    assert build_steps[:2] == ["echo compiling...", "sleep 0.3"]

    lines = result.stdout.splitlines()
    header = next(
        i for i, line in enumerate(lines) if line.split()[:3] == ["TASK", "HOST", "STATUS"]
    )
    rows = [line.split() for line in lines[header + 1 : header + 1 + len(EXAMPLE_TASKS)]]
    assert [row[0] for row in rows] == EXAMPLE_TASKS
    assert all(row[1] == "local" and "succeeded" in row for row in rows), rows
    assert re.search(r"^run \S+ succeeded in \S+ \(exit 0\)$", result.stdout, re.MULTILINE)


def test_a_failure_exits_1_and_fails_fast(nexus: Nexus) -> None:
    result = nexus("-c", config("failure.toml"), "--headless", "run", "--format", "json")

    assert result.returncode == 1, result.stderr
    no_traceback(result)
    document = json.loads(result.stdout)
    assert document["status"] == "failed"
    assert document["exit_code"] == 1
    assert unit(document, "broken")["status"] == "failed"
    assert unit(document, "broken")["exit_code"] == 3
    assert unit(document, "dependent")["status"] == "not_run"
    assert unit(document, "dependent")["attempts"] == 0
    # the independent sibling was already running: it finishes; nothing new starts after it
    assert unit(document, "sibling")["status"] == "succeeded"
    assert unit(document, "sibling_next")["status"] == "not_run"
    assert (nexus.cwd / "sibling-done").exists()
    assert not (nexus.cwd / "dependent-ran").exists()
    assert not (nexus.cwd / "sibling-next-ran").exists()


def test_continue_on_error_runs_independent_branches_and_skips_dependents(nexus: Nexus) -> None:
    result = nexus(
        "-c", config("failure.toml"), "--headless", "run", "--continue-on-error", "--format=json"
    )

    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert document["status"] == "failed"
    assert statuses(document) == {
        "broken": "failed",
        "dependent": "skipped",
        "sibling": "succeeded",
        "sibling_next": "succeeded",
    }
    assert (nexus.cwd / "sibling-next-ran").exists()
    assert not (nexus.cwd / "dependent-ran").exists()


def test_a_step_is_retried_until_it_succeeds(nexus: Nexus) -> None:
    result = nexus("-c", config("retry.toml"), "--headless", "run", "--format", "json")

    assert result.returncode == 0, result.stderr
    flaky = unit(json.loads(result.stdout), "flaky")
    assert flaky["status"] == "succeeded"
    assert flaky["attempts"] == 3
    assert flaky["exit_code"] == 0
    assert (nexus.cwd / "tries").read_text() == "3\n"


def test_retries_are_shown_in_text(nexus: Nexus) -> None:
    result = nexus("-c", config("retry.toml"), "--headless", "run")

    assert result.returncode == 0, result.stderr
    retries = prefixed(result.stdout, "↻")
    assert [text.split(" in ")[0] for _, text in retries] == ["retrying step 1"] * 2
    assert retries[0][1].endswith("(attempt 2)")
    assert retries[1][1].endswith("(attempt 3)")
    assert [text for _, text in prefixed(result.stdout, "|")] == ["try 1", "try 2", "try 3"]
    row = next(line.split() for line in result.stdout.splitlines() if line.startswith("flaky "))
    assert row[-4] == "3"  # TRIES


def test_a_timeout_kills_the_whole_process_group(nexus: Nexus, reaper: Reaper) -> None:
    result = nexus("-c", config("timeout.toml"), "--headless", "run", "--format", "json")

    assert result.returncode == 1, result.stderr
    no_traceback(result)
    document = json.loads(result.stdout)
    hang = unit(document, "hang")
    assert hang["status"] == "timed_out"
    assert hang["exit_code"] is None
    assert "timed out after 0.5s" in hang["reason"]
    assert unit(document, "after_hang")["status"] == "not_run"

    pid, pgid = read_pidfile((nexus.cwd / "pgid").read_text())
    assert pid == pgid  # the command leads its own group
    reaper.assert_group_gone(pgid)
    assert not (nexus.cwd / "marker").exists()
    # the partial output is kept
    (log,) = (nexus.only_run() / "output" / "hang" / "local").glob("0-1.log")
    assert log.read_bytes() == b"started\n"


def test_the_example_converges_then_changes_nothing(nexus: Nexus) -> None:
    """Its ``ensure`` steps create their files under $TMPDIR once; a second run finds them
    right, reports only ok, and its handler (``when = "changed"``) does not run."""
    first = nexus("-c", EXAMPLE, "--headless", "run", "configure", "--format", "json")
    assert first.returncode == 0, first.stderr
    configure = unit(json.loads(first.stdout), "configure")
    root = Path(nexus.env["TMPDIR"]) / "nexus-demo"
    assert (root / "etc" / "app.conf").read_text() == (
        "# written by nexus for nexus-demo\nlisten = 8080\n"
    )
    assert (root / "current").readlink() == root / "etc"
    assert (configure["ok"], configure["changed"]) == (2, 7)  # absent and check: ok already

    second = nexus("-c", EXAMPLE, "--headless", "run", "configure", "--format", "json")
    configure = unit(json.loads(second.stdout), "configure")
    assert (configure["ok"], configure["changed"], configure["skipped"]) == (8, 0, 1)
