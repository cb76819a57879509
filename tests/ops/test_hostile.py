"""Hostile strings (quotes, ``$()``, backticks, ``;``, newlines, a leading ``-``, unicode: the
project's own strategy, ``tests.injection.HOSTILE``) through every parameter of every kind,
against real sshd: path components, content (inline, through a variable, from a template),
a line and a regexp (``re.escape`` of a hostile string), a block's text and marker, a link's
target, ``validate`` reading a variable, and a user's shell and home (through sudo). The file
system must end exactly as asked, and the canary file, which any value that ran as a command
would create, never appears.

Each example runs one config over one SSH connection kept for the whole test; the lab is the
session's. The strings a config refuses (a ``line`` with a newline) have it replaced."""

from __future__ import annotations

import itertools
import os
import pwd
import re
import subprocess
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings

from nexus_engine.config.ensure_accounts import breaks
from nexus_engine.transports.ssh.transport import SshTransport
from tests.injection import CANARY, HOSTILE
from tests.ops.support import Outcome, mode_of, names, run_config, temp_files, write_config
from tests.ssh.harness import SshLab

pytestmark = pytest.mark.usefixtures("in_ssh_home")

R = "${var:root}"
#: modest, and no shrinking: an example costs a run over SSH, and a failing one is shown as
#: drawn rather than after minutes of shrinking
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
ONE_LINE = HOSTILE.map(lambda s: s.replace("\n", " "))
_serial = itertools.count()


class Lab:
    """One lab host for a whole test: a connection kept open, and a fresh root per example."""

    def __init__(self, lab: SshLab, transport: SshTransport, where: Path, project: Path) -> None:
        self.lab = lab
        self.transport = transport
        self.where = where
        self.project = project
        user = pwd.getpwnam(lab.key_user)
        self.uid, self.gid = user.pw_uid, user.pw_gid

    def fresh_root(self) -> Path:
        root = self.where / f"ex{next(_serial)}"
        root.mkdir(mode=0o755)
        os.chown(root, self.uid, self.gid)
        return root

    def give(self, *paths: Path) -> None:
        for path in paths:
            for item in [path, *path.rglob("*")]:
                os.lchown(item, self.uid, self.gid)

    async def run(self, root: Path, commands: list[dict[str, Any]], **variables: str) -> Outcome:
        host = self.lab.hosts[5]
        data = {
            "hosts": {
                "h": {
                    "hostname": host.address,
                    "port": host.port,
                    "user": self.lab.key_user,
                    "vars": {"root": str(root), **variables},
                }
            },
            "tasks": {"t": {"on": ["h"], "commands": commands}},
        }
        config = write_config(self.project / "nexus.toml", data)
        transport = self.transport
        done = await run_config(
            config, state=self.project / "state", transport_for=lambda unit: transport
        )
        assert not CANARY.exists(), "a hostile value ran as a command"
        assert done.succeeded, done.describe()
        assert temp_files(root) == []
        return done


def component(prefix: str, value: str) -> str:
    """A file name holding ``value``: no ``/``, not empty, and far below 255 bytes."""
    return (prefix + value.replace("/", "_"))[:60]


@EXAMPLES
# a directory whose name ends in a newline (``$(dirname …)`` drops it)
@example(folder="\n", name="", target=";", doomed="")
@example(folder="-", name=" `touch x`", target="-n", doomed="$(id)")
@given(folder=HOSTILE, name=HOSTILE, target=HOSTILE.filter(bool), doomed=HOSTILE)
async def test_hostile_paths_and_link_targets_are_taken_literally(
    host: Lab, folder: str, name: str, target: str, doomed: str
) -> None:
    root = host.fresh_root()
    folder, name = component("d", folder), component("f", name)
    link, doomed = component("l", name), component("a", doomed)
    (root / doomed / "sub").mkdir(parents=True)
    (root / doomed / "sub" / "x").write_bytes(b"x")
    host.give(root / doomed)
    done = await host.run(
        root,
        [
            {"ensure": "dir", "path": f"{R}/{folder}", "mode": "0750"},
            {"ensure": "file", "path": f"{R}/{folder}/{name}", "content": "x\n", "mode": "0640"},
            {"ensure": "link", "path": f"{R}/{link}", "to": target},
            {"ensure": "absent", "path": f"{R}/{doomed}"},
        ],
    )
    assert done.changes == ["changed"] * 4
    assert names(root) == {folder, link}
    assert mode_of(root / folder) == 0o750
    assert names(root / folder) == {name}
    assert (root / folder / name).read_bytes() == b"x\n"
    assert mode_of(root / folder / name) == 0o640
    assert os.readlink(os.fsencode(root / link)) == target.encode()


