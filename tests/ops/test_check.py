"""``--check`` changes nothing and says exactly what the real run then does: step by step, the
same change value and the same words, "would create" becoming "created". The whole tree is
compared before and after (content, modes, owners, link targets, inodes and mtimes), and a
check sends nothing but probes and a ``cmd`` step's read-only guard checks.

A ``cmd`` step is not run in check mode, nor its ``unless`` command (which may be anything):
it reports ``skipped`` where the real run will run it."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus_engine.status import Change
from tests.ops.scenarios import ALL, CONTENT, LINES, Scenario
from tests.ops.support import (
    CHECK,
    CHECK_DIFF,
    Outcome,
    Place,
    changing_commands,
    done_words,
    run_config,
    snapshot,
    write_config,
)


def assert_predicted(checked: Outcome, real: Outcome) -> None:
    for plan, predicted, done in zip(checked.plan_steps(), checked.steps, real.steps, strict=True):
        assert predicted.summary is not None
        if plan.op is None and done.change is Change.CHANGED:  # a cmd step that will run
            assert predicted.change is Change.SKIPPED
            assert predicted.summary.startswith("not run in check mode"), predicted.summary
            continue
        assert (predicted.change, done_words(predicted.summary)) == (done.change, done.summary)


async def check_then_run(config: Path, root: Path, state: Path) -> tuple[Outcome, Outcome]:
    before = snapshot(root)
    checked = await run_config(config, state=state, mode=CHECK)
    assert checked.succeeded, checked.describe()
    assert snapshot(root) == before
    assert changing_commands(checked) == []
    real = await run_config(config, state=state)
    assert real.succeeded, real.describe()
    return checked, real


@pytest.mark.parametrize("scenario", ALL, ids=str)
async def test_check_changes_nothing_and_predicts_the_real_run(
    scenario: Scenario, place: Place, project: Path, state: Path
) -> None:
    scenario.setup(place.root, place, project)
    config = write_config(
        project / "nexus.toml", place.config(scenario.commands, scenario.variables)
    )
    checked, real = await check_then_run(config, place.root, state)
    assert_predicted(checked, real)
    scenario.verify(place.root, place)

    converged = snapshot(place.root)  # once converged, a check predicts nothing to do
    again = await run_config(config, state=state, mode=CHECK)
    assert again.succeeded, again.describe()
    assert snapshot(place.root) == converged
    for plan, step in zip(again.plan_steps(), again.steps, strict=True):
        if plan.op is not None:
            assert step.change is Change.OK
            assert (step.summary or "").startswith("ok: ")


@pytest.mark.parametrize("scenario", [CONTENT, LINES], ids=str)
async def test_check_with_diff_shows_each_text_change_and_changes_nothing(
    scenario: Scenario, here: Place, project: Path, state: Path
) -> None:
    place = here
    scenario.setup(place.root, place, project)
    config = write_config(
        project / "nexus.toml", place.config(scenario.commands, scenario.variables)
    )
    before = snapshot(place.root)
    checked = await run_config(config, state=state, mode=CHECK_DIFF)
    assert checked.succeeded, checked.describe()
    assert snapshot(place.root) == before
    diffs = {Path(step.summary.split()[2]).name: step.diff for step in checked.steps}  # type: ignore[union-attr]
    root = place.root
    if scenario is CONTENT:
        assert diffs["motd"] == (
            f"--- {root}/motd (on the host)\n+++ {root}/motd (as asked)\n"
            "@@ -0,0 +1 @@\n+hello demo\n"
        )
        assert diffs["old.txt"] == (
            f"--- {root}/old.txt (on the host)\n+++ {root}/old.txt (as asked)\n"
            "@@ -1 +1 @@\n-before\n+after\n"
        )
        assert diffs["blob.bin"] is None  # from a file, not text: no diff
    else:
        assert diffs["conf"] is not None
        assert "-key=old value\n+key=new\n" in diffs["conf"]
        assert diffs["list"] is not None
        assert diffs["list"].count("-drop me\n") == 2


# --- a later step of the same unit on a path an earlier one changes ---------------------------


async def test_check_predicts_a_line_added_to_a_file_an_earlier_step_rewrites(
    here: Place, project: Path, state: Path
) -> None:
    """``file`` replaces the content of an existing file, then ``line`` adds a line to it: the
    check must edit the content the ``file`` step puts there, as the real run will."""
    place = here
    (place.root / "a").write_bytes(b"old\n")
    commands = [
        {"ensure": "file", "path": "${var:root}/a", "content": "new content\n"},
        {"ensure": "line", "path": "${var:root}/a", "line": "more"},
    ]
    config = write_config(project / "nexus.toml", place.config(commands))
    checked, real = await check_then_run(config, place.root, state)
    assert real.summaries[1] == f"updated {place.root}/a content (17 bytes)"
    assert_predicted(checked, real)


async def test_check_predicts_a_block_added_to_a_file_an_earlier_line_step_edits(
    here: Place, project: Path, state: Path
) -> None:
    """``line`` edits an existing file, then ``block`` edits it again: the check must add the
    block to the file as the line step leaves it, and so say the size the real run writes."""
    place = here
    (place.root / "hosts").write_bytes(b"127.0.0.1 localhost\n")
    commands = [
        {"ensure": "line", "path": "${var:root}/hosts", "line": "10.0.0.1 app"},
        {"ensure": "block", "path": "${var:root}/hosts", "text": "10.0.0.2 db\n"},
    ]
    config = write_config(project / "nexus.toml", place.config(commands))
    checked, real = await check_then_run(config, place.root, state)
    assert_predicted(checked, real)
