"""Where the dashboard's events come from, and where its decisions go.

``LiveRun`` wraps a real ``RunSession``; ``ReplaySource`` (in ``replay``) plays a script for
snapshot tests. The app only sees ``EventSource``, so it cannot reach into the engine's state.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from nexus_engine import events as ev
from nexus_engine.config import LoadedConfig
from nexus_engine.plan import Plan, UnitKey
from nexus_engine.scheduler import FailurePolicy
from nexus_engine.selection import SelectionError
from nexus_engine.session import RunRefused, RunRequest, RunSession, check_hosts, open_run

if TYPE_CHECKING:
    from nexus_engine.preflight import HostReport

#: Events waiting between the engine and the screen; when full the run waits (back-pressure).
#: The pump takes what is waiting each time it runs: a short queue would cap a fleet's output
#: at one queueful per turn of the event loop, however fast the screen could take it.
HANDOFF = 1024


class StartError(Exception):
    """A run that cannot start, in words for the operator."""


#: Preflight for a run of these tasks: a report per remote host. Raises StartError.
Checker = Callable[[Sequence[str]], Awaitable[list["HostReport"]]]


class EventSource(Protocol):
    plan: Plan

    def events(self) -> AsyncIterator[ev.Event]:
        """The run's events, starting it; ends after RunFinished."""
        ...

    def retry(self, key: UnitKey) -> bool: ...

    def skip(self, key: UnitKey) -> bool: ...

    def abort(self, stopped_by: str | None = None) -> None:
        """Stop the run; ``stopped_by``: the signal that asked for it, if one did."""
        ...

    async def finish(self) -> tuple[int, tuple[str, ...]]:
        """Once the events have ended: the exit code the headless run would have had, and any
        problem recording the run."""
        ...

    async def close(self) -> None:
        """Stop and record the run if it still goes on; safe to call more than once."""
        ...


class LiveRun:
    """A real run. A forwarding task reads the bus into a hand-off queue the screen drains, so
    if the screen goes away mid-run, ``close`` can abort and still drain the bus (a subscriber
    that stops reading would stall the run through back-pressure)."""

    def __init__(self, session: RunSession, plan: Plan) -> None:
        self.session = session
        self.plan = plan
        self._subscription = session.runner.bus.subscribe()
        self._handoff: asyncio.Queue[ev.Event | None] = asyncio.Queue(HANDOFF)
        self._run: asyncio.Task[ev.RunFinished] | None = None
        self._forwarder: asyncio.Task[None] | None = None
        self._detached = False

    async def events(self) -> AsyncIterator[ev.Event]:
        if self._run is None:
            self._run = asyncio.create_task(self.session.run(handle_signals=False))
            self._forwarder = asyncio.create_task(self._forward())
        while (event := await self._handoff.get()) is not None:
            yield event

    async def _forward(self) -> None:
        async for event in self._subscription:
            if not self._detached:
                await self._handoff.put(event)
        if not self._detached:
            await self._handoff.put(None)

    def retry(self, key: UnitKey) -> bool:
        return self.session.runner.retry(key)

    def skip(self, key: UnitKey) -> bool:
        return self.session.runner.skip(key)

    def abort(self, stopped_by: str | None = None) -> None:
        self.session.runner.abort(stopped_by)

    async def finish(self) -> tuple[int, tuple[str, ...]]:
        assert self._run is not None  # noqa: S101 - finish follows events()
        finished = await self._run
        return self.session.exit_code(finished), tuple(self.session.journal_errors)

    async def close(self) -> None:
        if self._run is None:
            return
        self._detached = True
        while not self._handoff.empty():  # frees a forwarder blocked on a full queue
            self._handoff.get_nowait()
        if not self._run.done():
            self.abort()
        with contextlib.suppress(asyncio.CancelledError):
            await self._run
        if self._forwarder is not None:
            await self._forwarder


def start_live(
    loaded: LoadedConfig, tasks: Sequence[str], base: RunRequest | None = None
) -> LiveRun:
    """Plan and wire a run of ``tasks`` (and what they need) as ``base`` asks for the rest
    (hosts, login, parallelism: what ``nexus run`` was given), asking on failure: the failed
    unit waits for a decision while independent work goes on. Raises StartError."""
    request = replace(base or RunRequest(), targets=tuple(tasks), policy=FailurePolicy.ASK)
    try:
        plan = request.plan(loaded)
        session = open_run(loaded, request, plan=plan)
    except (RunRefused, SelectionError) as refusal:
        raise StartError(str(refusal)) from refusal
    return LiveRun(session, plan)


async def check_live(
    loaded: LoadedConfig, tasks: Sequence[str], base: RunRequest | None = None
) -> list[HostReport]:
    """Preflight for the run ``start_live`` would start with the same arguments: every host it
    would use, reached the way it would reach them (``base``'s selection, login and ask).
    Raises StartError."""
    request = replace(base or RunRequest(), targets=tuple(tasks))
    try:
        plan = request.plan(loaded)
    except SelectionError as refusal:
        raise StartError(str(refusal)) from refusal
    return await check_hosts(loaded, plan, request)
