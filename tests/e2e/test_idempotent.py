"""Steps that must not simply run twice: ``idempotent = false`` keeps its ``retries`` only with
``--yes``; and ``--check`` reports a ``cmd`` step as not run, running nothing."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Nexus, unit

FAILS = """
[tasks.charge]
commands = [{{ cmd = "echo x >> tries; exit 3", retries = 2, retry_delay = 0, {flag} }}]
"""


@pytest.mark.parametrize(
    ("flag", "yes", "tries"),
    [
        ("idempotent = false", False, 1),
        ("idempotent = false", True, 3),
        ("idempotent = true", False, 3),
        ("sudo = false", False, 3),  # not said: retried as its retries say, as before
    ],
)
def test_a_step_not_safe_to_repeat_is_retried_only_with_yes(
    nexus: Nexus, flag: str, yes: bool, tries: int
) -> None:
    (nexus.cwd / "nexus.toml").write_text(FAILS.format(flag=flag))
    args = ["--headless", "run", "--format", "json", *(["--yes"] if yes else [])]
    result = nexus(*args)
    assert result.returncode == 1, result.stderr
    assert (nexus.cwd / "tries").read_text().count("x") == tries
    assert unit(json.loads(result.stdout), "charge")["attempts"] == tries


def test_check_runs_no_command_and_says_so(nexus: Nexus) -> None:
    (nexus.cwd / "nexus.toml").write_text(
        '[tasks.t]\ncommands = ["touch made", { cmd = "touch also", creates = "made" }]\n'
    )
    result = nexus("--headless", "run", "--check")
    assert result.returncode == 0, result.stderr
    assert not (nexus.cwd / "made").exists()
    assert not (nexus.cwd / "also").exists()
    assert result.stdout.count("t@local - not run in check mode") == 2
    assert "steps: 0 ok, 0 changed, 2 skipped, 0 failed" in result.stdout
    assert "nexus: check mode: hosts are probed, nothing is changed" in result.stderr
