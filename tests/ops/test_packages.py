"""``package`` against real apt and dpkg: packages built here (``tests.ops.debs``) in a private
``file:`` repository, installed on this machine as root and over sshd through ``sudo``.
absent → present → latest (a newer version added) → a version (a downgrade) → absent, each
converged twice (the second run sends only its probe), each ``--check`` first changing nothing
and predicting the real run word for word; ``cache_valid`` refreshes the lists only when they
are older than it; a package no list knows fails naming it; a host without a package manager
fails saying what was looked for.

dnf, yum and apk cannot run here: their probes are shell text like apt's, and what they make
of the facts (which command, which words) is tested from facts alone, as pure functions."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from nexus_engine.ops.packages import Packages
from nexus_engine.ops.probe import ProbeReport, batch
from tests.e2e.conftest import Nexus
from tests.injection import HOSTILE
from tests.ops.debs import PREFIX, Repository, installed, payload, private_apt
from tests.ops.support import (
    Outcome,
    Place,
    changing_commands,
    check_run_twice,
    run_config,
    steps_with_only,
    write_config,
)
from tests.ops.test_config_errors import Case, assert_config_errors

A, B = f"{PREFIX}a", f"{PREFIX}b"


@pytest.fixture
def repo() -> Iterator[Repository]:
    """A private apt repository (see ``tests.ops.debs``) holding ``a`` and ``b`` 1.0."""
    where = Path(tempfile.mkdtemp(prefix="nexus-apt-"))
    try:
        with private_apt(where) as repository:
            repository.add(A, "1.0")
            repository.add(B, "1.0")
            yield repository
    finally:
        shutil.rmtree(where, ignore_errors=True)


def package(place: Place, **step: Any) -> dict[str, Any]:
    """A ``package`` step, through ``sudo`` on the lab (its login is not root)."""
    return {"ensure": "package", **step, "sudo": place.kind == "sshd"}


async def converge(place: Place, project: Path, state: Path, step: dict[str, Any]) -> Outcome:
    """Check, run, run again: the check changes nothing and says what the run then does; the
    second run finds everything as asked and sends only its probe."""
    config = write_config(project / "nexus.toml", place.config([step]))
    return await check_run_twice(
        config, state, 1, lambda: {name: installed(name) for name in (A, B)}
    )


async def test_packages_go_through_their_states_each_converging(
    place: Place, repo: Repository, project: Path, state: Path
) -> None:
    repo.update()
    both = package(place, name=[A, B])
    first = await converge(place, project, state, both)
    assert first.summaries == [f"created packages {A} 1.0, {B} 1.0 (apt)"]
    assert (installed(A), installed(B)) == ("1.0", "1.0")
    assert payload(A) == "1.0"

    repo.add(A, "2.0")
    repo.update()
    config = write_config(project / "nexus.toml", place.config([both]))
    present = await run_config(config, state=state)
    assert present.summaries == [f"ok: packages {A} 1.0, {B} 1.0 (apt)"]  # present: not newer

    latest = await converge(place, project, state, package(place, name=A, state="latest"))
    assert latest.summaries == [f"updated package {A} 1.0 → 2.0 (apt)"]
    assert installed(A) == "2.0"

    pinned = await converge(place, project, state, package(place, name=A, version="1.0"))
    assert pinned.summaries == [f"updated package {A} 2.0 → 1.0 (apt)"]
    assert installed(A) == "1.0"

    gone = await converge(place, project, state, package(place, name=[A, B], state="absent"))
    assert gone.summaries == [f"removed packages {A} 1.0, {B} 1.0 (apt)"]
    assert (installed(A), installed(B)) == (None, None)
    assert payload(A) is None


async def test_cache_valid_refreshes_the_lists_only_when_they_are_older(
    place: Place, repo: Repository, project: Path, state: Path
) -> None:
    """The lists start never filled (nothing knows ``a``) and old: the first run refreshes
    them, then installs; with fresh lists a newer version in the repository stays unseen
    (nothing is refreshed), and once they are old again ``latest`` refreshes and upgrades."""
    repo.set_age(7200)
    step = package(place, name=A, state="latest", cache_valid=3600)
    first = await converge(place, project, state, step)
    assert first.summaries == [f"created package {A} (apt, the apt package lists refreshed first)"]
    assert installed(A) == "1.0"

    repo.add(A, "2.0")
    config = write_config(project / "nexus.toml", place.config([step]))
    fresh = await run_config(config, state=state)
    assert fresh.summaries == [f"ok: package {A} 1.0 (apt)"]
    assert changing_commands(fresh) == []

    repo.set_age(3601)
    stale = await converge(place, project, state, step)
    assert stale.summaries == ["updated the apt package lists (refreshed more than 3600 s ago)"]
    assert installed(A) == "2.0"


async def test_a_package_no_list_knows_fails_naming_it(
    place: Place, repo: Repository, project: Path, state: Path
) -> None:
    repo.update()
    step = package(place, name=[A, f"{PREFIX}nowhere"])
    config = write_config(project / "nexus.toml", place.config([step]))
    done = await run_config(config, state=state)
    assert done.changes == [None], done.describe()
    assert done.reasons == [
        f"apt knows no package {PREFIX}nowhere (its lists have no candidate; cache_valid "
        "refreshes them first); nothing was changed"
    ]
    assert installed(A) is None
    assert changing_commands(done) == []


async def test_a_name_from_a_variable_is_checked_once_filled_in(
    here: Place, project: Path, state: Path
) -> None:
    step = {"ensure": "package", "name": ["${var:what}"]}
    config = write_config(project / "nexus.toml", here.config([step], {"what": "-y x"}))
    done = await run_config(config, state=state)
    assert done.reasons == [
        "package name '-y x' is not valid: it must start with a letter, digit or '_', hold "
        "only letters, digits and _+.- and not end with '-'; nothing was changed"
    ]
    assert changing_commands(done) == []


@pytest.mark.e2e
def test_a_host_without_a_package_manager_fails_saying_what_was_looked_for(
    nexus: Nexus, tmp_path: Path
) -> None:
    commands = f'[{{ ensure = "package", name = "{A}" }}]'
    steps = steps_with_only(nexus, tmp_path, commands)
    assert steps == [
        (
            "failed",
            "found no package manager on the host (looked for apt-get with dpkg-query, dnf or "
            "yum with rpm, apk)",
        )
    ]


# --- dnf, yum and apk, from facts ---------------------------------------------------------------


def facts(manager: str, **versions: tuple[str, str]) -> dict[str, str]:
    """A probe's facts: ``name=(installed, candidate)``, "" for none."""
    found = {"manager": manager}
    for name, (now, candidate) in versions.items():
        found[f"installed:{name}"] = now
        found[f"candidate:{name}"] = candidate
    return found


