"""The runner against real local processes: event order, intact output, redaction, retries with
real timers, timeouts, abort, operator decisions, the parallel limit and back-pressure."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import tomllib
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from nexus_engine import events as ev
from nexus_engine import scheduler as sch
from nexus_engine.config import LoadedConfig
from nexus_engine.config.models import NexusConfig
from nexus_engine.plan import Plan, UnitKey, build_plan
from nexus_engine.redact import Redactor
from nexus_engine.runner import QuietClock, Runner, signal_name
from nexus_engine.status import RunStatus, UnitStatus
from nexus_engine.transports.base import CommandResult, CommandSpec, OutputSink, Transport
from nexus_engine.transports.local import LocalTransport
from nexus_engine.words import Stream
from tests.engine.clock import HeldStep, ManualClock
from tests.engine.driving import key, plan_from

S = UnitStatus
SECRET = "hunter2"  # noqa: S105 - a made-up secret to hunt for
OnEvent = Callable[[Runner, ev.Event], None]


class Recorded:
    def __init__(self, runner: Runner, events: list[ev.Event], finished: ev.RunFinished) -> None:
        self.runner = runner
        self.events = events
        self.finished = finished

    def of(self, unit: str) -> list[ev.Event]:
        task, host = unit.split("@")
        return [e for e in self.events if getattr(e, "task", None) == task and _host(e) == host]

    def kinds(self, kind: type[ev.Event]) -> list[ev.Event]:
        return [e for e in self.events if isinstance(e, kind)]

    def unit_finished(self, unit: str) -> ev.UnitFinished:
        (done,) = [e for e in self.of(unit) if isinstance(e, ev.UnitFinished)]
        return done

    def output(self, unit: str, stream: Stream = Stream.STDOUT) -> bytes:
        return b"".join(
            e.data for e in self.of(unit) if isinstance(e, ev.OutputReceived) and e.stream is stream
        )


def _host(event: ev.Event) -> str | None:
    return getattr(event, "host", None)


async def run_plan(
    plan: Plan,
    *,
    policy: sch.FailurePolicy = sch.FailurePolicy.FAIL_FAST,
    secrets: Iterable[str] = (SECRET,),
    bus: ev.EventBus | None = None,
    on_event: OnEvent | None = None,
    handle_signals: bool = False,
    quiet_after: float = 60.0,
    quiet_clock: QuietClock | None = None,
    transport: Transport | None = None,
) -> Recorded:
    runner = Runner(
        plan,
        lambda unit: transport or LocalTransport(kill_grace=0.2),
        run_id="t",
        redactor=Redactor(secrets),
        policy=policy,
        bus=bus,
        quiet_after=quiet_after,
        quiet_clock=quiet_clock,
    )
    stream = runner.bus.subscribe()
    events: list[ev.Event] = []

    async def read() -> None:
        async for event in stream:
            events.append(event)
            if on_event is not None:
                on_event(runner, event)

    reader = asyncio.create_task(read())
    finished = await asyncio.wait_for(runner.run(handle_signals=handle_signals), 20)
    await asyncio.wait_for(reader, 5)
    return Recorded(runner, events, finished)


# ---- the shape of the stream ------------------------------------------------------------------

LETTERS = {
    ev.UnitStarted: "U",
    ev.StepStarted: "S",
    ev.OutputReceived: "O",
    ev.StepFinished: "F",
    ev.RetryScheduled: "R",
    ev.DecisionNeeded: "D",
    ev.UnitFinished: "E",
}
#: Per unit: started, then steps (each with its output, then a retry or a decision maybe), then
#: finished exactly once; a unit that never started is only finished (not run, skipped).
UNIT_GRAMMAR = re.compile(r"(U(SO*F[RD]?)*)?E")


def assert_well_formed(rec: Recorded) -> None:
    events = rec.events
    assert isinstance(events[0], ev.RunStarted)
    assert isinstance(events[-1], ev.RunFinished)
    assert events[-1] is rec.finished
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert {e.run_id for e in events} == {"t"}
    per_unit: dict[UnitKey, str] = defaultdict(str)
    for event in events:
        if type(event) in LETTERS:
            per_unit[UnitKey(event.task, event.host)] += LETTERS[type(event)]
    units = {unit.key for unit in rec.runner.plan.units}
    assert set(per_unit) == units, "every unit finishes, and only units of the plan appear"
    for unit, letters in per_unit.items():
        assert UNIT_GRAMMAR.fullmatch(letters), f"{unit}: {letters}"
    # a task starts before its first unit and finishes after its last
    for task in rec.runner.plan.tasks:
        positions = [i for i, e in enumerate(events) if type(e) in LETTERS and e.task == task.name]
        started = [
            i for i, e in enumerate(events) if isinstance(e, ev.TaskStarted) and e.task == task.name
        ]
        ended = [
            i
            for i, e in enumerate(events)
            if isinstance(e, ev.TaskFinished) and e.task == task.name
        ]
        assert len(ended) == 1
        assert ended[0] > max(positions)
        if started:
            assert started[0] < min(positions)
    # step numbers and attempts count up within a unit
    for unit in units:
        steps = [
            (e.step, e.attempt)
            for e in events
            if isinstance(e, ev.StepStarted) and UnitKey(e.task, e.host) == unit
        ]
        assert steps == sorted(steps)


CHAIN = """
[tasks.build]
commands = ["echo building", "printf 'to stderr\\n' >&2"]
[tasks.test]
deps = ["build"]
commands = ["echo testing"]
[tasks.lint]
commands = ["true"]
"""


async def test_a_chain_succeeds_with_a_well_formed_stream() -> None:
    rec = await run_plan(plan_from(CHAIN))
    assert_well_formed(rec)
    assert rec.finished.status is RunStatus.SUCCEEDED
    assert rec.finished.exit_code == 0
    started = rec.kinds(ev.RunStarted)[0]
    assert isinstance(started, ev.RunStarted)
    assert set(started.tasks) == {"build", "test", "lint"}
    assert started.unit_count == 3
    assert rec.output("build@local") == b"building\n"
    assert rec.output("build@local", Stream.STDERR) == b"to stderr\n"
    assert rec.output("test@local") == b"testing\n"
    # test ran only after build had finished
    build_done = rec.unit_finished("build@local").seq
    test_started = next(e.seq for e in rec.of("test@local") if isinstance(e, ev.UnitStarted))
    assert test_started > build_done
    for unit in ("build@local", "test@local", "lint@local"):
        done = rec.unit_finished(unit)
        assert (done.status, done.attempts, done.exit_code) == (S.SUCCEEDED, 1, 0)
        assert done.duration is not None
        assert done.duration >= 0
    shown = [e.command for e in rec.kinds(ev.StepStarted)]
    assert "echo building" in shown


async def test_the_summary_matches_the_units() -> None:
    rec = await run_plan(
        plan_from(
            CHAIN.replace('"echo testing"', '"exit 4"'),
        )
    )
    assert_well_formed(rec)
    assert rec.finished.status is RunStatus.FAILED
    summary = rec.finished.tasks
    assert set(summary) == {"build", "test", "lint"}
    for unit in rec.runner.plan.units:
        done = rec.unit_finished(str(unit.key))
        host = summary[unit.key.task].hosts[unit.key.host]
        assert (host.status, host.exit_code, host.attempts, host.duration, host.reason) == (
            done.status,
            done.exit_code,
            done.attempts,
            done.duration,
            done.reason,
        )
    assert summary["test"].status is S.FAILED
    assert summary["test"].hosts["local"].exit_code == 4
    assert summary["test"].hosts["local"].reason == "exit status 4"
    assert summary["build"].status is S.SUCCEEDED
    finished_tasks = {e.task: e.status for e in rec.kinds(ev.TaskFinished)}
    assert finished_tasks == {name: task.status for name, task in summary.items()}


async def test_output_bytes_arrive_intact(tmp_path: Path) -> None:
    blob = random.Random(5).randbytes(300_000).replace(SECRET.encode(), b"x")
    (tmp_path / "blob").write_bytes(blob)
    plan = plan_from(
        f"""
