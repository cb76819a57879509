"""Before a resumed run starts anything: the processes of the steps that were running when the
run it resumes died are found on their hosts (by the ``NEXUS_STEP_ID`` each step's start
recorded) and stopped, TERM then KILL, and what was found is recorded. A unit whose host could
not be cleared (unreachable, or a process that survived KILL) must not run its step a second
time beside the first: it fails at once, saying why."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from nexus_engine.plan import Plan, Unit, UnitKey
from nexus_engine.transports.base import Transport
from nexus_engine.transports.sweep import SweepReport, sweep

#: Tells the faces and the journal what one host's sweep found.
Report = Callable[[UnitKey, SweepReport], Awaitable[None]]


async def clear_leftovers(
    plan: Plan, transport_for: Callable[[Unit], Transport], report: Report, grace: float = 5.0
) -> Mapping[UnitKey, str]:
    """Sweep every unit with leftovers, all at once; returns the units that must not run, and
    why."""
    if plan.resumed is None or not plan.resumed.leftovers:
        return {}
    resumed = plan.resumed
    units = {unit.key: unit for unit in plan.units}

    async def one(key: UnitKey) -> tuple[UnitKey, SweepReport]:
        unit = units[key]
        # only root reads every process's environment, sudo's own included
        privileged = any(step.sudo or step.user is not None for step in unit.steps)
        found = await sweep(
            transport_for(unit), resumed.leftovers[key], sudo=privileged, grace=grace
        )
        await report(key, found)
        return key, found

    swept = await asyncio.gather(*(one(key) for key in resumed.leftovers if key in units))
    blocked = {}
    for key, found in swept:
        if found.error is not None:
            blocked[key] = (
                f"not run again: could not clear {key.host} of the steps of run "
                f"{resumed.run_id} still running there ({found.error})"
            )
        elif found.left:
            blocked[key] = (
                f"not run again: {len(found.left)} process(es) of run {resumed.run_id} "
                f"survived KILL on {key.host}"
            )
    return blocked
