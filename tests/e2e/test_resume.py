"""``nexus run --resume [RUN|last]`` through the real command, on this machine: units that
succeeded are reused and said to be, the rest carry on from the step that did not succeed
(each step leaves a mark in a file, so a step that ran twice shows); a changed config is
refused with what changed, then accepted with ``--allow-changed``; a ``--check`` run, a run
with nothing left to do, and a misuse of the flags are each answered plainly."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import TIMEOUT, Nexus, Reaper, read_pidfile, unit, wait_for_file

pytestmark = pytest.mark.e2e

FLAKY = """\
[tasks.prepare]
commands = ["echo prepare-1 >> marks", "echo prepare-2 >> marks"]
[tasks.deploy]
deps = ["prepare"]
commands = [
  "echo deploy-1 >> marks",
  "echo deploy-2 >> marks; test -e fixed",
  "echo deploy-3 >> marks",
]
[tasks.aside]
commands = ["echo aside >> marks"]
[tasks.after]
deps = ["deploy"]
commands = ["echo after >> marks"]
"""


def marks(nexus: Nexus) -> list[str]:
    return (nexus.cwd / "marks").read_text().split()


def failed_once(nexus: Nexus) -> Path:
    (nexus.cwd / "nexus.toml").write_text(FLAKY)
    first = nexus("--headless", "run")
    assert first.returncode == 1, first.stderr
    assert sorted(marks(nexus)) == sorted(
        ["prepare-1", "prepare-2", "deploy-1", "deploy-2", "aside"]
    )
    return nexus.only_run()


def test_resume_reuses_what_succeeded_and_carries_on_from_the_failed_step(nexus: Nexus) -> None:
    old = failed_once(nexus)
    (nexus.cwd / "fixed").touch()
    result = nexus("--headless", "run", "--resume", "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["resumed_from"] == old.name
    for task in ("prepare", "aside"):
        assert unit(document, task)["reused"] is True
        assert unit(document, task)["status"] == "succeeded"
        assert unit(document, task)["reason"] == f"reused: it succeeded in run {old.name}"
    assert unit(document, "deploy")["reused"] is False
    assert unit(document, "deploy")["changed"] == 2  # steps 2 and 3, not step 1 again
    # every step ran once, but the one that failed, which ran once more
    assert marks(nexus).count("deploy-2") == 2
    assert sorted(set(marks(nexus))) == sorted(
        ["prepare-1", "prepare-2", "deploy-1", "deploy-2", "deploy-3", "aside", "after"]
    )
    assert len(marks(nexus)) == 8
    new = next(run for run in nexus.runs() if run != old)
    started = nexus.events(new)[0]
    assert started["event"] == "run_started"
    assert started["resumed_from"] == old.name
    assert nexus.summary(new)["resumed_from"] == old.name
    deploy_started = [
        e for e in nexus.events(new) if e["event"] == "unit_started" and e["task"] == "deploy"
    ]
    assert [e["first_step"] for e in deploy_started] == [1]


def test_text_output_names_reused_units_and_the_run_resumed(nexus: Nexus) -> None:
    old = failed_once(nexus)
    (nexus.cwd / "fixed").touch()
    result = nexus("--headless", "run", "--resume", old.name[:17], "--plain")
    assert result.returncode == 0, result.stderr
    assert f"nexus: resuming run {old.name}" in result.stderr
    assert f"prepare@local ✓ reused: it succeeded in run {old.name}" in result.stdout
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line}
    assert rows["prepare"][2:4] == ["✓", "reused"]
    assert rows["deploy"][2:4] == ["✓", "succeeded"]


def test_a_run_resumed_twice_starts_each_unit_at_the_step_never_finished(nexus: Nexus) -> None:
    failed_once(nexus)
    again = nexus("--headless", "run", "--resume")
    assert again.returncode == 1
    assert marks(nexus).count("deploy-1") == 1
    assert marks(nexus).count("deploy-2") == 2
    (nexus.cwd / "fixed").touch()
    last = nexus("--headless", "run", "--resume", "last")
    assert last.returncode == 0, last.stderr
    assert marks(nexus).count("deploy-1") == 1
    assert marks(nexus).count("deploy-2") == 3
    assert marks(nexus).count("deploy-3") == 1


def test_a_changed_config_is_refused_naming_what_changed_unless_allowed(nexus: Nexus) -> None:
    old = failed_once(nexus)
    (nexus.cwd / "nexus.toml").write_text(FLAKY.replace("deploy-3", "deploy-three"))
    refused = nexus("--headless", "run", "--resume")
    assert refused.returncode == 2
    assert f"the config or the plan changed since run {old.name}" in refused.stderr
    assert "nexus.toml is not the file run" in refused.stderr
    assert "deploy@local: step 3 changed" in refused.stderr
    assert "--allow-changed" in refused.stderr
    assert len(nexus.runs()) == 1  # nothing recorded, nothing run
    (nexus.cwd / "fixed").touch()
    allowed = nexus("--headless", "run", "--resume", "--allow-changed")
    assert allowed.returncode == 0, allowed.stderr
    assert "deploy-three" in marks(nexus)


def test_a_comment_changes_the_file_but_not_the_plan(nexus: Nexus) -> None:
    failed_once(nexus)
    (nexus.cwd / "nexus.toml").write_text("# a comment\n" + FLAKY)
    refused = nexus("--headless", "run", "--resume")
    assert refused.returncode == 2
    assert "nexus.toml is not the file run" in refused.stderr
    assert "step" not in refused.stderr.split("changed since")[1].split("resume anyway")[0]


def test_nothing_to_resume_after_a_run_that_succeeded(nexus: Nexus) -> None:
    (nexus.cwd / "nexus.toml").write_text('[tasks.t]\ncommands = ["true"]\n')
    assert nexus("--headless", "run").returncode == 0
    result = nexus("--headless", "run", "--resume")
    assert result.returncode == 0
    assert "succeeded: nothing to resume" in result.stderr
    assert len(nexus.runs()) == 1


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--resume", "deploy"], "no recorded run matches 'deploy'"),
        (["--resume", "last", "deploy"], "--resume runs the tasks of the run it resumes"),
        (["--allow-changed"], "--allow-changed goes with --resume"),
    ],
)
def test_misuse_is_a_usage_error(nexus: Nexus, args: list[str], said: str) -> None:
    failed_once(nexus)
    result = nexus("--headless", "run", *args)
    assert result.returncode == 2
    assert said in result.stderr


def test_a_check_run_is_not_resumed(nexus: Nexus) -> None:
    (nexus.cwd / "nexus.toml").write_text('[tasks.t]\ncommands = ["false"]\n')
    assert nexus("--headless", "run", "--check").returncode == 0
    result = nexus("--headless", "run", "--resume")
    assert result.returncode == 2
    assert "was a --check run" in result.stderr


def test_a_run_from_before_plan_records_is_refused(nexus: Nexus) -> None:
    old = failed_once(nexus)
    (old / "plan.json").unlink()
    result = nexus("--headless", "run", "--resume")
    assert result.returncode == 2
    assert f"run {old.name} has no record of its plan" in result.stderr


UNSAFE = """\
[tasks.pay]
commands = [
  { cmd = "echo charged >> marks; [ -e go ] || { RECORD_PGID; sleep 60; }", idempotent = false },
]
""".replace("RECORD_PGID", "echo $$ $(cut -d' ' -f5 /proc/$$/stat) > pgid.tmp && mv pgid.tmp pgid")


def test_an_unsafe_step_in_flight_runs_again_only_with_yes(nexus: Nexus, reaper: Reaper) -> None:
    (nexus.cwd / "nexus.toml").write_text(UNSAFE)
    proc = nexus.popen("--headless", "run", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, pgid = read_pidfile(wait_for_file(nexus.cwd / "pgid", proc))
        reaper.groups.append(pgid)
        proc.kill()  # SIGKILL mid-step
        proc.wait(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    (nexus.cwd / "go").touch()
    refused = nexus("--headless", "run", "--resume")
    assert refused.returncode == 2
    assert "marked idempotent = false" in refused.stderr
    assert "pay@local step 1" in refused.stderr
    assert marks(nexus) == ["charged"]
    assert len(nexus.runs()) == 1
    done = nexus("--headless", "run", "--resume", "--yes", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert marks(nexus) == ["charged", "charged"]
    reaper.assert_group_gone(pgid)  # the old step, killed before it ran again