[tasks.cat]
commands = [
    "cat {tmp_path}/blob; cat {tmp_path}/blob >&2",
    "printf 'no newline at the end'",
]
"""
    )
    rec = await run_plan(plan)
    assert_well_formed(rec)
    assert rec.output("cat@local") == blob + b"no newline at the end"
    assert rec.output("cat@local", Stream.STDERR) == blob
    steps = {e.step for e in rec.kinds(ev.OutputReceived)}
    assert steps == {0, 1}


async def test_a_secret_never_appears_in_any_event(tmp_path: Path) -> None:
    plan = plan_from(
        f"""
[tasks.leak]
commands = [
    "echo token={SECRET}; echo {SECRET} >&2",
    "printf 'hun'; sleep 0.1; printf 'ter2 split'",
    "printf 'hun' >&2; sleep 0.1; printf 'ter2' >&2; exit 3",
]
"""
    )
    rec = await run_plan(plan)
    assert_well_formed(rec)
    text = "\n".join(json.dumps(ev.to_json(e)) for e in rec.events)
    assert SECRET not in text
    assert "***" in text
    for e in rec.kinds(ev.OutputReceived):
        assert SECRET.encode() not in e.data
    out = rec.output("leak@local")
    assert out == b"token=***\n*** split"
    assert rec.output("leak@local", Stream.STDERR) == b"***\n***"
    commands = [e.command for e in rec.kinds(ev.StepStarted)]
    assert commands[0] == "echo token=***; echo *** >&2"
    assert rec.unit_finished("leak@local").status is S.FAILED


async def test_a_reason_naming_a_secret_is_redacted(tmp_path: Path) -> None:
    plan = plan_from(f'[tasks.t]\ncommands = [{{ cmd = "true", cwd = "{tmp_path}/{SECRET}" }}]\n')
    rec = await run_plan(plan)
    done = rec.unit_finished("t@local")
    assert done.status is S.FAILED
    assert done.reason is not None
    assert "***" in done.reason
    assert SECRET not in json.dumps([ev.to_json(e) for e in rec.events])


# ---- retries, timeouts ------------------------------------------------------------------------


async def test_a_step_failing_twice_succeeds_on_its_third_attempt(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    plan = plan_from(
        f"""
