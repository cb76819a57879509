"""Screenshot of plain ``nexus`` after a run that died, compared with the baseline in
``snapshots/``. The run is a script folded as a journal's events are, and the clock is frozen.
Accept changes with ``just snapshots-update`` after looking at ``snapshot_report.html``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from textual.pilot import Pilot

from nexus_engine.plan import UnitKey
from nexus_tui.app import NexusApp
from nexus_tui.past import PastRun, fold
from nexus_tui.replay import ReplaySource
from tests.tui.conftest import wait_for
from tests.tui.scripts import RUN_ID, T0, deploy_plan, waiting

Compare = Callable[..., bool]


def crashed() -> NexusApp:
    """The run of ``waiting()`` died 14 s in: deploy@web2 waited for a decision, the other web
    hosts and migrate were still going."""
    plan, script = deploy_plan(), waiting()
    units = [str(unit.key) for unit in plan.units]
    past = PastRun(RUN_ID, "crashed", fold(plan, units, script.events, crashed=True))
    source = ReplaySource(plan, ())
    return NexusApp(
        plan, lambda tasks: source, clock=lambda: T0 + 60.0, past=lambda: past, resume=None
    )


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_opens_with_the_last_run_that_died(snap_compare: Compare, size: tuple[int, int]) -> None:
    """The header names the run and the key that resumes it; deploy's hosts as they were left:
    web1 done, web2 and web3 interrupted; smoke never started."""
    app = crashed()

    async def run_before(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.past is not None, "the last run")
        app.dashboard.select_unit(UnitKey("deploy", "web2"))
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=run_before)
