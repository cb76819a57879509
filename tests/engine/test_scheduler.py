"""The scheduler's rules, one example each: ordering, limits, retries, budgets, decisions."""

from __future__ import annotations

import pytest

from nexus_engine import scheduler as sch
from nexus_engine.status import RunStatus, StepOutcome, UnitStatus
from tests.engine.driving import Driver, key, plan_from

S = UnitStatus
HOSTS = """
[hosts]
web1 = "web1.example"
web2 = "web2.example"
web3 = "web3.example"
[groups]
web = ["web1", "web2", "web3"]
"""


def test_a_chain_runs_in_dependency_order_and_succeeds() -> None:
    d = Driver(
        plan_from("""
[tasks.build]
commands = ["make"]
[tasks.test]
deps = ["build"]
commands = ["make test", "make check"]
""")
    )
    d.begin()
    assert d.running_now() == {"build@local"}
    d.exit("build@local")
    assert d.running_now() == {"test@local"}
    assert d.running[key("test@local")].step == 0
    d.exit("test@local")
    assert d.running[key("test@local")].step == 1
    d.exit("test@local")
    assert d.finished() == sch.FinishRun(RunStatus.SUCCEEDED)
    snapshot = d.scheduler.snapshot()
    assert snapshot.done == snapshot.total == 2
    assert snapshot.tasks == {"build": S.SUCCEEDED, "test": S.SUCCEEDED}


def test_a_host_goes_on_as_soon_as_its_own_dependency_is_done() -> None:
    d = Driver(
        plan_from(
            HOSTS + '[tasks.a]\non = "web"\ncommands = ["a"]\n'
            '[tasks.b]\non = "web"\ndeps = ["a"]\ncommands = ["b"]\n'
        )
    )
    d.begin()
    assert d.running_now() == {"a@web1", "a@web2", "a@web3"}
    d.exit("a@web2")
    # eager: b on web2 starts while a still runs on web1 and web3
    assert d.running_now() == {"a@web1", "a@web3", "b@web2"}


def test_a_local_dependency_gates_every_host() -> None:
    d = Driver(
        plan_from(
            HOSTS + '[tasks.build]\ncommands = ["b"]\n'
            '[tasks.deploy]\non = "web"\ndeps = ["build"]\ncommands = ["d"]\n'
            '[tasks.check]\ndeps = ["deploy"]\ncommands = ["c"]\n'
        )
    )
    d.begin()
    d.exit("build@local")
    assert d.running_now() == {"deploy@web1", "deploy@web2", "deploy@web3"}
    d.exit("deploy@web1")
    d.exit("deploy@web2")
    assert "check@local" not in d.running_now()  # waits for every deploy unit
    d.exit("deploy@web3")
    assert d.running_now() == {"check@local"}


def test_never_more_than_the_parallel_limit() -> None:
    d = Driver(plan_from(HOSTS + '[tasks.a]\non = "web"\ncommands = ["a"]\n', parallel=2))
    d.begin()
    assert len(d.running_now()) == 2
    d.exit(sorted(d.running_now())[0])
    assert len(d.running_now()) == 2
    assert d.scheduler.snapshot().running == 2


def test_retries_back_off_exponentially_with_jitter_then_succeed() -> None:
    d = Driver(
        plan_from("""
[[tasks.flaky.commands]]
cmd = "flaky"
retries = 3
retry_delay = 2.0
""")
    )
    d.begin()
    out = d.fail("flaky@local")
    first = next(c for c in out if isinstance(c, sch.ScheduleRetry))
    assert first.attempt == 2
    assert 2.0 * 0.8 <= first.delay <= 2.0 * 1.2
    assert d.status("flaky@local") is S.RETRY_WAIT
    d.fire_timers()
    assert d.running[key("flaky@local")].attempt == 2
    out = d.fail("flaky@local")
    second = next(c for c in out if isinstance(c, sch.ScheduleRetry))
    assert 4.0 * 0.8 <= second.delay <= 4.0 * 1.2
    d.fire_timers()
    d.exit("flaky@local")
    view = d.scheduler.snapshot().units[key("flaky@local")]
    assert view.status is S.SUCCEEDED
    assert view.attempts == 3
    assert d.finished() == sch.FinishRun(RunStatus.SUCCEEDED)


def test_backoff_never_waits_more_than_a_week_however_many_retries() -> None:
    d = Driver(plan_from('[[tasks.t.commands]]\ncmd = "x"\nretries = 1000\nretry_delay = 604800\n'))
    d.begin()
    delays = []
    for _ in range(200):  # 2**199 weeks would overflow a float
        out = d.fail("t@local")
        delays.append(next(c for c in out if isinstance(c, sch.ScheduleRetry)).delay)
        d.fire_timers()
    assert max(delays) <= 604800 * 1.2
    assert delays[-1] >= 604800 * 0.8