[tasks.flaky]
commands = [{{ cmd = "n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; echo try $n; [ $n -ge 3 ]", retries = 2, retry_delay = 0.05 }}]
"""  # noqa: E501
    )
    rec = await run_plan(plan)
    assert_well_formed(rec)
    assert rec.finished.status is RunStatus.SUCCEEDED
    done = rec.unit_finished("flaky@local")
    assert (done.status, done.attempts, done.exit_code) == (S.SUCCEEDED, 3, 0)
    retries = rec.kinds(ev.RetryScheduled)
    assert [(e.attempt, e.step) for e in retries] == [(2, 0), (3, 0)]
    # the delay doubles, within the ±20 % jitter
    assert 0.04 <= retries[0].delay <= 0.06
    assert 0.08 <= retries[1].delay <= 0.12
    finishes = [e for e in rec.of("flaky@local") if isinstance(e, ev.StepFinished)]
    assert [(e.attempt, e.status, e.exit_code) for e in finishes] == [
        (1, S.FAILED, 1),
        (2, S.FAILED, 1),
        (3, S.SUCCEEDED, 0),
    ]
    assert [e.reason for e in finishes] == ["exit status 1", "exit status 1", None]
    # each attempt's output is tagged with that attempt
    tagged = {e.attempt: e.data for e in rec.of("flaky@local") if isinstance(e, ev.OutputReceived)}
    assert tagged == {1: b"try 1\n", 2: b"try 2\n", 3: b"try 3\n"}
    assert counter.read_text() == "3\n"
    assert rec.finished.tasks["flaky"].hosts["local"].attempts == 3


async def test_retries_run_out_and_the_unit_fails() -> None:
    plan = plan_from(
        '[tasks.t]\ncommands = [{ cmd = "exit 7", retries = 1, retry_delay = 0.05 }]\n'
    )
    rec = await run_plan(plan)
    assert_well_formed(rec)
    done = rec.unit_finished("t@local")
    assert (done.status, done.attempts, done.exit_code) == (S.FAILED, 2, 7)
    assert len(rec.kinds(ev.RetryScheduled)) == 1
    assert rec.finished.exit_code == 1


async def test_a_step_timeout_times_out_the_unit_and_fails_the_run() -> None:
    plan = plan_from(
        """
