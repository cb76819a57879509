"""Opening the dashboard from ``nexus``: the CLI's choice of face and the app's lifecycle."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import Any

import pytest

import nexus_cli as cli
from nexus_cli import main
from nexus_cli.parser import build_parser
from nexus_cli.run import request_of
from nexus_engine.connections import Overrides
from nexus_engine.scheduler import FailurePolicy
from nexus_engine.selection import HostSelection
from nexus_engine.session import RunRequest
from nexus_engine.status import EXIT_USAGE
from nexus_tui import launch
from nexus_tui.app import NexusApp
from tests.tui import configs
from tests.tui.conftest import Project


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch, project: Project) -> list[tuple[Any, ...]]:
    """The CLI at a terminal, with the dashboard replaced by a recorder."""
    calls: list[tuple[Any, ...]] = []

    def open_dashboard(loaded: Any, request: RunRequest | None) -> int:
        calls.append((loaded.path.name, request))
        return 7

    monkeypatch.chdir(project.root)
    monkeypatch.setattr(cli, "_interactive", lambda: True)
    monkeypatch.setattr(launch, "open_dashboard", open_dashboard)
    project.config(configs.INDEPENDENT)
    return calls


def test_nexus_alone_at_a_terminal_opens_the_dashboard(opened: list[tuple[Any, ...]]) -> None:
    assert main([]) == 7
    assert opened == [("nexus.toml", None)]


def test_nexus_run_at_a_terminal_opens_the_dashboard_running(
    opened: list[tuple[Any, ...]],
) -> None:
    assert main(["run", "alpha", "-p", "3"]) == 7
    assert main(["run"]) == 7
    assert opened == [
        ("nexus.toml", RunRequest(targets=("alpha",), parallel_limit=3)),
        ("nexus.toml", RunRequest()),
    ]


def test_every_run_option_travels_to_the_dashboard_in_the_same_request(
    opened: list[tuple[Any, ...]],
) -> None:
    """What used to drop a run to headless (hosts, login, preflight) now opens the dashboard
    with exactly the request the headless run would have used."""
    argv = ["run", "alpha", "--hosts", "web*", "--exclude", "web9", "-u", "deploy"]
    argv += ["-i", "~/.ssh/deploy", "--preflight", "--continue-on-error", "-K"]
    assert main(argv) == 7
    ((_, request),) = opened
    assert request == RunRequest(
        targets=("alpha",),
        selection=HostSelection(("web*",), ("web9",)),
        overrides=Overrides(user="deploy", identity="~/.ssh/deploy"),
        policy=FailurePolicy.CONTINUE,
        preflight=True,
        ask_sudo_password=True,
    )
    assert request == request_of(build_parser().parse_args(["--headless", *argv]))


def test_headless_json_and_dry_run_never_open_it(
    opened: list[tuple[Any, ...]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--headless"]) == 0
    assert capsys.readouterr().out.startswith("usage: nexus")
    for argv in (["--headless", "run"], ["run", "--format", "json"], ["run", "--dry-run"]):
        assert main(argv) == 0, argv
    assert main(["run", "nope"]) == EXIT_USAGE
    assert opened == []


def test_without_a_terminal_run_is_headless_and_says_so(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(project.root)
    project.config(configs.INDEPENDENT)
    assert main(["run", "alpha"]) == 0
    captured = capsys.readouterr()
    assert "alpha@local | alpha" in captured.out
    assert captured.err.startswith("nexus: not an interactive terminal, so running headless\n")
    assert main(["run", "-q", "alpha"]) == 0
    assert "interactive" not in capsys.readouterr().err


def test_a_run_that_cannot_be_recorded_is_refused_before_the_screen_opens(
    project: Project, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_dir = project.root / "state-file"
    not_a_dir.write_text("a file where the state directory should be")
    monkeypatch.setenv("NEXUS_STATE_DIR", str(not_a_dir))
    loaded = project.config(configs.REMOTE)
    assert launch.open_dashboard(loaded, RunRequest(targets=("deploy",))) == EXIT_USAGE
    assert "cannot record the run, so not starting it" in capsys.readouterr().err


def test_a_run_left_behind_by_the_app_is_aborted_and_recorded(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However the app ends (here: it exits mid-run without asking), the run is stopped,
    its subscriber drained and everything recorded."""
    real = launch.run_app

    async def headless(app: NexusApp) -> int:
        async def leave() -> None:
            while app.model.totals.running == 0:  # noqa: ASYNC110 - polls the model
                await asyncio.sleep(0.02)
            app.exit(return_code=3)

        leaving = asyncio.create_task(leave())
        code = await real(app, headless=True)
        await leaving
        return code

    monkeypatch.setattr(launch, "run_app", headless)
    assert launch.open_dashboard(project.config(configs.SLOW), RunRequest(targets=("slow",))) == 3
    (summary,) = project.summaries()
    assert json.loads(summary.read_text())["status"] == "interrupted"


def test_sigterm_stops_the_run_records_it_and_exits_130(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = launch.run_app

    async def headless(app: NexusApp) -> int:
        async def terminate() -> None:
            while app.model.totals.running == 0:  # noqa: ASYNC110 - polls the model
                await asyncio.sleep(0.02)
            os.kill(os.getpid(), signal.SIGTERM)

        killing = asyncio.create_task(terminate())
        code = await real(app, headless=True)
        await killing
        return code

    monkeypatch.setattr(launch, "run_app", headless)
    assert launch.open_dashboard(project.config(configs.SLOW), RunRequest(targets=("slow",))) == 130
    (summary,) = project.summaries()
    assert json.loads(summary.read_text())["status"] == "interrupted"
