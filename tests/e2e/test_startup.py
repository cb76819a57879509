"""The headless path never imports Textual: scripts and CI start fast (ARCHITECTURE.md)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.e2e.conftest import EXAMPLE, NEXUS, TIMEOUT, Nexus

pytestmark = pytest.mark.e2e


def imported_modules(importtime_stderr: str) -> set[str]:
    """Module names from ``-X importtime`` lines: ``import time: self | cumulative | name``."""
    names = set()
    for line in importtime_stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip())
    return names


def test_the_engine_does_not_import_textual(nexus: Nexus) -> None:
    code = (
        "import sys\n"
        "import nexus_cli, nexus_cli.run, nexus_engine.runner, nexus_engine.journal\n"
        "assert 'nexus_engine.runner' in sys.modules\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'nexus_tui'))\n"
        "assert not leaked, leaked\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=nexus.cwd, env=nexus.environment(), capture_output=True, text=True,
        timeout=TIMEOUT, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--headless", "run", "--dry-run"],
        ["--headless", "run", "--format", "json", "lint"],
        ["run", "--format", "jsonl", "prepare"],
        ["list"],
    ],
    ids=" ".join,
)
def test_the_headless_command_does_not_import_textual(nexus: Nexus, args: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", NEXUS, "-c", EXAMPLE, *args],
        cwd=nexus.cwd, env=nexus.environment(), stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    modules = imported_modules(result.stderr)
    assert "nexus_engine.config" in modules  # the tracing works: the engine's imports show
    leaked = sorted(m for m in modules if m.split(".")[0] in ("textual", "nexus_tui"))
    assert leaked == []
