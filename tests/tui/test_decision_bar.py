"""The decision bar and its keys agree: ``r`` and ``s`` act on the unit the bar names, and once
a decision has been acted on the selection moves to the next unit waiting for one.

Reported by an operator: after ``r`` the selection stayed on the retried unit while the bar
offered "s skip" for another host, and ``s`` then did nothing.
"""

from __future__ import annotations

from typing import Any

from nexus_engine import events as ev
from nexus_engine.plan import UnitKey
from nexus_engine.status import UnitStatus
from nexus_tui import decisions
from nexus_tui.model import RunModel
from nexus_tui.widgets.decision_bar import DecisionBar
from tests.tui import configs
from tests.tui.conftest import Project, abort_run, settle, wait_for
from tests.tui.scripts import deploy_plan

LEFT, RIGHT, CALM = UnitKey("left", "local"), UnitKey("right", "local"), UnitKey("calm", "local")
WITH_CALM = configs.TWO_FLAKY + '\n[tasks.calm]\ncommands = ["echo calm; sleep 30"]\n'


def bar(app: Any) -> str:
    return str(app.dashboard.query_one(DecisionBar).render())


def both_failed(app: Any) -> bool:
    """Both failures are in the model and on screen (each selection they cause is made)."""
    return len(app.model.awaiting()) == 2 and "(+1 more)" in bar(app)


def named(app: Any) -> str:
    """The unit the bar names first: the one its keys act on."""
    return bar(app).removeprefix("? ").split(" ", 1)[0]


async def test_after_r_the_selection_moves_on_and_s_skips_the_unit_the_bar_names(
    project: Project,
) -> None:
    app = project.app(configs.TWO_FLAKY, autostart=[])
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: both_failed(app), "both failures")
        await wait_for(pilot, lambda: app.dashboard.selected == LEFT, "the first selected")
        assert named(app) == "left@local"
        assert "(+1 more)" in bar(app)
        await pilot.press("r")
        await wait_for(pilot, lambda: app.dashboard.selected == RIGHT, "the selection to move")
        await wait_for(pilot, lambda: named(app) == "right@local", "the bar to follow")
        await pilot.press("s")
        await wait_for(pilot, lambda: app.ended is not None, "the run to end")
        tasks = app.ended.finished.tasks
        assert (tasks["left"].status, tasks["left"].hosts["local"].attempts) == (
            UnitStatus.SUCCEEDED,
            2,
        )
        assert tasks["right"].status is UnitStatus.SKIPPED
    await settle(app)


async def test_the_keys_act_on_the_bars_unit_when_the_selection_is_elsewhere(
    project: Project,
) -> None:
    """The operator looks at a healthy unit: the bar still names a failure, and s skips it."""
    app = project.app(WITH_CALM, autostart=[])
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: both_failed(app), "both failures")
        app.dashboard.select_unit(CALM)
        await pilot.pause()
        assert app.dashboard.selected == CALM
        waiting = app.model.awaiting()
        assert named(app) == str(waiting[0])
        assert app.screen.active_bindings["s"].enabled
        await pilot.press("s")
        await wait_for(
            pilot, lambda: app.model.hosts[waiting[0]].status is UnitStatus.SKIPPED, "the skip"
        )
        # the decision is acted on: the selection moves to the one still waiting
        await wait_for(pilot, lambda: app.dashboard.selected == waiting[1], "the next failure")
        assert named(app) == str(waiting[1])
        await abort_run(pilot, app)
    await settle(app)


async def test_a_waiting_unit_the_operator_selected_is_the_one_the_bar_names(
    project: Project,
) -> None:
    app = project.app(configs.TWO_FLAKY, autostart=[])
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: both_failed(app), "both failures")
        app.dashboard.select_unit(RIGHT)
        await wait_for(pilot, lambda: named(app) == "right@local", "the bar to follow")
        await pilot.press("r")
        await wait_for(
            pilot, lambda: app.model.hosts[RIGHT].status is UnitStatus.SUCCEEDED, "the retry"
        )
        assert app.model.hosts[LEFT].waiting  # untouched
        await wait_for(pilot, lambda: app.dashboard.selected == LEFT, "the next failure")
        await pilot.press("r")
        await wait_for(pilot, lambda: app.ended is not None, "the run to end")
        assert app.ended.exit_code == 0
    await settle(app)


def test_the_target_and_the_next_unit_in_plan_order() -> None:
    """deploy@web1 and deploy@web3 wait: the bar names the selected one if it waits, else
    the first; after a decision the next is the one after it, wrapping round."""
    model = RunModel(deploy_plan())
    model.begin(deploy_plan())
    web1, web3 = UnitKey("deploy", "web1"), UnitKey("deploy", "web3")
    for key in (web3, web1):
        needed = ev.DecisionNeeded(
            run_id="r", seq=1, time=0.0, task=key.task, host=key.host, status=UnitStatus.FAILED
        )
        model.apply(needed)
    assert decisions.target(model, None) == web1
    assert decisions.target(model, web3) == web3
    assert decisions.target(model, UnitKey("smoke", "web3")) == web1  # not waiting
    assert decisions.next_waiting(model, web1) == web3
    assert decisions.next_waiting(model, web3) == web1
    assert decisions.next_waiting(RunModel(deploy_plan()), web1) is None
