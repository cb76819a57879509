"""A reader that goes away (``nexus … | head``): no traceback, no hang, the run still recorded."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import EXAMPLE, NEXUS, TIMEOUT, Nexus, config

pytestmark = pytest.mark.e2e


@pytest.fixture
def closed_pipe() -> Iterator[int]:
    """The write end of a pipe whose read end is already closed: every write fails (EPIPE)."""
    read, write = os.pipe()
    os.close(read)
    try:
        yield write
    finally:
        os.close(write)


def test_a_run_whose_reader_left_finishes_and_is_recorded(nexus: Nexus, closed_pipe: int) -> None:
    """100 MB of output is more events than a subscriber's queue holds: a text face that died on
    the broken pipe must not stall the run through back-pressure."""
    result = subprocess.run(
        [NEXUS, "-c", config("big.toml"), "--headless", "run"],
        cwd=nexus.cwd, env=nexus.environment(), stdin=subprocess.DEVNULL,
        stdout=closed_pipe, stderr=subprocess.PIPE, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip

    assert "Traceback" not in result.stderr
    assert "Exception ignored" not in result.stderr
    assert result.returncode == 0  # the exit code still tells how the run went
    assert nexus.summary()["status"] == "succeeded"
    log = nexus.only_run() / "output" / "big" / "local" / "0-1.log"
    assert log.stat().st_size == 100_000_000


@pytest.mark.parametrize(
    "args",
    [
        ["version"],
        ["completion", "bash"],
        ["runs"],
        ["-c", str(EXAMPLE), "list"],
        ["-c", str(EXAMPLE), "validate"],
        ["-c", str(EXAMPLE), "--headless", "run", "--dry-run"],
        ["-c", str(EXAMPLE), "--headless", "run", "--format", "jsonl"],
    ],
    ids=lambda args: " ".join(a for a in args if not a.startswith("/")),
)
def test_commands_whose_reader_left_stop_quietly(
    nexus: Nexus, closed_pipe: int, args: list[str]
) -> None:
    result = subprocess.run(
        [NEXUS, *args],
        cwd=nexus.cwd, env=nexus.environment(), stdin=subprocess.DEVNULL,
        stdout=closed_pipe, stderr=subprocess.PIPE, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip

    assert "Traceback" not in result.stderr
    assert "Exception ignored" not in result.stderr
    assert result.returncode in (0, 141)  # finished its work, or stopped as if by SIGPIPE


@pytest.mark.parametrize(
    ("args", "code"),
    [
        # a report whose reader left before it was written: 141, as shells report SIGPIPE
        (["-c", str(EXAMPLE), "list"], 141),
        (["-c", str(EXAMPLE), "--headless", "run", "--dry-run"], 141),
        # a run is never 141: it goes on, is recorded, and exits with its own code
        (["-c", str(config("failure.toml")), "--headless", "run"], 1),
        (["-c", str(config("failure.toml")), "--headless", "run", "--format", "json"], 1),
        (["-c", str(config("quick.toml")), "--headless", "run"], 0),
    ],
    ids=lambda value: (
        " ".join(a for a in value if not a.startswith("/"))
        if isinstance(value, list)
        else str(value)
    ),
)
def test_141_is_for_reports_a_run_keeps_its_own_code(
    nexus: Nexus, closed_pipe: int, args: list[str], code: int
) -> None:
    result = subprocess.run(
        [NEXUS, *args],
        cwd=nexus.cwd, env=nexus.environment(), stdin=subprocess.DEVNULL,
        stdout=closed_pipe, stderr=subprocess.PIPE, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip

    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
