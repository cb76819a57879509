"""A project directory for in-process ``nexus`` commands: a config, a state dir, a clean env."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from nexus_cli import main

PIPELINE = """
[tasks.build]
description = "Build it"
commands = ["echo building", 'printf "warn\\n" >&2']
[tasks.test]
description = "Test it"
deps = ["build"]
commands = [{ cmd = "echo testing", retries = 1, timeout = 30.0 }]
[tasks.lint]
commands = ["echo linting"]
"""


class Project:
    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.root = root
        self.state = root / "state"
        self.config = root / "nexus.toml"
        self._capsys = capsys

    def write(self, text: str, name: str = "nexus.toml") -> Path:
        path = self.root / name
        path.write_text(text, encoding="utf-8")
        return path

    def nexus(self, *argv: str) -> tuple[int, str, str]:
        """Run ``nexus argv`` in-process: (exit code, stdout, stderr)."""
        self._capsys.readouterr()  # start from nothing
        code = main(list(argv))
        captured = self._capsys.readouterr()
        return code, captured.out, captured.err

    def runs(self) -> list[Path]:
        runs = self.state / "runs"
        return sorted(runs.iterdir()) if runs.is_dir() else []

    def events(self, run_dir: Path) -> list[dict[str, object]]:
        lines = (run_dir / "events.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]


@pytest.fixture
def project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Project:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEXUS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("NO_COLOR", raising=False)
    project = Project(tmp_path, capsys)
    project.write(PIPELINE)
    return project


Nexus = Callable[..., tuple[int, str, str]]
