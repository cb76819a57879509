"""Configs that exercise every ``ensure`` kind and its main options, each with the state it
starts from, what its first run must report step by step, and the exact state it must leave.

A scenario's paths are ``${var:root}/…``: the place's root directory, set as a variable of the
host (``[hosts.web1] vars``) on the lab and of ``[settings.vars]`` locally.
"""

from __future__ import annotations

import grp
import os
import pwd
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.ops.support import Place, mode_of, names, temp_files

R = "${var:root}"
NOBODY = pwd.getpwnam("nobody")
NOGROUP = grp.getgrgid(NOBODY.pw_gid).gr_name
#: a source bigger than one chunk (256 KiB) of the transfer, holding every byte value
BLOB = random.Random(7).randbytes(300 * 1024) + bytes(range(256))
TEMPLATE = "name={{ app }}\n{% for port in ports %}listen {{ port }}\n{% endfor %}"
RENDERED = b"name=demo\nlisten 80\nlisten 443\n"
CONF = b"# conf\nkey=new\nother=1\r\nlast=no newline"
CFG = b"head\n## BEGIN app settings\nx=1\ny=2\n## END app settings\n"
NEW_BLOCK = b"# BEGIN NEXUS MANAGED BLOCK\nonly\n# END NEXUS MANAGED BLOCK\n"


@dataclass(frozen=True)
class Scenario:
    name: str
    commands: Sequence[Mapping[str, Any]]
    #: the first run's change and summary of each step; ``{root}`` is the place's root and
    #: ``{login}`` the user the place logs in as
    first: Sequence[tuple[str, str | None]]
    #: puts the place (root, place) and the project directory as the scenario starts
    setup: Callable[[Path, Place, Path], None]
    #: asserts the state the run must leave (root, place)
    verify: Callable[[Path, Place], None]
    variables: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.name


def nothing(root: Path, place: Place, project: Path) -> None:
    return None


def files(root: Path, place: Place, contents: Mapping[str, bytes], mode: int = 0o644) -> None:
    for name, data in contents.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode)
        place.give(path)


# --- dir ----------------------------------------------------------------------------------------


def _dir_setup(root: Path, place: Place, project: Path) -> None:
    (root / "loose").mkdir()
    (root / "loose").chmod(0o777)
    place.give(root / "loose")


def _dir_verify(root: Path, place: Place) -> None:
    deep = root / "made" / "deep"
    assert deep.is_dir()
    assert not deep.is_symlink()
    assert mode_of(deep) == 0o750
    assert (root / "made").is_dir()
    assert mode_of(root / "loose") == 0o711
    assert (root / "plain").is_dir()
    for path in (deep, root / "made", root / "loose", root / "plain"):
        assert (path.stat().st_uid, path.stat().st_gid) == (place.uid, place.gid)
    assert names(root) == {"made", "loose", "plain"}


DIRS = Scenario(
    "dir",
    [
        {"ensure": "dir", "path": f"{R}/made/deep", "mode": "0750"},
        {"ensure": "dir", "path": f"{R}/loose", "mode": "0711"},
        {"ensure": "dir", "path": f"{R}/plain"},
    ],
    [
        ("changed", "created {root}/made/deep (mode 0750)"),
        ("changed", "updated {root}/loose: mode 0777 → 0711"),
        ("changed", "created {root}/plain"),
    ],
    _dir_setup,
    _dir_verify,
)


# --- owner and group (through sudo: the login may only give away what root may) -------------


def _owner_setup(root: Path, place: Place, project: Path) -> None:
    files(root, place, {"owned": b"same\n"})


def _owner_verify(root: Path, place: Place) -> None:
    vault = root / "vault"
    assert (vault.stat().st_uid, vault.stat().st_gid, mode_of(vault)) == (
        NOBODY.pw_uid,
        NOBODY.pw_gid,
        0o700,
    )
    key = vault / "key"
    assert key.read_bytes() == b"k\n"
    assert (key.stat().st_uid, key.stat().st_gid, mode_of(key)) == (
        NOBODY.pw_uid,
        NOBODY.pw_gid,
        0o600,
    )
    owned = root / "owned"
    assert owned.read_bytes() == b"same\n"
    assert (owned.stat().st_uid, mode_of(owned)) == (NOBODY.pw_uid, 0o644)
    assert names(root) == {"vault", "owned"}
    assert names(vault) == {"key"}


