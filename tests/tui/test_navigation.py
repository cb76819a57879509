"""Moving, filtering, following, splitting, help, the palette and the keymap."""

from __future__ import annotations

import pytest
from textual.command import CommandPalette
from textual.notifications import Notify

from nexus_engine.plan import UnitKey
from nexus_tui.screens.dashboard import DashboardScreen
from nexus_tui.screens.help import HelpScreen
from nexus_tui.widgets.dag_tree import DagTree
from nexus_tui.widgets.filter_bar import FilterBar
from nexus_tui.widgets.host_table import HostTable
from nexus_tui.widgets.log_panes import LogPanes
from tests.tui import configs
from tests.tui.conftest import Project, abort_run, settle, wait_for


def hosts(app) -> list[str]:
    return list(app.screen.query_one(HostTable).hosts)


async def test_enter_runs_the_highlighted_task_and_what_it_needs(project: Project) -> None:
    app = project.app(configs.FLAKY)
    async with app.run_test() as pilot:
        tree = app.screen.query_one(DagTree)
        assert tree.cursor_task == "setup"
        assert app.source is None
        assert project.summaries() == []
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.ended is not None, "the run to end")
        assert list(app.ended.finished.tasks) == ["setup"]
        assert app.ended.exit_code == 0
        assert app.ended.journal
        assert app.ended.journal.endswith(app.ended.finished.run_id)
    await settle(app)


async def test_space_chooses_several_tasks_for_enter(project: Project) -> None:
    app = project.app(configs.INDEPENDENT)
    async with app.run_test() as pilot:
        await pilot.press("space", "j", "j", "space", "space", "space", "enter")
        await wait_for(pilot, lambda: app.ended is not None, "the run to end")
        assert sorted(app.ended.finished.tasks) == ["alpha", "gamma"]
        await pilot.press("escape")
        await pilot.press("enter")  # during the run Enter selects: no second run
        assert app.source is not None
        assert len(project.summaries()) == 1
    await settle(app)


async def test_arrows_vi_keys_and_tab_move_between_tasks_and_panes(project: Project) -> None:
    app = project.app(configs.REMOTE)
    async with app.run_test() as pilot:
        screen = app.screen
        tree = screen.query_one(DagTree)
        await pilot.press("j")
        assert tree.cursor_task == "deploy"
        assert screen.task_name == "deploy"
        await pilot.press("k")
        assert tree.cursor_task == "local_step"
        await pilot.press("down")
        assert screen.task_name == "deploy"
        assert hosts(app) == ["web1", "web2", "web3"]
        await pilot.press("l")
        assert isinstance(screen.focused, HostTable)
        await pilot.press("j", "j")
        assert screen.host == "web3"
        await pilot.press("up")
        assert screen.host == "web2"
        assert screen.query_one("#log-0").border_title == "deploy@web2"
        await pilot.press("right")
        assert screen.focused.id == "log-0"
        await pilot.press("j", "k", "h")
        assert isinstance(screen.focused, HostTable)
        await pilot.press("left")
        assert screen.focused is tree
        await pilot.press("tab")
        assert isinstance(screen.focused, HostTable)
        await pilot.press("enter")  # a host: Enter goes to its log
        assert screen.focused.id == "log-0"


async def test_slash_filters_the_hosts_and_escape_clears(project: Project) -> None:
    app = project.app(configs.REMOTE)
    async with app.run_test() as pilot:
        await pilot.press("j", "slash")
        assert isinstance(app.screen.focused, FilterBar)
        await pilot.press("2")
        assert hosts(app) == ["web2"]
        assert app.screen.host == "web2"
        await pilot.press("enter")
        assert isinstance(app.screen.focused, HostTable)
        assert app.screen.query_one(FilterBar).display
        await pilot.press("slash", "backspace", "z", "z")
        assert hosts(app) == []
        assert app.screen.host is None
        await pilot.press("escape")
        assert hosts(app) == ["web1", "web2", "web3"]
        assert not app.screen.query_one(FilterBar).display


async def test_the_filter_works_during_a_real_run(project: Project) -> None:
    app = project.app(configs.SLOW, autostart=["slow"])
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.model.totals.running == 1, "the unit to start")
        await pilot.press("slash", "l", "o", "c")
        assert hosts(app) == ["local"]
        await pilot.press("x")
        assert hosts(app) == []
        assert app.screen.selected is None
        await abort_run(pilot, app)
    await settle(app)


