"""The asyncio loop around the scheduler: it does all the I/O the scheduler only decides.

Facts reach the scheduler through one inbox, handled one at a time, so the scheduler never sees
two things at once and the commands of one fact are carried out before the next fact is read.
Events are stamped and published under one lock, so every subscriber sees them in ``seq`` order.

A step's command is sent only once its StepStarted, which carries the step's random
``NEXUS_STEP_ID`` token, is on disk: the journal acknowledges it (``start_ack``), committing the
starts that arrive together with one fsync. So after a crash the journal names every step that
may have left processes behind, and the token finds them. A start the journal cannot write is
not run: the step ends interrupted, "not started", and the run fails saying why.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from typing import Any, Protocol

from nexus_engine import events as ev
from nexus_engine import scheduler as sch
from nexus_engine.ops.execute import Mode, Perform, StepReport, UnitState
from nexus_engine.plan import Plan, Unit, UnitKey
from nexus_engine.redact import Redactor
from nexus_engine.resume.leftovers import clear_leftovers
from nexus_engine.status import RunStatus, StepOutcome, UnitStatus
from nexus_engine.transports.base import CommandResult, CommandSpec, OutputSink, Transport
from nexus_engine.transports.marker import new_step_id
from nexus_engine.transports.sweep import SweepReport
from nexus_engine.words import Failure, Stream

TransportFor = Callable[[Unit], Transport]
#: Waits until the record holds every event up to a sequence number (the journal's).
RecordBarrier = Callable[[int], Awaitable[None]]
#: Waits until every event up to a sequence number is on disk (the journal's group commit):
#: True once it is, False when it never will be (the journal could not write).
StartAck = Callable[[int], Awaitable[bool]]
#: Told of each unit as it begins (False) and settles (True), in the runner's own order.
UnitLife = Callable[[UnitKey, bool], None]
#: How often a transfer says how far it got: every this many bytes sent.
PROGRESS_BYTES = 4 * 1024 * 1024
#: The signals that stop a run the way the operator's abort does.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class QuietClock(Protocol):
    """Where the quiet-host watch reads the time and waits; a test passes its own to move time
    by hand."""

    def now(self) -> float: ...  # seconds on a monotonic clock

    async def sleep(self, seconds: float) -> None: ...


class LoopClock:
    """The event loop's clock and ``asyncio.sleep``: the watch's time by default."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Runner:
    """Runs one plan once. Faces subscribe to ``bus`` before ``run`` and may send decisions
    (``retry``, ``skip``, ``abort``) while it runs."""

    def __init__(
        self,
        plan: Plan,
        transport_for: TransportFor,
        *,
        run_id: str,
        config_path: str = "",
        redactor: Redactor | None = None,
        policy: sch.FailurePolicy = sch.FailurePolicy.FAIL_FAST,
        bus: ev.EventBus | None = None,
        journal_dir: str | None = None,
        quiet_after: float = 60.0,
        warnings: tuple[str, ...] | list[str] = (),
        quiet_clock: QuietClock | None = None,
        mode: Mode | None = None,
    ) -> None:
        self.plan = plan
        self.run_id = run_id
        self.bus = bus or ev.EventBus()
        self._transport_for = transport_for
        self._config_path = config_path
        self._journal_dir = journal_dir
        self._redactor = redactor or Redactor(())
        self._scheduler = sch.Scheduler(plan, policy)
        self._units = {unit.key: unit for unit in plan.units}
        self.mode = mode or Mode()
        self._unit_states: dict[UnitKey, UnitState] = {}
        self._inbox: asyncio.Queue[sch.Fact] = asyncio.Queue()
        self._cancels: dict[UnitKey, asyncio.Event] = {}
        self._decided: set[UnitKey] = set()  # a decision is queued for these, not yet handled
        self._executions: set[asyncio.Task[None]] = set()
        self._timers: list[asyncio.TimerHandle] = []
        self._publish_lock = asyncio.Lock()
        self._seq = 0
        self._started = 0.0
        self._finished: RunStatus | None = None
        self._aborted = False
        self._quiet_after = quiet_after
        #: times the silence of steps (only that: the scheduler's times are the loop's)
        self.quiet_clock: QuietClock = quiet_clock or LoopClock()
        self._last_output: dict[UnitKey, tuple[float, sch.StartStep]] = {}
        self._quiet: set[UnitKey] = set()
        self._warnings = tuple(warnings)
        self._record_problem: str | None = None
        self._stopped_by: str | None = None
        #: the transports steps of this run used, asked to ``hurry`` on a second Ctrl-C
        self._transports: dict[int, Transport] = {}
        self._hurried = False
        self.record_barrier: RecordBarrier | None = None
        #: a step's command is sent only once this acknowledges its StepStarted (with its
        #: ``step_id``) on disk; None (no journal): steps start at once
        self.start_ack: StartAck | None = None
        #: told when a unit begins and settles (the connections let a finished host go)
        self.unit_life: UnitLife | None = None

    # -- decisions from the faces --

    def retry(self, key: UnitKey) -> bool:
        """Retry a unit that waits for a decision, from the step that failed. False when it
        is not waiting (any more), a decision about it is on its way, or the run is aborting."""
        return self._decide(key, sch.RetryRequested)

    def skip(self, key: UnitKey) -> bool:
        """Skip a unit that waits for a decision: it and its dependents on that host."""
        return self._decide(key, sch.SkipRequested)

    def abort(self, stopped_by: str | None = None) -> None:
        """Stop: running commands are killed, nothing new starts, everything is recorded.
        ``stopped_by``: the signal that asked for it, which the verdict reports (a hangup
        exits 129, not 130)."""
        if self._stopped_by is None:
            self._stopped_by = stopped_by
        self._aborted = True
        self._inbox.put_nowait(sch.AbortRequested(self._now()))

    def record_lost(self, problem: str) -> None:
        """The journal could not write: start nothing more, and let the run end failed, saying
        why. Running steps finish; what they print is kept as far as the journal can."""
        if self._record_problem is None:
            self._record_problem = problem
            self._inbox.put_nowait(sch.RecordLost(self._now()))

    def _decide(self, key: UnitKey, decision: type[sch.RetryRequested | sch.SkipRequested]) -> bool:
        if self._aborted or key not in self._units or key in self._decided:
            return False
        if not self._scheduler.awaits_decision(key):
            return False
        self._decided.add(key)
        self._inbox.put_nowait(decision(key, self._now()))
        return True

    def snapshot(self) -> sch.RunSnapshot:
        return self._scheduler.snapshot()

    # -- the run --

    async def run(self, *, handle_signals: bool = True) -> ev.RunFinished:
        self._started = time.time()
        await self._emit(
            ev.RunStarted,
            config_path=self._config_path,
            tasks=tuple(task.name for task in self.plan.tasks),
            unit_count=len(self.plan.units),
            parallel_limit=self.plan.parallel_limit,
            journal_dir=self._journal_dir,
            warnings=self._warnings,
            checking=self.mode.checking,
            resumed_from=None if self.plan.resumed is None else self.plan.resumed.run_id,
        )
        watch = asyncio.create_task(self._watch_quiet())
        with self._signals(handle_signals):
            blocked = await clear_leftovers(self.plan, self._transport_for, self._cleared)
            await self._apply(self._scheduler.handle(sch.RunBegan(self._now(), blocked)))
            while self._finished is None:
                fact = await self._inbox.get()
                if isinstance(fact, sch.RetryRequested | sch.SkipRequested):
                    self._decided.discard(fact.key)
                    if not self._scheduler.awaits_decision(fact.key):
                        continue  # an abort settled the unit after the decision was sent
                await self._apply(self._scheduler.handle(fact))
            await asyncio.gather(*self._executions)
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
        for timer in self._timers:
            timer.cancel()
        if self.record_barrier is not None:
            await self.record_barrier(self._seq)  # a write that failed late must count too
        status, error = self._finished, None
        if self._record_problem is not None:
            error = f"its record is incomplete: {self._record_problem}"
            status = RunStatus.FAILED if status is RunStatus.SUCCEEDED else status
        finished = await self._emit(
            ev.RunFinished,
            status=status,
            started=self._started,
            tasks=self._summary(),
            error=error,
            stopped_by=self._stopped_by if status is RunStatus.INTERRUPTED else None,
            resumed_from=None if self.plan.resumed is None else self.plan.resumed.run_id,
        )
        await self.bus.close()
        assert isinstance(finished, ev.RunFinished)  # noqa: S101 - narrows _emit's type
        return finished

    async def _cleared(self, key: UnitKey, report: SweepReport) -> None:
        await self._emit(
            ev.LeftoversCleared,
            **_where(key),
            found=len(report.found),
            killed=len(report.killed),
            left=len(report.left),
            error=self._redactor.text(report.error) if report.error else None,
        )

    async def _apply(self, commands: list[sch.Command]) -> None:
        for command in commands:
            match command:
                case sch.StartStep():
                    self._start(command)
                case sch.CancelUnit():
                    self._cancels[command.key].set()
                case sch.ScheduleRetry():
                    delay = max(command.at - self._now(), 0.0)
                    loop = asyncio.get_running_loop()
                    self._timers.append(loop.call_later(delay, self._timer_fired))
                    await self._emit(
                        ev.RetryScheduled,
                        **_where(command.key),
                        step=command.step,
                        attempt=command.attempt,
                        delay=command.delay,
                    )
                case sch.FinishRun():
                    self._finished = command.status
                case sch.UnitBegan():
                    if self.unit_life is not None:
                        self.unit_life(command.key, False)
                    resumed = self.plan.resumed
                    first = 0 if resumed is None else resumed.first_step.get(command.key, 0)
                    await self._emit(ev.UnitStarted, **_where(command.key), first_step=first)
                case sch.UnitSettled():
                    await self._emit(
                        ev.UnitFinished, **_where(command.key), **_settled(command.view)
                    )
                    if self.unit_life is not None:
                        self.unit_life(command.key, True)
                case sch.AwaitingDecision():
                    await self._emit(
                        ev.DecisionNeeded,
                        **_where(command.key),
                        status=command.status,
                        reason=command.reason,
                    )
                case sch.TaskBegan():
                    await self._emit(ev.TaskStarted, task=command.task)
                case sch.TaskSettled():
                    await self._emit(ev.TaskFinished, task=command.task, status=command.status)

    def _start(self, command: sch.StartStep) -> None:
        cancel = self._cancels.setdefault(command.key, asyncio.Event())
        task = asyncio.create_task(self._execute(command, cancel))
        self._executions.add(task)
        task.add_done_callback(self._executions.discard)

    async def _execute(self, command: sch.StartStep, cancel: asyncio.Event) -> None:
        key, unit = command.key, self._units[command.key]
        step = unit.steps[command.step]
        where = {**_where(key), "step": command.step, "attempt": command.attempt}
        step_id = new_step_id()
        started = await self._emit(
            ev.StepStarted,
            **where,
            command=self._redactor.text(step.shown),
            idempotent=step.idempotent,
            step_id=step_id,
        )
        recorded = self.start_ack is None or await self.start_ack(started.seq)
        redactors = {stream: self._redactor.stream() for stream in Stream}
        self._heard(command)

        async def on_output(stream: Stream, chunk: bytes) -> None:
            self._heard(command)
            if data := redactors[stream].feed(chunk):
                await self._emit(ev.OutputReceived, **where, stream=stream, data=data)

        spec = CommandSpec(
            command=_with_host(step.cmd, key.host) if step.sudo or step.user else step.cmd,
            env=dict(step.env)
            if step.sudo or step.user
            else {**dict(step.env), HOST_VAR: key.host},
            cwd=step.cwd,
            sudo=step.sudo,
            user=step.user,
            timeout=command.timeout,
            private=step.private,
            operator_retry=command.operator_retry,
            step_id=step_id,
        )
        if not recorded:  # a crash now would leave a process no record knows of
            problem = self._record_problem or "the journal could not write"
            error = f"not started: its start could not be recorded ({problem})"
            report = StepReport(CommandResult(exit_code=None, cancelled=True, error=error), None)
            result = report.result
        elif cancel.is_set():
            result = CommandResult(exit_code=None, cancelled=True, error="aborted before start")
            report = StepReport(result, None)
        else:
            report = await self._perform(unit, command, spec, on_output, cancel=cancel, where=where)
            result = report.result
        for stream, redactor in redactors.items():
            if data := redactor.flush():
                await self._emit(ev.OutputReceived, **where, stream=stream, data=data)
        self._last_output.pop(key, None)
        self._quiet.discard(key)
        outcome, reason = _outcome(result, command.timeout)
        reason = self._redactor.text(reason) if reason else None
        if result.exit_code == 0 and outcome is not StepOutcome.SUCCEEDED:
            # a command stopped by us that caught TERM and exited 0 did not succeed: no face
            # may show a timed-out or interrupted step with exit status 0
            result = replace(result, exit_code=None)
        await self._emit(
            ev.StepFinished,
            **where,
            status=UnitStatus(outcome.value),
            exit_code=result.exit_code,
            signal=result.signal,
            duration=result.duration,
            reason=reason,
            error_kind=result.failure,
            change=report.change if outcome is StepOutcome.SUCCEEDED else None,
            summary=self._redactor.text(report.summary) if report.summary else None,
            diff=self._redactor.text(report.diff) if report.diff else None,
            sent=report.sent,
            slot_wait=result.slot_wait,
        )
        self._inbox.put_nowait(
            sch.StepExited(
                key,
                command.step,
                command.attempt,
                outcome,
                self._now(),
                exit_code=result.exit_code,
                signal=result.signal,
                reason=reason,
                error_kind=result.failure,
                change=report.change,
            )
        )

    async def _perform(
        self,
        unit: Unit,
        command: sch.StartStep,
        spec: CommandSpec,
        on_output: OutputSink,
        *,
        cancel: asyncio.Event,
        where: dict[str, Any],
    ) -> StepReport:
        """The step the desired-state way (guards, ``ensure``, ``--check``): see ``ops``."""
        state = self._unit_states.setdefault(unit.key, UnitState())
        told = [0]

        async def run(spec: CommandSpec, sink: OutputSink) -> CommandResult:
            return await self._run_guarded(unit, spec, sink, cancel)

        async def on_sent(sent: int, total: int) -> None:
            if sent - told[0] >= PROGRESS_BYTES or (sent == total and told[0]):
                told[0] = sent
                await self._emit(ev.BytesSent, **where, sent=sent, total=total)

        try:
            step = Perform(
                unit,
                command.step,
                spec,
                state,
                run,
                on_output,
                mode=self.mode,
                after_change=command.after_change,
                on_sent=on_sent,
            )
            return await step()
        except Exception as error:  # noqa: BLE001 - reported as the step's failure
            result = CommandResult(exit_code=None, error=f"nexus could not run the step: {error!r}")
            return StepReport(result, None)

    def _heard(self, command: sch.StartStep) -> None:
        self._last_output[command.key] = (self.quiet_clock.now(), command)
        self._quiet.discard(command.key)

    async def _watch_quiet(self) -> None:
        """Flag steps that have been silent for ``quiet_after`` seconds, so a hung host is
        found at a glance; checked a few times per quiet period, at least once a second."""
        interval = min(self._quiet_after / 4, 1.0)
        while True:
            await self.quiet_clock.sleep(interval)
            now = self.quiet_clock.now()
            for key, (heard, command) in list(self._last_output.items()):
                if key in self._quiet or now - heard < self._quiet_after:
                    continue
                self._quiet.add(key)
                await self._emit(
                    ev.UnitQuiet,
                    **_where(key),
                    step=command.step,
                    attempt=command.attempt,
                    silent_for=now - heard,
                )

    async def _run_guarded(
        self, unit: Unit, spec: CommandSpec, on_output: OutputSink, cancel: asyncio.Event
    ) -> CommandResult:
        """A transport that raises is a bug, but the run must still end: the step fails with
        the error as its reason instead of leaving the scheduler waiting for it forever."""
        try:
            transport = self._transport_for(unit)
            self._transports[id(transport)] = transport
            if self._hurried:
                _hurry(transport)
            return await transport.run(spec, on_output, cancel)
        except Exception as error:  # noqa: BLE001 - reported as the step's failure
            return CommandResult(exit_code=None, error=f"nexus could not run the step: {error!r}")

    def _timer_fired(self) -> None:
        self._inbox.put_nowait(sch.TimerFired(self._now()))

    async def _emit(self, kind: type[ev.Event], **fields: Any) -> ev.Event:
        async with self._publish_lock:
            self._seq += 1
            event = kind(run_id=self.run_id, seq=self._seq, time=time.time(), **fields)
            await self.bus.publish(event)
        return event

    def _summary(self) -> dict[str, ev.TaskSummary]:
        snapshot = self._scheduler.snapshot()
        hosts: dict[str, dict[str, ev.UnitSummary]] = {t.name: {} for t in self.plan.tasks}
        for key, view in snapshot.units.items():
            hosts[key.task][key.host] = ev.UnitSummary(**_settled(view))
        return {
            name: ev.TaskSummary(status=snapshot.tasks[name] or UnitStatus.NOT_RUN, hosts=units)
            for name, units in hosts.items()
        }

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    @contextlib.contextmanager
    def _signals(self, enabled: bool) -> Iterator[None]:
        """Ctrl-C, SIGTERM and SIGHUP (the terminal closed) abort the run cleanly rather than
        killing Nexus mid-record: commands run in sessions of their own, so a Nexus that died
        on the spot would leave them running and the journal unfinished. A second SIGINT or
        SIGTERM while the abort is under way means now: see :meth:`hurry`."""
        if not enabled:
            yield
            return
        loop = asyncio.get_running_loop()
        for signum in STOP_SIGNALS:
            loop.add_signal_handler(signum, self._on_signal, signum)
        try:
            yield
        finally:
            for signum in STOP_SIGNALS:
                loop.remove_signal_handler(signum)

    def _on_signal(self, signum: signal.Signals) -> None:
        if self._aborted and signum in URGENT_SIGNALS:
            self.hurry()
        else:
            self.abort(signum.name)

    def hurry(self) -> None:
        """Abort, and stop what still runs at once: every transport that has it is told to
        ``hurry()`` (KILL now, no grace); one without it keeps its grace. The run still ends
        the usual way, everything recorded, with the verdict of the first stop (exit 130)."""
        if not self._aborted:
            self.abort()
        self._hurried = True
        for transport in list(self._transports.values()):
            _hurry(transport)


