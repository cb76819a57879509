"""A journal on a full file system: the run stops starting work, and every face says it failed
because its record is incomplete. The file system is a real tmpfs, small enough to fill."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Nexus, statuses

CONFIG = """
[tasks.loud]
commands = ["head -c 2000000 /dev/zero | tr '\\\\0' x"]

[tasks.after]
deps = ["loud"]
commands = ["touch {marker}"]
"""


@pytest.fixture
def full_disk(nexus: Nexus, tmp_path: Path) -> Iterator[Path]:
    """The journal's state dir on a 256 KiB tmpfs (needs root, as CI has: fails, never skips)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"cannot mount a small tmpfs (run as root): {done.stderr}", pytrace=False)
    nexus.env["NEXUS_STATE_DIR"] = str(mount / "state")
    nexus.state = mount / "state"
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.e2e
@pytest.mark.parametrize("fmt", ["json", "text"])
def test_a_full_journal_stops_new_work_and_fails_the_run_in_every_face(
    nexus: Nexus, full_disk: Path, tmp_path: Path, fmt: str
) -> None:
    marker = tmp_path / "after-ran"
    (nexus.cwd / "nexus.toml").write_text(CONFIG.format(marker=marker))
    done = nexus("--headless", "run", "--format", fmt)
    assert done.returncode == 1, done.stderr
    assert not marker.exists()  # nothing new started once the record was lost
    if fmt == "json":
        document = json.loads(done.stdout)
        assert document["status"] == "failed"
        assert document["exit_code"] == 1
        assert "record is incomplete" in document["error"]
        assert "No space left on device" in document["error"]
        assert statuses(document) == {"loud": "succeeded", "after": "not_run"}
    else:
        assert "run failed: its record is incomplete" in done.stdout
        assert "No space left on device" in done.stderr
    (run_dir,) = (full_disk / "state" / "runs").iterdir()
    lines = (run_dir / "events.jsonl").read_bytes().splitlines(keepends=True)
    assert lines, "the journal kept what it could"
    for line in lines:  # no line cut short by the full disk
        assert line.endswith(b"\n")
        json.loads(line)


@pytest.mark.e2e
def test_no_step_runs_whose_start_the_full_journal_did_not_keep(
    nexus: Nexus, full_disk: Path, tmp_path: Path
) -> None:
    """The first step fills the journal's file system; each following step only leaves a mark.
    The journal keeps starts while its last page has room, then cannot: every step that left
    its mark has its start, token and all, in the record, and the steps after it never ran."""
    ran = tmp_path / "ran"
    ran.mkdir()
    fill = f"dd if=/dev/zero of={full_disk / 'fill'} bs=4096 2>/dev/null; true"
    steps = [fill, *(f"touch {ran}/{i}" for i in range(1, 60))]
    (nexus.cwd / "nexus.toml").write_text(f"[tasks.mark]\ncommands = {json.dumps(steps)}\n")
    done = nexus("--headless", "run", "--format", "json")
    assert done.returncode == 1, done.stderr
    document = json.loads(done.stdout)
    assert document["status"] == "failed"
    assert "its record is incomplete: the journal could not write" in document["error"]
    (run_dir,) = (full_disk / "state" / "runs").iterdir()
    lines = (run_dir / "events.jsonl").read_bytes().splitlines(keepends=True)
    for line in lines:  # no line cut short by the full disk
        assert line.endswith(b"\n")
    events = [json.loads(line) for line in lines]
    recorded = {e["step"] for e in events if e["event"] == "step_started" and e["step_id"]}
    marks = {int(p.name) for p in ran.iterdir()}
    assert 0 in recorded
    assert marks <= recorded  # no step ran without its start on record
    assert len(marks) < len(steps) - 1  # and the run stopped starting them
    unit = document["tasks"]["mark"]["hosts"]["local"]
    assert unit["reason"].startswith("not started: its start could not be recorded")
    assert "events.jsonl" in unit["reason"]
