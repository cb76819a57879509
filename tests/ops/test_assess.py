"""Each kind's ``assess(facts)`` on facts made by hand, as a probe would print them: nothing to
do, the change to make (and only that change), or a failure saying why in words, with nothing
run. No host is involved: an assessment is a pure function of the facts."""

from __future__ import annotations

import base64
import hashlib

import pytest

from nexus_engine.ops.base import Assessment
from nexus_engine.ops.content import Content
from nexus_engine.ops.files import Absent, Dir, File, Link
from nexus_engine.ops.lines import Block, Line

P = "/srv/app/conf"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def file_facts(data: bytes, *, content: bool = False, **more: str) -> dict[str, str]:
    facts = {
        "type": "file",
        "mode": "644",
        "owner": "alice",
        "group": "staff",
        "uid": "1000",
        "gid": "50",
        "size": str(len(data)),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    if content:
        facts["content"] = b64(data)
    return facts | more


DIR = {"type": "dir", "mode": "755", "owner": "alice", "group": "staff", "uid": "1000", "gid": "50"}
ABSENT = {"type": "absent", "parent": "dir"}
LINK = {"type": "link", "target": b64(b"/srv/releases/1")}
OTHER = {"type": "other", "mode": "644", "owner": "root", "group": "root", "uid": "0", "gid": "0"}


def ok(assessment: Assessment) -> bool:
    return assessment.action is None and assessment.failure is None and assessment.verb is None


# --- dir ----------------------------------------------------------------------------------------


def test_a_missing_directory_is_created_with_its_mode() -> None:
    done = Dir(P, mode="0750").assess(ABSENT)
    assert done.verb == "create"
    assert done.words(checking=True) == f"would create {P} (mode 0750)"
    assert done.words(checking=False) == f"created {P} (mode 0750)"
    assert done.action is not None
    assert f"mkdir -p -- {P}" in done.action.script
    assert f"chmod -- 0750 {P}" in done.action.script
    assert done.predicted == {"type": "dir", "mode": "0750"}


def test_without_parents_the_directory_is_made_alone() -> None:
    done = Dir(P, parents=False).assess(ABSENT)
    assert done.action is not None
    assert f"mkdir -- {P}" in done.action.script


@pytest.mark.parametrize("mode", ["755", "0755"])
def test_a_directory_as_asked_is_ok(mode: str) -> None:
    done = Dir(P, mode=mode, owner="alice", group="staff").assess(DIR)
    assert ok(done)
    assert done.words(checking=False) == f"ok: {P}"


def test_a_directory_with_another_mode_only_gets_its_mode() -> None:
    done = Dir(P, mode="0700").assess(DIR)
    assert done.verb == "update"
    assert done.detail == f"{P}: mode 0755 → 0700"
    assert done.action is not None
    assert "mkdir" not in done.action.script
    assert done.action.content is None


@pytest.mark.parametrize(
    ("owner", "group", "changes"),
    [
        ("alice", None, None),
        ("1000", None, None),  # by uid
        (None, "staff", None),
        (None, "50", None),  # by gid
        ("1000", "50", None),
        ("bob", None, "owner alice → bob"),
        ("1001", None, "owner alice → 1001"),
        (None, "wheel", "group staff → wheel"),
        ("bob", "51", "owner alice → bob, group staff → 51"),
    ],
)
def test_owner_and_group_are_compared_by_name_or_number(
    owner: str | None, group: str | None, changes: str | None
) -> None:
    done = Dir(P, owner=owner, group=group).assess(DIR)
    if changes is None:
        assert ok(done)
        return
    assert done.verb == "update"
    assert done.detail == f"{P}: {changes}"
    assert done.action is not None
    expected = f"{owner or ''}:{group}" if group else owner
    assert f"chown -- {expected} {P}" in done.action.script


@pytest.mark.parametrize(
    ("facts", "what"),
    [
        (file_facts(b"x"), "a file"),
        (LINK, "a symbolic link"),
        (OTHER, "special"),
    ],
)
def test_a_directory_where_something_else_is_fails_and_says_what(
    facts: dict[str, str], what: str
) -> None:
    done = Dir(P).assess(facts)
    assert done.action is None
    assert done.failure == f"{P} exists and is {what}, not a directory; nothing was changed"
    assert done.words(checking=True) == done.failure


# --- file ---------------------------------------------------------------------------------------


def a_file(data: bytes = b"new\n", **options: object) -> File:
    return File(P, Content.of(data), "content", **options)  # type: ignore[arg-type]


def test_a_missing_file_is_created_with_its_content_and_mode() -> None:
    done = a_file(b"hello\n", mode="0640").assess(ABSENT)
    assert done.verb == "create"
    assert done.detail == f"{P} (6 bytes, mode 0640)"
    assert (done.before, done.after) == ("", "hello\n")
    assert done.action is not None
    assert done.action.content == Content.of(b"hello\n")
    assert done.predicted is not None
    assert done.predicted["sha256"] == hashlib.sha256(b"hello\n").hexdigest()


def test_a_file_as_asked_is_ok() -> None:
    facts = file_facts(b"new\n", mode="640", owner="alice")
    assert ok(a_file(mode="0640", owner="alice", group="50").assess(facts))


def test_another_content_is_replaced_and_the_diff_shows_both() -> None:
    done = a_file(b"new\n").assess(file_facts(b"old\n", content=True))
    assert done.verb == "update"
    assert done.detail == f"{P} content (4 bytes)"
    assert (done.before, done.after) == ("old\n", "new\n")
    assert done.action is not None
    assert done.action.content == Content.of(b"new\n")


def test_another_content_and_mode_are_put_right_in_one_write() -> None:
    done = a_file(b"new\n", mode="0600").assess(file_facts(b"old\n"))
    assert done.detail == f"{P} content (4 bytes); mode 0644 → 0600"
    assert done.action is not None
    assert "chmod -- 0600" in done.action.script
    assert done.action.content is not None


def test_the_right_content_with_another_owner_sends_no_content() -> None:
    done = a_file(b"new\n", owner="root").assess(file_facts(b"new\n"))
    assert done.verb == "update"
    assert done.detail == f"{P}: owner alice → root"
    assert done.action is not None
    assert done.action.content is None
    assert done.action.script == f"set -e\nchown -- root {P}"


@pytest.mark.parametrize(
    ("facts", "what"),
    [(DIR, "a directory"), (LINK, "a symbolic link"), (OTHER, "special")],
)
def test_a_file_where_something_else_is_fails_and_says_what(
    facts: dict[str, str], what: str
) -> None:
    done = a_file().assess(facts)
    assert done.action is None
    assert done.failure == f"{P} exists and is {what}, not a file; nothing was changed"


def test_an_unreadable_file_fails_and_says_to_use_sudo() -> None:
    facts = {k: v for k, v in file_facts(b"x").items() if k != "sha256"} | {"unreadable": "1"}
    done = a_file().assess(facts)
    assert done.action is None
    assert done.failure == f"{P} cannot be read to compare it; use sudo = true"


def test_validate_and_backup_are_in_the_write() -> None:
    done = a_file(validate='grep -q x "$NEXUS_NEW_FILE"', backup=True).assess(file_facts(b"o"))
    assert done.action is not None
    script = done.action.script
    assert "grep -q x" in script
    assert "validate failed; the file was not replaced" in script
    # the backup (named after the time) is made once validate passed, before the new file moves in
    backup = script.index("date +")
    assert script.index("validate failed") < backup < script.index("mv -f --")


# --- link ---------------------------------------------------------------------------------------


def test_a_link_to_its_target_is_ok() -> None:
    done = Link("/srv/current", "/srv/releases/1").assess(LINK)
    assert ok(done)
    assert done.words(checking=False) == "ok: /srv/current → /srv/releases/1"


def test_a_missing_link_is_created() -> None:
    done = Link("/srv/current", "/srv/releases/1").assess(ABSENT)
    assert done.words(checking=True) == "would create /srv/current → /srv/releases/1"
    assert done.action is not None
    assert "ln -s -- /srv/releases/1" in done.action.script


def test_a_link_elsewhere_is_retargeted_and_says_where_it_pointed() -> None:
    done = Link("/srv/current", "/srv/releases/2").assess(LINK)
    assert done.verb == "update"
    assert done.detail == "/srv/current → /srv/releases/2 (was → /srv/releases/1)"
    assert done.action is not None
    assert "mv -fT" in done.action.script  # a rename: never a moment without the link


@pytest.mark.parametrize(
    ("facts", "what"), [(DIR, "a directory"), (file_facts(b"x"), "a file"), (OTHER, "special")]
)
def test_a_link_where_something_else_is_fails(facts: dict[str, str], what: str) -> None:
    done = Link("/srv/current", "/x").assess(facts)
    assert done.action is None
    assert (
        done.failure
        == f"/srv/current exists and is {what}, not a symbolic link; nothing was changed"
    )


# --- absent -------------------------------------------------------------------------------------


def test_nothing_there_is_ok() -> None:
    done = Absent(P).assess(ABSENT)
    assert ok(done)
    assert done.words(checking=False) == f"ok: {P} is absent"


@pytest.mark.parametrize(
    ("facts", "what"),
    [(file_facts(b"x"), "a file"), (DIR, "a directory"), (LINK, "a symbolic link")],
)
def test_whatever_is_there_is_removed(facts: dict[str, str], what: str) -> None:
    done = Absent(P).assess(facts)
    assert done.words(checking=True) == f"would remove {P} ({what})"
    assert done.words(checking=False) == f"removed {P} ({what})"
    assert done.action is not None
    assert done.action.script == f"rm -rf -- {P}"


# --- line and block -----------------------------------------------------------------------------


def test_a_line_already_there_is_ok() -> None:
    facts = file_facts(b"a\nkey=1\n", content=True)
    assert ok(Line(P, line="key=1").assess(facts))
    assert ok(Line(P, line="key=1", regexp="^key=").assess(facts))
    assert ok(Line(P, line="zzz", present=False).assess(facts))


def test_a_line_into_a_missing_file_creates_it() -> None:
    done = Line(P, line="key=1").assess(ABSENT)
    assert done.verb == "create"
    assert done.detail == f"{P} (6 bytes)"
    assert done.action is not None
    assert done.action.content == Content.of(b"key=1\n")


def test_a_line_replaced_keeps_the_file_mode_and_owner() -> None:
    facts = file_facts(b"a\nkey=0\n", content=True)
    done = Line(P, line="key=1", regexp="^key=").assess(facts)
    assert done.verb == "update"
    assert (done.before, done.after) == ("a\nkey=0\n", "a\nkey=1\n")
    assert done.action is not None
    script = done.action.script
    assert 'chmod -- 0644 "$t"' in script  # the old file's mode, as the probe found it
    assert 'chown -- 1000:50 "$t"' in script  # and its owner, where the login may keep it


def test_a_line_removed_from_a_missing_file_is_ok() -> None:
    assert ok(Line(P, line="x", present=False).assess(ABSENT))
    assert ok(Block(P, text="x", present=False).assess(ABSENT))


def test_a_file_too_big_to_read_back_fails_before_anything_is_sent() -> None:
    facts = file_facts(b"x" * 10)  # no content: the probe left it out
    done = Line(P, line="y").assess(facts)
    assert done.action is None
    assert done.failure == f"{P} is larger than 4194304 bytes; nothing was changed"


def test_an_unreadable_file_cannot_be_edited() -> None:
    facts = {"type": "file", "mode": "600", "unreadable": "1"}
    done = Block(P, text="x").assess(facts)
    assert done.failure == f"{P} cannot be read; nothing was changed"


@pytest.mark.parametrize("facts", [DIR, LINK, OTHER])
def test_lines_are_never_edited_in_something_other_than_a_file(facts: dict[str, str]) -> None:
    for step in (Line(P, line="x"), Block(P, text="x")):
        done = step.assess(facts)
        assert done.action is None
        assert done.failure is not None
        assert done.failure.endswith("not a file; nothing was changed")


def test_a_block_is_added_then_ok() -> None:
    facts = file_facts(b"a\n", content=True)
    done = Block(P, text="x=1", marker="## {mark} app").assess(facts)
    assert done.after == "a\n## BEGIN app\nx=1\n## END app\n"
    assert ok(
        Block(P, text="x=1", marker="## {mark} app").assess(
            file_facts(b"a\n## BEGIN app\nx=1\n## END app\n", content=True)
        )
    )


def test_a_garbled_content_fact_is_not_taken_for_an_empty_file() -> None:
    facts = file_facts(b"a\n") | {"content": "not base64!"}
    done = Line(P, line="b").assess(facts)
    assert done.action is None
    assert done.failure is not None