@pytest.mark.parametrize(
    ("manager", "step", "found", "command", "words"),
    [
        ("dnf", Packages(("a", "b")), {"a": ("", "1-1"), "b": ("2-1", "2-1")},
         "dnf install -y a", "would create package a 1-1 (dnf)"),
        ("yum", Packages(("a", "b"), "latest"), {"a": ("", "1-1"), "b": ("2-1", "3-1")},
         "yum install -y a && yum upgrade -y b", "would update packages a 1-1, b 2-1 → 3-1 (yum)"),
        ("dnf", Packages(("a",), version="1.0-2"), {"a": ("1.0-3", "1.0-3")},
         "dnf install -y a-1.0-2", "would update package a 1.0-3 → 1.0-2 (dnf)"),
        ("dnf", Packages(("a", "b"), "absent"), {"a": ("1-1", "1-1"), "b": ("", "")},
         "dnf remove -y a", "would remove package a 1-1 (dnf)"),
        ("apk", Packages(("a",), "latest"), {"a": ("1.0-r0", "1.1-r0")},
         "apk add -u a", "would update package a 1.0-r0 → 1.1-r0 (apk)"),
        ("apk", Packages(("a",), version="1.0-r0"), {"a": ("", "1.1-r0")},
         "apk add a=1.0-r0", "would create package a 1.0-r0 (apk)"),
        ("apk", Packages(("a",), "absent"), {"a": ("1.0-r0", "1.0-r0")},
         "apk del a", "would remove package a 1.0-r0 (apk)"),
    ],
)  # fmt: skip
def test_other_managers_are_assessed_from_facts(
    manager: str, step: Packages, found: dict[str, tuple[str, str]], command: str, words: str
) -> None:
    assessment = step.assess(facts(manager, **found))
    assert assessment.action is not None, assessment
    assert assessment.action.script == command
    assert assessment.words(checking=True) == words


