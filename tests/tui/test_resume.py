"""Plain ``nexus`` after a run that failed: the dashboard shows how it ended and resumes it on a
key. Every journal here is made by a real local run, and every resume is a real run."""

from __future__ import annotations

import json
import shutil
from functools import partial
from typing import Any

import pytest
from textual.notifications import Notification, Notify
from textual.pilot import Pilot

from nexus_engine.config import LoadedConfig, load_config
from nexus_engine.plan import UnitKey, build_plan
from nexus_engine.session import RunRequest, open_run
from nexus_engine.status import RunStatus, UnitStatus
from nexus_tui.app import NexusApp
from nexus_tui.past import last_run
from nexus_tui.resuming import start_resumed
from nexus_tui.screens.confirm import ConfirmScreen
from nexus_tui.screens.summary import SummaryScreen
from nexus_tui.source import start_live
from nexus_tui.widgets.host_table import HostTable
from nexus_tui.widgets.run_header import RunHeader
from tests.tui.conftest import Project, settle, wait_for

#: setup succeeds; deploy fails at its second step until ``fixed`` exists.
FAILS = """
[tasks.setup]
commands = ["echo setting up"]

[tasks.deploy]
deps = ["setup"]
commands = ["echo one", "test -f '{dir}/fixed' || { echo 'not yet' >&2; exit 3; }", "echo three"]
"""

#: The same, but the step that fails may not simply run twice.
UNSAFE = """
[tasks.setup]
commands = ["echo setting up"]

[tasks.deploy]
deps = ["setup"]
commands = [
    { cmd = "test -f '{dir}/fixed' || exit 3", idempotent = false },
]
"""

SETUP, DEPLOY = UnitKey("setup", "local"), UnitKey("deploy", "local")


async def recorded(loaded: LoadedConfig, request: RunRequest | None = None) -> str:
    """Run the config for real, as ``nexus --headless run`` would; the run's id."""
    session = open_run(loaded, request or RunRequest())
    finished = await session.run(handle_signals=False)
    return finished.run_id


def dashboard(loaded: LoadedConfig) -> NexusApp:
    """The dashboard as plain ``nexus`` opens it (``launch.open_dashboard`` with no run)."""
    view = build_plan(loaded)
    return NexusApp(
        view,
        partial(start_live, loaded, base=RunRequest()),
        keymap=loaded.config.keymap,
        past=partial(last_run, view, loaded.path),
        resume=partial(start_resumed, loaded, base=RunRequest()),
    )


async def looked_back(pilot: Pilot[Any]) -> None:
    """The app has read the last run (or found none to offer)."""
    app = pilot.app
    assert isinstance(app, NexusApp)
    await wait_for(pilot, lambda: app.looked_back, "the last run to be read")


def header(app: NexusApp) -> str:
    return str(app.dashboard.query_one(RunHeader).render())


def cells(app: NexusApp) -> list[str]:
    table = app.dashboard.query_one("#hosts", HostTable)
    return [str(cell) for cell in table.get_row_at(table.cursor_row)]


async def ended(pilot: Pilot[Any], app: NexusApp) -> None:
    await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen), "the run to end")


def journal(project: Project, run_id: str) -> dict[str, Any]:
    first = (project.state / "runs" / run_id / "events.jsonl").read_text().splitlines()[0]
    return dict(json.loads(first))


async def test_opens_with_the_failed_run_and_resumes_it_on_ctrl_r(project: Project) -> None:
    loaded = project.config(FAILS)
    failed = await recorded(loaded)
    (project.root / "fixed").touch()
    app = dashboard(loaded)
    async with app.run_test(size=(120, 30)) as pilot:
        await looked_back(pilot)
        assert app.past is not None
        assert app.past.run_id == failed
        assert f"last run {failed} failed — press Ctrl+R to resume" in header(app)
        assert app.model.hosts[SETUP].status is UnitStatus.SUCCEEDED
        assert app.model.hosts[DEPLOY].status is UnitStatus.FAILED
        app.dashboard.select_unit(DEPLOY)
        await pilot.pause()
        assert cells(app)[0] == "✗ failed"
        assert app.source is None  # nothing runs until the key is pressed

        await pilot.press("ctrl+r")
        await ended(pilot, app)
        assert app.ended is not None
        assert app.ended.finished.status is RunStatus.SUCCEEDED
        assert app.ended.finished.resumed_from == failed
        assert app.model.hosts[SETUP].reused
        assert app.model.totals.done == 2
        await pilot.press("escape")  # back from the summary to the dashboard
        app.dashboard.select_unit(SETUP)
        await pilot.pause()
        status, *_, note = cells(app)
        assert status == "✓ reused"
        assert note == f"reused: it succeeded in run {failed}"
        assert "2/2 units" in header(app)
        assert app.past is None
        assert app.dashboard.check_action("resume", ()) is False
    await settle(app)
    assert journal(project, app.ended.finished.run_id)["resumed_from"] == failed


async def test_the_resume_key_follows_the_keymap(project: Project) -> None:
    loaded = project.config(FAILS + '\n[keymap]\nresume = "u"\n')
    await recorded(loaded)
    (project.root / "fixed").touch()
    app = dashboard(loaded)
    async with app.run_test() as pilot:
        await looked_back(pilot)
        assert "press u to resume" in header(app)
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert app.source is None
        await pilot.press("u")
        await ended(pilot, app)
    await settle(app)


