"""Time that moves only when a test says: a :class:`~nexus_engine.runner.QuietClock` for the
runner's quiet-host watch, and a transport whose step speaks and ends on the test's word.

With both, a quiet-host test is a script: "silent for 3 s: not flagged; 1 s more: flagged, as
silent for exactly 4 s", with no sleep that has to be long enough and no timing to tolerate.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools

from nexus_engine.transports.base import CommandResult, CommandSpec, OutputSink
from nexus_engine.words import Stream

#: Seconds for a woken sleeper to do what it does at its tick and sleep again (it never waits
#: for anything but the event loop's other tasks; this only turns a hang into a failure).
_TICK_LIMIT = 10.0


class ManualClock:
    """``now()`` stands still until :meth:`advance`, which wakes every sleeper whose time has
    come, in order of their times, and returns only once each has gone back to sleep: what the
    watch does at a tick (flag a step, publish the event) is done when ``advance`` returns."""

    def __init__(self, start: float = 0.0) -> None:
        self.time = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._slept = asyncio.Event()

    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        waker = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.time + seconds, next(self._order), waker))
        self._slept.set()
        await waker

    async def sleeping(self) -> None:
        """Until something sleeps on this clock (the watch has started)."""
        async with asyncio.timeout(_TICK_LIMIT):
            while not self._sleepers:
                self._slept.clear()
                await self._slept.wait()

    async def advance(self, seconds: float) -> None:
        target = self.time + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            at, _, waker = heapq.heappop(self._sleepers)
            self.time = at
            self._slept.clear()
            waker.set_result(None)
            async with asyncio.timeout(_TICK_LIMIT):
                await self._slept.wait()
        self.time = target


class HeldStep:
    """A transport whose step prints only when the test says (:meth:`say`), and ends when it
    says (:meth:`end`); each returns once the runner has taken it in."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self._orders: asyncio.Queue[tuple[bytes | None, asyncio.Future[None]]] = asyncio.Queue()

    async def run(
        self, spec: CommandSpec, on_output: OutputSink, cancel: asyncio.Event
    ) -> CommandResult:
        self.started.set()
        while True:
            data, taken = await self._orders.get()
            if data is None:
                taken.set_result(None)
                return CommandResult(exit_code=0)
            await on_output(Stream.STDOUT, data)
            taken.set_result(None)

    async def say(self, data: bytes) -> None:
        await self._order(data)

    async def end(self) -> None:
        await self._order(None)

    async def _order(self, data: bytes | None) -> None:
        taken = asyncio.get_running_loop().create_future()
        self._orders.put_nowait((data, taken))
        async with asyncio.timeout(_TICK_LIMIT):
            await taken
