"""How often the run's changes are flushed to the screen: as often as it keeps up, no more.

A flush posts what changed (rows, counts, the shown host's new lines) and the screen draws it.
With a thousand hosts printing, drawing is most of what the one event loop does, and every
frame spent on rows and logs is time the engine, and the operator's keys, wait for. So the
next flush waits as long as the last one took to be shown (from the flush to the screen having
drawn it, queueing behind the engine included): the screen takes about half the loop at most
when it is busy, and flushes come every ``LEAST`` seconds when it is not. A key's own change
never waits for a flush: its handler draws it at once.
"""

from __future__ import annotations

#: Seconds between flushes when the screen keeps up.
LEAST = 0.05
#: Seconds a flush waits at most, however slow the screen: the log never lags further behind.
MOST = 0.5


def wait_after(took: float) -> float:
    """Seconds from a flush having been shown to the next flush, when showing it took
    ``took`` seconds."""
    return min(max(LEAST - took, took), MOST)