@pytest.mark.parametrize("yes", [True, False], ids=["yes", "no"])
async def test_a_step_marked_not_idempotent_runs_again_only_once_confirmed(
    project: Project, yes: bool
) -> None:
    loaded = project.config(UNSAFE)
    await recorded(loaded)
    (project.root / "fixed").touch()
    app = dashboard(loaded)
    async with app.run_test(size=(120, 30)) as pilot:
        await looked_back(pilot)
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.question == "Run these steps again?"
        assert "deploy@local step 1: test -f" in app.screen.detail
        await pilot.press("y" if yes else "n")
        if yes:
            await ended(pilot, app)
            assert app.ended is not None
            assert app.ended.finished.status is RunStatus.SUCCEEDED
        else:
            await pilot.pause()
            assert app.source is None
            assert app.past is not None
            assert app.dashboard.check_action("resume", ()) is True
    await settle(app)
    assert len(project.summaries()) == (2 if yes else 1)


async def test_a_changed_config_resumes_only_once_confirmed(project: Project) -> None:
    loaded = project.config(FAILS)
    await recorded(loaded)
    loaded = project.config(FAILS.replace("exit 3", "exit 0"))
    app = dashboard(loaded)
    async with app.run_test(size=(120, 30)) as pilot:
        await looked_back(pilot)
        assert app.past is not None
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.question == "Resume anyway?"
        assert "nexus.toml is not the file run" in app.screen.detail
        assert "deploy@local: step 2 changed" in app.screen.detail
        await pilot.press("y")
        await ended(pilot, app)
        assert app.ended is not None
        assert app.ended.finished.status is RunStatus.SUCCEEDED
        assert app.model.hosts[SETUP].reused
    await settle(app)


def notices(seen: list[object]) -> list[Notification]:
    return [message.notification for message in seen if isinstance(message, Notify)]


async def test_nothing_left_to_resume_is_a_notice(project: Project) -> None:
    """The task that failed is gone from the config: once the change is allowed, every unit
    left succeeded in that run, so nothing starts."""
    loaded = project.config(FAILS.replace('deps = ["setup"]', ""))
    await recorded(loaded)
    loaded = project.config(FAILS.split("[tasks.deploy]", maxsplit=1)[0])
    app, seen = dashboard(loaded), list[object]()
    async with app.run_test(size=(120, 30), message_hook=seen.append) as pilot:
        await looked_back(pilot)
        assert app.past is not None
        assert app.model.hosts[SETUP].in_run
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the question")
        await pilot.press("y")
        await wait_for(pilot, lambda: notices(seen), "the notice")
        (notice,) = notices(seen)
        assert notice.title == "Nothing to resume"
        assert notice.severity == "information"
        assert "nothing to resume" in notice.message
        assert app.source is None
        assert not isinstance(app.screen, ConfirmScreen)
    assert len(project.summaries()) == 1


async def test_a_run_that_cannot_be_resumed_any_more_is_said_so(project: Project) -> None:
    loaded = project.config(FAILS)
    failed = await recorded(loaded)
    app, seen = dashboard(loaded), list[object]()
    async with app.run_test(message_hook=seen.append) as pilot:
        await looked_back(pilot)
        shutil.rmtree(project.state / "runs" / failed)  # gone since the screen opened
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: notices(seen), "the notice")
        (notice,) = notices(seen)
        assert notice.title == "Cannot resume"
        assert notice.severity == "error"
        assert app.source is None


async def test_after_a_run_that_succeeded_the_dashboard_opens_as_ever(project: Project) -> None:
    """Only the newest run of the config counts: an older one that failed is not offered."""
    loaded = project.config(FAILS)
    await recorded(loaded)
    (project.root / "fixed").touch()
    await recorded(loaded)
    app = dashboard(loaded)
    async with app.run_test() as pilot:
        await looked_back(pilot)
        assert app.past is None
        assert "Enter runs them" in header(app)
        assert app.dashboard.check_action("resume", ()) is False
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert app.source is None


async def test_only_a_run_of_the_same_config_file_is_offered(project: Project) -> None:
    loaded = project.config(FAILS)
    other = project.root / "other.toml"
    other.write_text(FAILS.replace("{dir}", str(project.root)))
    await recorded(load_config(other))
    app = dashboard(loaded)
    async with app.run_test() as pilot:
        await looked_back(pilot)
        assert app.past is None  # the run that failed was of another file


async def test_a_new_run_can_start_instead_of_resuming(project: Project) -> None:
    """Enter still runs the highlighted task; the last run's state gives way to the new run."""
    loaded = project.config(FAILS)
    await recorded(loaded)
    app = dashboard(loaded)
    async with app.run_test() as pilot:
        await looked_back(pilot)
        assert app.past is not None
        await pilot.press("enter")  # the cursor is on setup
        await ended(pilot, app)
        assert app.past is None
        assert app.model.hosts[SETUP].reused is False
        assert not app.model.hosts[DEPLOY].in_run
        assert app.ended is not None
        assert app.ended.finished.resumed_from is None
    await settle(app)