[tasks.slow]
commands = [{ cmd = "echo started; sleep 30", timeout = 0.3 }]
[tasks.after]
deps = ["slow"]
commands = ["echo never"]
"""
    )
    loop = asyncio.get_running_loop()
    began = loop.time()
    rec = await run_plan(plan)
    assert loop.time() - began < 5
    assert_well_formed(rec)
    done = rec.unit_finished("slow@local")
    assert done.status is S.TIMED_OUT
    assert done.reason == "timed out after 0.3s"
    step = next(e for e in rec.of("slow@local") if isinstance(e, ev.StepFinished))
    assert step.status is S.TIMED_OUT
    assert rec.output("slow@local") == b"started\n"  # the partial output is kept
    assert rec.unit_finished("after@local").status is S.NOT_RUN
    assert rec.finished.status is RunStatus.FAILED
    assert rec.finished.exit_code == 1


async def test_a_timed_out_step_that_exits_0_on_term_never_shows_exit_status_0() -> None:
    plan = plan_from(
        "[tasks.t]\ncommands = [{ cmd = \"trap 'exit 0' TERM; echo up; sleep 30 & wait\", "
        "timeout = 0.3 }]\n"
    )
    rec = await run_plan(plan)
    step = next(e for e in rec.of("t@local") if isinstance(e, ev.StepFinished))
    assert step.status is S.TIMED_OUT
    assert step.exit_code is None
    done = rec.unit_finished("t@local")
    assert (done.status, done.exit_code) == (S.TIMED_OUT, None)
    assert rec.finished.tasks["t"].hosts["local"].exit_code is None


async def test_a_task_timeout_bounds_the_retries() -> None:
    plan = plan_from(
        """
