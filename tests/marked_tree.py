"""What the sweep tests share, locally and over SSH (whose "remote" processes run on this
machine): a step that leaves a marked process tree behind, and a look at ``/proc`` for what
still carries a token."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_engine.transports.base import CommandResult, Transport
from nexus_engine.transports.marker import MARKER, new_step_id
from tests.transport_helpers import Sink, run_on

#: A child, a ``setsid`` escapee, and a TERM-ignoring escapee (it says its pid once it ignores
#: TERM, after the others were forked); then the shell waits for them all.
TREE = """\
sleep 300 &
setsid sleep 300 &
setsid sh -c 'trap "" TERM; echo "ignoring $$"; exec sleep 300' &
wait
"""


def carrying(token: str) -> list[int]:
    """Live processes whose environment carries ``NEXUS_STEP_ID=<token>`` (zombies have none)."""
    needle = f"{MARKER}={token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
    return found


class MarkedStep:
    """:data:`TREE` running through a transport as one step with a token of its own."""

    def __init__(self, transport: Transport, **spec: object) -> None:
        self.token = new_step_id()
        self.sink = Sink()
        self.ignoring = 0
        self._run = asyncio.create_task(
            run_on(transport, TREE, sink=self.sink, step_id=self.token, **spec)  # type: ignore[arg-type]
        )

    async def started(self) -> MarkedStep:
        """Once the whole tree is there, the TERM-ignoring process included."""
        await self.sink.wait_for(b"ignoring ")
        line = next(li for li in self.sink.out.splitlines() if li.startswith(b"ignoring "))
        self.ignoring = int(line.split()[1])
        return self

    async def ended(self) -> CommandResult:
        """The step's own run, which ends once its shell is killed."""
        result, _ = await asyncio.wait_for(self._run, 30)
        return result


@pytest.fixture
def tokens() -> Iterator[list[str]]:
    """Tokens a test marked processes with; whatever still carries one afterwards is KILLed."""
    used: list[str] = []
    yield used
    for token in used:
        for pid in carrying(token):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
