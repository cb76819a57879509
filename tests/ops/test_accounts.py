"""``user`` and ``group`` against the real shadow tools: accounts made on this machine as root,
and over sshd through ``sudo`` (the lab's hosts are this machine too). Every account a test
makes is named ``nxt<pid>-…`` (unique per pytest-xdist worker) and removed after the test,
even when it fails.

Creating, changing (uid, primary and supplementary groups, shell, home; gid) and removing
each converge: ``--check`` first changes nothing and says word for word what the real run
then does, and a second run sends only its probe. A name a variable makes invalid fails the
step naming it, with nothing changed; a bad step is a config error on its key and line."""

from __future__ import annotations

import grp
import os
import pwd
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nexus_engine.ops.accounts import Group, User
from tests.injection import HOSTILE
from tests.ops.support import (
    Outcome,
    Place,
    changing_commands,
    check_run_twice,
    run_config,
    write_config,
)
from tests.ops.test_config_errors import Case, assert_config_errors

PREFIX = f"nxt{os.getpid()}-"


@dataclass(frozen=True)
class Accounts:
    """Names of this test's accounts, and ids free on this machine."""

    place: Place

    def name(self, suffix: str) -> str:
        return PREFIX + suffix

    def step(self, kind: str, **step: Any) -> dict[str, Any]:
        """A ``user``/``group`` step, through ``sudo`` on the lab (its login is not root)."""
        return {"ensure": kind, **step, "sudo": self.place.kind == "sshd"}


def free_id(*, taken: set[int]) -> int:
    """An id no user or group has (nor one of ``taken``), in a range of this worker's own."""
    start = 42000 + (os.getpid() % 500) * 40
    used = {u.pw_uid for u in pwd.getpwall()} | {g.gr_gid for g in grp.getgrall()} | taken
    return next(number for number in range(start, start + 40) if number not in used)


def remove_test_accounts() -> None:
    for user in pwd.getpwall():
        if user.pw_name.startswith(PREFIX):
            subprocess.run(["userdel", user.pw_name], capture_output=True, check=False)
    for group in grp.getgrall():
        if group.gr_name.startswith(PREFIX):
            subprocess.run(["groupdel", group.gr_name], capture_output=True, check=False)


@pytest.fixture
def accounts(place: Place) -> Iterator[Accounts]:
    remove_test_accounts()
    try:
        yield Accounts(place)
    finally:
        remove_test_accounts()


def shadow(*argv: str) -> None:
    """Make an account the way an operator would, before the run."""
    subprocess.run(argv, check=True, capture_output=True)


def ours() -> tuple[list[Any], list[Any]]:
    """This test's accounts as they are (other tests' labs make accounts of their own)."""
    return (
        [user for user in pwd.getpwall() if user.pw_name.startswith(PREFIX)],
        [group for group in grp.getgrall() if group.gr_name.startswith(PREFIX)],
    )


def on_disk(path: str) -> bool:
    return os.path.lexists(path)


def groups_of(name: str) -> set[str]:
    """The user's supplementary groups, as /etc/group lists them."""
    return {group.gr_name for group in grp.getgrall() if name in group.gr_mem}


async def converge(
    place: Place, project: Path, state: Path, steps: list[dict[str, Any]]
) -> Outcome:
    """Check, run, run again: the check changes nothing (the account databases stay as they
    are) and says what the run then does; the second run sends only its probe."""
    config = write_config(project / "nexus.toml", place.config(steps))
    return await check_run_twice(config, state, len(steps), ours)


async def test_groups_and_a_user_are_created(
    place: Place, accounts: Accounts, project: Path, state: Path
) -> None:
    main, extra, user = (accounts.name(s) for s in ("main", "extra", "user"))
    gid = free_id(taken=set())
    uid = free_id(taken={gid})
    first = await converge(
        place,
        project,
        state,
        [
            accounts.step("group", name=main),
            accounts.step("group", name=extra, gid=gid, system=True),
            accounts.step(  # noqa: S604 - a login shell, not a subprocess's
                "user",
                name=user,
                uid=uid,
                group=main,
                groups=[extra],
                shell="/bin/sh",
                home=f"/home/{user}",
            ),
        ],
    )
    assert first.summaries == [
        f"created group {main!r}",
        f"created group {extra!r} (gid {gid}, system)",
        f"created user {user!r} (uid {uid}, group {main}, groups +{extra}, shell /bin/sh, "
        f"home /home/{user})",
    ]
    made = pwd.getpwnam(user)
    assert (made.pw_uid, made.pw_gid, made.pw_shell, made.pw_dir) == (
        uid,
        grp.getgrnam(main).gr_gid,
        "/bin/sh",
        f"/home/{user}",
    )
    assert grp.getgrnam(extra).gr_gid == gid
    assert groups_of(user) == {extra}
    assert not on_disk(f"/home/{user}")  # a home is a dir step's to make


