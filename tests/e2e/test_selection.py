"""``nexus run --hosts/--exclude`` end to end: the dry run shows the limited plan, a selection
that names nothing or leaves a task without hosts exits 2 and runs nothing, and a run limited
to ``local`` runs for real."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Nexus, config, no_traceback

pytestmark = pytest.mark.e2e

SELECTION = config("selection.toml")


def test_a_dry_run_shows_only_the_selected_hosts(nexus: Nexus) -> None:
    result = nexus("-c", SELECTION, "--headless", "run", "deploy", "--dry-run", "--hosts", "web1")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "task build on local [parallel]" in lines  # local units are kept
    assert "task deploy (after build) on web1 [serial, batch 1]" in lines
    assert "web2" not in result.stdout
    assert lines[-1] == "2 units, at most 10 at once"
    assert nexus.runs() == []


def test_repeated_and_comma_separated_patterns_then_exclude(nexus: Nexus) -> None:
    result = nexus(
        "-c", SELECTION, "--headless", "run", "--dry-run", "--format", "json",
        "--hosts", "web1,web2", "--hosts", "db*", "--exclude", "web2",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    hosts = {task["name"]: task["hosts"] for task in plan["tasks"]}
    assert hosts == {"build": ["local"], "deploy": ["web1"], "migrate": ["db1"]}
    assert plan["units"] == 3


def test_exclude_local_drops_the_local_tasks(nexus: Nexus) -> None:
    result = nexus("-c", SELECTION, "--headless", "run", "--dry-run", "--exclude", "local")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "task deploy on web[1-2] (2 hosts) [serial, batch 1]" in lines
    assert "task migrate on db1 [parallel]" in lines
    assert not any(line.startswith("task build") for line in lines)
    assert lines[-1] == "3 units, at most 10 at once"


def test_a_pattern_that_matches_nothing_exits_2_and_runs_nothing(nexus: Nexus) -> None:
    # not --headless and not a dry run: off a terminal it runs headless, and says so
    result = nexus("-c", SELECTION, "run", "--hosts", "wbe*")

    assert result.returncode == 2
    no_traceback(result)
    assert result.stderr.splitlines()[-1] == (
        "nexus: --hosts 'wbe*' matches no host or group; did you mean 'web'?"
    )
    assert result.stdout == ""
    assert list(nexus.cwd.iterdir()) == []  # build did not run
    assert nexus.runs() == []


def test_a_selection_that_leaves_a_task_without_hosts_exits_2(nexus: Nexus) -> None:
    result = nexus("-c", SELECTION, "--headless", "run", "--dry-run", "--hosts", "db1")

    assert result.returncode == 2
    no_traceback(result)
    assert result.stderr.startswith(
        "nexus: --hosts db1 leaves no hosts for task deploy (it runs on web[1-2]);"
    )
    assert result.stdout == ""


def test_a_selection_of_hosts_the_run_does_not_use_exits_2(nexus: Nexus) -> None:
    result = nexus("-c", SELECTION, "--headless", "run", "build", "--hosts", "web1")

    assert result.returncode == 2
    assert result.stderr == "nexus: --hosts web1 selects none of the hosts this run uses (local)\n"
    assert list(nexus.cwd.iterdir()) == []
    assert nexus.runs() == []


def test_a_run_limited_to_local_runs_for_real(nexus: Nexus) -> None:
    result = nexus(
        "-c", SELECTION, "--headless", "run", "build", "--hosts", "local", "--format", "json"
    )

    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert list(document["tasks"]) == ["build"]
    assert list(document["tasks"]["build"]["hosts"]) == ["local"]
    assert (nexus.cwd / "built").is_file()
    assert set(nexus.summary()["tasks"]) == {"build"}


def test_help_and_completion_know_the_flags(nexus: Nexus) -> None:
    assert "--hosts PATTERN" in nexus("run", "--help").stdout
    assert "--exclude PATTERN" in nexus("run", "--help").stdout
    fish = nexus("completion", "fish").stdout
    assert "__fish_seen_subcommand_from run' -l hosts" in fish
    assert "__fish_seen_subcommand_from run' -l exclude" in fish
