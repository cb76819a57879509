"""Running one unit's steps the desired-state way: probe, assess, act only on a difference.

This is the one module of :mod:`nexus_engine.ops` that does I/O, always through the unit's
transport. The probes of a unit's ``ensure`` steps go in one batch (one round trip) and are
kept until something changes the host: a change, or a ``cmd`` step that ran, sends the next
``ensure`` step to probe afresh, so no step acts on what an earlier one already changed.
Checking (``--check``) runs nothing but probes, and a later step that looks at a path an
earlier one would have changed sees that change, so the prediction holds for the whole unit.
"""

from __future__ import annotations

import difflib
import shlex
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace

from nexus_engine.ops import probe
from nexus_engine.ops.base import AFTER_CHANGE, Assessment, Facts, Op
from nexus_engine.ops.content import Content
from nexus_engine.plan import Unit
from nexus_engine.status import Change
from nexus_engine.steps import Guard, StepPlan
from nexus_engine.transports.base import CommandResult, CommandSpec, OutputSink
from nexus_engine.words import Stream

#: Runs one command on the unit's transport (its cancel event bound), streaming to a sink.
RunCommand = Callable[[CommandSpec, OutputSink], Awaitable[CommandResult]]
#: Told the bytes of file content sent so far, and the total, for the progress a face shows.
SentSink = Callable[[int, int], Awaitable[None]]
#: The tools each kind needs on the host besides a POSIX shell (``find`` and ``base64`` read
#: what the probe found; ``sha256sum`` digests a file and checks what arrived).
_NEEDS = {
    "dir": ("find", "base64"),
    "file": ("find", "base64", "sha256sum"),
    "line": ("find", "base64", "sha256sum", "head"),
    "block": ("find", "base64", "sha256sum", "head"),
    "link": ("find", "base64"),
    "absent": ("find", "base64"),
    "cron": ("base64", "crontab"),
    "check": (),
    "service": ("base64", "head"),
    "git": ("base64", "head"),
    # their probes name the tools they lack themselves (getent, a package manager)
    "user": (),
    "group": (),
    "package": (),
}


@dataclass(frozen=True, slots=True)
class StepReport:
    """How a step ended and what it did: ``change`` None when it failed."""

    result: CommandResult
    change: Change | None
    summary: str | None = None
    diff: str | None = None
    sent: int = 0


@dataclass
class UnitState:
    """What one unit knows of its host between steps."""

    facts: dict[int, Facts] = field(default_factory=dict)  # step → probed, still true
    overlay: dict[str, Facts] = field(default_factory=dict)  # checking: path → as it would be
    missing: tuple[str, ...] = ()

    def host_changed(self) -> None:
        self.facts.clear()


@dataclass(frozen=True, slots=True)
class Mode:
    """How a run treats its hosts: changing them, or only saying what it would change."""

    checking: bool = False  # --check: probe only, say what would change
    diff: bool = False  # --diff: show content changes as unified diffs


def _ok(summary: str, change: Change = Change.OK) -> StepReport:
    return StepReport(CommandResult(exit_code=0), change, summary)


