"""The decision keys against real local runs: retry, retry all, skip, abort and quit."""

from __future__ import annotations

import json

from nexus_engine.plan import UnitKey
from nexus_engine.status import UnitStatus
from nexus_tui.screens.confirm import ConfirmScreen
from nexus_tui.screens.dashboard import DashboardScreen
from nexus_tui.screens.summary import SummaryScreen
from nexus_tui.widgets.decision_bar import DecisionBar
from tests.tui import configs
from tests.tui.conftest import Project, abort_run, settle, wait_for

FLAKY = UnitKey("flaky", "local")


def enabled(app, key: str) -> bool | None:
    """The footer's view of a key: True active, False greyed out, None not shown."""
    binding = app.screen.active_bindings.get(key)
    return None if binding is None else binding.enabled


async def test_a_failing_unit_is_retried_to_success_with_r(project: Project) -> None:
    """The failure waits, is selected on its own, and r retries it; dependents then run."""
    app = project.app(configs.FLAKY, autostart=["after"])
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.dashboard.selected == FLAKY, "the failure selected")
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        assert screen.selected == FLAKY
        assert app.model.hosts[UnitKey("after", "local")].status is UnitStatus.PENDING
        assert enabled(app, "r") is True
        assert enabled(app, "s") is True
        await pilot.press("r")
        await wait_for(pilot, lambda: app.ended is not None, "the run to end")
        assert isinstance(app.screen, SummaryScreen)
        assert app.ended.exit_code == 0
        flaky = app.ended.finished.tasks["flaky"].hosts["local"]
        assert (flaky.status, flaky.attempts) == (UnitStatus.SUCCEEDED, 2)
        assert app.ended.finished.tasks["after"].status is UnitStatus.SUCCEEDED
        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0
    await settle(app)


async def test_shift_r_retries_every_failed_unit(project: Project) -> None:
    app = project.app(configs.TWO_FLAKY, autostart=[])
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: enabled(app, "R"), "both failures")
        assert len(app.model.awaiting()) == 2
        await pilot.press("R")
        await wait_for(pilot, lambda: app.ended is not None, "the run to end")
        assert app.ended.exit_code == 0
        assert {t.hosts["local"].attempts for t in app.ended.finished.tasks.values()} == {2}
    await settle(app)


async def test_s_skips_the_failed_host_and_the_run_completes(project: Project) -> None:
    """Skipping records the host and what needs it there as skipped; the rest goes on."""
    app = project.app(configs.BROKEN, autostart=[])
    async with app.run_test() as pilot:
        broken = UnitKey("broken", "local")
        await wait_for(pilot, lambda: app.dashboard.selected == broken, "the failure selected")
        await pilot.press("s")
        await wait_for(pilot, lambda: app.ended is not None, "the run to end")
        tasks = app.ended.finished.tasks
        assert tasks["broken"].status is UnitStatus.SKIPPED
        assert tasks["needs_broken"].status is UnitStatus.SKIPPED
        assert tasks["other"].status is UnitStatus.SUCCEEDED
        assert app.ended.exit_code == 0
    await settle(app)


async def test_decision_keys_are_greyed_out_unless_the_selection_waits(project: Project) -> None:
    app = project.app(configs.SLOW)
    async with app.run_test() as pilot:
        assert enabled(app, "r") is None  # before a run: not shown at all
        assert enabled(app, "a") is None
        await pilot.press("enter")
        await wait_for(pilot, lambda: enabled(app, "a"), "the run to start")
        assert enabled(app, "r") is False  # running, not failed: shown greyed out
        assert enabled(app, "s") is False
        assert enabled(app, "R") is False
        assert enabled(app, "a") is True
        await pilot.press("r", "s", "R")  # greyed out: nothing happens
        await pilot.pause()
        assert app.model.hosts[UnitKey("slow", "local")].status is UnitStatus.RUNNING
    await settle(app)


async def test_a_aborts_after_confirmation(project: Project) -> None:
    app = project.app(configs.SLOW, autostart=["slow"])
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.model.totals.running == 1, "the unit to start")
        await pilot.press("a")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert isinstance(app.screen, DashboardScreen)
        assert app.running
        await pilot.press("a", "y")
        await wait_for(pilot, lambda: app.ended is not None, "the run to end")
        assert app.ended.exit_code == 130
        assert app.ended.finished.tasks["slow"].status is UnitStatus.INTERRUPTED
        assert isinstance(app.screen, SummaryScreen)
        await pilot.press("escape")  # back to the dashboard to read the logs
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("q")  # nothing runs any more: no question
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == 130
    await settle(app)


async def test_q_during_a_run_asks_then_cancels_and_records_it(project: Project) -> None:
    app = project.app(configs.SLOW, autostart=["slow"])
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.model.totals.running == 1, "the unit to start")
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("escape")
        assert app.running
        await pilot.press("q", "y")
        await wait_for(pilot, lambda: app.return_code is not None, "the app to exit")
    assert app.return_code == 130
    (summary,) = project.summaries()
    assert json.loads(summary.read_text())["status"] == "interrupted"
    await settle(app)


async def test_q_before_any_run_quits_at_once(project: Project) -> None:
    app = project.app(configs.SLOW)
    async with app.run_test() as pilot:
        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0
    assert project.summaries() == []


async def test_ctrl_q_asks_too_while_a_run_is_active(project: Project) -> None:
    app = project.app(configs.SLOW, autostart=["slow"])
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.model.totals.running == 1, "the unit to start")
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.click("#yes")
        await wait_for(pilot, lambda: app.return_code is not None, "the app to exit")
    assert app.return_code == 130
    await settle(app)


async def test_a_failure_is_not_selected_while_the_operator_moves(project: Project) -> None:
    app = project.app(configs.SLOW_FAILURE, autostart=[])
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.model.totals.running, "the run to start")
        await pilot.press("j", "k")  # the operator is moving, and stays on elsewhere
        bar = app.dashboard.query_one(DecisionBar)
        await wait_for(pilot, lambda: bar.display, "the failure to show")
        assert "waiting for you" in str(bar.render())
        await pilot.pause(0.1)
        assert app.screen.task_name == "elsewhere"
        await abort_run(pilot, app)
    await settle(app)


async def test_retrying_a_step_marked_not_idempotent_asks_first(project: Project) -> None:
    """``idempotent = false``: r asks; no leaves the unit waiting, yes retries it."""
    app = project.app(configs.UNSAFE, autostart=[])
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.dashboard.selected == FLAKY, "the failure selected")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert "Retry flaky@local?" in str(app.screen.question)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")
        assert app.model.hosts[FLAKY].waiting
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question again")
        await pilot.press("y")
        await wait_for(pilot, lambda: app.ended is not None, "the run to end")
        flaky = app.ended.finished.tasks["flaky"].hosts["local"]
        assert (flaky.status, flaky.attempts) == (UnitStatus.SUCCEEDED, 2)
    await settle(app)
