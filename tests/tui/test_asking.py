"""A password or passphrase asked for in the dashboard: a dialog with a masked field, one
question at a time, each asked once, Escape for no answer."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.notifications import Notify

from nexus_tui.asking import DashboardAsk
from nexus_tui.screens.dashboard import DashboardScreen
from nexus_tui.screens.secret import SecretInput, SecretScreen, heading
from tests.tui import configs
from tests.tui.conftest import Project, wait_for

TYPED = "hunter2-Zq"
QUESTION = "password for deploy@web1.example.com:22: "


def on_screen(app: Any) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def asking(app: Any) -> bool:
    return isinstance(app.screen, SecretScreen)


async def test_the_answer_is_masked_and_reaches_the_ask(project: Project) -> None:
    app = project.app(configs.INDEPENDENT)
    seen: list[object] = []
    async with app.run_test(size=(100, 30), message_hook=seen.append) as pilot:
        question = asyncio.create_task(app.ask(QUESTION))
        await wait_for(pilot, lambda: asking(app), "the dialog")
        field = app.screen.query_one(SecretInput)
        assert field.password
        assert app.screen.focused is field
        assert "Password for deploy@web1.example.com:22" in on_screen(app)
        await pilot.press(*TYPED)
        shown = on_screen(app)
        assert TYPED not in shown
        assert "•" * len(TYPED) in shown
        await pilot.press("ctrl+c", "ctrl+x")  # copy and cut: nothing reaches the clipboard
        assert TYPED not in (app.clipboard or "")
        await pilot.press("enter")
        assert await asyncio.wait_for(question, 5) == TYPED
        assert field.value == ""  # not kept in the widget once answered
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), "the dialog gone")
    notified = [m.notification.message for m in seen if isinstance(m, Notify)]
    assert all(TYPED not in text for text in notified)


async def test_escape_answers_nothing_and_the_question_is_not_put_again(project: Project) -> None:
    app = project.app(configs.INDEPENDENT)
    async with app.run_test() as pilot:
        question = asyncio.create_task(app.ask(QUESTION))
        await wait_for(pilot, lambda: asking(app), "the dialog")
        await pilot.press("s", "escape")
        assert await asyncio.wait_for(question, 5) is None
        assert not asking(app)
        assert await asyncio.wait_for(app.ask(QUESTION), 1) is None  # remembered: no dialog


async def test_twenty_connections_to_one_host_ask_once(project: Project) -> None:
    app = project.app(configs.INDEPENDENT)
    pushed: list[str] = []

    def changed(screen: object) -> None:
        if isinstance(screen, SecretScreen):
            pushed.append(screen.prompt)

    async with app.run_test() as pilot:
        app.screen_change_signal.subscribe(app, changed, immediate=True)
        questions = [asyncio.create_task(app.ask(QUESTION)) for _ in range(20)]
        await wait_for(pilot, lambda: asking(app), "the dialog")
        await pilot.press(*TYPED, "enter")
        answers = await asyncio.wait_for(asyncio.gather(*questions), 5)
        assert answers == [TYPED] * 20
        await pilot.pause()
        assert not asking(app)
    assert pushed == [QUESTION]


async def test_questions_come_one_at_a_time(project: Project) -> None:
    app = project.app(configs.INDEPENDENT)
    other = "passphrase for /home/ops/.ssh/deploy: "
    async with app.run_test() as pilot:
        first = asyncio.create_task(app.ask(QUESTION))
        second = asyncio.create_task(app.ask(other))
        await wait_for(pilot, lambda: asking(app), "the first dialog")
        assert app.screen.prompt == QUESTION
        assert len(app.screen_stack) == 2  # the dashboard and one dialog, never two
        await pilot.press("a", "enter")
        await wait_for(pilot, lambda: asking(app) and app.screen.prompt == other, "the second")
        assert len(app.screen_stack) == 2
        await pilot.press("b", "enter")
        assert await asyncio.wait_for(asyncio.gather(first, second), 5) == ["a", "b"]


async def test_a_retry_asks_again(project: Project) -> None:
    """A mistyped password would otherwise be reused forever: the operator's retry forgets."""
    app = project.app(configs.INDEPENDENT)
    async with app.run_test() as pilot:
        question = asyncio.create_task(app.ask(QUESTION))
        await wait_for(pilot, lambda: asking(app), "the dialog")
        await pilot.press("w", "enter")
        assert await asyncio.wait_for(question, 5) == "w"
        app.ask.forget()  # what the app does on r and R
        question = asyncio.create_task(app.ask(QUESTION))
        await wait_for(pilot, lambda: asking(app), "the dialog again")
        await pilot.press("r", "enter")
        assert await asyncio.wait_for(question, 5) == "r"


async def test_a_cancelled_question_leaves_the_screen(project: Project) -> None:
    """An aborted run cancels the connection that asked: its dialog goes away."""
    app = project.app(configs.INDEPENDENT)
    async with app.run_test() as pilot:
        question = asyncio.create_task(app.ask(QUESTION))
        await wait_for(pilot, lambda: asking(app), "the dialog")
        question.cancel()
        await wait_for(pilot, lambda: not asking(app), "the dialog to go")
        assert isinstance(app.screen, DashboardScreen)


async def test_without_a_screen_nobody_is_asked() -> None:
    """Before the app is up, and after it has gone, a question gets no answer at once."""
    ask = DashboardAsk()
    assert await asyncio.wait_for(ask(QUESTION), 1) is None


def test_the_heading_reads_as_a_title() -> None:
    assert heading(QUESTION) == "Password for deploy@web1.example.com:22"
    assert heading("passphrase for ~/.ssh/id: ") == "Passphrase for ~/.ssh/id"
