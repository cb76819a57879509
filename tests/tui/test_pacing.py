"""How the dashboard keeps up with a big fleet: the run's changes flushed only as often as the
screen shows them, log panes that grow without a layout of the screen, keys that repaint only
what they change, and a garbage collector that leaves the long-lived objects alone."""

from __future__ import annotations

import gc
import time
from dataclasses import replace

import pytest

from nexus_engine.plan import UnitKey
from nexus_tui import messages as msg
from nexus_tui import pacing
from nexus_tui.screens.dashboard import DashboardScreen
from nexus_tui.tally import Kind
from nexus_tui.widgets.decision_bar import DecisionBar
from nexus_tui.widgets.host_log import HostLog
from tests.tui import configs
from tests.tui.conftest import Project, abort_run, settle, wait_for

SLOW_SCREEN = 0.2  # seconds the screen takes to show a flush in the test below


def test_flushes_come_as_often_as_the_screen_keeps_up_and_no_more() -> None:
    assert pacing.wait_after(0.001) == pytest.approx(pacing.LEAST - 0.001)  # at rest: ~20/s
    assert pacing.wait_after(0.2) == 0.2  # busy: the screen takes half the loop at most
    assert pacing.wait_after(5.0) == pacing.MOST  # the log never lags further behind


async def test_a_flush_the_screen_is_slow_to_show_delays_the_next(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown = DashboardScreen.on_totals_changed

    def slow(screen: DashboardScreen, message: msg.TotalsChanged) -> None:
        time.sleep(SLOW_SCREEN)  # a screen busy drawing a thousand hosts
        shown(screen, message)

    monkeypatch.setattr(DashboardScreen, "on_totals_changed", slow)
    app = project.app(configs.SLOW, autostart=["slow"])
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.flush_wait >= SLOW_SCREEN, "the next flush to wait")
        await abort_run(pilot, app)
    await settle(app)


async def test_output_and_keys_redraw_without_a_layout_or_a_repaint_of_the_screen(
    project: Project,
) -> None:
    app = project.app(configs.SLOW, autostart=["slow"])
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.running, "the run to start")
        screen, log = app.dashboard, app.dashboard.query_one("#log-0", HostLog)
        await pilot.pause()
        log.write_lines(["one", "two"])
        log.clear()
        assert not log._layout_required  # the pane's size never depends on its lines
        screen.status_filter = Kind.RUNNING
        assert not screen._repaint_required  # only the table the filter changes is redrawn
        bar, row = screen.query_one(DecisionBar), app.model.hosts[UnitKey("slow", "local")]
        bar.show_waiting([replace(row, reason="exit 1")], [])
        await pilot.pause()
        bar.show_waiting([replace(row, reason="exit 2")], [])
        assert not bar._layout_required  # still one line
        await abort_run(pilot, app)
    await settle(app)


async def test_what_lives_as_long_as_the_app_is_left_out_of_full_collections(
    project: Project,
) -> None:
    app = project.app(configs.SLOW, autostart=["slow"])
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.running, "the run to start")
        assert gc.get_freeze_count() > 0
        await abort_run(pilot, app)
    await settle(app)


async def test_moving_between_tasks_leaves_the_footer_alone(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    rebuilt: list[object] = []
    monkeypatch.setattr(DashboardScreen, "refresh_bindings", lambda screen: rebuilt.append(1))
    app = project.app(configs.INDEPENDENT)
    async with app.run_test() as pilot:
        await pilot.pause()
        rebuilt.clear()  # the footer is made at start
        await pilot.press("j", "j")
        assert app.dashboard.task_name == "gamma"
        assert rebuilt == []  # no key changed meaning: the footer is not rebuilt
