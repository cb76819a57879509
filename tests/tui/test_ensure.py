"""What the dashboard says of ``ensure`` steps, in a real local run: each host's ok/changed
counts, each step's outcome in its log, and a check's diff there too."""

from __future__ import annotations

from nexus_engine.ops.execute import Mode
from nexus_engine.plan import UnitKey
from nexus_engine.session import RunRequest
from nexus_tui import text
from nexus_tui.widgets.host_log import LineHighlighter
from tests.tui.conftest import Project, settle, wait_for

CONFIGURE = """
[tasks.configure]
commands = [
    { ensure = "file", path = "{dir}/app.conf", content = "port = 8080\\n" },
    { ensure = "dir", path = "{dir}" },
]
"""
UNIT = UnitKey("configure", "local")


async def test_each_step_says_what_it_did_in_the_log_and_the_counts(project: Project) -> None:
    (project.root / "app.conf").write_text("port = 80\n")
    app = project.app(CONFIGURE, autostart=[])
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.ended is not None, "the run to end")
        row = app.model.hosts[UNIT]
        assert (row.ok_steps, row.changed_steps) == (1, 1)
        lines = app.history(UNIT)
        assert f"± updated {project.root}/app.conf content (12 bytes)" in lines
        assert f"✓ ok: {project.root}" in lines
        assert app.ended.finished.recap().changed == 1
    await settle(app)
    assert (project.root / "app.conf").read_text() == "port = 8080\n"


async def test_a_check_with_diff_shows_the_diff_in_the_log_and_changes_nothing(
    project: Project,
) -> None:
    (project.root / "app.conf").write_text("port = 80\n")
    app = project.app(CONFIGURE, autostart=[], base=RunRequest(mode=Mode(checking=True, diff=True)))
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.ended is not None, "the run to end")
        lines = app.history(UNIT)
        assert f"± would update {project.root}/app.conf content (12 bytes)" in lines
        assert "│ -port = 80" in lines
        assert "│ +port = 8080" in lines
        header = text.progress(app.model.totals, 0.0).plain
        assert header.startswith("CHECK MODE: nothing changes")
    await settle(app)
    assert (project.root / "app.conf").read_text() == "port = 80\n"


def test_the_log_colours_outcomes_and_diff_lines_only() -> None:
    from rich.text import Text  # noqa: PLC0415 - only this test draws

    highlight = LineHighlighter()
    styles = {}
    for line in ("± updated x", "✓ ok: x", "│ +new", "│ -old", "│ --- a", "plain +x"):
        text = Text(line)
        highlight.highlight(text)
        styles[line] = str(text.spans[0].style) if text.spans else ""
    assert styles == {
        "± updated x": "bold yellow",
        "✓ ok: x": "green",
        "│ +new": "green",
        "│ -old": "red",
        "│ --- a": "",
        "plain +x": "",
    }