[tasks.t]
timeout = 0.4
commands = [{ cmd = "sleep 0.15; exit 1", retries = 10, retry_delay = 0.05 }]
"""
    )
    rec = await run_plan(plan)
    done = rec.unit_finished("t@local")
    assert done.status is S.TIMED_OUT
    assert done.reason is not None
    assert done.reason.startswith("task timeout (0.4s)")
    assert done.attempts < 10


async def test_a_command_killed_by_a_signal_fails_with_its_name() -> None:
    rec = await run_plan(plan_from('[tasks.t]\ncommands = ["kill -TERM $$"]\n'))
    done = rec.unit_finished("t@local")
    assert done.status is S.FAILED
    assert done.reason == "killed by signal SIGTERM"
    step = next(e for e in rec.events if isinstance(e, ev.StepFinished))
    assert (step.exit_code, step.signal) == (None, signal.SIGTERM)


def test_signal_name() -> None:
    assert signal_name(9) == "SIGKILL"
    assert signal_name(250) == "250"


# ---- abort ------------------------------------------------------------------------------------

ABORTABLE = """
[tasks.long]
commands = ["echo going; sleep 30", "echo never"]
[tasks.next]
deps = ["long"]
commands = ["echo never"]
"""


def abort_once_started(delay: float = 0.1) -> OnEvent:
    def on_event(runner: Runner, event: ev.Event) -> None:
        if isinstance(event, ev.StepStarted) and event.task == "long":
            asyncio.get_running_loop().call_later(delay, runner.abort)

    return on_event


async def test_abort_interrupts_running_units_and_skips_the_rest() -> None:
    loop = asyncio.get_running_loop()
    began = loop.time()
    rec = await run_plan(plan_from(ABORTABLE), on_event=abort_once_started())
    assert loop.time() - began < 5
    assert_well_formed(rec)
    assert rec.finished.status is RunStatus.INTERRUPTED
    assert rec.finished.exit_code == 130
    long = rec.unit_finished("long@local")
    assert long.status is S.INTERRUPTED
    assert rec.unit_finished("next@local").status is S.NOT_RUN
    assert len(rec.kinds(ev.StepStarted)) == 1  # the second step never started
    assert rec.output("long@local") == b"going\n"
    assert rec.finished.tasks["next"].status is S.NOT_RUN


async def test_nothing_starts_after_an_abort_between_steps(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    plan = plan_from(f'[tasks.two]\ncommands = ["true", "touch {marker}"]\n')

    def on_event(runner: Runner, event: ev.Event) -> None:
        if isinstance(event, ev.StepFinished) and event.step == 0:
            runner.abort()  # lands just behind the step's exit, while step 2 is being started

    rec = await run_plan(plan, on_event=on_event)
    assert_well_formed(rec)
    assert rec.finished.status is RunStatus.INTERRUPTED
    assert rec.unit_finished("two@local").status is S.INTERRUPTED
    assert not marker.exists()
    late = [e for e in rec.kinds(ev.StepFinished) if e.step == 1]
    assert all(e.reason == "aborted before start" for e in late)


async def test_sigint_aborts_the_run_when_signals_are_handled() -> None:
    def on_event(runner: Runner, event: ev.Event) -> None:
        if isinstance(event, ev.StepStarted):
            asyncio.get_running_loop().call_later(0.1, os.kill, os.getpid(), signal.SIGINT)

    rec = await run_plan(plan_from(ABORTABLE), on_event=on_event, handle_signals=True)
    assert rec.finished.status is RunStatus.INTERRUPTED
    assert rec.unit_finished("long@local").status is S.INTERRUPTED
    # the handlers are gone after the run
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


async def test_abort_while_waiting_to_retry_interrupts_without_another_attempt() -> None:
    plan = plan_from(
        '[tasks.long]\ncommands = [{ cmd = "exit 1", retries = 3, retry_delay = 30.0 }]\n'
    )

    def on_event(runner: Runner, event: ev.Event) -> None:
        if isinstance(event, ev.RetryScheduled):
            runner.abort()

    rec = await run_plan(plan, on_event=on_event)
    assert_well_formed(rec)
    assert rec.unit_finished("long@local").status is S.INTERRUPTED
    assert len(rec.kinds(ev.StepStarted)) == 1
    assert rec.finished.status is RunStatus.INTERRUPTED


# ---- decisions (ASK) --------------------------------------------------------------------------


def decision_plan(flag: Path) -> Plan:
    return plan_from(
        f"""