async def test_a_user_is_changed_in_one_command(
    place: Place, accounts: Accounts, project: Path, state: Path
) -> None:
    one, two, three, user = (accounts.name(s) for s in ("one", "two", "three", "user"))
    for group in (one, two, three):
        shadow("groupadd", group)
    shadow("useradd", "-M", "-s", "/bin/bash", "-G", f"{one},{two}", user)
    old_uid = pwd.getpwnam(user).pw_uid
    uid = free_id(taken=set())
    exact = accounts.step(  # noqa: S604 - a login shell, not a subprocess's
        "user", name=user, uid=uid, groups=[three, two], append=False, shell="/bin/sh"
    )
    first = await converge(place, project, state, [exact])
    assert first.summaries == [
        f"updated user {user!r}: uid {old_uid} → {uid}, groups {one},{two} → {three},{two}, "
        "shell /bin/bash → /bin/sh"
    ]
    (command,) = changing_commands(first)
    assert shlex.split(command)[0] == "usermod"
    assert groups_of(user) == {two, three}
    assert pwd.getpwnam(user).pw_uid == uid

    adding = accounts.step("user", name=user, groups=[one, two])
    added = await converge(place, project, state, [adding])
    assert added.summaries == [f"updated user {user!r}: groups +{one}"]
    assert groups_of(user) == {one, two, three}


async def test_a_group_gets_its_gid_and_accounts_are_removed(
    place: Place, accounts: Accounts, project: Path, state: Path
) -> None:
    group, gone, user = (accounts.name(s) for s in ("group", "gone", "user"))
    shadow("groupadd", group)
    shadow("groupadd", gone)
    shadow("useradd", "-M", "-N", "-g", gone, user)
    old = grp.getgrnam(group).gr_gid
    gid = free_id(taken=set())
    first = await converge(
        place,
        project,
        state,
        [
            accounts.step("group", name=group, gid=gid),
            accounts.step("user", name=user, state="absent"),
            accounts.step("group", name=gone, state="absent"),
        ],
    )
    assert first.summaries == [
        f"updated group {group!r}: gid {old} → {gid}",
        f"removed user {user!r}",
        f"removed group {gone!r}",
    ]
    assert grp.getgrnam(group).gr_gid == gid
    assert PREFIX + "user" not in {u.pw_name for u in pwd.getpwall()}
    assert gone not in {g.gr_name for g in grp.getgrall()}


async def test_a_name_a_variable_makes_invalid_fails_the_step(
    place: Place, accounts: Accounts, project: Path, state: Path
) -> None:
    steps = [accounts.step("user", name="${var:who}", groups=["${var:grp}"])]
    bad = f"{PREFIX}a b"
    config = write_config(project / "nexus.toml", place.config(steps, {"who": bad, "grp": "x"}))
    before = ours()
    done = await run_config(config, state=state)
    assert done.changes == [None], done.describe()
    assert done.reasons == [
        f"user name {bad!r} is not a valid account name: it must not be empty, start with '-', "
        "'+' or '~', nor hold ':', ',' or white space; nothing was changed"
    ]
    assert changing_commands(done) == []
    assert ours() == before


#: names useradd takes that a shell would not read literally; one would create the canary
SHELLY = ("'\"$;|&\\`", "$(touch${IFS}/tmp/nxq)", "`id`>x<y*")
CANARY = Path("/tmp/nxq")


@pytest.mark.parametrize("odd", SHELLY)
async def test_names_full_of_shell_syntax_are_taken_literally(
    place: Place, accounts: Accounts, project: Path, state: Path, odd: str
) -> None:
    name = accounts.name(odd)
    steps = [
        accounts.step("group", name=name),
        accounts.step("user", name=name, group=name, groups=[name]),
    ]
    first = await converge(place, project, state, steps)
    assert first.changes == ["changed", "changed"]
    assert pwd.getpwnam(name).pw_gid == grp.getgrnam(name).gr_gid
    assert not on_disk(str(CANARY))


def test_a_missing_probe_tool_is_named() -> None:
    assessment = User("u").assess({"missing": " getent id"})
    assert assessment.failure == "the host lacks getent, id, which user steps need"
    assert Group("g").assess({"missing": " getent"}).failure == (
        "the host lacks getent, which group steps need"
    )


