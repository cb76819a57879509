"""Ctrl-C and SIGTERM during a run: exit 130, everything recorded, nothing left running
(T-PROC-3 and T-PROC-9, local)."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from tests.e2e.conftest import (
    TIMEOUT,
    Nexus,
    Reaper,
    config,
    read_pidfile,
    statuses,
    unit,
    wait_for_file,
)

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("fmt", ["json", "text"])
def test_a_signal_interrupts_the_run(
    nexus: Nexus, reaper: Reaper, signum: signal.Signals, fmt: str
) -> None:
    out_path = nexus.cwd.parent / "stdout"
    with out_path.open("wb") as out:
        proc = nexus.popen(
            "-c", config("long.toml"), "--headless", "run", "--format", fmt,
            stdout=out, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            pid, pgid = read_pidfile(wait_for_file(nexus.cwd / "pgid", proc))
            assert pid == pgid
            proc.send_signal(signum)
            _, stderr = proc.communicate(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    stdout = out_path.read_text()

    assert proc.returncode == 130, stderr
    assert b"Traceback" not in stderr
    reaper.assert_group_gone(pgid)
    assert not (nexus.cwd / "marker").exists()
    assert not (nexus.cwd / "after-long-ran").exists()

    summary = nexus.summary()
    assert summary["status"] == "interrupted"
    assert statuses(summary) == {"long": "interrupted", "after_long": "not_run"}
    assert unit(summary, "long")["attempts"] == 1
    assert [e["event"] for e in nexus.events()][-1] == "run_finished"
    if fmt == "json":
        document = json.loads(stdout)
        assert document["status"] == "interrupted"
        assert document["exit_code"] == 130
        assert statuses(document) == {"long": "interrupted", "after_long": "not_run"}
    else:
        assert "long@local | started" in stdout
        assert "(exit 130)" in stdout.splitlines()[-1]
        assert "interrupted" in stdout.splitlines()[-1]