OWNERS = Scenario(
    "owner",
    [
        {
            "ensure": "dir",
            "path": f"{R}/vault",
            "mode": "0700",
            "owner": "nobody",  # by name
            "group": str(NOBODY.pw_gid),  # by number
            "sudo": True,
        },
        {
            "ensure": "file",
            "path": f"{R}/vault/key",
            "content": "k\n",
            "mode": "0600",
            "owner": str(NOBODY.pw_uid),  # by number
            "group": NOGROUP,  # by name
            "sudo": True,
        },
        {
            "ensure": "file",
            "path": f"{R}/owned",
            "content": "same\n",
            "owner": "nobody",
            "sudo": True,
        },
    ],
    [
        ("changed", f"created {{root}}/vault (mode 0700, owner nobody, group {NOBODY.pw_gid})"),
        (
            "changed",
            f"created {{root}}/vault/key (2 bytes, mode 0600, owner {NOBODY.pw_uid}, "
            f"group {NOGROUP})",
        ),
        ("changed", "updated {root}/owned: owner {login} → nobody"),
    ],
    _owner_setup,
    _owner_verify,
)


# --- content, source, template ------------------------------------------------------------------


def _content_setup(root: Path, place: Place, project: Path) -> None:
    (project / "blob.bin").write_bytes(BLOB)
    (project / "t").mkdir()
    (project / "t" / "app.conf.j2").write_text(TEMPLATE)
    files(root, place, {"old.txt": b"before\n"}, mode=0o604)


def _content_verify(root: Path, place: Place) -> None:
    assert (root / "motd").read_bytes() == b"hello demo\n"
    assert mode_of(root / "motd") == 0o640
    assert (root / "blob.bin").read_bytes() == BLOB
    assert (root / "app.conf").read_bytes() == RENDERED
    assert (root / "old.txt").read_bytes() == b"after\n"
    assert mode_of(root / "old.txt") == 0o604  # no mode asked: the old file's kept
    assert (root / "empty").read_bytes() == b""
    for name in ("motd", "blob.bin", "app.conf", "old.txt", "empty"):
        info = (root / name).stat()
        assert (info.st_uid, info.st_gid) == (place.uid, place.gid)
    assert names(root) == {"motd", "blob.bin", "app.conf", "old.txt", "empty"}


CONTENT = Scenario(
    "content",
    [
        {"ensure": "file", "path": f"{R}/motd", "content": "hello ${var:app}\n", "mode": "0640"},
        {"ensure": "file", "path": f"{R}/blob.bin", "source": "blob.bin"},
        {"ensure": "file", "path": f"{R}/app.conf", "template": "t/app.conf.j2"},
        {"ensure": "file", "path": f"{R}/old.txt", "content": "after\n"},
        {"ensure": "file", "path": f"{R}/empty", "content": ""},
    ],
    [
        ("changed", "created {root}/motd (11 bytes, mode 0640)"),
        ("changed", f"created {{root}}/blob.bin ({len(BLOB)} bytes)"),
        ("changed", f"created {{root}}/app.conf ({len(RENDERED)} bytes)"),
        ("changed", "updated {root}/old.txt content (6 bytes)"),
        ("changed", "created {root}/empty (0 bytes)"),
    ],
    _content_setup,
    _content_verify,
    variables={"app": "demo", "ports": [80, 443]},
)


# --- backup and validate ------------------------------------------------------------------------


def _backup_setup(root: Path, place: Place, project: Path) -> None:
    files(root, place, {"motd": b"old motd\n"})


def _backup_verify(root: Path, place: Place) -> None:
    assert (root / "motd").read_bytes() == b"hello\n"
    assert (root / "fresh").read_bytes() == b"hello fresh\n"
    backups = sorted(name for name in names(root) if name.endswith("~"))
    assert len(backups) == 1, backups
    (backup,) = backups
    assert backup.startswith("motd.")
    assert (root / backup).read_bytes() == b"old motd\n"
    assert names(root) == {"motd", "fresh", backup}
    assert temp_files(root) == []


