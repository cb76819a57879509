"""The one protocol every way of running a command implements.

Local subprocesses and SSH channels differ in everything but this: run one shell command with an
environment, a directory, an identity and a deadline; stream its output in chunks as it comes; say
how it ended. Cancellation is an explicit event rather than task cancellation, so a transport can
kill what it started and still return a result that says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from nexus_engine.words import Failure, Stream

#: Receives each chunk of output as it arrives; awaiting it is the back-pressure.
OutputSink = Callable[[Stream, bytes], Awaitable[None]]
#: Asks the operator for a secret (a password or a passphrase); None when nobody can answer.
Ask = Callable[[str], Awaitable[str | None]]
#: What a command reads on stdin, made anew for each attempt and produced chunk by chunk as the
#: command takes it: a file of any size travels in bounded memory.
StdinSource = Callable[[], AsyncIterator[bytes]]


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One command for a transport: what to run, with which environment, as whom, for how long."""

    command: str
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    sudo: bool = False
    user: str | None = None
    timeout: float | None = None
    private: bool = False  # it carries a secret: it must never show on the host's process list
    #: the operator asked for this attempt: a host given up on this run gets a fresh chance
    operator_retry: bool = False
    #: what the command reads on stdin (a file's content); without it, stdin is /dev/null
    stdin: StdinSource | None = None
    #: the step's ``NEXUS_STEP_ID`` token (random hex, made by the runner and journaled before
    #: the command is sent): every process of the command carries it in its environment, sudo
    #: or not, so those of a run that died can be found (``transports.sweep``). None: the
    #: transport makes its own where it needs one
    step_id: str | None = None


@dataclass(frozen=True, slots=True)
class CommandResult:
    """How a command ended. ``exit_code`` is None when it never reported one (killed, lost).
    ``error`` says in words what went wrong beyond the exit status; ``failure`` classifies it."""

    exit_code: int | None
    signal: int | None = None
    timed_out: bool = False
    cancelled: bool = False
    duration: float = 0.0
    error: str | None = None
    failure: Failure | None = None
    #: of ``duration``, the seconds spent waiting for a free handshake slot before connecting
    slot_wait: float = 0.0

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not (
            self.timed_out or self.cancelled or self.error or self.failure
        )


class Transport(Protocol):
    async def run(
        self, spec: CommandSpec, on_output: OutputSink, cancel: asyncio.Event
    ) -> CommandResult:
        """Run ``spec`` to completion, timeout or cancellation; never raise for the command's
        own failure (those are results), and leave no process of it behind."""
        ...
