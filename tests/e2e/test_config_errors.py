"""Bad configs and bad command lines: exit 2, a message with file, line, key path and what is
wrong, and never a traceback; nothing runs (T-CFG-1, 2, 3, 5)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import CONFIGS, EXAMPLE, Nexus, no_traceback

pytestmark = pytest.mark.e2e

BAD = CONFIGS / "bad"

#: file → lines stderr must hold, after "<path>:"
CASES = {
    "syntax.toml": [
        "3:21: TOML syntax error",
        '3 | commands = ["echo", ,]',
        "  |                     ^",
    ],
    "unknown_key.toml": [
        "9:1: tasks.deploy.commands[1].timout: unknown key; did you mean 'timeout'?",
    ],
    "wrong_type.toml": [  # every problem at once, not only the first
        "2:1: settings.retries: expected an integer ≥ 0, got -1",
        "6:1: tasks.build.timeout: expected a number, got the string 'ten'",
    ],
    "unknown_dep.toml": [
        "5:9: tasks.test.deps[0]: unknown task 'biuld'; did you mean 'build'?",
    ],
    "cycle.toml": ["2:9: tasks.a.deps[0]: tasks depend on each other: a → b → a"],
    "unset_env.toml": [
        "5:9: tasks.deploy.commands[0].env.STAGE: environment variable "
        "'NEXUS_E2E_UNSET_VARIABLE' is not set",
    ],
}


def expected_lines(name: str) -> list[str]:
    path = BAD / name
    return [line if line.startswith(("  |", "3 |")) else f"{path}:{line}" for line in CASES[name]]


@pytest.mark.parametrize("command", [["validate"], ["list"], ["--headless", "run"]])
@pytest.mark.parametrize("name", sorted(CASES))
def test_a_bad_config_is_reported_with_its_place(
    nexus: Nexus, name: str, command: list[str]
) -> None:
    result = nexus("-c", BAD / name, *command)

    assert result.returncode == 2
    no_traceback(result)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    for expected in expected_lines(name):
        assert any(expected in line for line in lines), (expected, result.stderr)
    assert nexus.runs() == []  # nothing ran, nothing was recorded


def test_a_missing_config_file(nexus: Nexus) -> None:
    result = nexus("-c", "nowhere.toml", "--headless", "run")

    assert result.returncode == 2
    no_traceback(result)
    assert result.stderr.strip() == "nowhere.toml: file not found"


def test_the_default_config_is_nexus_toml_here(nexus: Nexus) -> None:
    result = nexus("validate")

    assert result.returncode == 2
    assert "nexus.toml: file not found" in result.stderr

    (nexus.cwd / "nexus.toml").write_bytes(EXAMPLE.read_bytes())
    assert nexus("validate").returncode == 0


def test_an_unknown_task_on_the_command_line(nexus: Nexus) -> None:
    result = nexus("-c", EXAMPLE, "--headless", "run", "build", "deploy")

    assert result.returncode == 2
    no_traceback(result)
    assert result.stderr.strip() == f"nexus: no task named 'deploy' in {EXAMPLE}"
    assert nexus.runs() == []
    assert not (nexus.cwd / "nexus-demo").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "-p", "0"], "argument -p/--parallel: expected a number ≥ 1, got 0"),
        (["run", "-p", "many"], "argument -p/--parallel: expected a whole number, got 'many'"),
        (["run", "--format", "xml"], "argument --format: invalid choice: 'xml'"),
        (["run", "-q", "-v"], "argument -v/--verbose: not allowed with argument -q/--quiet"),
        (["run", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'"),
        (["completion", "powershell"], "argument shell: invalid choice: 'powershell'"),
    ],
)
def test_bad_arguments_exit_2(nexus: Nexus, args: list[str], message: str) -> None:
    result = nexus("-c", EXAMPLE, "--headless", *args)

    assert result.returncode == 2
    no_traceback(result)
    assert message in result.stderr
    assert "usage: nexus" in result.stderr
    assert nexus.runs() == []
