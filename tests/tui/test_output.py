"""Host output on screen: plain text whatever it holds, stderr marked, quiet hosts flagged."""

from __future__ import annotations

from rich.text import Text

from nexus_engine.plan import UnitKey
from nexus_tui.bridge import STDERR_MARK
from nexus_tui.widgets.host_log import HostLog, LineHighlighter
from nexus_tui.widgets.host_table import HostTable
from tests.tui import configs
from tests.tui.conftest import Project, settle, wait_for


async def test_escapes_markup_and_invalid_utf8_are_shown_as_plain_text(project: Project) -> None:
    app = project.app(configs.NOISY, autostart=["noisy"])
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.ended is not None, "the run to end")
        await pilot.press("escape")
        log = app.screen.query_one("#log-0", HostLog)
        assert log.key == UnitKey("noisy", "local")
        assert sorted(log.lines) == sorted(
            ["ok red [/bold] [b]x", f"{STDERR_MARK}\ufffd\ufffd bad"]
        )
        assert app.history(UnitKey("noisy", "local")) == list(log.lines)
    await settle(app)


async def test_a_silent_host_is_flagged_quiet_until_it_speaks(project: Project) -> None:
    app = project.app(configs.QUIET, autostart=["hush"], tick=0.05)
    key = UnitKey("hush", "local")
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.model.hosts[key].quiet_since, "the quiet flag")
        table = app.screen.query_one(HostTable)
        note = lambda: str(table.get_cell("local", "note"))  # noqa: E731
        await wait_for(pilot, lambda: note().startswith("quiet "), "the quiet note")
        (project.root / "speak").touch()
        await wait_for(pilot, lambda: app.ended is not None, "the run to end")
        assert app.model.hosts[key].quiet_since is None
        assert app.history(key) == ["hello", "bye"]
    await settle(app)


def test_only_stderr_lines_are_coloured() -> None:
    highlight = LineHighlighter()
    assert highlight(Text(f"{STDERR_MARK}oops")).spans
    assert not highlight(Text("fine")).spans
