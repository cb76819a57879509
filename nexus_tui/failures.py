"""Jumping from failure to failure: the next failed unit after the selection, in DAG order.

Tasks come in the order of the DAG (what a task needs comes before it), each task's hosts in
their order; the jump wraps round at either end. A unit waiting for a decision has failed.
Only hosts the name filter shows are jumped to, so the filter narrows the jump too.
"""

from __future__ import annotations

from nexus_engine.plan import UnitKey
from nexus_tui import status_filter
from nexus_tui.model import RunModel
from nexus_tui.tally import Kind


def step(model: RunModel, selected: UnitKey | None, by: int, name: str = "") -> UnitKey | None:
    """The failed unit ``by`` (1 or -1) from ``selected``, wrapping round; with nothing
    selected, the first (or last) one. None when no unit has failed."""
    units = [UnitKey(task, host) for task in model.order for host in model.tasks[task].hosts]
    failed = [
        index
        for index, key in enumerate(units)
        if status_filter.shows(model.hosts[key], name, Kind.FAILED)
    ]
    if not failed:
        return None
    at = units.index(selected) if selected in units else (-1 if by > 0 else len(units))
    if by > 0:
        return units[next((index for index in failed if index > at), failed[0])]
    return units[next((index for index in reversed(failed) if index < at), failed[-1])]
