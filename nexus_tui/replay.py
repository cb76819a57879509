"""A scripted event source: the dashboard driven by recorded events instead of a live run.

Snapshot tests need a run frozen at one moment ("three hosts done, one waiting"); a live run
cannot promise that, a script can. Decisions are recorded, not acted on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

from nexus_engine import events as ev
from nexus_engine.plan import Plan, UnitKey


class ReplaySource:
    def __init__(self, plan: Plan, script: Iterable[ev.Event], *, hold: bool = True) -> None:
        """``hold`` keeps the stream open after the script, as a run still going would."""
        self.plan = plan
        self.script = list(script)
        self.hold = hold
        self.decisions: list[tuple[str, UnitKey | None]] = []
        self.played = asyncio.Event()  # set once every scripted event has been read
        self._release = asyncio.Event()

    async def events(self) -> AsyncIterator[ev.Event]:
        for event in self.script:
            yield event
        self.played.set()
        if self.hold:
            await self._release.wait()

    def retry(self, key: UnitKey) -> bool:
        self.decisions.append(("retry", key))
        return True

    def skip(self, key: UnitKey) -> bool:
        self.decisions.append(("skip", key))
        return True

    def abort(self, stopped_by: str | None = None) -> None:
        self.decisions.append(("abort", None))

    async def finish(self) -> tuple[int, tuple[str, ...]]:
        last = self.script[-1] if self.script else None
        return (last.exit_code if isinstance(last, ev.RunFinished) else 0), ()

    async def close(self) -> None:
        self._release.set()
