"""Fixtures for the dashboard tests: real local runs in a scratch project, and snapshot
baselines kept in the top-level ``snapshots/`` directory instead of ``__snapshots__``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from pytest_textual_snapshot import SVGImageExtension
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.base import AbstractSyrupyExtension
from syrupy.location import PyTestLocation
from textual.pilot import Pilot

from nexus_engine.config import LoadedConfig, load_config
from nexus_engine.plan import build_plan
from nexus_engine.session import RunRequest
from nexus_tui.app import NexusApp
from nexus_tui.source import start_live

SNAPSHOTS = Path(__file__).resolve().parents[2] / "snapshots"
WAIT = 15.0  # seconds: a deadline for real runs; each takes well under one


class BaselineSVG(SVGImageExtension):
    """pytest-textual-snapshot's SVG extension, storing under ``snapshots/<test module>/``."""

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        return str(SNAPSHOTS / test_location.basename)


class Baselines(SnapshotAssertion):
    """``snap_compare`` asks for its SVG extension by class; hand it ours instead."""

    def use_extension(
        self, extension_class: type[AbstractSyrupyExtension] | None = None
    ) -> SnapshotAssertion:
        if extension_class is SVGImageExtension:
            extension_class = BaselineSVG
        return super().use_extension(extension_class)


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    return Baselines(
        update_snapshots=snapshot.update_snapshots,
        extension_class=snapshot.extension_class,
        test_location=snapshot.test_location,
        session=snapshot.session,
    )


class Project:
    """A scratch directory with a nexus.toml, its journal in ``state``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.state = root / "state"

    def config(self, text: str) -> LoadedConfig:
        path = self.root / "nexus.toml"
        path.write_text(text.replace("{dir}", str(self.root)), encoding="utf-8")
        return load_config(path)

    def app(
        self,
        text: str,
        autostart: Sequence[str] | None = None,
        base: RunRequest | None = None,
        **options: Any,
    ) -> NexusApp:
        """The dashboard over ``text``; ``base``: the run request it starts runs with."""
        loaded = self.config(text)
        return NexusApp(
            build_plan(loaded),
            partial(start_live, loaded, base=base),
            config_name="nexus.toml",
            autostart=autostart,
            keymap=loaded.config.keymap,
            **options,
        )

    def summaries(self) -> list[Path]:
        return sorted(self.state.glob("runs/*/summary.json"))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("NEXUS_STATE_DIR", str(tmp_path / "state"))
    return Project(tmp_path)


async def wait_for(pilot: Pilot[Any], condition: Callable[[], object], what: str = "") -> None:
    """Let the app run until ``condition()`` holds; fail after WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or condition}")
        await pilot.pause(0.02)
    await pilot.pause()


async def abort_run(pilot: Pilot[Any], app: NexusApp) -> None:
    """Abort the app's run, as the operator's abort does, and wait for it to end."""
    app.abort()
    await wait_for(pilot, lambda: app.ended is not None, "the run to end")


async def settle(app: NexusApp) -> None:
    """After the app has exited: the run it left is recorded."""
    await app.close_run()
    await asyncio.sleep(0)