def test_a_timer_that_fires_early_starts_nothing() -> None:
    d = Driver(plan_from('[[tasks.t.commands]]\ncmd = "x"\nretries = 1\nretry_delay = 10\n'))
    d.begin()
    d.fail("t@local")
    assert d.send(sch.TimerFired(d.now + 1)) == []
    assert d.status("t@local") is S.RETRY_WAIT


def test_fail_fast_lets_running_units_finish_and_runs_nothing_new() -> None:
    d = Driver(
        plan_from("""
[tasks.a]
commands = ["a"]
[tasks.b]
commands = ["b1", "b2"]
[tasks.c]
deps = ["a"]
commands = ["c"]
[tasks.d]
deps = ["b"]
commands = ["d"]
""")
    )
    d.begin()
    d.fail("a@local")
    assert d.status("c@local") is S.NOT_RUN
    assert d.status("b@local") is S.RUNNING
    d.exit("b@local")  # the running unit finishes all its steps
    d.exit("b@local")
    assert d.status("b@local") is S.SUCCEEDED
    assert d.status("d@local") is S.NOT_RUN
    assert d.finished() == sch.FinishRun(RunStatus.FAILED)


@pytest.mark.parametrize("policy", list(sch.FailurePolicy))
def test_a_lost_record_starts_nothing_more_and_fails_a_run_that_succeeded(
    policy: sch.FailurePolicy,
) -> None:
    d = Driver(
        plan_from("""
[settings]
parallel_limit = 1
[tasks.a]
commands = ["a1", "a2"]
[tasks.b]
commands = ["b"]
[[tasks.r.commands]]
cmd = "r"
retries = 2
"""),
        policy=policy,
    )
    d.begin()
    d.send(sch.RecordLost(d.now))
    assert d.status("a@local") is S.RUNNING  # what runs goes on
    assert d.status("b@local") is S.NOT_RUN
    assert d.status("r@local") is S.NOT_RUN
    d.exit("a@local")
    d.exit("a@local")
    assert d.status("a@local") is S.SUCCEEDED
    assert d.finished() == sch.FinishRun(RunStatus.FAILED)


def test_continue_on_error_runs_independent_branches_and_skips_dependents() -> None:
    d = Driver(
        plan_from("""
[tasks.a]
commands = ["a"]
[tasks.b]
commands = ["b"]
[tasks.c]
deps = ["a"]
commands = ["c"]
[tasks.e]
deps = ["c"]
commands = ["e"]
[tasks.d]
deps = ["b"]
commands = ["d"]
"""),
        sch.FailurePolicy.CONTINUE,
    )
    d.begin()
    d.fail("a@local")
    assert d.status("c@local") is S.SKIPPED
    assert d.status("e@local") is S.SKIPPED  # transitively
    d.exit("b@local")
    d.exit("d@local")
    assert d.status("d@local") is S.SUCCEEDED
    assert d.finished() == sch.FinishRun(RunStatus.FAILED)
    assert d.scheduler.snapshot().tasks["c"] is S.SKIPPED


def test_a_failure_within_budget_drops_only_that_host() -> None:
    d = Driver(
        plan_from(
            HOSTS
            + """
[tasks.deploy]
on = "web"
max_failures = 1
commands = ["d"]
[tasks.verify]
on = "web"
deps = ["deploy"]
commands = ["v"]
[tasks.report]
deps = ["verify"]
commands = ["r"]
"""
        )
    )
    d.begin()
    d.fail("deploy@web2")
    assert d.status("verify@web2") is S.SKIPPED
    d.exit("deploy@web1")
    d.exit("deploy@web3")
    assert d.running_now() == {"verify@web1", "verify@web3"}
    d.exit("verify@web1")
    d.exit("verify@web3")
    assert d.running_now() == {"report@local"}  # the dropped host does not block the rest
    d.exit("report@local")
    assert d.finished() == sch.FinishRun(RunStatus.FAILED)  # a failure is still a failure


def test_one_failure_beyond_the_budget_fails_the_task() -> None:
    d = Driver(
        plan_from(
            HOSTS + '[tasks.deploy]\non = "web"\nmax_failures = "34%"\n'
            'commands = ["d"]\n[tasks.after]\ndeps = ["deploy"]\ncommands = ["a"]\n'
        )
    )
    d.begin()
    d.fail("deploy@web1")  # 34 % of 3 hosts is 1: tolerated
    d.fail("deploy@web2")  # the second is not
    d.exit("deploy@web3")
    assert d.status("after@local") is S.NOT_RUN
    assert d.scheduler.snapshot().tasks["deploy"] is S.FAILED