BACKUP = Scenario(
    "backup-validate",
    [
        {
            "ensure": "file",
            "path": f"{R}/motd",
            "content": "hello\n",
            "backup": True,
            "validate": "grep -q hello %s",
        },
        {
            "ensure": "file",
            "path": f"{R}/fresh",
            "content": "hello fresh\n",
            "backup": True,
            "validate": "grep -q '^hello fresh$' %s",
        },
    ],
    [
        ("changed", "updated {root}/motd content (6 bytes)"),
        ("changed", "created {root}/fresh (12 bytes)"),
    ],
    _backup_setup,
    _backup_verify,
)


# --- line ---------------------------------------------------------------------------------------


def _line_setup(root: Path, place: Place, project: Path) -> None:
    files(
        root,
        place,
        {
            "conf": b"# conf\nkey=old value\nother=1\r\nlast=no newline",
            "list": b"keep\ndrop me\nkeep too\ndrop me\n",
            "rx": b"a\ntmp1\nb\ntmp2\n",
            "nofinal": b"x\ny",
        },
        mode=0o640,
    )


def _line_verify(root: Path, place: Place) -> None:
    assert (root / "conf").read_bytes() == CONF
    assert (root / "added").read_bytes() == b"added\n"
    assert (root / "list").read_bytes() == b"keep\nkeep too\n"
    assert (root / "rx").read_bytes() == b"a\nb\n"
    assert (root / "nofinal").read_bytes() == b"x\ny\nz\n"
    for name in ("conf", "list", "rx", "nofinal"):
        assert mode_of(root / name) == 0o640  # an edited file keeps its mode
    assert names(root) == {"conf", "added", "list", "rx", "nofinal"}


LINES = Scenario(
    "line",
    [
        {"ensure": "line", "path": f"{R}/conf", "line": "key=new", "regexp": "^key="},
        {"ensure": "line", "path": f"{R}/added", "line": "added"},
        {"ensure": "line", "path": f"{R}/list", "line": "drop me", "state": "absent"},
        {"ensure": "line", "path": f"{R}/rx", "line": "", "regexp": "^tmp", "state": "absent"},
        {"ensure": "line", "path": f"{R}/nofinal", "line": "z"},
    ],
    [
        ("changed", f"updated {{root}}/conf content ({len(CONF)} bytes)"),
        ("changed", "created {root}/added (6 bytes)"),
        ("changed", "updated {root}/list content (14 bytes)"),
        ("changed", "updated {root}/rx content (4 bytes)"),
        ("changed", "updated {root}/nofinal content (6 bytes)"),
    ],
    _line_setup,
    _line_verify,
)


# --- block --------------------------------------------------------------------------------------


def _block_setup(root: Path, place: Place, project: Path) -> None:
    files(
        root,
        place,
        {"cfg": b"head\n", "old": b"a\n## BEGIN legacy\nx\n## END legacy\nb\n"},
    )


def _block_verify(root: Path, place: Place) -> None:
    assert (root / "cfg").read_bytes() == CFG
    assert (root / "old").read_bytes() == b"a\nb\n"
    assert (root / "new").read_bytes() == NEW_BLOCK
    assert names(root) == {"cfg", "old", "new"}


BLOCKS = Scenario(
    "block",
    [
        {
            "ensure": "block",
            "path": f"{R}/cfg",
            "text": "x=1\ny=2",
            "marker": "## {mark} app settings",
        },
        {"ensure": "block", "path": f"{R}/old", "marker": "## {mark} legacy", "state": "absent"},
        {"ensure": "block", "path": f"{R}/new", "text": "only\n"},
    ],
    [
        ("changed", f"updated {{root}}/cfg content ({len(CFG)} bytes)"),
        ("changed", "updated {root}/old content (4 bytes)"),
        ("changed", f"created {{root}}/new ({len(NEW_BLOCK)} bytes)"),
    ],
    _block_setup,
    _block_verify,
)


# --- link ---------------------------------------------------------------------------------------


