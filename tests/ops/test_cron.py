"""``cron`` against the real ``crontab``: of root on this machine, and of the lab's key user
over sshd. Converging twice leaves exactly the entries asked for (found by their ``#nexus:``
comment, replaced where they are, never doubled) and a second run sends nothing but its probe;
``--check`` changes nothing and predicts the real run word for word; ``state = "absent"``
removes an entry; a bad schedule is a config error on its key and line, exit 2."""

from __future__ import annotations

import fcntl
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_engine.ops.cron import Cron, edit_crontab
from tests.e2e.conftest import Nexus
from tests.ops.support import (
    CHECK,
    Place,
    changing_commands,
    done_words,
    probes,
    run_config,
    steps_with_only,
    write_config,
)
from tests.ops.test_config_errors import Case, assert_config_errors

# ``just system-deps`` installs cron: without crontab the tests fail, never skip
pytestmark = pytest.mark.usefixtures("crontab_installed")


@pytest.fixture(scope="session")
def crontab_installed() -> None:
    assert shutil.which("crontab"), "crontab is missing: `just system-deps` installs cron"


#: what the crontab holds before the run: a line of its own, an entry to update, one to remove
BEFORE = (
    "MAILTO=''\n"
    "0 1 * * * true\n"
    "#nexus: nexus-test-old\n"
    "5 5 * * * echo stale\n"
    "#nexus: nexus-test-gone\n"
    "1 2 3 4 5 echo bye\n"
)
AFTER = (
    "MAILTO=''\n"
    "0 1 * * * true\n"
    "#nexus: nexus-test-old\n"
    "@daily echo 'new job' >/dev/null\n"
    "#nexus: nexus-test-five\n"
    "*/5 1-3 * 1,6 0 echo five\n"
)
COMMANDS = [
    {
        "ensure": "cron",
        "name": "nexus-test-five",
        "minute": "*/5",
        "hour": "1-3",
        "month": "1,6",
        "weekday": "0",
        "job": "echo five",
    },
    {
        "ensure": "cron",
        "name": "nexus-test-old",
        "special": "@daily",
        "job": "echo 'new job' >/dev/null",
    },
    {"ensure": "cron", "name": "nexus-test-gone", "state": "absent"},
]


def read_crontab(user: str) -> str:
    done = subprocess.run(
        ["crontab", "-l", "-u", user], capture_output=True, text=True, check=False
    )
    return done.stdout if done.returncode == 0 else ""


def write_crontab(user: str, text: str) -> None:
    if text:
        subprocess.run(["crontab", "-u", user, "-"], input=text, text=True, check=True)
    else:
        subprocess.run(["crontab", "-u", user, "-r"], capture_output=True, check=False)


