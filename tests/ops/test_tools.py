"""A host without a tool a kind needs: the step that needs it fails with a message naming the
tool, and changes nothing; a step that does not need it still runs. The host is this machine,
with a PATH holding everything the probes and writes use except ``sha256sum``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.conftest import Nexus
from tests.ops.support import bin_of, mode_of

pytestmark = pytest.mark.e2e

#: What the probes and the writes run besides the shell's builtins (``sha256sum`` left out).
TOOLS = (
    "base64", "cat", "chmod", "chown", "date", "find", "head", "id", "ln", "mkdir", "mv", "rm",
)  # fmt: skip


@pytest.fixture
def bin_without_sha256sum(tmp_path: Path) -> Path:
    return bin_of(tmp_path / "bin", TOOLS)


def test_a_step_needing_a_missing_tool_fails_naming_it(
    nexus: Nexus, tmp_path: Path, bin_without_sha256sum: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (nexus.cwd / "nexus.toml").write_text(
        f"""[tasks.t]
commands = [
  {{ ensure = "dir", path = "{root}/etc", mode = "0750" }},
  {{ ensure = "file", path = "{root}/etc/app.conf", content = "a\\n" }},
]
"""
    )
    done = nexus("--headless", "run", "--format", "jsonl", env={"PATH": str(bin_without_sha256sum)})
    assert done.returncode == 1, done.stdout + done.stderr
    steps = [
        event for line in done.stdout.splitlines()
        if (event := json.loads(line))["event"] == "step_finished"
    ]  # fmt: skip
    assert [(s["step"], s["status"], s["change"]) for s in steps] == [
        (0, "succeeded", "changed"),
        (1, "failed", None),
    ]
    assert steps[1]["reason"] == "the host lacks sha256sum, which file steps need"
    assert sorted(p.name for p in root.iterdir()) == ["etc"]
    assert mode_of(root / "etc") == 0o750
    assert list((root / "etc").iterdir()) == []
