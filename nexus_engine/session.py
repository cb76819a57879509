"""One run, wired from one request: a run id, its journal, the transports and the runner.

A face turns what the operator said (argv, keys) into a :class:`RunRequest` and starts runs only
through :func:`open_run`; everything else about starting a run (the plan for the targets and
the host selection, the failure policy, how hosts are reached, preflight) is decided here, so
the command line and the dashboard cannot drift apart. A face only adds its own subscriber.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from nexus_engine import events as ev
from nexus_engine.config import LoadedConfig
from nexus_engine.connections import Connections, Overrides, warnings
from nexus_engine.journal import Journal, new_run_id
from nexus_engine.journal_files import JournalError
from nexus_engine.ops.execute import Mode
from nexus_engine.plan import Plan, build_plan
from nexus_engine.redact import Redactor
from nexus_engine.resume.prepare import ResumeOrder, resume_plan
from nexus_engine.resume.record import config_digest, plan_record, write_plan
from nexus_engine.runner import Runner, TransportFor
from nexus_engine.scheduler import FailurePolicy
from nexus_engine.selection import HostSelection
from nexus_engine.status import RunStatus
from nexus_engine.transports.base import Ask

if TYPE_CHECKING:
    from nexus_engine.preflight import HostReport


@dataclass(frozen=True, slots=True)
class RunRequest:
    """A run as an operator asks for it, whichever face they use.

    ``targets``: tasks (with what they need; every task when empty). ``selection``: only these
    hosts (``--hosts``/``--exclude``). ``overrides``: the login above every file (``-u``/``-i``).
    ``policy``: after a failure; None lets the config's ``continue_on_error`` decide.
    ``parallel_limit``: units at once (None: the config's). ``preflight``: check every host
    first and start only if all pass. ``ask``: how to ask the operator for a secret (a password,
    a passphrase); None where nobody can answer (CI, JSON output). ``ask_sudo_password``: ask
    once for the sudo password of steps that need one where the config sets none (``-K``)."""

    targets: Sequence[str] = ()
    selection: HostSelection | None = None
    overrides: Overrides = field(default_factory=Overrides)
    policy: FailurePolicy | None = None
    parallel_limit: int | None = None
    preflight: bool = False
    ask: Ask | None = None
    ask_sudo_password: bool = False
    #: ``--check``: probe every host and change nothing; ``--diff``: show content changes
    mode: Mode = field(default_factory=Mode)
    #: ``--yes``: retry steps marked ``idempotent = false`` as their ``retries`` say
    retry_unsafe: bool = False
    #: ``--resume``: carry on a recorded run instead of planning ``targets`` afresh
    resume: ResumeOrder | None = None

    def with_targets(self, targets: Sequence[str]) -> RunRequest:
        return replace(self, targets=tuple(targets))

    def plan(self, loaded: LoadedConfig, state_dir: Path | None = None) -> Plan:
        """The plan this request runs. Raises ``UnknownTaskError`` and ``SelectionError``;
        resuming, also ``ResumeRefused`` and ``NothingToResume``."""
        if self.resume is not None:
            return resume_plan(
                loaded,
                self.resume,
                selection=self.selection,
                parallel_limit=self.parallel_limit,
                retry_unsafe=self.retry_unsafe,
                state_dir=state_dir,
            )
        return build_plan(
            loaded,
            self.targets,
            parallel_limit=self.parallel_limit,
            hosts=self.selection,
            retry_unsafe=self.retry_unsafe,
        )

    def failure_policy(self, loaded: LoadedConfig) -> FailurePolicy:
        if self.policy is not None:
            return self.policy
        if loaded.config.settings.continue_on_error:
            return FailurePolicy.CONTINUE
        return FailurePolicy.FAIL_FAST


async def check_hosts(loaded: LoadedConfig, plan: Plan, request: RunRequest) -> list[HostReport]:
    """Preflight for ``plan``, reaching hosts the way the run will: a report per remote host."""
    from nexus_engine.preflight import preflight  # noqa: PLC0415 - imports asyncssh

    return await preflight(
        plan,
        loaded.config,
        request.overrides,
        ask=request.ask,
        ask_sudo_password=request.ask_sudo_password,
    )


def open_run(
    loaded: LoadedConfig,
    request: RunRequest,
    *,
    plan: Plan | None = None,
    state_dir: Path | None = None,
) -> RunSession:
    """The run ``request`` asks for, wired and ready (``plan``: the request's own, when the face
    already made it to show). Raises RunRefused when the run cannot be recorded."""
    plan = plan if plan is not None else request.plan(loaded, state_dir)
    resumed = plan.resumed
    return start_session(
        loaded,
        plan,
        policy=request.failure_policy(loaded),
        state_dir=state_dir,
        overrides=request.overrides,
        ask=request.ask,
        ask_sudo_password=request.ask_sudo_password,
        mode=request.mode,
        targets=request.targets if resumed is None else resumed.targets,
        selection=request.selection if resumed is None else resumed.selection,
    )


@dataclass
class RunSession:
    """A run ready to go: its runner, journal and connections, closed together."""

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
    ask_sudo_password: bool = False,
    mode: Mode | None = None,
    targets: tuple[str, ...] | Sequence[str] = (),
    selection: HostSelection | None = None,
) -> RunSession:
    """Raises RunRefused when the run cannot be recorded: a run without its record must not
    start.

    ``transport_for`` chooses how each unit runs; by default local units run here and the
    others over SSH, with ``overrides`` from the command line and ``ask`` to prompt for a
    password."""
    run_id = new_run_id()
    redactor = Redactor(loaded.secrets)
    try:
        journal = Journal(run_id, state_dir)
    except (JournalError, OSError) as error:
        raise RunRefused(f"cannot record the run, so not starting it: {error}") from error
    try:  # what --resume rebuilds the plan from, and checks it against
        digest = config_digest(loaded.path)
        record = plan_record(plan, digest, tuple(targets), selection, redactor.text)
        write_plan(journal.run_dir, record)
    except OSError as error:
        raise RunRefused(f"cannot record the run, so not starting it: {error}") from error
    connections = None
    if transport_for is None:
        connections = Connections(
            loaded.config, overrides or Overrides(), ask, ask_sudo_password=ask_sudo_password
        )
        transport_for = connections.transport_for
    runner = Runner(
        plan,
        transport_for,
        run_id=run_id,
        config_path=str(loaded.path.resolve()),
        redactor=redactor,
        policy=policy,
        journal_dir=str(journal.run_dir),
        quiet_after=loaded.config.settings.quiet_after,
        warnings=warnings(loaded.config),
        mode=mode,
    )
    journal.on_failure = runner.record_lost
    runner.record_barrier = journal.caught_up
    runner.start_ack = journal.durable
    if connections is not None:
        runner.unit_life = connections.follow(plan)
    return RunSession(runner, journal, connections)
