"""Which waiting unit the decision keys act on, and which comes next: plain values, no Textual.

The decision bar names one unit and ``r``/``s`` act on that unit, so the two can never
disagree: the selected unit when it waits for a decision, else the first (in plan order) that
does. Once a decision has been acted on, the next unit waiting after it (wrapping round) is
the one to select.
"""

from __future__ import annotations

from nexus_engine.plan import UnitKey
from nexus_tui.model import RunModel


def target(model: RunModel, selected: UnitKey | None) -> UnitKey | None:
    """The unit the bar names and the decision keys act on; None when nothing waits."""
    if selected is not None and model.hosts[selected].waiting:
        return selected
    return next(iter(model.awaiting()), None)


def next_waiting(model: RunModel, after: UnitKey) -> UnitKey | None:
    """The first unit waiting for a decision after ``after`` in plan order, wrapping round."""
    waiting = model.awaiting()
    later = [key for key in waiting if model.place[key] > model.place[after]]
    return next(iter(later or waiting), None)


#: Said before retrying a step the config marks ``idempotent = false``.
UNSAFE_RETRY = "A step marked idempotent = false failed: running it again may do its work twice."


def unsafe_question(model: RunModel, keys: list[UnitKey]) -> str | None:
    """The question to ask before retrying ``keys`` when one of them failed in a step marked
    ``idempotent = false``; None when retrying them is safe."""
    unsafe = [key for key in keys if model.hosts[key].unsafe]
    if not unsafe:
        return None
    if keys == unsafe == keys[:1]:
        return f"Retry {keys[0]}?"
    names = ", ".join(map(str, unsafe[:3])) + (" …" if len(unsafe) > 3 else "")
    return f"Retry {len(keys)} units, {len(unsafe)} of them not safe to repeat ({names})?"
