"""The commands that report without running: list, validate, version, runs, logs, help."""

from __future__ import annotations

import importlib.metadata
import platform
import re
import socket

import pytest

from nexus_cli import main
from nexus_engine import __version__
from nexus_engine.status import EXIT_USAGE
from tests.cli.conftest import Project


def test_version(project: Project) -> None:
    code, out, _ = project.nexus("version")
    assert code == 0
    asyncssh = importlib.metadata.version("asyncssh")
    python = platform.python_version()
    # the tests run from the checkout (an editable install)
    assert out == f"nexus {__version__} (source checkout; Python {python}, asyncssh {asyncssh})\n"
    assert __version__ == importlib.metadata.version("nexus-runner")  # what is installed


@pytest.mark.parametrize("option", ["-V", "--version"])
def test_dash_v_prints_the_version(option: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([option])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"nexus {__version__}\n"


def assert_is_the_help(out: str) -> None:
    assert out.startswith("usage: nexus")
    for command in ("run", "list", "validate", "init", "version", "completion", "runs", "logs"):
        assert command in out
    assert "Exit codes: 0 success, 1 a unit failed, 2 usage or config error, 130" in out


def test_no_command_prints_help(project: Project) -> None:
    code, out, _ = project.nexus()
    assert code == 0
    assert_is_the_help(out)


def test_help_option_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert_is_the_help(capsys.readouterr().out)


def test_run_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: nexus run")
    for option in ("--dry-run", "--continue-on-error", "--format", "--plain", "-p N", "TASK"):
        assert option in out, option


def test_validate(project: Project) -> None:
    code, out, _ = project.nexus("validate")
    assert code == 0
    assert out == "nexus.toml: valid: 3 tasks, 0 hosts, 0 groups\n"
    assert project.runs() == []  # it runs nothing


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
[tasks.announce]
deps = ["deploy", "build"]
commands = ["true"]
"""
    )
    code, out, _ = project.nexus("list")
    assert code == 0
    assert out.splitlines() == [
        "TASK      ON             DEPS           STEPS  DESCRIPTION",
        "build     local          -              2      Build it",
        "deploy    web (2 hosts)  build          1      Ship it",
        "announce  local          deploy, build  1",
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
    assert out == "building\n"  # the recorded stdout bytes alone
    lines = err.splitlines()
    assert lines[0] == "── build@local step 1 attempt 1"
    assert re.fullmatch(
        r"── build@local step 1 attempt 1 ended: exit status 0 in \d+\.\ds", lines[1]
    )
    assert lines[2] == "── build@local step 2 attempt 1"
    assert lines[3] == "warn"  # step 2 wrote to stderr alone: its bytes go to stderr
    assert lines[4].startswith("── build@local step 2 attempt 1 ended: exit status 0")
    assert len(lines) == 5  # a unit that succeeded needs no line of its own


def test_logs_says_how_each_attempt_and_the_unit_ended(project: Project) -> None:
    project.write(
        '[tasks.flaky]\ncommands = [{ cmd = "echo trying; exit 3", retries = 1,'
        " retry_delay = 0.0 }]\n"
    )
    assert project.nexus("run")[0] == 1
    code, out, err = project.nexus("logs", "last")
    assert code == 0
    assert out == "trying\ntrying\n"
    endings = [line for line in err.splitlines() if " attempt " in line and ": " in line]
    assert [line.split(" in ")[0] for line in endings] == [
        "── flaky@local step 1 attempt 1 failed: exit status 3",
        "── flaky@local step 1 attempt 2 failed: exit status 3",
    ]
    assert err.splitlines()[-1].startswith(
        "── flaky@local failed: exit status 3 after 2 attempts in "
    )


def test_logs_says_why_an_attempt_that_printed_nothing_failed(project: Project) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    project.write(
        f'[hosts]\nweb1 = "127.0.0.1:{port}"\n[tasks.t]\non = "web1"\ncommands = ["true"]\n'
    )
    assert project.nexus("run")[0] == 1
    code, out, err = project.nexus("logs", "last", "--host", "web1")
    assert code == 0
    assert out == ""
    assert "── t@web1 step 1 attempt 1\n" in err
    assert (
        f"── t@web1 step 1 attempt 1 failed: unreachable: connection refused by 127.0.0.1:{port}"
        in err
    )


def test_logs_keeps_stdout_and_stderr_apart_where_the_record_does(project: Project) -> None:
    project.write(
        "[tasks.t]\ncommands = [\n"
        '  "echo out-only",\n'
        '  "echo err-only >&2",\n'
        '  "echo mixed-out; sleep 0.1; echo mixed-err >&2",\n'
        "]\n"
    )
    assert project.nexus("run")[0] == 0
    # the journal keeps stdout alone (<step>-<attempt>.out): each stream goes its own way
    code, out, err = project.nexus("logs", "last")
    assert code == 0
    assert out == "out-only\nmixed-out\n"
    assert "err-only\n" in err
    assert "mixed-err\n" in err
    assert "interleaved" not in err

    # an older record without .out: both go to stdout, said so on stderr
    (run_dir,) = project.runs()
    for kept in (run_dir / "output" / "t" / "local").glob("*.out"):
        kept.unlink()
    code, out, err = project.nexus("logs", "last")
    assert out == "out-only\nmixed-out\nmixed-err\n"
    assert "err-only\n" in err
    assert "mixed" not in err
    assert "keeps stdout only interleaved with stderr" in err

    code, out, err = project.nexus("logs", "last", "--combined")
    assert code == 0
    assert out == "out-only\nerr-only\nmixed-out\nmixed-err\n"  # in the order it arrived
    assert "only" not in err
    assert "interleaved" not in err


def test_logs_can_show_stderr_alone(project: Project) -> None:
    assert project.nexus("run", "build")[0] == 0
    (run_dir,) = project.runs()
    code, out, err = project.nexus("logs", run_dir.name[:10], "--host", "local", "--stderr")
    assert code == 0
    assert out == "warn\n"  # step 1 printed "building" to stdout only
    assert "── build@local step 2 attempt 1\n" in err
    assert "warn" not in err


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


UNSET = """
[hosts]
db1 = { hostname = "${env:NEXUS_TEST_DB_HOST}", password = "${secret:NEXUS_TEST_DB_PW}" }
[tasks.deploy]
on = "db1"
commands = ["deploy --token ${secret:NEXUS_TEST_TOKEN}"]
"""


def test_validate_notes_unset_values_and_passes(project: Project) -> None:
    """CI checks the file without the secrets; a run is where they must be set."""
    project.write(UNSET)
    code, out, err = project.nexus("validate")
    assert code == 0
    valid = "nexus.toml: valid: 1 tasks, 1 hosts, 0 groups"
    assert out == f"{valid}; 3 values not set here, which a run needs\n"
    assert err.splitlines() == [
        "nexus.toml:3:9: hosts.db1.hostname: note: environment variable 'NEXUS_TEST_DB_HOST' is"
        " not set (referenced as ${env:NEXUS_TEST_DB_HOST}); export NEXUS_TEST_DB_HOST",
        "nexus.toml:3:49: hosts.db1.password: note: secret 'NEXUS_TEST_DB_PW' is not set"
        " (referenced as ${secret:NEXUS_TEST_DB_PW}); export NEXUS_TEST_DB_PW",
        "nexus.toml:6:13: tasks.deploy.commands[0]: note: secret 'NEXUS_TEST_TOKEN' is not set"
        " (referenced as ${secret:NEXUS_TEST_TOKEN}); export NEXUS_TEST_TOKEN",
    ]
    for command in (["run"], ["run", "--dry-run"], ["list"]):
        code, out, err = project.nexus(*command)
        assert code == EXIT_USAGE, command
        assert "NEXUS_TEST_DB_PW' is not set" in err
    assert project.runs() == []


def test_validate_still_fails_on_a_real_mistake_beside_unset_values(project: Project) -> None:
    project.write(UNSET + "timout = 3\n")
    code, out, err = project.nexus("validate")
    assert code == EXIT_USAGE
    assert out == ""
    assert err == "nexus.toml:7:1: tasks.deploy.timout: unknown key; did you mean 'timeout'?\n"


def test_validate_checks_keymap_ids_against_the_dashboards(project: Project) -> None:
    project.write('[tasks.t]\ncommands = ["x"]\n[keymap]\nretry = "ctrl+r"\nretyr-all = "R"\n')
    code, out, err = project.nexus("validate")
    assert code == EXIT_USAGE
    assert out == ""
    assert err == (
        "nexus.toml:5:1: keymap.retyr-all: no dashboard key binding has the id 'retyr-all';"
        " did you mean 'retry-all'?\n"
    )
    project.write('[tasks.t]\ncommands = ["x"]\n[keymap]\nretry = "ctrl+r"\n')
    assert project.nexus("validate")[0] == 0


def test_a_missing_config_says_how_to_start(project: Project) -> None:
    project.config.unlink()
    code, out, err = project.nexus("validate")
    assert code == EXIT_USAGE
    assert out == ""
    assert err.splitlines() == [
        "nexus.toml: file not found",
        "nexus: no nexus.toml in this directory. To start, `nexus init` writes a starter one"
        " here; `-c FILE` picks another config file",
    ]
    code, _, err = project.nexus("-c", "deploy/prod.toml", "list")
    assert code == EXIT_USAGE
    assert err.splitlines()[-1] == (
        "nexus: no config at deploy/prod.toml. To start, `nexus init deploy/prod.toml` writes a"
        " starter one there; `-c FILE` picks another config file"
    )


def test_the_dashboard_without_a_config_says_how_to_start(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``nexus`` on a terminal in a directory with no nexus.toml."""
    project.config.unlink()
    monkeypatch.setattr("nexus_cli._interactive", lambda: True)
    code, _, err = project.nexus()
    assert code == EXIT_USAGE
    assert "`nexus init` writes a starter one here" in err