async def test_f_stops_and_resumes_following_the_log(project: Project) -> None:
    app = project.app(configs.FLAKY, autostart=["setup"])
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.ended is not None, "the run to end")
        await pilot.press("escape")
        logs = app.screen.query_one(LogPanes)
        assert logs.follow
        assert logs.panes[0].auto_scroll
        await pilot.press("f")
        assert not logs.follow
        assert not logs.panes[0].auto_scroll
        assert logs.panes[0].border_subtitle == "paused: f follows"
        await pilot.press("f")
        assert logs.follow
        assert logs.panes[0].border_subtitle == "following"
        assert list(logs.panes[0].lines) == ["setting up"]
    await settle(app)


async def test_v_splits_the_log_area_between_hosts(project: Project) -> None:
    app = project.app(configs.REMOTE)
    async with app.run_test(size=(160, 40)) as pilot:
        await pilot.press("j", "l", "j")
        logs = app.screen.query_one(LogPanes)
        assert [pane.display for pane in logs.panes] == [True, False, False, False]
        await pilot.press("v")
        shown = [pane.key for pane in logs.panes if pane.display]
        assert shown == [UnitKey("deploy", h) for h in ("web2", "web3", "web1")]
        await pilot.press("v")
        assert [pane.display for pane in logs.panes] == [True, False, False, False]


async def test_question_mark_shows_every_key_with_the_keymap_applied(project: Project) -> None:
    app = project.app(configs.FLAKY + '\n[keymap]\nretry = "x"\n')
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = "\n".join(s.text for s in app.screen._compositor.render_strips())
        assert "retry the selected failed unit" in text
        assert "x" in next(line for line in text.splitlines() if "retry the selected" in line)
        await pilot.press("escape")
        assert isinstance(app.screen, DashboardScreen)


async def test_a_keymap_remaps_a_binding_by_its_id(project: Project) -> None:
    app = project.app(configs.FLAKY + '\n[keymap]\nretry = "x"\nnonsense = "z"\n', ["after"])
    seen: list[object] = []
    async with app.run_test(message_hook=seen.append) as pilot:
        await wait_for(pilot, lambda: app.dashboard.selected in app.model.awaiting(), "failure")
        await pilot.press("r")  # no longer bound
        await pilot.pause()
        assert app.model.awaiting()
        await pilot.press("x")
        await wait_for(pilot, lambda: app.ended is not None, "the run to end")
        assert app.ended.exit_code == 0
    warnings = [m.notification.message for m in seen if isinstance(m, Notify)]
    assert any("nonsense" in text for text in warnings)
    await settle(app)


async def test_the_command_palette_offers_the_actions(project: Project) -> None:
    app = project.app(configs.INDEPENDENT)
    async with app.run_test() as pilot:
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        await pilot.press(*"split")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dashboard")
        assert app.screen.split
        await pilot.press("ctrl+p", *"beta")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.ended is not None, "the run to end")
        assert list(app.ended.finished.tasks) == ["beta"]
        await pilot.press("escape", "ctrl+p", *"gamma")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen.task_name == "gamma", "gamma")
    await settle(app)


async def test_a_run_that_cannot_be_recorded_does_not_start_and_says_why(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_dir = project.root / "state-file"
    not_a_dir.write_text("a file where the state directory should be")
    monkeypatch.setenv("NEXUS_STATE_DIR", str(not_a_dir))
    app = project.app(configs.REMOTE)
    seen: list[object] = []
    async with app.run_test(message_hook=seen.append) as pilot:
        await pilot.press("j", "enter")
        await pilot.pause()
        assert app.source is None
    errors = [m.notification.message for m in seen if isinstance(m, Notify)]
    assert any("cannot record the run, so not starting it" in text for text in errors)


async def test_host_table_shows_the_hosts_of_the_selected_task(project: Project) -> None:
    app = project.app(configs.REMOTE)
    async with app.run_test() as pilot:
        await pilot.press("j")
        table = app.screen.query_one(HostTable)
        assert table.row_count == 3
