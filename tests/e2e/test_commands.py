"""The commands around ``run``: list, validate, init, version, completion and help."""

from __future__ import annotations

import importlib.metadata
import platform
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import CONFIGS, EXAMPLE, TIMEOUT, Nexus, no_traceback

pytestmark = pytest.mark.e2e

SUBCOMMANDS = ["completion", "init", "list", "logs", "run", "runs", "validate", "version"]


def test_list_shows_tasks_where_and_what_they_need(nexus: Nexus) -> None:
    result = nexus("-c", EXAMPLE, "list")

    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["TASK", "ON", "DEPS", "STEPS", "DESCRIPTION"]
    table = {row.split()[0]: row for row in rows}
    assert list(table) == ["prepare", "build", "lint", "test", "package"]
    assert table["prepare"].split()[1:5] == ["local", "-", "1", "Make"]
    assert table["build"].split()[1:4] == ["local", "prepare", "3"]
    assert table["package"].split()[1:5] == ["local", "test,", "lint", "1"]
    assert table["build"].endswith("Build the artefact")


def test_validate_accepts_the_example(nexus: Nexus) -> None:
    result = nexus("validate", "-c", EXAMPLE)

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{EXAMPLE}: valid: 5 tasks, 0 hosts, 0 groups\n"
    assert nexus.runs() == []


def test_validate_rejects_a_broken_file(nexus: Nexus) -> None:
    result = nexus("validate", "-c", CONFIGS / "bad" / "unknown_key.toml")

    assert result.returncode == 2
    no_traceback(result)
    assert "did you mean 'timeout'?" in result.stderr
    assert "valid:" not in result.stdout


def test_init_writes_a_config_that_validates_and_runs(nexus: Nexus) -> None:
    path = nexus.cwd / "sub" / "mine.toml"
    path.parent.mkdir()

    written = nexus("init", path)

    assert written.returncode == 0, written.stderr
    assert f"wrote {path}" in written.stdout
    assert nexus("validate", "-c", path).returncode == 0
    run = nexus("-c", path, "--headless", "run")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "succeeded" in run.stdout.splitlines()[-1]


def test_init_never_overwrites(nexus: Nexus) -> None:
    path = nexus.cwd / "nexus.toml"
    assert nexus("init").returncode == 0  # the default: ./nexus.toml
    path.write_text("# mine\n")
    before = path.stat()

    again = nexus("init", path)

    assert again.returncode == 2
    no_traceback(again)
    assert "already exists" in again.stderr
    assert path.read_text() == "# mine\n"
    assert path.stat().st_mtime_ns == before.st_mtime_ns


def test_init_refuses_a_symlink(nexus: Nexus) -> None:
    target = nexus.cwd / "target"
    (nexus.cwd / "link.toml").symlink_to(target)

    result = nexus("init", "link.toml")

    assert result.returncode == 2
    no_traceback(result)
    assert not target.exists()


def test_version(nexus: Nexus) -> None:
    result = nexus("version")

    assert result.returncode == 0
    expected = importlib.metadata.version("nexus-runner")
    assert result.stdout == f"nexus {expected} (Python {platform.python_version()})\n"
    assert nexus("--version").stdout == f"nexus {expected}\n"


def test_bash_completion_is_valid_bash(nexus: Nexus, tmp_path: Path) -> None:
    bash = shutil.which("bash")
    assert bash is not None, "bash runs the test command itself"
    result = nexus("completion", "bash")
    assert result.returncode == 0
    script = tmp_path / "nexus.bash"
    script.write_text(result.stdout)

    syntax = subprocess.run(
        [bash, "-n", script], capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    assert syntax.returncode == 0, syntax.stderr
    # sourced, it completes subcommands, and options of `run`
    probe = subprocess.run(
        [bash, "-c", f'source "{script}"; complete -p nexus;'
         'COMP_WORDS=(nexus ""); COMP_CWORD=1; _nexus; echo "${COMPREPLY[*]}";'
         'COMP_WORDS=(nexus run --dr); COMP_CWORD=2; _nexus; echo "${COMPREPLY[*]}"'],
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert probe.returncode == 0, probe.stderr
    spec, commands, options = probe.stdout.splitlines()
    assert spec == "complete -o default -F _nexus nexus"
    assert set(SUBCOMMANDS) <= set(commands.split())
    assert options.split() == ["--dry-run"]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_completion_name_every_subcommand(nexus: Nexus, shell: str) -> None:
    result = nexus("completion", shell)

    assert result.returncode == 0
    for command in SUBCOMMANDS:
        assert command in result.stdout, command
    for option in ("dry-run", "continue-on-error", "format", "stderr"):
        assert option in result.stdout, option
    program = shutil.which(shell)
    if program:  # parse it too, where the shell is installed
        check = subprocess.run(
            [program, "-n"],
            input=result.stdout,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert check.returncode == 0, check.stderr


def test_help(nexus: Nexus) -> None:
    result = nexus("--help")

    assert result.returncode == 0
    assert result.stdout.startswith("usage: nexus")
    for command in SUBCOMMANDS:
        assert command in result.stdout
    assert "Exit codes: 0 success, 1 a unit failed, 2 usage or config error, 130" in result.stdout


def test_run_help(nexus: Nexus) -> None:
    result = nexus("run", "--help")

    assert result.returncode == 0
    assert result.stdout.startswith("usage: nexus run")
    for option in ("--dry-run", "--continue-on-error", "--format", "--plain", "-p N", "TASK"):
        assert option in result.stdout, option


def test_no_command_prints_help(nexus: Nexus) -> None:
    result = nexus()

    assert result.returncode == 0
    assert result.stdout.startswith("usage: nexus")