[settings]
parallel_limit = 1
[tasks.fragile]
commands = ["echo first", "test -f {flag}"]
[tasks.after]
deps = ["fragile"]
commands = ["echo after"]
[tasks.other]
commands = ["echo other"]
"""
    )


async def test_retry_after_a_decision_runs_the_failed_step_again(tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    answers: list[bool] = []

    def on_event(runner: Runner, event: ev.Event) -> None:
        if isinstance(event, ev.DecisionNeeded):
            assert runner.snapshot().units[key("fragile@local")].status is S.AWAITING_DECISION
            flag.touch()
            answers.append(runner.retry(UnitKey(event.task, event.host)))

    rec = await run_plan(decision_plan(flag), policy=sch.FailurePolicy.ASK, on_event=on_event)
    assert_well_formed(rec)
    assert answers == [True]
    (decision,) = rec.kinds(ev.DecisionNeeded)
    assert (decision.status, decision.reason) == (S.FAILED, "exit status 1")
    done = rec.unit_finished("fragile@local")
    assert (done.status, done.attempts) == (S.SUCCEEDED, 2)
    # only the failed step ran again
    steps = [(e.step, e.attempt) for e in rec.of("fragile@local") if isinstance(e, ev.StepStarted)]
    assert steps == [(0, 1), (1, 1), (1, 2)]
    assert rec.unit_finished("after@local").status is S.SUCCEEDED
    assert rec.finished.status is RunStatus.SUCCEEDED


async def test_skip_after_a_decision_skips_the_unit_and_the_run_goes_on(tmp_path: Path) -> None:
    answers: list[bool] = []

    def on_event(runner: Runner, event: ev.Event) -> None:
        if isinstance(event, ev.DecisionNeeded):
            answers.append(runner.skip(UnitKey(event.task, event.host)))

    rec = await run_plan(
        decision_plan(tmp_path / "absent"), policy=sch.FailurePolicy.ASK, on_event=on_event
    )
    assert_well_formed(rec)
    assert answers == [True]
    fragile = rec.unit_finished("fragile@local")
    assert (fragile.status, fragile.reason) == (S.SKIPPED, "skipped by the operator")
    assert rec.unit_finished("after@local").status is S.SKIPPED
    assert rec.unit_finished("other@local").status is S.SUCCEEDED
    assert rec.output("other@local") == b"other\n"
    assert rec.finished.status is RunStatus.SUCCEEDED


async def test_only_the_first_of_two_quick_decisions_counts(tmp_path: Path) -> None:
    """An operator pressing retry twice (or retry then skip) before the first is handled."""
    flag = tmp_path / "flag"
    answers: list[bool] = []

    def on_event(runner: Runner, event: ev.Event) -> None:
        if isinstance(event, ev.DecisionNeeded):
            flag.touch()
            unit = UnitKey(event.task, event.host)
            answers.extend([runner.retry(unit), runner.retry(unit), runner.skip(unit)])

    rec = await run_plan(decision_plan(flag), policy=sch.FailurePolicy.ASK, on_event=on_event)
    assert_well_formed(rec)
    assert answers == [True, False, False]
    assert rec.unit_finished("fragile@local").status is S.SUCCEEDED
    assert rec.finished.status is RunStatus.SUCCEEDED


async def test_abort_with_a_decision_in_flight_ends_cleanly(tmp_path: Path) -> None:
    answers: list[bool] = []

    def on_event(runner: Runner, event: ev.Event) -> None:
        if isinstance(event, ev.DecisionNeeded):
            runner.abort()
            answers.append(runner.retry(UnitKey(event.task, event.host)))

    rec = await run_plan(
        decision_plan(tmp_path / "absent"), policy=sch.FailurePolicy.ASK, on_event=on_event
    )
    assert_well_formed(rec)
    assert rec.finished.status is RunStatus.INTERRUPTED
    assert rec.unit_finished("fragile@local").status is S.FAILED
    assert rec.unit_finished("after@local").status is S.NOT_RUN


async def test_decisions_on_a_unit_that_is_not_waiting_are_refused(tmp_path: Path) -> None:
    answers: list[bool] = []

    def on_event(runner: Runner, event: ev.Event) -> None:
        if isinstance(event, ev.StepStarted) and event.task == "fragile":
            unit = UnitKey("fragile", "local")  # running, not waiting
            answers.extend([runner.retry(unit), runner.skip(unit)])

    plan = decision_plan(tmp_path / "flag")
    (tmp_path / "flag").touch()
    rec = await run_plan(plan, policy=sch.FailurePolicy.ASK, on_event=on_event)
    assert answers == [False, False, False, False]  # two steps, asked twice each
    assert rec.finished.status is RunStatus.SUCCEEDED
    # before and after the run, too
    runner = Runner(plan, lambda unit: LocalTransport(), run_id="x")
    assert runner.retry(key("fragile@local")) is False
    assert rec.runner.retry(key("fragile@local")) is False
    assert rec.runner.skip(key("other@local")) is False
    assert rec.runner.retry(key("nosuchtask@local")) is False  # not in the plan: no, not a crash
    runner.abort()
    assert runner.retry(key("fragile@local")) is False  # an abort is on its way


# ---- limits and back-pressure -----------------------------------------------------------------


async def test_never_more_units_at_once_than_the_parallel_limit() -> None:
    tasks = "".join(f'[tasks.t{i}]\ncommands = ["sleep 0.2"]\n' for i in range(6))
    plan = plan_from(tasks, parallel=2)
    rec = await run_plan(plan)
    assert_well_formed(rec)
    running, peak = 0, 0
    for event in rec.events:
        if isinstance(event, ev.UnitStarted):
            running += 1
            peak = max(peak, running)
        elif isinstance(event, ev.UnitFinished):
            running -= 1
    assert peak == 2  # the limit is used, and never exceeded
    assert rec.finished.status is RunStatus.SUCCEEDED


async def test_a_slow_subscriber_still_gets_every_event_in_order() -> None:
    plan = plan_from(
        """