@dataclass(frozen=True, slots=True)
class Perform:
    """One step of one unit, and everything it may need to run: ``spec`` is how the step's
    command runs (identity, environment, deadline), ``run`` runs a command on the unit's
    transport."""

    unit: Unit
    index: int
    spec: CommandSpec
    state: UnitState
    run: RunCommand
    on_output: OutputSink
    mode: Mode = Mode()
    after_change: bool = False
    on_sent: SentSink | None = None

    @property
    def step(self) -> StepPlan:
        return self.unit.steps[self.index]

    async def __call__(self) -> StepReport:
        started = time.monotonic()
        report = await self._perform()
        if report.result.duration:
            return report
        return replace(report, result=replace(report.result, duration=time.monotonic() - started))

    async def _perform(self) -> StepReport:
        step = self.step
        if step.when_changed and not self.after_change:
            return _ok("not run: nothing changed before it", Change.SKIPPED)
        if step.op is not None:
            return await self._ensure(step.op)
        if step.guard is not None:
            done = await self._guarded(step.guard)
            if done is not None:
                return done
        if self.mode.checking:
            return _ok("not run in check mode", Change.SKIPPED)
        result = await self.run(self.spec, self.on_output)
        self.state.host_changed()
        return StepReport(result, Change.CHANGED if result.succeeded else None)

    async def _guarded(self, guard: Guard) -> StepReport | None:
        """A report when the guard says the work is done (or cannot say); None: run the step."""
        tests = []
        if guard.creates:
            tests.append(f"[ -e {shlex.quote(guard.creates)} ] && echo creates")
        if guard.removes:
            tests.append(f"[ -e {shlex.quote(guard.removes)} ] || echo removes")
        if tests:
            found = bytearray()
            result = await self.run(
                _internal(self.spec, "\n".join([*tests, "true"])), _collect(found)
            )
            if not result.succeeded:
                return StepReport(result, None, "could not check its guard")
            words = found.decode().split()
            if "creates" in words:
                return _ok(f"ok: {guard.creates} exists")
            if "removes" in words:
                return _ok(f"ok: {guard.removes} is gone")
        if guard.unless:
            if self.mode.checking:
                return _ok("not run in check mode (nor its `unless` command)", Change.SKIPPED)
            env = {**self.spec.env, **dict(guard.env)}
            result = await self.run(replace(self.spec, command=guard.unless, env=env), _discard)
            if result.succeeded:
                return _ok("ok: its `unless` command succeeded")
        return None

    async def _assess(self, op: Op) -> Assessment | StepReport:
        """What the step must do, from the host's state (probed now, or earlier in a batch);
        a report when the host cannot be probed or lacks a tool the kind needs."""
        state = self.state
        if self.index not in state.facts:
            failed = await self._probe()
            if failed is not None:
                return failed
        missing = [tool for tool in _NEEDS.get(op.kind, ()) if tool in state.missing]
        if missing:
            error = f"the host lacks {', '.join(missing)}, which {op.kind} steps need"
            return StepReport(CommandResult(exit_code=None, error=error), None)
        facts = state.facts.pop(self.index)
        if self.mode.checking and op.path in state.overlay:
            facts = state.overlay[op.path]
        if self.after_change:
            facts = {**facts, AFTER_CHANGE: "1"}
        return op.assess(facts)

    async def _ensure(self, op: Op) -> StepReport:
        state, mode = self.state, self.mode
        started = time.monotonic()
        assessment = await self._assess(op)
        if isinstance(assessment, StepReport):
            return assessment
        diff = _diff(op.path, assessment) if mode.diff else None
        words = assessment.words(checking=mode.checking)
        if assessment.failure is not None:
            return StepReport(CommandResult(exit_code=None, error=assessment.failure), None)
        if assessment.action is None:
            return _ok(words)
        if mode.checking:
            if assessment.predicted is not None:
                state.overlay[op.path] = assessment.predicted
            return StepReport(CommandResult(exit_code=0), Change.CHANGED, words, diff)
        action = assessment.action
        sent = [0]
        acting = replace(
            self.spec,
            command=action.script,
            env={**self.spec.env, **dict(action.env)},
            timeout=_left(self.spec.timeout, started),
            private=True,
            stdin=None if action.content is None else _counted(action.content, sent, self.on_sent),
        )
        result = await self.run(acting, self.on_output)
        state.host_changed()
        if not result.succeeded:
            return StepReport(result, None, sent=sent[0])
        return StepReport(result, Change.CHANGED, words, diff, sent[0])

    async def _probe(self) -> StepReport | None:
        """Probe this step and every later ``ensure`` step run the same way, in one go."""
        steps, step = self.unit.steps, self.step
        batch = {
            later: op.probe(diff=self.mode.diff)
            for later in range(self.index, len(steps))
            if (op := steps[later].op) is not None
            and (steps[later].sudo, steps[later].user) == (step.sudo, step.user)
        }
        found = bytearray()
        result = await self.run(_internal(self.spec, probe.batch(batch)), _collect(found))
        if not result.succeeded:
            return StepReport(result, None, "could not probe the host")
        report = probe.ProbeReport(bytes(found), batch)
        self.state.missing = report.missing
        for later in batch:
            self.state.facts[later] = report.facts.get(later, {})
        return None


def _internal(spec: CommandSpec, script: str) -> CommandSpec:
    """A command of Nexus's own (a probe), run as the step runs, with nothing of the step's
    environment: its text is all quoted paths."""
    return replace(spec, command=script, env={}, cwd=None, private=True, stdin=None)


def _collect(into: bytearray) -> OutputSink:
    async def sink(stream: Stream, data: bytes) -> None:
        if stream is Stream.STDOUT:
            into.extend(data)

    return sink


async def _discard(stream: Stream, data: bytes) -> None:
    return None


def _counted(
    content: Content, sent: list[int], on_sent: SentSink | None
) -> Callable[[], AsyncIterator[bytes]]:
    async def chunks() -> AsyncIterator[bytes]:
        sent[0] = 0
        async for chunk in content.chunks():
            yield chunk
            sent[0] += len(chunk)
            if on_sent is not None:
                await on_sent(sent[0], content.size)

    return chunks


def _left(timeout: float | None, started: float) -> float | None:
    if timeout is None:
        return None
    return max(timeout - (time.monotonic() - started), 0.001)


def _diff(path: str, assessment: Assessment) -> str | None:
    if assessment.action is None or assessment.before is None or assessment.after is None:
        return None
    lines = difflib.unified_diff(
        assessment.before.splitlines(keepends=True),
        assessment.after.splitlines(keepends=True),
        fromfile=f"{path} (on the host)",
        tofile=f"{path} (as asked)",
    )
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    return text or None
