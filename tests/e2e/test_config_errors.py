"""Bad configs and bad command lines: exit 2, a message with file, line, key path and what is
wrong, and never a traceback; nothing runs (T-CFG-1, 2, 3, 5)."""

from __future__ import annotations

import json

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


#: (file, command): every bad file through every command that reads it, but validate notes an
#: unset value and passes (test_validate_notes_what_is_not_set_and_passes)
PAIRS = [
    (name, command)
    for name in sorted(CASES)
    for command in (["validate"], ["list"], ["--headless", "run"])
    if (name, command) != ("unset_env.toml", ["validate"])
]


@pytest.mark.parametrize(("name", "command"), PAIRS)
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
    assert result.stderr.splitlines() == [
        "nowhere.toml: file not found",
        "nexus: no config at nowhere.toml. To start, `nexus init nowhere.toml` writes a starter"
        " one there; `-c FILE` picks another config file",
    ]


def test_the_default_config_is_nexus_toml_here(nexus: Nexus) -> None:
    result = nexus("validate")

    assert result.returncode == 2
    assert "nexus.toml: file not found" in result.stderr
    assert "To start, `nexus init` writes a starter one here" in result.stderr
    assert nexus("init").returncode == 0  # which is what it says
    assert nexus("validate").returncode == 0


def test_a_config_error_under_json_is_one_json_document_on_stdout(nexus: Nexus) -> None:
    result = nexus("-c", BAD / "unknown_key.toml", "--headless", "run", "--format", "json")

    assert result.returncode == 2
    no_traceback(result)
    document = json.loads(result.stdout)
    assert (document["status"], document["exit_code"]) == ("config_error", 2)
    assert document["errors"] == [
        {
            "file": str(BAD / "unknown_key.toml"),
            "line": 9,
            "column": 1,
            "key": "tasks.deploy.commands[1].timout",
            "message": "unknown key; did you mean 'timeout'?",
        }
    ]


def test_validate_notes_what_is_not_set_and_passes(nexus: Nexus) -> None:
    """CI validates without the secrets; a run still refuses (the case above)."""
    result = nexus("-c", BAD / "unset_env.toml", "validate")

    assert result.returncode == 0
    no_traceback(result)
    assert result.stdout.endswith("; 1 value not set here, which a run needs\n")
    assert (
        "tasks.deploy.commands[0].env.STAGE: note: environment variable "
        "'NEXUS_E2E_UNSET_VARIABLE' is not set"
    ) in result.stderr

    (nexus.cwd / "nexus.toml").write_bytes(EXAMPLE.read_bytes())
    assert nexus("validate").returncode == 0


def test_an_unknown_task_on_the_command_line(nexus: Nexus) -> None:
    result = nexus("-c", EXAMPLE, "--headless", "run", "build", "deploy")

    assert result.returncode == 2
    no_traceback(result)
    assert result.stderr.strip() == f"nexus: no task named 'deploy' in {EXAMPLE}"
    assert result.stdout == ""
    assert nexus.runs() == []
    assert not (nexus.cwd / "nexus-demo").exists()
