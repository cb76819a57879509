"""The commands that report without running: list, validate, version, runs, logs, help."""

from __future__ import annotations

import platform

import pytest

from nexus_cli import main
from nexus_engine import __version__
from nexus_engine.status import EXIT_USAGE
from tests.cli.conftest import Project


def test_version(project: Project) -> None:
    code, out, _ = project.nexus("version")
    assert code == 0
    assert out == f"nexus {__version__} (Python {platform.python_version()})\n"


def test_dash_v_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["-V"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"nexus {__version__}\n"


def test_no_command_prints_help(project: Project) -> None:
    code, out, _ = project.nexus()
    assert code == 0
    assert out.startswith("usage: nexus")
    for command in ("run", "list", "validate", "init", "version", "completion", "runs", "logs"):
        assert command in out
    assert "Exit codes: 0 success, 1 a unit failed, 2 usage or config error, 130" in out


def test_validate(project: Project) -> None:
    code, out, _ = project.nexus("validate")
    assert code == 0
    assert out == "nexus.toml: valid: 3 tasks, 0 hosts, 0 groups\n"


def test_list_shows_tasks_hosts_deps_and_steps(project: Project) -> None:
    project.write(
        """
[hosts]
web1 = "web1.example"
web2 = "web2.example"
[groups]
web = ["web1", "web2"]
[tasks.build]
description = "Build it"
commands = ["make", "make check"]
[tasks.deploy]
description = "Ship it"
deps = ["build"]
on = "web"
commands = ["ship"]
"""
    )
    code, out, _ = project.nexus("list")
    assert code == 0
    assert out.splitlines() == [
        "TASK    ON             DEPS   STEPS  DESCRIPTION",
        "build   local          -      2      Build it",
        "deploy  web (2 hosts)  build  1      Ship it",
    ]


def test_runs_before_any_run(project: Project) -> None:
    code, out, _ = project.nexus("runs")
    assert code == 0
    assert out == f"no runs recorded under {project.state}\n"


def test_runs_lists_recorded_runs_newest_first(project: Project) -> None:
    assert project.nexus("run", "lint")[0] == 0
    project.write('[tasks.bad]\ncommands = ["exit 1"]\n')
    assert project.nexus("run")[0] == 1
    code, out, _ = project.nexus("runs")
    assert code == 0
    header, newest, oldest = out.splitlines()
    assert header.split() == ["RUN", "STARTED", "STATUS"]
    first, second = (run.name for run in project.runs())
    ids = {line.split()[0] for line in (newest, oldest)}
    assert ids == {first, second}
    assert newest.split()[-1] == "failed"
    assert oldest.split()[-1] == "succeeded"


def test_logs_prints_a_recorded_units_output(project: Project) -> None:
    assert project.nexus("run")[0] == 0
    code, out, err = project.nexus("logs", "last", "--task", "build")
    assert code == 0
    assert out == "building\nwarn\n"  # the recorded bytes alone
    assert err == "── build@local step 1 attempt 1\n── build@local step 2 attempt 1\n"


def test_logs_can_show_stderr_alone(project: Project) -> None:
    assert project.nexus("run", "build")[0] == 0
    (run_dir,) = project.runs()
    code, out, err = project.nexus("logs", run_dir.name[:10], "--host", "local", "--stderr")
    assert code == 0
    assert out == "warn\n"  # step 1 printed "building" to stdout only
    assert err.endswith("step 2 attempt 1\n")


def test_logs_of_an_unknown_run(project: Project) -> None:
    code, _, err = project.nexus("logs", "last")
    assert code == EXIT_USAGE
    assert err == "nexus: no runs recorded yet\n"
    assert project.nexus("run", "lint")[0] == 0
    code, _, err = project.nexus("logs", "19990101")
    assert code == EXIT_USAGE
    assert "no recorded run matches '19990101'" in err


def test_logs_of_a_selection_without_output(project: Project) -> None:
    assert project.nexus("run", "lint")[0] == 0
    code, out, err = project.nexus("logs", "last", "--task", "build")
    assert code == EXIT_USAGE
    assert "recorded no output for that selection" in err
    assert out == ""