def test_serial_batches_run_one_after_another_and_stop_after_a_failure() -> None:
    d = Driver(
        plan_from(
            HOSTS + '[tasks.roll]\non = "web"\nstrategy = "serial"\nbatch = 1\ncommands = ["r"]\n'
        )
    )
    d.begin()
    assert d.running_now() == {"roll@web1"}
    d.exit("roll@web1")
    assert d.running_now() == {"roll@web2"}
    d.fail("roll@web2")
    assert d.status("roll@web3") is S.NOT_RUN
    assert d.finished() == sch.FinishRun(RunStatus.FAILED)


def test_with_continue_a_rollout_beyond_its_budget_reaches_no_more_hosts() -> None:
    """Found by the property test: with one slot, web2 of the same batch waited for a free
    slot and then started although the task had already failed. Independent branches go on;
    the failed rollout does not."""
    d = Driver(
        plan_from(
            HOSTS + '[tasks.roll]\non = "web"\nstrategy = "serial"\nbatch = 2\n'
            'commands = ["r"]\n[tasks.tail]\ncommands = ["t"]\n',
            parallel=1,
        ),
        sch.FailurePolicy.CONTINUE,
    )
    d.begin()
    assert d.running_now() == {"roll@web1"}
    d.fail("roll@web1")  # max_failures = 0: the task has failed
    assert d.status("roll@web2") is S.SKIPPED  # same batch, never started
    assert d.status("roll@web3") is S.SKIPPED  # the next batch
    assert d.running_now() == {"tail@local"}  # an independent branch goes on
    d.exit("tail@local")
    assert d.finished() == sch.FinishRun(RunStatus.FAILED)
    assert d.scheduler.snapshot().tasks["roll"] is S.FAILED


def test_serial_batches_by_percentage() -> None:
    d = Driver(
        plan_from(
            HOSTS + '[tasks.roll]\non = "web"\nstrategy = "serial"\n'
            'batch = "50%"\ncommands = ["r"]\n'
        )
    )
    d.begin()
    assert d.running_now() == {"roll@web1", "roll@web2"}  # 50 % of 3, rounded up


def test_the_task_timeout_caps_steps_and_retries() -> None:
    d = Driver(
        plan_from("""
[tasks.slow]
timeout = 10
[[tasks.slow.commands]]
cmd = "x"
timeout = 60
retries = 5
retry_delay = 8
""")
    )
    d.begin()
    assert d.running[key("slow@local")].timeout == 10
    d.fail("slow@local", after=4)  # a retry 8 s later would pass the 10 s deadline
    view = d.scheduler.snapshot().units[key("slow@local")]
    assert view.status is S.TIMED_OUT
    assert "task timeout" in (view.reason or "")


def test_a_step_stopped_by_the_task_deadline_is_not_retried() -> None:
    d = Driver(plan_from('[tasks.t]\ntimeout = 5\n[[tasks.t.commands]]\ncmd = "x"\nretries = 3\n'))
    d.begin()
    d.exit("t@local", StepOutcome.TIMED_OUT, None, after=5)
    assert d.status("t@local") is S.TIMED_OUT


def test_a_task_without_steps_succeeds_at_once() -> None:
    d = Driver(plan_from('[tasks.all]\n[tasks.z]\ndeps = ["all"]\ncommands = ["z"]\n'))
    d.begin()
    assert d.status("all@local") is S.SUCCEEDED
    assert d.running_now() == {"z@local"}


def test_abort_cancels_running_units_and_records_the_rest() -> None:
    d = Driver(
        plan_from("""
[tasks.a]
commands = ["a"]
[tasks.b]
commands = ["b"]
[[tasks.r.commands]]
cmd = "r"
retries = 1
[tasks.c]
deps = ["a"]
commands = ["c"]
""")
    )
    d.begin()
    d.fail("r@local")
    out = d.send(sch.AbortRequested(d.now))
    assert {c.key for c in out if isinstance(c, sch.CancelUnit)} == {key("a@local"), key("b@local")}
    assert d.status("r@local") is S.INTERRUPTED  # it was waiting to retry
    assert d.status("c@local") is S.NOT_RUN
    assert d.send(sch.AbortRequested(d.now)) == []  # a second abort changes nothing
    d.exit("a@local", StepOutcome.INTERRUPTED, None)
    d.exit("b@local", StepOutcome.INTERRUPTED, None)
    assert d.finished() == sch.FinishRun(RunStatus.INTERRUPTED)


def test_a_unit_between_steps_at_abort_stops_there() -> None:
    d = Driver(plan_from('[tasks.a]\ncommands = ["one", "two"]\n'))
    d.begin()
    d.send(sch.AbortRequested(d.now))
    d.exit("a@local")
    assert d.status("a@local") is S.INTERRUPTED


