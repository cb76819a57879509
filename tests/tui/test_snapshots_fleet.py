"""A screenshot of the grouped view, compared with its baseline in ``snapshots/``.

The fleet of ``tests.tui.fleet`` (twelve web hosts), its deploy scripted: ten hosts printed
the same but for their names and pids (which ``fold_ignore`` ignores), web04 and web09 failed
alike and wait for a decision, and three hosts are smoke-testing. The clock is frozen.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from nexus_engine.config import LoadedConfig
from nexus_engine.config.models import NexusConfig
from nexus_engine.plan import build_plan
from nexus_tui.app import NexusApp
from nexus_tui.replay import ReplaySource
from nexus_tui.widgets.group_table import GroupTable
from tests.tui.conftest import wait_for
from tests.tui.fleet import FLEET, WEB
from tests.tui.scripts import T0, S, Script

Compare = Callable[..., bool]


def deploy() -> Script:
    """prepare done; deploy done on every host (two failed); smoke going on three."""
    s = Script().start(units=25)
    s.task("prepare").unit("prepare", "local").out("prepare", "local", b"prepared\n")
    s.at(0.5).done("prepare", "local").task("prepare", S.SUCCEEDED).task("deploy")
    for number, host in enumerate(WEB):
        s.at(1.0).unit("deploy", host, "deploy")
        s.out("deploy", host, f"deploying to {host} as pid {4000 + number}\n".encode())
    for host in WEB:
        if host in ("web04", "web09"):
            s.out("deploy", host, f"disk full on {host}\n".encode(), err=True)
            s.at(3.0).done("deploy", host, S.FAILED, 3)
        else:
            s.out("deploy", host, b"deployed\n").at(2.5).done("deploy", host)
    s.task("smoke")
    for host in WEB[:3]:
        s.at(4.0).unit("smoke", host, "smoke")
    return s.at(6.0)


def test_the_grouped_view(snap_compare: Compare) -> None:
    """deploy grouped: ten hosts alike, the two failed as one group with its diff against
    them selected; the header says the view is grouped."""
    config = NexusConfig.model_validate(tomllib.loads(FLEET))
    plan = build_plan(LoadedConfig(path=Path("nexus.toml"), config=config, secrets=frozenset()))
    script = deploy()
    source = ReplaySource(plan, script.events)
    app = NexusApp(
        plan,
        lambda tasks: source,
        autostart=(),
        clock=lambda: T0 + script.now,
        fold_ignore=config.settings.fold_ignore,
    )

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, source.played.is_set, "the script")
        app.dashboard.select_task("deploy")
        await pilot.press("g")
        table = app.dashboard.query_one(GroupTable)
        await wait_for(pilot, lambda: len(table.rows) == 2, "the groups")
        table.focus()
        table.move_cursor(1)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(120, 32), run_before=run_before)
