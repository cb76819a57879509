"""The dashboard at fleet scale: counts per state, the state filter, jumping to failures and
the grouped view, on a real run of twelve hosts (see ``tests.tui.fleet``)."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot

from nexus_engine.plan import UnitKey
from nexus_engine.scheduler import FailurePolicy
from nexus_engine.status import UnitStatus
from nexus_tui.app import NexusApp
from nexus_tui.bridge import DIFF_MARK
from nexus_tui.tally import Kind
from nexus_tui.widgets.dag_tree import DagTree
from nexus_tui.widgets.group_table import GroupTable
from nexus_tui.widgets.host_table import HostTable
from nexus_tui.widgets.log_panes import LogPanes
from nexus_tui.widgets.run_header import RunHeader
from tests.tui.conftest import Project, abort_run, settle, wait_for
from tests.tui.fleet import FAILED, WEB, fleet_app

SIZE = (140, 40)


async def ended(pilot: Pilot[Any], app: NexusApp) -> None:
    """Wait for the run to end and leave its summary for the dashboard."""
    await wait_for(pilot, lambda: app.ended is not None, "the run to end")
    await pilot.press("escape")


def header(app: NexusApp) -> str:
    return str(app.dashboard.query_one(RunHeader).render())


def table(app: NexusApp) -> list[str]:
    return list(app.dashboard.query_one(HostTable).hosts)


def groups(app: NexusApp) -> list[tuple[str, int, str]]:
    rows = app.dashboard.query_one(GroupTable).rows
    return [(row.folded, len(row.hosts), row.ending) for row in rows]


def pane(app: NexusApp) -> tuple[str, list[str]]:
    first = app.dashboard.query_one(LogPanes).panes[0]
    return str(first.border_title), list(first.lines)


async def test_the_header_counts_the_units_in_each_state(project: Project) -> None:
    app = fleet_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await ended(pilot, app)
        counts = dict(app.model.totals.kinds)
        assert counts[Kind.SUCCEEDED] == 1 + 10 + 9  # prepare, deploy, smoke
        assert counts[Kind.FAILED] == 3
        assert counts[Kind.SKIPPED] == 2  # smoke on web04 and web09, whose deploy failed
        assert sum(counts.values()) == app.model.totals.total == 25
        assert "25/25 units  ✓ 20  ✗ 3  ↷ 2  ⏱" in header(app)
    await settle(app)


async def test_the_counts_follow_the_run_as_units_change_state(project: Project) -> None:
    """Kept as rows change, they always add up to the run's units, even mid-run."""
    app = fleet_app(project)
    async with app.run_test(size=SIZE) as pilot:
        seen: set[tuple[tuple[Kind, int], ...]] = set()
        while app.ended is None:
            totals = app.model.totals
            if totals.kinds:
                assert sum(count for _, count in totals.kinds) == 25
                seen.add(totals.kinds)
            await pilot.pause(0.01)
        assert len(seen) > 2
    await settle(app)


async def test_the_state_filter_shows_exactly_the_failed_hosts_and_cycles_back(
    project: Project,
) -> None:
    app = fleet_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await ended(pilot, app)
        app.dashboard.select_task("deploy")
        await pilot.pause()
        assert table(app) == WEB
        await pilot.press("F")
        assert app.dashboard.status_filter is Kind.FAILED
        assert table(app) == ["web04", "web09"]
        assert "only ✗ failed" in header(app)
        await pilot.press("F", "F", "F")  # running, pending, then succeeded
        assert app.dashboard.status_filter is Kind.SUCCEEDED
        assert table(app) == [host for host in WEB if host not in ("web04", "web09")]
        await pilot.press("F", "F", "F")  # skipped, interrupted, all
        assert app.dashboard.status_filter is None
        assert table(app) == WEB
        assert "only" not in header(app)
    await settle(app)


async def test_the_state_filter_and_the_name_filter_compose(project: Project) -> None:
    app = fleet_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await ended(pilot, app)
        app.dashboard.select_task("deploy")
        await pilot.press("F", "slash", *"web0", "enter")
        assert table(app) == ["web04", "web09"]
        await pilot.press("slash", *"web1", "enter")  # what the bar held is replaced
        assert table(app) == []  # web10-12 all succeeded
        await pilot.press("F", "F", "F")
        assert table(app) == ["web10", "web11", "web12"]
    await settle(app)


