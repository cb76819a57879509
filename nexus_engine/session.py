"""One run, wired: a run id, its journal, the transports and the runner, for any face.

The headless CLI and the dashboard start runs the same way, so both get the same journal,
the same redaction and the same transports; a face only adds its own subscriber.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from nexus_engine import events as ev
from nexus_engine.config import LoadedConfig
from nexus_engine.connections import Connections, Overrides, warnings
from nexus_engine.journal import Journal, JournalError, new_run_id
from nexus_engine.plan import Plan
from nexus_engine.redact import Redactor
from nexus_engine.runner import Runner, TransportFor
from nexus_engine.scheduler import FailurePolicy
from nexus_engine.status import RunStatus
from nexus_engine.transports.base import Ask


@dataclass
class RunSession:
    runner: Runner
    journal: Journal
    connections: Connections | None = None
    journal_errors: list[str] = field(default_factory=list)

    @property
    def run_dir(self) -> Path:
        return self.journal.run_dir

    async def run(self, *, handle_signals: bool = True) -> ev.RunFinished:
        """Run to the end with the journal recording; subscribe faces before calling this.
        A journal that could not record everything makes a successful run count as failed:
        a run whose record is incomplete is no success."""
        recording = asyncio.create_task(self.journal.record(self.runner.bus.subscribe()))
        try:
            finished = await self.runner.run(handle_signals=handle_signals)
        finally:
            if self.connections is not None:
                await self.connections.close()
        try:
            await recording
        except JournalError as error:
            self.journal_errors.append(str(error))
        return finished

    def exit_code(self, finished: ev.RunFinished) -> int:
        if self.journal_errors and finished.exit_code == 0:
            return RunStatus.FAILED.exit_code
        return finished.exit_code


class RunRefused(Exception):
    """A run that must not start, in words for the operator: every face says the same."""


def start_session(
    loaded: LoadedConfig,
    plan: Plan,
    *,
    policy: FailurePolicy,
    state_dir: Path | None = None,
    transport_for: TransportFor | None = None,
    overrides: Overrides | None = None,
    ask: Ask | None = None,
) -> RunSession:
    """Raises RunRefused when the run cannot be recorded: a run without its record must not
    start.

    ``transport_for`` chooses how each unit runs; by default local units run here and the
    others over SSH, with ``overrides`` from the command line and ``ask`` to prompt for a
    password."""
    run_id = new_run_id()
    try:
        journal = Journal(run_id, state_dir)
    except (JournalError, OSError) as error:
        raise RunRefused(f"cannot record the run, so not starting it: {error}") from error
    connections = None
    if transport_for is None:
        connections = Connections(loaded.config, overrides or Overrides(), ask)
        transport_for = connections.transport_for
    runner = Runner(
        plan,
        transport_for,
        run_id=run_id,
        config_path=str(loaded.path),
        redactor=Redactor(loaded.secrets),
        policy=policy,
        journal_dir=str(journal.run_dir),
        quiet_after=loaded.config.settings.quiet_after,
        warnings=warnings(loaded.config),
    )
    journal.on_failure = runner.record_lost
    runner.record_barrier = journal.caught_up
    return RunSession(runner, journal, connections)
