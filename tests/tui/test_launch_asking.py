"""``open_dashboard`` gives the run the dashboard's own ask (the command line's request carries
none), and with ``--preflight`` opens no run before the hosts have passed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from nexus_engine.selection import HostSelection
from nexus_engine.session import RunRequest
from nexus_engine.status import EXIT_USAGE
from nexus_tui import launch
from nexus_tui.app import NexusApp
from nexus_tui.asking import DashboardAsk
from nexus_tui.replay import ReplaySource
from tests.tui import configs
from tests.tui.conftest import Project


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[NexusApp]:
    """The app ``open_dashboard`` would run, not run."""
    apps: list[NexusApp] = []

    async def run_app(app: NexusApp) -> int:
        apps.append(app)
        return 0

    monkeypatch.setattr(launch, "run_app", run_app)
    return apps


def test_the_run_asks_through_the_dashboards_dialog(
    project: Project, monkeypatch: pytest.MonkeyPatch, opened: list[NexusApp]
) -> None:
    bases: list[RunRequest] = []

    def start_live(loaded: Any, tasks: Sequence[str], base: RunRequest) -> ReplaySource:
        bases.append(base)
        return ReplaySource(launch.build_plan(loaded), ())

    monkeypatch.setattr(launch, "start_live", start_live)
    loaded = project.config(configs.REMOTE)
    request = RunRequest(targets=("deploy",))
    assert request.ask is None
    assert launch.open_dashboard(loaded, request) == 0
    ((base,), (app,)) = bases, opened
    assert isinstance(base.ask, DashboardAsk)
    assert base.ask is app.ask
    assert base.targets == ("deploy",)


def test_with_preflight_no_run_is_opened_before_the_check(
    project: Project, monkeypatch: pytest.MonkeyPatch, opened: list[NexusApp]
) -> None:
    started: list[object] = []
    monkeypatch.setattr(launch, "start_live", lambda *args, **kwargs: started.append(args))
    loaded = project.config(configs.REMOTE)
    request = RunRequest(targets=("deploy",), preflight=True)
    assert launch.open_dashboard(loaded, request) == 0
    assert started == []  # opened (and recorded) only once preflight has passed
    (app,) = opened
    assert app._check is not None
    assert project.summaries() == []


def test_with_preflight_a_selection_of_nothing_is_said_before_the_screen_opens(
    project: Project, capsys: pytest.CaptureFixture[str], opened: list[NexusApp]
) -> None:
    loaded = project.config(configs.REMOTE)
    nothing = HostSelection(("db*",), ())
    request = RunRequest(targets=("deploy",), selection=nothing, preflight=True)
    assert launch.open_dashboard(loaded, request) == EXIT_USAGE
    assert "db*" in capsys.readouterr().err
    assert opened == []
