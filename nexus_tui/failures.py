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
    selected, the first (or last) one. None when no unit has failed. Only the failed units
    are looked at (the model keeps them), not every unit of the fleet."""
    place = model.place
    failed = [
        key
        for key in model.of_kind[Kind.FAILED]
        if status_filter.shows(model.hosts[key], name, Kind.FAILED)
    ]
    if not failed:
        return None
    failed.sort(key=place.__getitem__)
    start = -1 if by > 0 else len(place)  # nothing selected: from either end
    at = place.get(selected, start) if selected is not None else start
    if by > 0:
        return next((key for key in failed if place[key] > at), failed[0])
    return next((key for key in reversed(failed) if place[key] < at), failed[-1])