def test_other_managers_find_nothing_to_do_and_ignore_cache_valid_where_they_refresh() -> None:
    """dnf and yum refresh their metadata themselves: ``cache_valid`` adds no refresh; apk's
    lists are refreshed with ``apk update`` when old."""
    same = facts("dnf", a=("1-1", "1-1"))
    assert Packages(("a",), "latest", cache_valid=10).assess(same).action is None
    old = {**facts("apk", a=("1.0-r0", "1.0-r0")), "lists_age": "11"}
    assessment = Packages(("a",), "latest", cache_valid=10).assess(old)
    assert assessment.action is not None
    assert assessment.action.script == "apk update -q && apk add -u a"


def test_the_probe_only_reads() -> None:
    """Run for real here (apt): it prints facts for each name, and holds no command that
    installs, removes or refreshes anything."""
    step = Packages((A, "b+c"), "latest", cache_valid=5)
    script = batch({0: step.probe()})
    for verb in ("apt-get install", "apt-get update", "apt-get remove", "apk add", "apk del"):
        assert verb not in script
    for word in ("apk update", " install -y", " upgrade -y", " remove -y", "makecache"):
        assert word not in script
    out = subprocess.run(["/bin/sh", "-c", script], capture_output=True, check=True).stdout
    found = ProbeReport(out, {0: step.probe()}).facts[0]
    assert found["manager"] == "apt"
    assert {f"installed:{A}", "installed:b+c", f"candidate:{A}"} <= set(found)


@settings(max_examples=200, deadline=None)
@given(name=HOSTILE, version=HOSTILE)
def test_a_hostile_name_or_version_is_refused_or_quoted(name: str, version: str) -> None:
    """Whatever a variable holds: the step fails naming it, or every word reaches the tool
    as one argument."""
    step = Packages((name,), version=version or None)
    found = facts("apt", **{name: ("", "9")})
    assessment = step.assess(found)
    if assessment.failure is not None:
        assert assessment.action is None
        return
    assert assessment.action is not None
    wanted = f"{name}={version}" if version else name
    assert shlex.split(assessment.action.script)[-1] == wanted


P = f'ensure = "package", name = "{A}"'
BAD = [
    Case("bad-name", '{ ensure = "package", name = "-y" }', ".name", "must start with"),
    Case("trailing-dash", '{ ensure = "package", name = "x-" }', ".name", "not end with '-'"),
    Case("bad-in-list", '{ ensure = "package", name = ["a", "b c"] }', ".name[1]", ""),
    Case("empty-list", '{ ensure = "package", name = [] }', ".name", "at least one package"),
    Case("version-list", '{ ensure = "package", name = ["a", "b"], version = "1" }', "",
         "version goes with one name"),
    Case("version-latest", f'{{ {P}, version = "1", state = "latest" }}', "",
         'version goes with state = "present"'),
    Case("bad-version", f'{{ {P}, version = "-1" }}', ".version", "must start with a letter"),
    Case("cache-absent", f'{{ {P}, cache_valid = 5, state = "absent" }}', "", "cache_valid"),
    Case("cache-type", f'{{ {P}, cache_valid = "5" }}', ".cache_valid", "expected an integer"),
    Case("unknown-state", f'{{ {P}, state = "newest" }}', ".state", "latest"),
    Case("unknown-key", f'{{ {P}, versions = "1" }}', ".versions", ""),
    Case("name-type", '{ ensure = "package", name = 5 }', ".name", "expected a string, got 5"),
]  # fmt: skip


@pytest.mark.e2e
def test_bad_package_steps_are_config_errors(tmp_path: Path) -> None:
    assert_config_errors(tmp_path, BAD)
