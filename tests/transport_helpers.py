"""What the transport tests share (the contract suite, ``tests/contract``, and each transport's
own): an output sink, a way to run one command, and the live members of a process group (the
SSH hosts' "remote" processes run on this machine)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_engine.transports.base import CommandResult, CommandSpec, Transport
from nexus_engine.words import Stream


class Sink:
    """Collects each chunk per stream, in arrival order, and lets a test wait for some of it."""

    def __init__(self) -> None:
        self.chunks: list[tuple[Stream, bytes]] = []
        self.started = asyncio.Event()  # set at the first chunk
        self._arrived = asyncio.Event()

    async def __call__(self, stream: Stream, data: bytes) -> None:
        self.chunks.append((stream, data))
        self.started.set()
        self._arrived.set()

    async def wait_for(self, needle: bytes, within: float = 10) -> None:
        """Until stdout holds ``needle``; a test that waits forever would only time out."""
        async with asyncio.timeout(within):
            while needle not in self.out:
                self._arrived.clear()
                await self._arrived.wait()

    def of(self, stream: Stream) -> bytes:
        return b"".join(data for s, data in self.chunks if s == stream)

    @property
    def out(self) -> bytes:
        return self.of(Stream.STDOUT)

    @property
    def err(self) -> bytes:
        return self.of(Stream.STDERR)

    def first_line(self) -> int:
        return int(self.out.split(b"\n", 1)[0])


async def run_on(
    transport: Transport,
    command: str,
    *,
    sink: Sink | None = None,
    cancel: asyncio.Event | None = None,
    **spec: object,
) -> tuple[CommandResult, Sink]:
    """Run one command, collecting its output; ``spec`` are :class:`CommandSpec` fields."""
    sink = sink or Sink()
    result = await transport.run(
        CommandSpec(command=command, **spec),  # type: ignore[arg-type]
        sink,
        cancel or asyncio.Event(),
    )
    return result, sink


def live_members(pgid: int) -> list[int]:
    """Processes of the group that are not zombies (a zombie has exited, only its reaper is
    late: in some containers PID 1 reaps orphans every few seconds)."""
    return live_with(_PGRP, pgid)


def session_members(sid: int) -> list[int]:
    """Live processes of the session ``sid`` (zombies have exited: they do not count)."""
    return live_with(_SESSION, sid)


_PGRP, _SESSION = 2, 3  # fields of /proc/PID/stat after the command name: state ppid pgrp sid


def live_with(field: int, value: int) -> list[int]:
    """Live processes (not zombies) whose stat ``field`` after the command name is ``value``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[field]) == value and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def assert_groups_vanish(groups: list[int], within: float = 10) -> None:
    """Every group in ``groups`` is gone, zombies and all, within ``within`` seconds (a killed
    process stays a zombie until its reaper waits for it)."""
    deadline = time.monotonic() + within
    remaining = list(groups)
    while remaining and time.monotonic() < deadline:
        remaining = [pgid for pgid in remaining if _group_exists(pgid)]
        time.sleep(0.05)
    assert remaining == [], f"process groups still exist: {remaining}"


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def sessions() -> Iterator[list[int]]:
    """Session ids (the step's shell: ``echo $$``) a test started; whatever is still alive in
    them afterwards is killed, so a failing test leaves no 120-second sleepers behind."""
    started: list[int] = []
    yield started
    for sid in started:
        for pid in session_members(sid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
