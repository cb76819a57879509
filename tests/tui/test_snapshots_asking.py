"""Screenshots of what the dashboard asks before and during a run: a password dialog (what is
typed shows as dots) and the preflight table, compared with the baselines in
``snapshots/test_snapshots_asking/``. Scripted and with a frozen clock, as in
``test_snapshots``; the field's cursor does not blink, so every screenshot is the same."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from textual.pilot import Pilot

from nexus_engine.preflight import HostReport
from nexus_tui.app import NexusApp
from nexus_tui.replay import ReplaySource
from nexus_tui.screens.secret import SecretInput, SecretScreen
from nexus_tui.source import Checker
from tests.tui.conftest import wait_for
from tests.tui.reports import failing, passing, unreachable
from tests.tui.scripts import T0, deploy_plan, in_progress

SIZES = pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
Compare = Callable[..., bool]
QUESTION = "password for deploy@web2.example.com:22: "
#: Kept referenced while a screenshot is taken: a question nobody answers.
_questions: set[asyncio.Task[str | None]] = set()


def preflighted(check: Checker) -> NexusApp:
    """``nexus run deploy migrate --preflight``, with ``check`` for preflight."""
    plan = deploy_plan()
    source = ReplaySource(plan, ())
    return NexusApp(
        plan,
        lambda tasks: source,
        config_name="nexus.toml",
        autostart=("deploy", "migrate"),
        clock=lambda: T0,
        check=check,
    )


async def type_secret(pilot: Pilot[Any]) -> None:
    """Wait for the dialog, then type into it, its cursor still."""
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, SecretScreen), "the dialog")
    field = app.screen.query_one(SecretInput)
    field.cursor_blink = False
    await pilot.press(*"hunter2")
    await pilot.pause()


class TestSecret:
    @SIZES
    def test_a_password_asked_during_a_run(
        self, snap_compare: Compare, size: tuple[int, int]
    ) -> None:
        """A connection to web2 needs a password: a dialog over the run, typing shown as
        dots, Enter answers and Esc cancels."""
        script = in_progress()
        plan = deploy_plan()
        source = ReplaySource(plan, script.events)
        now = T0 + script.now
        app = NexusApp(plan, lambda tasks: source, autostart=(), clock=lambda: now)

        async def run_before(pilot: Pilot[Any]) -> None:
            await wait_for(pilot, source.played.is_set, "the script")
            assert app.bridge is not None
            app.bridge.flush()
            question = asyncio.create_task(app.ask(QUESTION))
            _questions.add(question)
            question.add_done_callback(_questions.discard)
            await type_secret(pilot)

        assert snap_compare(app, terminal_size=size, run_before=run_before)


class TestPreflight:
    @SIZES
    def test_a_host_failed(self, snap_compare: Compare, size: tuple[int, int]) -> None:
        """web2 refused the login and web3 is unreachable: nothing started, the table stays,
        r checks again and q quits with exit code 1."""

        async def check(tasks: Sequence[str]) -> list[HostReport]:
            return [
                passing("web1"),
                failing("web2"),
                unreachable("web3"),
                passing("db1", sudo=True),
            ]

        app = preflighted(check)

        async def run_before(pilot: Pilot[Any]) -> None:
            await wait_for(pilot, lambda: app.refused is not None, "the refusal")

        assert snap_compare(app, terminal_size=size, run_before=run_before)

    @SIZES
    def test_a_password_asked_while_checking(
        self, snap_compare: Compare, size: tuple[int, int]
    ) -> None:
        """The ssh check of web2 needs a password: the same dialog, over the preflight
        screen."""
        answered = asyncio.Event()

        async def check(tasks: Sequence[str]) -> list[HostReport]:
            await app.ask(QUESTION)
            await answered.wait()  # the screenshot is taken while checking
            return []

        app = preflighted(check)
        assert snap_compare(app, terminal_size=size, run_before=type_secret)
