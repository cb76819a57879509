"""Key-to-screen latency: a key pressed the way a terminal driver delivers it, timed until the
first frame that shows what it did.

The app's ``_display`` (where the compositor hands a frame to the driver) is wrapped; a press
counts as shown at the first frame after which its ``shown`` test holds (the tree's cursor has
moved, a filter is on, …). Textual is imported only when a key is pressed: the parent process,
which only reads the figures, never needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.app import App


class KeyTimer:
    """Presses keys into ``app`` and times each until its effect is on screen."""

    def __init__(self, app: App[Any], done: Callable[[], bool]) -> None:
        """``done``: the run is over (a press then may never show: it is not counted)."""
        self._app = app
        self._done = done
        self._shown: Callable[[], bool] = lambda: False
        self._frame = asyncio.Event()
        display = app._display  # the frame the compositor hands to the driver

        def on_frame(screen: Any, renderable: Any) -> None:
            display(screen, renderable)
            if renderable is not None and self._shown():
                self._frame.set()

        app._display = on_frame  # type: ignore[method-assign]

    async def press(self, key: str, shown: Callable[[], bool]) -> float | None:
        """Press ``key``; seconds until a frame shows it (``shown()`` holds at that frame), or
        None if the run ended first."""
        from textual import events  # noqa: PLC0415 - see the module's docstring

        self._shown = shown
        self._frame.clear()
        press = events.Key(key, key if len(key) == 1 else None)
        press.set_sender(self._app)
        started = time.perf_counter()
        self._app._driver.send_message(press)  # type: ignore[union-attr]
        while not self._frame.is_set() and not self._done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._frame.wait(), timeout=0.01)
        self._shown = lambda: False
        return time.perf_counter() - started if self._frame.is_set() else None


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value below which ``fraction`` of ``values`` lie (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * fraction), len(ordered) - 1)]