@pytest.fixture
def login(place: Place) -> Iterator[str]:
    """The user the place logs in as, whose crontab starts as :data:`BEFORE`, and is put back
    as it was afterwards (root's own, locally)."""
    user = pwd.getpwuid(place.uid).pw_name
    # root's crontab is one for the whole machine: tests on other xdist workers wait their turn
    with open(f"/tmp/nexus-test-crontab-{user}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        kept = read_crontab(user)
        write_crontab(user, BEFORE)
        try:
            yield user
        finally:
            write_crontab(user, kept)


async def test_cron_converges_then_a_second_run_changes_nothing(
    place: Place, login: str, project: Path, state: Path
) -> None:
    config = write_config(project / "nexus.toml", place.config(COMMANDS))
    first = await run_config(config, state=state)
    assert first.succeeded, first.describe()
    assert first.changes == ["changed"] * 3, first.describe()
    whose = "the crontab of the login"
    assert first.summaries == [
        f"created cron entry 'nexus-test-five' in {whose}",
        f"updated cron entry 'nexus-test-old' in {whose}",
        f"removed cron entry 'nexus-test-gone' in {whose}",
    ]
    assert read_crontab(login) == AFTER

    second = await run_config(config, state=state)
    assert second.succeeded, second.describe()
    assert second.changes == ["ok"] * 3, second.describe()
    assert all((words or "").startswith("ok: ") for words in second.summaries)
    assert changing_commands(second) == []
    assert len(probes(second)) == 1
    assert read_crontab(login) == AFTER


async def test_check_predicts_the_real_run_and_changes_nothing(
    place: Place, login: str, project: Path, state: Path
) -> None:
    config = write_config(project / "nexus.toml", place.config(COMMANDS))
    checked = await run_config(config, state=state, mode=CHECK)
    assert checked.succeeded, checked.describe()
    assert changing_commands(checked) == []
    assert read_crontab(login) == BEFORE
    real = await run_config(config, state=state)
    assert real.succeeded, real.describe()
    predicted = [(s.change, done_words(s.summary or "")) for s in checked.steps]
    assert predicted == [(s.change, s.summary) for s in real.steps]
    assert read_crontab(login) == AFTER


async def test_two_steps_on_one_entry_check_as_they_run(
    place: Place, login: str, project: Path, state: Path
) -> None:
    """The second step sees the crontab as the first would leave it, checking too."""
    commands = [
        {"ensure": "cron", "name": "nexus-test-twice", "job": "echo a"},
        {"ensure": "cron", "name": "nexus-test-twice", "state": "absent"},
    ]
    config = write_config(project / "nexus.toml", place.config(commands))
    checked = await run_config(config, state=state, mode=CHECK)
    assert checked.summaries[1] == (
        "would remove cron entry 'nexus-test-twice' in the crontab of the login"
    )
    real = await run_config(config, state=state)
    assert real.changes == ["changed", "changed"], real.describe()
    assert read_crontab(login) == BEFORE


async def test_a_user_without_a_crontab_gets_one(
    place: Place, login: str, project: Path, state: Path
) -> None:
    write_crontab(login, "")
    commands = [{"ensure": "cron", "name": "nexus-test-new", "hour": "4", "job": "date"}]
    config = write_config(project / "nexus.toml", place.config(commands))
    first = await run_config(config, state=state)
    assert first.changes == ["changed"], first.describe()
    assert read_crontab(login) == "#nexus: nexus-test-new\n* 4 * * * date\n"
    second = await run_config(config, state=state)
    assert second.changes == ["ok"], second.describe()


def test_edit_crontab_never_doubles_an_entry() -> None:
    doubled = "#nexus: a\nold 1\nkeep\n#nexus: a\nold 2\n"
    assert edit_crontab(doubled, "a", "@hourly new") == "#nexus: a\n@hourly new\nkeep\n"
    assert edit_crontab(doubled, "a", None) == "keep\n"
    assert edit_crontab("", "a", None) == ""
    assert edit_crontab("x", "a", "@daily y") == "x\n#nexus: a\n@daily y\n"
    ok = "x\n#nexus: a\n@daily y\n"
    assert edit_crontab(ok, "a", "@daily y") == ok


CRON = 'ensure = "cron", name = "n", job = "true"'
BAD = [
    Case("minute-out-of-range", f'{{ {CRON}, minute = "60" }}', ".minute", "60 is out of range"),
    Case("weekday-out-of-range", f'{{ {CRON}, weekday = "8" }}', ".weekday", "expected 0 to 7"),
    Case("day-zero", f'{{ {CRON}, day = "0" }}', ".day", "expected 1 to 31"),
    Case("step-zero", f'{{ {CRON}, hour = "*/0" }}', ".hour", "a step of 0 never comes"),
    Case("not-a-field", f'{{ {CRON}, month = "jan-x" }}', ".month", "is not a cron field"),
    Case("backwards", f'{{ {CRON}, hour = "5-1" }}', ".hour", "runs backwards"),
    Case("wrong-type", f"{{ {CRON}, minute = 5 }}", ".minute", "expected a string"),
    Case("unknown-special", f'{{ {CRON}, special = "@often" }}', ".special", "@daily"),
    Case("both", f'{{ {CRON}, special = "@daily", hour = "1" }}', "", "not both"),
    Case("job-lines", '{ ensure = "cron", name = "n", job = "a\\nb" }', ".job", "one line"),
    Case("no-job", '{ ensure = "cron", name = "n" }', "", "needs a job"),
    Case("unknown-key", f'{{ {CRON}, minutes = "1" }}', ".minutes", ""),
    Case("check-no-apply", '{ ensure = "check", check = "true" }', ".apply", ""),
    Case("check-type", '{ ensure = "check", check = 1, apply = "x" }', ".check", ""),
]


@pytest.mark.e2e
def test_bad_cron_and_check_steps_are_config_errors(tmp_path: Path) -> None:
    assert_config_errors(tmp_path, BAD)


@pytest.mark.e2e
def test_a_host_without_crontab_fails_the_step_naming_it(nexus: Nexus, tmp_path: Path) -> None:
    commands = '[{ ensure = "cron", name = "n", job = "true" }]'
    steps = steps_with_only(nexus, tmp_path, commands)
    assert steps == [("failed", "the host lacks crontab, which cron steps need")]


def test_a_variable_that_breaks_the_line_fails_the_step() -> None:
    op = Cron("n", "@daily echo a\n* * * * * evil")
    assessment = op.assess({"crontab": ""})
    assert assessment.failure is not None
    assert assessment.action is None
