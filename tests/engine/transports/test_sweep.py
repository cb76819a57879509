"""The sweep of a dead run's processes on this machine (issue 12): every process carrying one of
the given tokens is found, whatever its session, TERMed, KILLed if it ignores TERM, and verified
gone; processes of other steps are left alone. Real processes, started by one LocalTransport
and swept through another, as a resumed run would."""

from __future__ import annotations

import pytest

from nexus_engine.transports.local import LocalTransport
from nexus_engine.transports.ssh.remote import StepScript
from nexus_engine.transports.sweep import SweepReport, sweep, sweep_script
from tests.marked_tree import MarkedStep, carrying

GRACE = 0.5


def pids(report: SweepReport, token: str) -> set[int]:
    return {p.pid for p in report.found if p.step_id == token}


#: how the step ran; the sweep runs as root wherever a step used sudo or ``user``
IDENTITIES = [{}, {"sudo": True}, {"user": "nobody"}]


@pytest.mark.parametrize("identity", IDENTITIES, ids=str)
async def test_a_marked_tree_is_swept_whatever_its_session(
    tokens: list[str], identity: dict[str, object]
) -> None:
    step = await MarkedStep(LocalTransport(), **identity).started()
    tokens.append(step.token)
    marked = carrying(step.token)
    assert len(marked) >= 4  # shell, child, escapee, TERM-ignoring escapee: behind sudo too
    report = await sweep(LocalTransport(), [step.token], grace=GRACE, sudo=bool(identity))
    assert {p.pid for p in report.found} >= set(marked)
    assert report.clean, report
    assert step.ignoring in pids(report, step.token)
    assert step.ignoring in {p.pid for p in report.killed}
    assert report.left == ()
    assert carrying(step.token) == []
    assert (await step.ended()).exit_code != 0


async def test_only_the_given_steps_are_swept(tokens: list[str]) -> None:
    swept, kept = MarkedStep(LocalTransport()), MarkedStep(LocalTransport())
    tokens += [swept.token, kept.token]
    await swept.started()
    await kept.started()
    report = await sweep(LocalTransport(), [swept.token], grace=GRACE)
    assert report.clean
    assert {p.step_id for p in report.found} == {swept.token}
    assert carrying(swept.token) == []
    assert len(carrying(kept.token)) >= 4
    again = await sweep(LocalTransport(), [kept.token, swept.token], grace=GRACE)
    assert {p.step_id for p in again.found} == {kept.token}
    assert carrying(kept.token) == []
    await swept.ended()
    await kept.ended()


async def test_nothing_to_sweep_is_clean() -> None:
    assert await sweep(LocalTransport(), []) == SweepReport()
    report = await sweep(LocalTransport(), ["0" * 32], grace=GRACE)
    assert report == SweepReport()


@pytest.mark.parametrize("token", ["", "ABCDEF0123456789", "0123456789abcdef; rm -rf /", "ab"])
def test_a_token_that_is_not_one_never_reaches_a_shell(token: str) -> None:
    with pytest.raises(ValueError, match="not a step token"):
        sweep_script([token], GRACE)
    with pytest.raises(ValueError, match="not a step token"):  # nor a host's login shell
        StepScript("true", marker=token).launch(private=False)