async def test_a_host_that_changes_state_joins_the_filtered_table(project: Project) -> None:
    """Filtering on failed while the run goes on: the failures appear as they happen."""
    app = fleet_app(project)
    async with app.run_test(size=SIZE) as pilot:
        app.dashboard.select_task("deploy")
        await pilot.press("F")
        await wait_for(pilot, lambda: table(app) == ["web04", "web09"], "both failures")
    await settle(app)


async def test_n_visits_the_failed_units_in_dag_order_and_wraps(project: Project) -> None:
    app = fleet_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await ended(pilot, app)
        visited = []
        for _ in range(4):
            await pilot.press("n")
            visited.append(app.dashboard.selected)
        assert visited == [*FAILED, FAILED[0]]
        assert app.dashboard.query_one(DagTree).cursor_task == "deploy"
        assert pane(app)[0] == "deploy@web04"
        assert "▌disk full on web04" in pane(app)[1]  # its log is shown
        await pilot.press("N", "N")
        assert app.dashboard.selected == FAILED[1]
    await settle(app)


async def test_n_goes_on_from_the_selected_unit(project: Project) -> None:
    app = fleet_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await ended(pilot, app)
        app.dashboard.select_unit(UnitKey("deploy", "web06"))
        await pilot.press("n")
        assert app.dashboard.selected == UnitKey("deploy", "web09")
        await pilot.press("N")
        assert app.dashboard.selected == UnitKey("deploy", "web04")
    await settle(app)


async def test_n_rings_the_bell_when_no_failed_unit_is_shown(project: Project) -> None:
    app = fleet_app(project)
    bells: list[None] = []
    app.bell = lambda: bells.append(None)  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await ended(pilot, app)
        app.dashboard.select_unit(UnitKey("deploy", "web01"))
        await pilot.press("slash", *"web01", "enter", "n")  # no failed host has that name
        assert app.dashboard.selected == UnitKey("deploy", "web01")
        assert bells == [None]
    await settle(app)


async def test_the_grouped_view_folds_alike_hosts_and_shows_the_outliers_diff(
    project: Project,
) -> None:
    app = fleet_app(project)
    async with app.run_test(size=SIZE) as pilot:
        await ended(pilot, app)
        app.dashboard.select_task("deploy")
        await pilot.press("g")
        assert app.dashboard.grouped
        assert "grouped" in header(app)
        # the pids differ: fold_ignore makes them alike; host names are placeholders
        assert groups(app) == [
            ("web[01-03,05-08,10-12]", 10, "exit 0"),
            ("web[04,09]", 2, "exit 3"),
        ]
        title, lines = pane(app)
        assert title == "web[01-03,05-08,10-12] (10)"
        assert lines == ["| deploying to {host} as {ignored}", "| deployed"]
        await pilot.press("tab", "j")  # the host table's place: the groups
        title, lines = pane(app)
        assert title == "web[04,09] (2)"
        assert lines[0] == "differs from web[01-03,05-08,10-12]:"
        assert f"{DIFF_MARK}-| deployed" in lines
        assert f"{DIFF_MARK}+! disk full on {{host}}" in lines
        await pilot.press("g")  # and back to one row per host
        assert not app.dashboard.grouped
        assert table(app) == WEB
        assert not app.dashboard.query_one(GroupTable).display
    await settle(app)


async def test_the_grouped_view_folds_failures_waiting_for_a_decision(project: Project) -> None:
    """The dashboard asks on a failure: the failed hosts are folded while they wait."""
    app = fleet_app(project, FailurePolicy.ASK)
    async with app.run_test(size=SIZE) as pilot:
        app.dashboard.select_task("deploy")
        await pilot.press("g")
        await wait_for(pilot, lambda: app.model.awaiting() == FAILED, "the failures to wait")
        await wait_for(pilot, lambda: ("web[04,09]", 2, "exit 3") in groups(app), "the group")
        assert groups(app)[0] == ("web[01-03,05-08,10-12]", 10, "exit 0")
        assert app.dashboard.query_one(GroupTable).rows[1].status is UnitStatus.FAILED
        assert "✗ 3" in header(app)  # waiting for a decision counts as failed
        await abort_run(pilot, app)
    await settle(app)
