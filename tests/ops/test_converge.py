"""Converge twice, on this machine and over real sshd: the first run reports ``changed`` for
each step with something to do and leaves exactly the state asked for (bytes, modes, owners,
link targets); the second reports only ``ok`` (``skipped`` for a ``when = "changed"``
handler), sends nothing but one batch of probes per identity (and a ``cmd`` step's read-only
guard checks), and leaves every byte, mode, inode and mtime of the tree as it was."""

from __future__ import annotations

import pwd
import re
from pathlib import Path

import pytest

from tests.ops.scenarios import ALL, SECOND, Scenario
from tests.ops.support import (
    Outcome,
    Place,
    changing_commands,
    probes,
    run_config,
    snapshot,
    write_config,
)

_SIZE = re.compile(r"^(created|updated) .* \(?(\d+) bytes")


def expected_words(scenario: Scenario, place: Place) -> list[str | None]:
    login = pwd.getpwuid(place.uid).pw_name
    return [
        None if words is None else words.format(root=place.root, login=login)
        for _, words in scenario.first
    ]


def assert_content_sent_once(outcome: Outcome) -> None:
    """A step that wrote content sent exactly its bytes; one that wrote none sent nothing."""
    for step, plan in zip(outcome.steps, outcome.plan_steps(), strict=True):
        found = _SIZE.match(step.summary or "")
        writes = found is not None and plan.op is not None and plan.op.kind != "dir"
        assert step.sent == (int(found[2]) if writes and found else 0), step


@pytest.mark.parametrize("scenario", ALL, ids=str)
async def test_a_config_converges_then_a_second_run_changes_nothing(
    scenario: Scenario, place: Place, project: Path, state: Path
) -> None:
    root = place.root
    scenario.setup(root, place, project)
    config = write_config(
        project / "nexus.toml", place.config(scenario.commands, scenario.variables)
    )

    first = await run_config(config, state=state)
    assert first.succeeded, first.describe()
    assert first.changes == [change for change, _ in scenario.first], first.describe()
    for words, wanted in zip(first.summaries, expected_words(scenario, place), strict=True):
        if wanted is not None:
            assert words == wanted
    assert_content_sent_once(first)
    scenario.verify(root, place)
    converged = snapshot(root)

    second = await run_config(config, state=state)
    assert second.succeeded, second.describe()
    steps = second.plan_steps()
    assert second.changes == SECOND.get(scenario.name, ["ok"] * len(steps)), second.describe()
    for plan, step in zip(steps, second.steps, strict=True):
        assert step.sent == 0
        if plan.op is not None:
            assert step.summary is not None
            assert step.summary.startswith("ok: "), step.summary
    assert changing_commands(second) == []
    identities = {(step.sudo, step.user) for step in steps if step.op is not None}
    assert len(probes(second)) == len(identities)  # one batch per identity, however many steps
    assert snapshot(root) == converged  # not a byte, mode, inode or mtime touched
    scenario.verify(root, place)