class TestDecisions:
    """With the ask policy a failure waits for the operator; the rest goes on."""

    TOML = (
        HOSTS
        + """
[tasks.deploy]
on = "web"
commands = ["one", "two"]
[tasks.verify]
on = "web"
deps = ["deploy"]
commands = ["v"]
[tasks.other]
commands = ["o"]
"""
    )

    def test_a_failure_waits_and_independent_work_goes_on(self) -> None:
        d = Driver(plan_from(self.TOML), sch.FailurePolicy.ASK)
        d.begin()
        d.exit("deploy@web1")
        out = d.fail("deploy@web1")
        assert sch.AwaitingDecision(key("deploy@web1"), S.FAILED, None) in out
        assert d.status("deploy@web1") is S.AWAITING_DECISION
        d.exit("other@local")
        d.exit("deploy@web2")
        d.exit("deploy@web2")
        assert "verify@web2" in d.running_now()
        assert d.scheduler.snapshot().awaiting == 1
        assert d.finished() is None

    def test_retry_resumes_from_the_failed_step(self) -> None:
        d = Driver(plan_from(self.TOML), sch.FailurePolicy.ASK)
        d.begin()
        d.exit("deploy@web1")
        d.fail("deploy@web1")
        d.send(sch.RetryRequested(key("deploy@web1"), d.now))
        start = d.running[key("deploy@web1")]
        assert (start.step, start.attempt) == (1, 2)
        d.exit("deploy@web1")
        assert "verify@web1" in d.running_now()

    def test_skip_drops_the_host_and_its_dependents_on_it(self) -> None:
        d = Driver(plan_from(self.TOML), sch.FailurePolicy.ASK)
        d.begin()
        d.fail("deploy@web1")
        d.send(sch.SkipRequested(key("deploy@web1"), d.now))
        assert d.status("deploy@web1") is S.SKIPPED
        assert d.status("verify@web1") is S.SKIPPED
        for unit in ("other@local", "deploy@web2", "deploy@web3"):
            d.exit(unit)
            if unit.startswith("deploy"):
                d.exit(unit)
        d.exit("verify@web2")
        d.exit("verify@web3")
        assert d.finished() == sch.FinishRun(RunStatus.SUCCEEDED)

    def test_abort_records_the_failure_it_was_waiting_on(self) -> None:
        d = Driver(plan_from(self.TOML), sch.FailurePolicy.ASK)
        d.begin()
        d.fail("deploy@web1")
        d.send(sch.AbortRequested(d.now))
        assert d.status("deploy@web1") is S.FAILED

    def test_only_the_attempt_the_operator_asked_for_says_so(self) -> None:
        d = Driver(plan_from(self.TOML), sch.FailurePolicy.ASK)
        d.begin()
        assert d.running[key("deploy@web1")].operator_retry is False
        d.fail("deploy@web1")
        assert d.scheduler.awaits_decision(key("deploy@web1"))
        d.send(sch.RetryRequested(key("deploy@web1"), d.now))
        assert d.running[key("deploy@web1")].operator_retry is True
        d.fail("deploy@web1")
        d.send(sch.RetryRequested(key("deploy@web1"), d.now))
        d.exit("deploy@web1")  # its first step; the next start is the unit's own
        assert d.running[key("deploy@web1")].operator_retry is False

    def test_decisions_on_a_unit_that_is_not_waiting_are_refused(self) -> None:
        d = Driver(plan_from(self.TOML), sch.FailurePolicy.ASK)
        d.begin()
        assert not d.scheduler.awaits_decision(key("deploy@web1"))
        with pytest.raises(sch.SchedulerError, match="not waiting"):
            d.send(sch.RetryRequested(key("deploy@web1"), d.now))
        with pytest.raises(sch.SchedulerError, match="not waiting"):
            d.send(sch.SkipRequested(key("deploy@web1"), d.now))


def test_facts_that_cannot_happen_are_errors() -> None:
    d = Driver(plan_from('[tasks.a]\ncommands = ["a"]\n'))
    with pytest.raises(sch.SchedulerError, match="no unit"):
        d.send(sch.RetryRequested(key("nope@local"), 0))
    d.begin()
    with pytest.raises(sch.SchedulerError, match="already begun"):
        d.begin()
    with pytest.raises(sch.SchedulerError, match="attempt 3"):
        d.send(sch.StepExited(key("a@local"), 0, 3, StepOutcome.SUCCEEDED, 1.0, 0))
    d.exit("a@local")
    with pytest.raises(sch.SchedulerError, match="finished"):
        d.send(sch.TimerFired(5.0))


def test_every_move_in_the_table_starts_from_a_non_terminal_state() -> None:
    for status, targets in sch.TRANSITIONS.items():
        assert status.terminal == (not targets)