#: A second one of these, once a run is stopping, kills what still runs without its grace.
URGENT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _hurry(transport: Transport) -> None:
    """``transport.hurry()``, for a transport that can: it is not part of the protocol."""
    hurry = getattr(transport, "hurry", None)
    if callable(hurry):
        hurry()


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


#: Every step can tell which host it runs for: ``$NEXUS_HOST``.
HOST_VAR = "NEXUS_HOST"


def _with_host(command: str, host: str) -> str:
    """Through sudo, ``NEXUS_HOST`` rides in the command itself: an environment variable
    would need sudo's permission to keep it (``SETENV``), which a step without ``env`` of its
    own must not start to need. A host name is a plain word; it is quoted all the same."""
    return f"{HOST_VAR}={shlex.quote(host)}; export {HOST_VAR}; {command}"


def _where(key: UnitKey) -> dict[str, str]:
    return {"task": key.task, "host": key.host}


def _settled(view: sch.UnitView) -> dict[str, Any]:
    """How a unit ended, as both its UnitFinished event and the run summary say it."""
    return {
        "status": view.status,
        "attempts": view.attempts,
        "exit_code": view.exit_code,
        "duration": view.duration,
        "reason": view.reason,
        "error_kind": view.error_kind,
        "ok_steps": view.ok_steps,
        "changed_steps": view.changed_steps,
        "skipped_steps": view.skipped_steps,
        "reused": view.reused,
    }


def _outcome(result: CommandResult, timeout: float) -> tuple[StepOutcome, str | None]:
    if result.cancelled:
        return StepOutcome.INTERRUPTED, result.error or "interrupted"
    if result.timed_out:
        stopped = f"timed out after {timeout:g}s"
        return StepOutcome.TIMED_OUT, f"{stopped}; {result.error}" if result.error else stopped
    if result.succeeded:
        return StepOutcome.SUCCEEDED, None
    return StepOutcome.FAILED, _failure_reason(result)


def _failure_reason(result: CommandResult) -> str:
    if result.error:
        unreachable = result.failure is Failure.UNREACHABLE
        return f"unreachable: {result.error}" if unreachable else result.error
    if result.signal is not None:
        return f"killed by signal {signal_name(result.signal)}"
    return f"exit status {result.exit_code}"