def test_an_entry_getent_found_for_another_name_is_no_account() -> None:
    """``getent passwd 0`` finds root: for a user named ``0`` that is not the account."""
    assessment = User("0").assess({"passwd": "root:x:0:0:root:/root:/bin/bash"})
    assert assessment.verb == "create"


def test_groups_exactly_none_and_a_primary_group_by_number() -> None:
    found = {"passwd": "u:x:5:100::/h:/bin/sh", "primary": "users", "groups": "users a b"}
    emptied = User("u", groups=(), append=False).assess(found)
    assert emptied.action is not None
    assert shlex.split(emptied.action.script) == ["usermod", "-G", "", "u"]
    assert emptied.words(checking=True) == "would update user 'u': groups a,b → -"
    assert User("u", group="100", groups=("users",), append=False).assess(found).action is not None
    assert User("u", group="100", groups=("a", "b")).assess(found).action is None
    moved = User("u", group="7").assess(found)
    assert moved.words(checking=False) == "updated user 'u': group 100 → 7"


PATHS = HOSTILE.map(lambda value: "/" + value)


@settings(max_examples=200, deadline=None)
@given(name=HOSTILE, group=HOSTILE, shell=PATHS, home=PATHS, gid=st.integers(0, 9))
def test_hostile_values_are_refused_or_reach_the_tool_as_one_argument_each(
    name: str, group: str, shell: str, home: str, gid: int
) -> None:
    """Whatever variables hold: the step fails naming the value, or its command, read by a
    shell, gives the tool exactly the values asked for."""
    user = User(name, group=group, groups=(group,), shell=shell, home=home)
    assessment = user.assess({})
    if assessment.failure is not None:
        assert assessment.action is None
    else:
        assert assessment.action is not None
        argv = shlex.split(assessment.action.script)
        assert argv == ["useradd", "-M", "-g", group, "-G", group, "-s", shell, "-d", home, name]
    changed = User(name, shell=shell).assess(
        {"passwd": f"{name}:x:1:{gid}::/h:/bin/sh", "primary": "g", "groups": "g"}
    )
    if changed.action is not None:
        assert shlex.split(changed.action.script) == ["usermod", "-s", shell, name]
    made = Group(name, gid=gid).assess({})
    if made.action is not None:
        assert shlex.split(made.action.script) == ["groupadd", "-g", str(gid), name]


U = 'ensure = "user", name = "app"'
BAD = [
    Case("user-name", '{ ensure = "user", name = "-app" }', ".name", "must not be empty, start"),
    Case("user-colon", '{ ensure = "user", name = "a:b" }', ".name", "nor hold ':'"),
    Case("user-long", f'{{ ensure = "user", name = "{"a" * 33}" }}', ".name", "at most 32 bytes"),
    Case("user-uid-type", f'{{ {U}, uid = "10" }}', ".uid", "expected an integer"),
    Case("user-uid-range", f"{{ {U}, uid = -1 }}", ".uid", "expected an integer ≥ 0"),
    Case("user-groups-type", f'{{ {U}, groups = "web" }}', ".groups", "expected an array"),
    Case("user-group-bad", f'{{ {U}, groups = ["ok", "no,pe"] }}', ".groups[1]", "nor hold"),
    Case("user-shell", f'{{ {U}, shell = "bash" }}', ".shell", "absolute path"),
    Case("user-home-colon", f'{{ {U}, home = "/a:b" }}', ".home", "no ':'"),
    Case("user-absent-more", f'{{ {U}, state = "absent", shell = "/bin/sh" }}', "",
         "takes only its name (got shell)"),
    Case("user-append-alone", f"{{ {U}, append = false }}", "", "give groups too"),
    Case("user-unknown", f"{{ {U}, create_home = true }}", ".create_home", "unknown key"),
    Case("group-name", '{ ensure = "group", name = "a b" }', ".name", "white space"),
    Case("group-gid", '{ ensure = "group", name = "g", gid = true }', ".gid", "integer"),
    Case("group-state", '{ ensure = "group", name = "g", state = "gone" }', ".state", "absent"),
    Case("group-absent-gid", '{ ensure = "group", name = "g", gid = 5, state = "absent" }', "",
         "takes only its name (got gid)"),
]  # fmt: skip


@pytest.mark.e2e
def test_bad_user_and_group_steps_are_config_errors(tmp_path: Path) -> None:
    assert_config_errors(tmp_path, BAD)