def _link_setup(root: Path, place: Place, project: Path) -> None:
    for name in ("v1", "v2"):
        (root / name).mkdir()
    os.symlink(root / "v1", root / "current")
    place.give(root / "v1", root / "v2", root / "current")


def _link_verify(root: Path, place: Place) -> None:
    assert os.readlink(root / "current") == str(root / "v2")
    assert os.readlink(root / "rel") == "v1"
    assert os.readlink(root / "dangling") == "/nonexistent/target"
    assert names(root) == {"v1", "v2", "current", "rel", "dangling"}
    assert temp_files(root) == []


LINKS = Scenario(
    "link",
    [
        {"ensure": "link", "path": f"{R}/current", "to": f"{R}/v2"},
        {"ensure": "link", "path": f"{R}/rel", "to": "v1"},
        {"ensure": "link", "path": f"{R}/dangling", "to": "/nonexistent/target"},
    ],
    [
        ("changed", "updated {root}/current → {root}/v2 (was → {root}/v1)"),
        ("changed", "created {root}/rel → v1"),
        ("changed", "created {root}/dangling → /nonexistent/target"),
    ],
    _link_setup,
    _link_verify,
)


# --- absent -------------------------------------------------------------------------------------


def _absent_setup(root: Path, place: Place, project: Path) -> None:
    files(
        root,
        place,
        {"old.txt": b"x", "tree/a/b/c.txt": b"c", "tree/top": b"t", "keep/inside": b"i"},
    )
    (root / "tree" / "ro").write_bytes(b"read only")
    (root / "tree" / "ro").chmod(0o400)
    os.symlink(root / "keep", root / "tree" / "a" / "out")  # rm -rf must not follow it
    os.symlink(root / "keep", root / "link")
    place.give(root / "tree", root / "link")


def _absent_verify(root: Path, place: Place) -> None:
    assert names(root) == {"keep"}
    assert (root / "keep" / "inside").read_bytes() == b"i"


ABSENTS = Scenario(
    "absent",
    [
        {"ensure": "absent", "path": f"{R}/old.txt"},
        {"ensure": "absent", "path": f"{R}/tree"},
        {"ensure": "absent", "path": f"{R}/link"},
        {"ensure": "absent", "path": f"{R}/never"},
    ],
    [
        ("changed", "removed {root}/old.txt (a file)"),
        ("changed", "removed {root}/tree (a directory)"),
        ("changed", "removed {root}/link (a symbolic link)"),
        ("ok", "ok: {root}/never is absent"),
    ],
    _absent_setup,
    _absent_verify,
)


# --- cmd guards and a handler -------------------------------------------------------------------


def _guards_setup(root: Path, place: Place, project: Path) -> None:
    files(root, place, {"stale": b"s"})


def _guards_verify(root: Path, place: Place) -> None:
    assert (root / "app.conf").read_bytes() == b"v=1\n"
    assert (root / "handler.log").read_bytes() == b"ran\n"  # once, whatever the runs
    assert (root / "made").read_bytes() == b""
    assert (root / "u").read_bytes() == b"x\n"
    assert names(root) == {"app.conf", "handler.log", "made", "u"}  # stale is gone


GUARDS = Scenario(
    "guards",
    [
        {"ensure": "file", "path": f"{R}/app.conf", "content": "v=1\n"},
        {"cmd": f"echo ran >> {R}/handler.log", "when": "changed"},
        {"cmd": f"touch {R}/made", "creates": f"{R}/made"},
        {"cmd": f"rm {R}/stale", "removes": f"{R}/stale"},
        {"cmd": f"echo x > {R}/u", "unless": f"test -e {R}/u"},
    ],
    [
        ("changed", "created {root}/app.conf (4 bytes)"),
        ("changed", None),
        ("changed", None),
        ("changed", None),
        ("changed", None),
    ],
    _guards_setup,
    _guards_verify,
)

#: the second run of each: every ensure step ok, a when=changed handler skipped, a guard ok
SECOND = {"guards": ["ok", "skipped", "ok", "ok", "ok"]}

ALL = [DIRS, OWNERS, CONTENT, BACKUP, LINES, BLOCKS, LINKS, ABSENTS, GUARDS]
