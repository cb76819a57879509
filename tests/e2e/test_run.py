"""``nexus --headless run`` end to end: outcomes, exit codes, fail-fast, continue-on-error,
retries, timeouts and the dry run."""

from __future__ import annotations

import json
import re

import pytest

from tests.e2e.conftest import (
    EXAMPLE,
    SECRET,
    Nexus,
    Reaper,
    config,
    no_traceback,
    read_pidfile,
    statuses,
    unit,
)

pytestmark = pytest.mark.e2e

EXAMPLE_TASKS = ["prepare", "build", "lint", "test", "package"]


def prefixed(stdout: str, marker: str) -> list[tuple[str, str]]:
    """``(task, text)`` of every ``task@local <marker> text`` line, in order."""
    pattern = re.compile(rf"^(\w+)@local {re.escape(marker)} (.*)$")
    return [(m[1], m[2]) for line in stdout.splitlines() if (m := pattern.match(line))]


def first_index(pairs: list[tuple[str, str]], task: str) -> int:
    return next(i for i, (name, _) in enumerate(pairs) if name == task)


def test_the_example_runs_in_dependency_order(nexus: Nexus) -> None:
    result = nexus("-c", EXAMPLE, "--headless", "run")

    assert result.returncode == 0, result.stderr
    no_traceback(result)
    commands = prefixed(result.stdout, "$")
    output = prefixed(result.stdout, "|")
    assert ("prepare", "workspace ready") in output
    assert ("test", "testing for dev") in output
    assert ("package", "packaged nexus-demo.tar.gz") in output
    # prepare before build (and lint), build before test, package last of all
    assert first_index(commands, "prepare") < first_index(commands, "build")
    assert first_index(commands, "prepare") < first_index(commands, "lint")
    assert first_index(commands, "build") < first_index(commands, "test")
    assert commands[-1][0] == "package"
    assert output[-1] == ("package", "packaged nexus-demo.tar.gz")
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


def test_a_failure_in_text_shows_stderr_and_the_verdict(nexus: Nexus) -> None:
    result = nexus("-c", config("failure.toml"), "--headless", "run")

    assert result.returncode == 1
    assert "broken@local | before the failure" in result.stdout
    assert "broken@local ! oops" in result.stdout
    assert re.search(r"^broken@local \S+ failed in \S+: exit status 3$", result.stdout, re.M)
    assert re.search(r"^run \S+ failed in \S+ \(exit 1\)$", result.stdout, re.MULTILINE)


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


def test_targets_run_only_what_they_need(nexus: Nexus) -> None:
    result = nexus("-c", EXAMPLE, "--headless", "run", "--format", "json", "build")

    assert result.returncode == 0, result.stderr
    assert statuses(json.loads(result.stdout)) == {"prepare": "succeeded", "build": "succeeded"}


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
    assert row[-2] == "3"  # TRIES


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


def test_dry_run_prints_the_plan_and_runs_nothing(nexus: Nexus) -> None:
    result = nexus(
        "-c", config("dry_run.toml"), "--headless", "run", "--dry-run",
        env={"NEXUS_TEST_SECRET": SECRET},
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["phase 1: make_file", "phase 2: use_secret"]
    assert "task use_secret (after make_file) on local [parallel]" in lines
    assert "  1. touch created-by-run  (timeout 3600s)" in lines
    assert "  1. echo token=*** > used-secret  (timeout 5s, retries 1)" in lines
    assert lines[-1] == "2 units, at most 10 at once"
    assert SECRET not in result.stdout + result.stderr
    assert list(nexus.cwd.iterdir()) == []  # nothing ran: no file was made
    assert nexus.runs() == []  # and nothing was recorded


def test_dry_run_as_json_is_a_plan_document(nexus: Nexus) -> None:
    result = nexus(
        "-c", config("dry_run.toml"), "--headless", "run", "--dry-run", "--format", "json",
        env={"NEXUS_TEST_SECRET": SECRET},
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["phases"] == [["make_file"], ["use_secret"]]
    assert plan["units"] == 2
    tasks = {task["name"]: task for task in plan["tasks"]}
    assert tasks["make_file"]["steps"] == ["touch created-by-run"]
    assert tasks["use_secret"]["deps"] == ["make_file"]
    assert tasks["use_secret"]["hosts"] == ["local"]
    assert tasks["use_secret"]["steps"] == ["echo token=*** > used-secret"]
    assert SECRET not in result.stdout
    assert list(nexus.cwd.iterdir()) == []
    assert nexus.runs() == []


def test_parallel_limit_from_the_command_line(nexus: Nexus) -> None:
    result = nexus("-c", EXAMPLE, "--headless", "run", "--dry-run", "-p", "3")

    assert result.returncode == 0
    assert result.stdout.splitlines()[-1] == "5 units, at most 3 at once"
