"""The scheduler running a resumed plan (``nexus run --resume``): reused units settle as
succeeded without running and release what waits for them; the others start at the step that
did not finish; serial batches, failure budgets and ``when = "changed"`` hold as in any run;
a unit whose host could not be cleared of the old run's processes fails before anything runs."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from nexus_engine import scheduler as sch
from nexus_engine.plan import Plan, Resumed
from nexus_engine.status import RunStatus, UnitStatus
from tests.engine.driving import Driver, key, plan_from

S = UnitStatus
FLEET = """
[hosts]
web1 = "web1.example"
web2 = "web2.example"
web3 = "web3.example"
web4 = "web4.example"
[groups]
web = ["web1", "web2", "web3", "web4"]
"""
CHAIN = """
[tasks.build]
commands = ["make"]
[tasks.deploy]
deps = ["build"]
commands = ["one", "two", "three"]
"""


def resumed(plan: Plan, **carried: Any) -> Plan:
    return replace(plan, resumed=Resumed(run_id="old", **carried))


def test_a_reused_unit_settles_at_once_and_releases_its_dependents() -> None:
    plan = resumed(plan_from(CHAIN), reused=frozenset({key("build@local")}))
    d = Driver(plan)
    out = d.begin()
    settled = [c for c in out if isinstance(c, sch.UnitSettled)]
    assert [(str(c.key), c.view.status, c.view.reused) for c in settled] == [
        ("build@local", S.SUCCEEDED, True)
    ]
    assert settled[0].view.reason == "reused: it succeeded in run old"
    assert d.started() == ["deploy@local"]  # build never begins
    assert d.running[key("deploy@local")].step == 0


def test_a_unit_starts_again_at_the_step_that_did_not_finish() -> None:
    plan = resumed(
        plan_from(CHAIN),
        reused=frozenset({key("build@local")}),
        first_step={key("deploy@local"): 2},
    )
    d = Driver(plan)
    d.begin()
    assert d.running[key("deploy@local")].step == 2
    d.exit("deploy@local")
    assert d.finished() == sch.FinishRun(RunStatus.SUCCEEDED)
    view = d.scheduler.snapshot().units[key("deploy@local")]
    assert (view.changed_steps, view.reused) == (0, False)  # one step ran: its own count


def test_an_earlier_change_carries_over_to_when_changed() -> None:
    plan = plan_from('[tasks.t]\ncommands = ["a", "b"]\n')
    first = {key("t@local"): 1}
    carried = Driver(resumed(plan, first_step=first, changed_before=frozenset({key("t@local")})))
    carried.begin()
    assert carried.running[key("t@local")].after_change
    fresh = Driver(resumed(plan, first_step=first))
    fresh.begin()
    assert not fresh.running[key("t@local")].after_change


def test_serial_batches_go_on_after_the_reused_batch() -> None:
    plan = plan_from(
        FLEET + '[tasks.roll]\non = "web"\nstrategy = "serial"\nbatch = 2\ncommands = ["x"]\n'
    )
    d = Driver(resumed(plan, reused=frozenset({key("roll@web1"), key("roll@web2")})))
    d.begin()
    assert d.running_now() == {"roll@web3", "roll@web4"}


def test_serial_batches_wait_for_a_rerun_unit_of_the_earlier_batch() -> None:
    plan = plan_from(
        FLEET + '[tasks.roll]\non = "web"\nstrategy = "serial"\nbatch = 2\ncommands = ["x"]\n'
    )
    d = Driver(resumed(plan, reused=frozenset({key("roll@web1")})))
    d.begin()
    assert d.running_now() == {"roll@web2"}  # the next batch waits for it, as in any run
    d.exit("roll@web2")
    assert d.running_now() == {"roll@web3", "roll@web4"}


def test_a_blocked_unit_fails_before_anything_runs_and_counts_against_the_budget() -> None:
    plan = plan_from(FLEET + '[tasks.t]\non = "web"\nmax_failures = 0\ncommands = ["x"]\n')
    d = Driver(resumed(plan), sch.FailurePolicy.FAIL_FAST)
    reason = "processes of run old are still running on web2"
    out = d.send(sch.RunBegan(0.0, blocked={key("t@web2"): reason}))
    assert d.status("t@web2") is S.FAILED
    assert d.scheduler.snapshot().units[key("t@web2")].reason == reason
    assert not [c for c in out if isinstance(c, sch.StartStep)]  # fail-fast: nothing starts
    assert d.finished() == sch.FinishRun(RunStatus.FAILED)


def test_a_plan_whose_every_unit_is_reused_finishes_at_once() -> None:
    plan = plan_from(CHAIN)
    every = frozenset(unit.key for unit in plan.units)
    d = Driver(resumed(plan, reused=every))
    d.begin()
    assert d.started() == []
    assert d.finished() == sch.FinishRun(RunStatus.SUCCEEDED)