@EXAMPLES
@given(value=HOSTILE)
async def test_hostile_content_arrives_exactly_and_validate_reads_a_variable_safely(
    host: Lab, value: str
) -> None:
    (host.project / "t.j2").write_text("{{ v }}", encoding="utf-8")
    root = host.fresh_root()
    done = await host.run(
        root,
        [
            {
                "ensure": "file",
                "path": f"{R}/through-var",
                "content": "${var:v}",
                # the value reaches the validate command intact, or the write is refused
                "validate": 'test "$(cat %s; echo .)" = "${var:v}."',
            },
            {"ensure": "file", "path": f"{R}/inline", "content": value},
            {"ensure": "file", "path": f"{R}/templated", "template": "t.j2"},
        ],
        v=value,
    )
    assert done.changes == ["changed"] * 3
    for name in ("through-var", "inline", "templated"):
        assert (root / name).read_bytes() == value.encode(), name


@EXAMPLES
# a group separator inside a line (``str.splitlines`` breaks lines there; a host does not)
@example(line="", word="\x1d", text="", mark="")
@example(line="'; x", word="$(id)", text="a\nb", mark='"')
@given(line=ONE_LINE, word=ONE_LINE.filter(bool), text=HOSTILE, mark=ONE_LINE)
async def test_hostile_lines_regexps_blocks_and_markers_edit_exactly(
    host: Lab, line: str, word: str, text: str, mark: str
) -> None:
    root = host.fresh_root()
    marker, other = f"#{mark} {{mark}}", f"//{mark} {{mark}}"
    begin, end = (other.replace("{mark}", m) for m in ("BEGIN", "END"))
    start = {
        "replace": f"keep\nk={word}\n",
        "append": "a\n",
        "remove": f"x\nrm{word}\ny\n",
        "block": "top\n",
        "unblock": f"pre\n{begin}\nold\n{end}\npost\n",
    }
    for name, data in start.items():
        (root / name).write_bytes(data.encode())
    host.give(root)
    done = await host.run(
        root,
        [
            {"ensure": "line", "path": f"{R}/replace", "line": line, "regexp": re.escape(word)},
            {"ensure": "line", "path": f"{R}/append", "line": f"+{line}"},
            {
                "ensure": "line",
                "path": f"{R}/remove",
                "line": "",
                "regexp": re.escape(f"rm{word}"),
                "state": "absent",
            },
            {"ensure": "block", "path": f"{R}/block", "text": text, "marker": marker},
            {"ensure": "block", "path": f"{R}/unblock", "marker": other, "state": "absent"},
        ],
    )
    body = text if not text or text.endswith("\n") else text + "\n"
    wanted = {
        "replace": f"keep\n{line}\n",
        "append": f"a\n+{line}\n",
        "remove": "x\ny\n",
        "block": "top\n" + marker.replace("{mark}", "BEGIN") + f"\n{body}"
        + marker.replace("{mark}", "END") + "\n",
        "unblock": "pre\npost\n",
    }  # fmt: skip
    assert {name: (root / name).read_bytes().decode() for name in start} == wanted
    assert done.changes == ["changed"] * 5


#: a ``home`` or ``shell``: absolute, one field of /etc/passwd (no ':', no line break)
PASSWD_FIELD = HOSTILE.map(
    lambda s: "/" + "".join(c for c in s if c != ":" and unicodedata.category(c)[0] != "C")
).filter(lambda s: not breaks(s))


@EXAMPLES
@example(login="/$(touch x)", home="/'; id #")
@given(login=PASSWD_FIELD, home=PASSWD_FIELD)
async def test_hostile_account_fields_are_taken_literally(host: Lab, login: str, home: str) -> None:
    """A user's shell and home from variables, through sudo: the account holds them exactly."""
    name = f"nxt{os.getpid()}-hostile"
    step = {"ensure": "user", "name": name, "shell": "${var:sh}", "home": "${var:home}"}
    try:
        done = await host.run(host.fresh_root(), [{**step, "sudo": True}], sh=login, home=home)
        entry = pwd.getpwnam(name)
        assert (entry.pw_shell, entry.pw_dir) == (login, home)
        assert done.changes == ["changed"]
    finally:
        remove_user(name)


def remove_user(name: str) -> None:
    subprocess.run(["userdel", name], capture_output=True, check=False)
