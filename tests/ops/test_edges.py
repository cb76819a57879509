"""Edges of the kinds, each on this machine with the real engine: names and targets ending in a
newline (the shell's ``$(…)`` drops trailing newlines), a literal ``%s`` in ``validate``, two
backups in one second, a file too big to edit, a form feed inside a line, and the mode and
owner a rewritten or new file ends with when none is asked for."""

from __future__ import annotations

import os
import pwd
import stat
import time
from pathlib import Path

from tests.ops.support import Place, changing_commands, names, run_config, snapshot, write_config

R = "${var:root}"


async def test_a_file_in_a_directory_whose_name_ends_in_a_newline_is_written(
    here: Place, project: Path, state: Path
) -> None:
    """The temporary file must be made in the file's own directory, ``d<newline>``, not in
    ``d`` (which ``$(dirname …)`` gives, and which need not exist)."""
    commands = [
        {"ensure": "dir", "path": f"{R}/d\n"},
        {"ensure": "file", "path": f"{R}/d\n/f", "content": "x\n"},
        {"ensure": "link", "path": f"{R}/d\n/l", "to": "f"},
    ]
    config = write_config(project / "nexus.toml", here.config(commands))
    done = await run_config(config, state=state)
    assert done.succeeded, done.describe()
    assert (here.root / "d\n" / "f").read_bytes() == b"x\n"
    assert os.readlink(here.root / "d\n" / "l") == "f"
    assert names(here.root) == {"d\n"}


async def test_a_link_whose_target_ends_in_a_newline_converges(
    here: Place, project: Path, state: Path
) -> None:
    """A link's target may end in a newline; once made, the next run finds it as asked."""
    commands = [{"ensure": "link", "path": f"{R}/l", "to": "target\n"}]
    config = write_config(project / "nexus.toml", here.config(commands))
    first = await run_config(config, state=state)
    assert first.succeeded, first.describe()
    assert os.readlink(here.root / "l") == "target\n"
    converged = snapshot(here.root)
    second = await run_config(config, state=state)
    assert second.changes == ["ok"], second.describe()
    assert changing_commands(second) == []
    assert snapshot(here.root) == converged


async def test_validate_can_hold_a_literal_percent_s(
    here: Place, project: Path, state: Path
) -> None:
    """``%s`` names the new file; as in Ansible's ``validate``, ``%%`` is a literal ``%``, so
    a check can still use ``printf '%s'``, ``date +%s`` or ``stat -c %s``."""
    commands = [
        {
            "ensure": "file",
            "path": f"{R}/app.conf",
            "content": "size=9\n\n",
            "validate": 'test "$(stat -c %%s %s)" = 8 && test "$(printf \'%%s\' ok)" = ok',
        }
    ]
    config = write_config(project / "nexus.toml", here.config(commands))
    done = await run_config(config, state=state)
    assert done.succeeded, done.describe()
    assert (here.root / "app.conf").read_bytes() == b"size=9\n\n"


async def test_a_backup_never_replaces_an_earlier_backup(
    here: Place, project: Path, state: Path
) -> None:
    """Backups are named after the second they are made in (``motd.20260101T120000~``): a
    second change within the same second (two runs, or two steps) must not overwrite the
    first one's backup, the only copy of that content left. The backups an earlier change
    would have made are put there for every second the run may take."""
    motd = here.root / "motd"
    motd.write_bytes(b"current\n")
    now = time.time()
    earlier = {
        motd.with_name(time.strftime("motd.%Y%m%dT%H%M%S~", time.localtime(now + second)))
        for second in range(-1, 60)
    }
    for path in earlier:
        path.write_bytes(b"an earlier backup\n")
    commands = [{"ensure": "file", "path": f"{R}/motd", "content": "new\n", "backup": True}]
    config = write_config(project / "nexus.toml", here.config(commands))
    done = await run_config(config, state=state)
    assert done.succeeded, done.describe()
    assert time.time() < now + 59, "the run took longer than the backups put in place cover"
    assert motd.read_bytes() == b"new\n"
    assert {path: path.read_bytes() for path in earlier} == dict.fromkeys(
        earlier, b"an earlier backup\n"
    )
    new = [path for path in here.root.iterdir() if path.name.endswith("~") and path not in earlier]
    assert [path.read_bytes() for path in new] == [b"current\n"]


async def test_a_file_too_big_to_edit_fails_and_stays_as_it_was(
    here: Place, project: Path, state: Path
) -> None:
    big = here.root / "big.log"
    big.write_bytes(b"x" * (4 * 1024 * 1024) + b"\ny\n")
    before = snapshot(here.root)
    commands = [{"ensure": "line", "path": f"{R}/big.log", "line": "z"}]
    config = write_config(project / "nexus.toml", here.config(commands))
    done = await run_config(config, state=state)
    assert not done.succeeded
    assert done.reasons == [f"{big} is larger than 4194304 bytes; nothing was changed"]
    assert changing_commands(done) == []
    assert snapshot(here.root) == before


async def test_a_form_feed_inside_a_line_is_part_of_that_line(
    here: Place, project: Path, state: Path
) -> None:
    """``^b=`` matches no line of ``a=1<FF>b=2`` (a form feed, as in C or Python sources, is
    inside a line): removing the lines it matches leaves the file as it was, where an edit
    that split lines at the form feed would cut ``b=2`` off the end of the first line."""
    conf = here.root / "conf"
    conf.write_bytes(b"a=1\x0cb=2\nc=3\n")
    before = snapshot(here.root)
    commands = [
        {"ensure": "line", "path": f"{R}/conf", "line": "", "regexp": "^b=", "state": "absent"}
    ]
    config = write_config(project / "nexus.toml", here.config(commands))
    done = await run_config(config, state=state)
    assert done.succeeded, done.describe()
    assert done.changes == ["ok"]
    assert conf.read_bytes() == b"a=1\x0cb=2\nc=3\n"
    assert snapshot(here.root) == before


async def test_a_rewritten_file_keeps_its_owner_and_mode_and_a_new_one_gets_the_umask(
    here: Place, project: Path, state: Path
) -> None:
    """Without ``mode``/``owner``, a file whose content is replaced (by ``file`` or ``line``)
    keeps its mode and its owner (the login here is root, who may keep any), and a new file
    gets the mode the login's umask gives."""
    nobody = pwd.getpwnam("nobody")
    for name in ("conf", "list"):
        path = here.root / name
        path.write_bytes(b"old\n")
        path.chmod(0o604)
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
    commands = [
        {"ensure": "file", "path": f"{R}/conf", "content": "new\n"},
        {"ensure": "line", "path": f"{R}/list", "line": "more"},
        {"ensure": "file", "path": f"{R}/fresh", "content": "x\n"},
    ]
    config = write_config(project / "nexus.toml", here.config(commands))
    done = await run_config(config, state=state)
    assert done.succeeded, done.describe()
    for name, data in (("conf", b"new\n"), ("list", b"old\nmore\n")):
        info = (here.root / name).stat()
        assert (here.root / name).read_bytes() == data
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (
            nobody.pw_uid,
            nobody.pw_gid,
            0o604,
        )
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((here.root / "fresh").stat().st_mode) == 0o666 & ~umask