[tasks.chatty]
commands = ["for i in $(seq 1 200); do echo line $i; done", "seq 1 50 >&2"]
[tasks.quiet]
commands = ["true"]
"""
    )
    bus = ev.EventBus(maxsize=4)
    slow = bus.subscribe()
    slow_seen: list[ev.Event] = []

    async def read_slowly() -> None:
        async for event in slow:
            slow_seen.append(event)
            await asyncio.sleep(0.002)

    reader = asyncio.create_task(read_slowly())
    rec = await run_plan(plan, bus=bus)
    await asyncio.wait_for(reader, 10)
    assert_well_formed(rec)
    assert [e.seq for e in slow_seen] == [e.seq for e in rec.events]
    assert slow_seen == rec.events
    expected = "".join(f"line {i}\n" for i in range(1, 201)).encode()
    assert rec.output("chatty@local") == expected
    assert (
        rec.output("chatty@local", Stream.STDERR)
        == "".join(f"{i}\n" for i in range(1, 51)).encode()
    )


async def test_a_plan_with_a_task_without_steps_succeeds() -> None:
    rec = await run_plan(plan_from("[tasks.empty]\n[tasks.after]\ndeps = ['empty']\n"))
    assert_well_formed(rec)
    assert [type(e).__name__ for e in rec.of("empty@local")] == ["UnitStarted", "UnitFinished"]
    assert rec.finished.status is RunStatus.SUCCEEDED


async def test_a_command_that_cannot_start_fails_with_the_reason(tmp_path: Path) -> None:
    plan = plan_from(f'[tasks.t]\ncommands = [{{ cmd = "true", cwd = "{tmp_path}/nope" }}]\n')
    rec = await run_plan(plan, secrets=())
    done = rec.unit_finished("t@local")
    assert done.status is S.FAILED
    assert done.reason is not None
    assert "cannot start: working directory" in done.reason


@pytest.mark.parametrize("policy", list(sch.FailurePolicy))
async def test_each_failure_policy_decides_what_independent_work_does(
    policy: sch.FailurePolicy,
) -> None:
    plan = plan_from(
        """
[settings]
parallel_limit = 1
[tasks.a]
commands = ["exit 1"]
[tasks.b]
deps = ["a"]
commands = ["true"]
[tasks.c]
commands = ["true"]
"""
    )

    def on_event(runner: Runner, event: ev.Event) -> None:
        if isinstance(event, ev.DecisionNeeded):
            runner.skip(UnitKey(event.task, event.host))

    rec = await run_plan(plan, policy=policy, on_event=on_event)
    assert_well_formed(rec)
    c = rec.unit_finished("c@local").status
    if policy is sch.FailurePolicy.FAIL_FAST:
        assert c is S.NOT_RUN
        assert rec.finished.status is RunStatus.FAILED
    elif policy is sch.FailurePolicy.CONTINUE:
        assert c is S.SUCCEEDED
        assert rec.unit_finished("b@local").status is S.SKIPPED
        assert rec.finished.status is RunStatus.FAILED
    else:
        assert c is S.SUCCEEDED
        assert rec.unit_finished("a@local").status is S.SKIPPED
        assert rec.finished.status is RunStatus.SUCCEEDED


async def test_a_silent_step_is_flagged_once_per_silence() -> None:
    """``quiet_after`` 4 s, so checked every second: a step silent for 4 s is flagged, as silent
    for exactly that long; not again while the silence lasts; again once it spoke and then
    said nothing for another 4 s. The time is the test's own (``ManualClock``)."""
    plan = plan_from('[tasks.t]\ncommands = ["held"]\n')
    clock, step = ManualClock(), HeldStep()
    running = asyncio.create_task(
        run_plan(plan, quiet_after=4, quiet_clock=clock, transport=step, secrets=())
    )  # no redaction holding bytes back
    await step.started.wait()
    await clock.sleeping()
    await clock.advance(3)  # checks at 1, 2, 3 s: silent, not yet for long enough
    await clock.advance(7)  # flagged at 4 s; not at every check after that
    await step.say(b"awake\n")  # at 10 s
    await clock.advance(3)
    await clock.advance(1)  # at 14 s: silent for 4 s again
    await step.end()
    rec = await running
    assert_well_formed(rec)
    kinds = [type(e).__name__ for e in rec.of("t@local")]
    quiet = [i for i, kind in enumerate(kinds) if kind == "UnitQuiet"]
    output = kinds.index("OutputReceived")
    assert len(quiet) == 2  # once before the output, once after: not at every check
    assert quiet[0] < output < quiet[1]
    flags = [(e.step, e.attempt, e.silent_for) for e in rec.kinds(ev.UnitQuiet)]
    assert flags == [(0, 1, 4.0), (0, 1, 4.0)]


