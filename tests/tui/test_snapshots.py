"""Screenshots of the dashboard's states, compared with the baselines in ``snapshots/``.

Runs here are scripted (``ReplaySource``) and the clock is frozen, so every elapsed time and
duration on screen comes from event data and each screenshot is the same on every machine.
Accept changes with ``just snapshots-update`` after looking at ``snapshot_report.html``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from nexus_engine.plan import UnitKey
from nexus_tui.app import NexusApp
from nexus_tui.replay import ReplaySource
from tests.tui.conftest import wait_for
from tests.tui.scripts import T0, Script, deploy_plan, finished, in_progress, waiting

SIZES = pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
Compare = Callable[..., bool]


def replay(script: Script | None, *, hold: bool = True) -> NexusApp:
    plan = deploy_plan()
    source = ReplaySource(plan, script.events if script else (), hold=hold)
    now = T0 + (script.now if script else 0.0)
    return NexusApp(
        plan,
        lambda tasks: source,
        config_name="nexus.toml",
        autostart=() if script else None,
        clock=lambda: now,
    )


def played(app: NexusApp, then: Callable[[], None] | None = None) -> Any:
    """``run_before``: wait until the script has been read, flush output, settle."""

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.source is not None, "the run to start")
        source = app.source
        assert isinstance(source, ReplaySource)
        await wait_for(pilot, source.played.is_set, "the script")
        assert app.bridge is not None
        app.bridge.flush()
        if then is not None:
            then()
        await pilot.pause()

    return run_before


class TestIdle:
    @SIZES
    def test_the_dag_before_a_run(self, snap_compare: Compare, size: tuple[int, int]) -> None:
        """Every task under what it needs, deploy referenced under build; nothing runs."""
        assert snap_compare(replay(None), terminal_size=size)

    @SIZES
    def test_help(self, snap_compare: Compare, size: tuple[int, int]) -> None:
        """? lists every key with its [keymap] id."""
        assert snap_compare(replay(None), press=["question_mark"], terminal_size=size)


class TestRun:
    @SIZES
    def test_in_progress(self, snap_compare: Compare, size: tuple[int, int]) -> None:
        """deploy@web2 selected: ANSI stripped, [/bold] shown as text, stderr in red;
        web3 flagged quiet."""
        app = replay(in_progress())
        select = lambda: app.dashboard.select_unit(UnitKey("deploy", "web2"))  # noqa: E731
        assert snap_compare(app, terminal_size=size, run_before=played(app, select))

    @SIZES
    def test_waiting_for_a_decision(self, snap_compare: Compare, size: tuple[int, int]) -> None:
        """web2 failed: selected on its own, the bar says what waits and what it holds."""
        app = replay(waiting())
        assert snap_compare(app, terminal_size=size, run_before=played(app))

    @SIZES
    def test_summary(self, snap_compare: Compare, size: tuple[int, int]) -> None:
        """The run is over: per task and host, with the journal's path."""
        app = replay(finished(), hold=False)

        async def run_before(pilot: Pilot[Any]) -> None:
            await wait_for(pilot, lambda: app.ended is not None, "the summary")

        assert snap_compare(app, terminal_size=size, run_before=run_before)
