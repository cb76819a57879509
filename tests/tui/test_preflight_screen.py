"""``nexus run --preflight`` in the dashboard: the hosts are checked first, on a screen of their
own; the run starts only if every host passes, and a refusal quits with exit code 1."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from textual.notifications import Notify

from nexus_engine.preflight import HostReport
from nexus_tui.screens.dashboard import DashboardScreen
from nexus_tui.screens.preflight import PreflightScreen
from nexus_tui.screens.secret import SecretScreen
from nexus_tui.source import StartError
from nexus_tui.widgets.preflight_table import PreflightTable
from tests.tui import configs
from tests.tui.conftest import Project, settle, wait_for
from tests.tui.reports import failing, passing


class Checker:
    """A preflight that answers from a list, one answer per check; records what it checked."""

    def __init__(self, *answers: list[HostReport]) -> None:
        self.answers = list(answers)
        self.checked: list[tuple[str, ...]] = []

    async def __call__(self, tasks: Sequence[str]) -> list[HostReport]:
        self.checked.append(tuple(tasks))
        return self.answers.pop(0)


def cells(app: Any) -> list[list[str]]:
    table = app.screen.query_one(PreflightTable)
    return [[cell.plain for cell in table.get_row_at(row)] for row in range(table.row_count)]


async def test_when_every_host_passes_the_run_starts_on_its_own(project: Project) -> None:
    check = Checker([passing("web1"), passing("web2")])
    app = project.app(configs.INDEPENDENT, autostart=["alpha"], check=check)
    seen: list[object] = []
    async with app.run_test(size=(120, 30), message_hook=seen.append) as pilot:
        await wait_for(pilot, lambda: app.ended is not None, "the run to end")
        assert check.checked == [("alpha",)]
        assert app.ended.exit_code == 0
        assert app.ended.finished.tasks["alpha"].status.value == "succeeded"
        assert not any(isinstance(screen, PreflightScreen) for screen in app.screen_stack)
        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == 0
    said = [m.notification.message for m in seen if isinstance(m, Notify)]
    assert "preflight: 2 hosts ok; starting the run" in said
    assert len(project.summaries()) == 1
    await settle(app)


async def test_when_a_host_fails_nothing_starts_and_q_exits_1(project: Project) -> None:
    check = Checker([passing("web1"), failing("web2")])
    app = project.app(configs.INDEPENDENT, autostart=["alpha"], check=check)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.refused is not None, "the refusal")
        assert isinstance(app.screen, PreflightScreen)
        assert cells(app) == [
            ["web1", "✓ ok", "✓ ok", "-", "deploy@web1.example.com:22"],
            [
                "web2",
                "✓ ok",
                "✗ failed",
                "skipped",
                "auth_failed: authentication failed for deploy@web2.example.com:22",
            ],
        ]
        verdict = str(app.screen.query_one("#preflight-verdict").render())
        assert "preflight: 1 of 2 hosts failed: web2" in verdict
        assert app.source is None
        assert not app.start_run(["alpha"])  # nothing can start it behind the table's back
        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == 1
    assert project.summaries() == []  # no run was recorded: none began


async def test_r_checks_again_and_the_run_starts_once_all_pass(project: Project) -> None:
    check = Checker([failing("web1")], [passing("web1")])
    app = project.app(configs.INDEPENDENT, autostart=["beta"], check=check)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.refused is not None, "the refusal")
        await pilot.press("r")
        await wait_for(pilot, lambda: app.ended is not None, "the run to end")
        assert check.checked == [("beta",), ("beta",)]
        assert app.ended.exit_code == 0
    await settle(app)


async def test_a_password_a_check_needs_is_asked_in_the_same_dialog(project: Project) -> None:
    app: Any = None
    typed: list[str | None] = []

    async def check(tasks: Sequence[str]) -> list[HostReport]:
        typed.append(await app.ask("password for deploy@web1.example.com:22: "))
        return [passing("web1") if typed[-1] == "sesame" else failing("web1")]

    app = project.app(configs.INDEPENDENT, autostart=["gamma"], check=check)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SecretScreen), "the dialog")
        assert isinstance(app.screen_stack[-2], PreflightScreen)  # over the preflight table
        await pilot.press(*"sesame", "enter")
        await wait_for(pilot, lambda: app.ended is not None, "the run to end")
        assert typed == ["sesame"]
        assert isinstance(app.screen_stack[0], DashboardScreen)
    await settle(app)


async def test_quitting_while_hosts_are_checked_exits_130(project: Project) -> None:
    """The run asked for never happened: not a success."""
    never = asyncio.Event()

    async def check(tasks: Sequence[str]) -> list[HostReport]:
        await never.wait()
        return []

    app = project.app(configs.INDEPENDENT, autostart=["alpha"], check=check)
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, PreflightScreen), "preflight")
        assert "checking" in str(app.screen.query_one("#preflight-verdict").render())
        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == 130
    assert project.summaries() == []


async def test_a_selection_refused_at_check_time_is_said_and_exits_2(project: Project) -> None:
    async def check(tasks: Sequence[str]) -> list[HostReport]:
        raise StartError("--hosts 'db*' matches no host of these tasks")

    app = project.app(configs.INDEPENDENT, autostart=["alpha"], check=check)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.refused is not None, "the refusal")
        assert "matches no host" in str(app.screen.query_one("#preflight-verdict").render())
        await pilot.press("q")
        await wait_for(pilot, lambda: app.return_code is not None)
    assert app.return_code == 2


async def test_nothing_to_check_starts_the_run(project: Project) -> None:
    check = Checker([])
    app = project.app(configs.INDEPENDENT, autostart=["alpha"], check=check)
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.ended is not None, "the run to end")
    await settle(app)