async def test_a_step_that_speaks_within_quiet_after_is_never_flagged() -> None:
    plan = plan_from('[tasks.t]\ncommands = ["held"]\n')
    clock, step = ManualClock(), HeldStep()
    running = asyncio.create_task(
        run_plan(plan, quiet_after=4, quiet_clock=clock, transport=step, secrets=())
    )
    await step.started.wait()
    await clock.sleeping()
    for _ in range(6):
        await clock.advance(3.9)
        await step.say(b"tick\n")
    await step.end()
    rec = await running
    assert rec.kinds(ev.UnitQuiet) == []
    assert rec.output("t@local") == b"tick\n" * 6


class Broken:
    """A transport with a bug: it raises instead of returning a result."""

    async def run(
        self, spec: CommandSpec, on_output: OutputSink, cancel: asyncio.Event
    ) -> CommandResult:
        raise RuntimeError(f"no way to run {spec.command}")


async def test_a_transport_that_raises_fails_the_step_and_the_run_ends() -> None:
    plan = plan_from('[tasks.a]\ncommands = ["echo hi"]\n[tasks.b]\ndeps = ["a"]\n')
    rec = await run_plan(plan, transport=Broken())
    assert_well_formed(rec)
    done = rec.unit_finished("a@local")
    assert done.status is S.FAILED
    assert done.reason == "nexus could not run the step: RuntimeError('no way to run echo hi')"
    assert rec.unit_finished("b@local").status is S.NOT_RUN
    assert rec.finished.status is RunStatus.FAILED


class Recording:
    """The local transport, remembering every spec it was given."""

    def __init__(self) -> None:
        self.specs: list[CommandSpec] = []
        self._local = LocalTransport(kill_grace=0.2)

    async def run(
        self, spec: CommandSpec, on_output: OutputSink, cancel: asyncio.Event
    ) -> CommandResult:
        self.specs.append(spec)
        return await self._local.run(spec, on_output, cancel)


async def test_a_step_carrying_a_secret_reaches_the_transport_as_private() -> None:
    toml = f'[tasks.t]\ncommands = ["echo plain", "echo {SECRET}"]\n'
    config = NexusConfig.model_validate(tomllib.loads(toml))
    loaded = LoadedConfig(path=Path("nexus.toml"), config=config, secrets=frozenset({SECRET}))
    transport = Recording()
    rec = await run_plan(build_plan(loaded), transport=transport)
    assert rec.finished.status is RunStatus.SUCCEEDED
    assert [(spec.command, spec.private) for spec in transport.specs] == [
        ("echo plain", False),
        (f"echo {SECRET}", True),
    ]


async def test_only_the_operators_retry_reaches_the_transport_as_such(tmp_path: Path) -> None:
    """A host given up on (an SSH circuit breaker) gets a fresh chance when the operator says
    retry, never on a step's own automatic retries."""
    flag = tmp_path / "flag"
    plan = plan_from(
        f'[tasks.t]\ncommands = [{{ cmd = "test -f {flag}", retries = 1, retry_delay = 0 }}]\n'
    )

    def on_event(runner: Runner, event: ev.Event) -> None:
        if isinstance(event, ev.DecisionNeeded):
            flag.touch()
            assert runner.retry(UnitKey(event.task, event.host))

    transport = Recording()
    rec = await run_plan(plan, policy=sch.FailurePolicy.ASK, on_event=on_event, transport=transport)
    assert rec.unit_finished("t@local").status is S.SUCCEEDED
    assert [spec.operator_retry for spec in transport.specs] == [False, False, True]
