"""The desired state the ``ensure`` topic converges, written once for each tool, and its checks.

One host's share: a directory (its ``root``), 10 Jinja2 templates of a few hundred bytes
rendered into it (each uses 2-3 variables and one of the host's name, address or login),
10 sources of 4 KiB random bytes (fixed seed) copied into it, and 5 ``key = value`` lines
kept in two files that the line steps create. 26 steps a host:

* Nexus: ``ensure = "dir" | "file" | "line"`` steps in a ``nexus.toml``, paths through the
  per-host variable ``${var:root}``;
* pyinfra 3: ``files.directory``, ``files.template``, ``files.put``, ``files.line`` in a
  ``deploy.py``, ``root`` in each host's inventory data;
* Ansible: ``file``, ``template``, ``copy``, ``lineinfile`` (``create: true``) in a playbook,
  ``root`` a host variable, each kind of step one task looping over its items.

Each host of the lab is this machine, so each writes under its own root,
``<base>/<tool>/<host name>``; the roots belong to the lab's login user, as on a real fleet.
The templates differ between tools only in how they name the host's own fields (Nexus's
``host.name``, pyinfra's ``host.name``, Ansible's ``inventory_hostname``): every tool must
render the very same bytes, which :func:`converged` checks file by file.
"""

from __future__ import annotations

import json
import os
import pwd
import random
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import pyinfra_login, toml_string
from benchmarks.ssh import OPENSSH_KEX
from tests.ssh.harness import SshHost, SshLab

TOOLS = ("nexus", "pyinfra", "ansible")
TEMPLATES = 10
SOURCES = 10
SOURCE_BYTES = 4096
SEED = 20_250_601
#: the line files and the keys each holds: 5 line steps in 2 files
LINE_FILES: Mapping[str, Sequence[int]] = {"lines-a.conf": (1, 2, 3), "lines-b.conf": (4, 5)}
STEPS = 1 + TEMPLATES + SOURCES + sum(len(keys) for keys in LINE_FILES.values())
VARS: Mapping[str, str] = {
    "greeting": "hello",
    "service": "nexus-bench",
    "workers": "4",
    "region": "lab-1",
    "owner": "ops",
}
DIR_MODE = 0o755
FILE_MODE = 0o644
#: how each tool's templates name the host's own fields
HOST_FIELDS: Mapping[str, Mapping[str, str]] = {
    "nexus": {"name": "host.name", "hostname": "host.hostname", "user": "host.user"},
    "pyinfra": {
        "name": "host.name",
        "hostname": "host.data.ssh_hostname",
        "user": "host.data.ssh_user",
    },
    "ansible": {"name": "inventory_hostname", "hostname": "ansible_host", "user": "ansible_user"},
}
#: Ansible's interpreter on the "remote" hosts (this machine's, see the topic's docstring)
REMOTE_PYTHON = "/usr/bin/python3"


def template_name(i: int) -> str:
    return f"t{i:02d}.conf"


def source_name(i: int) -> str:
    return f"s{i:02d}.bin"


def line_of(key: int) -> tuple[str, str]:
    """(the line, the regexp that finds the line to replace)."""
    return f"key{key:02d} = {key}", f"^key{key:02d} ="


def template_text(i: int, tool: str) -> str:
    """Template ``i`` (1-based) as ``tool`` spells it: 2-3 variables, one host field."""
    names = list(VARS)
    used = [names[(i + k) % len(names)] for k in range(2 + i % 2)]
    field = ("name", "hostname", "user")[i % 3]
    lines = [
        f"# {template_name(i)}: written by the Nexus ensure benchmark; do not edit",
        f"[section-{i:02d}]",
        *(f"{name} = {{{{ {name} }}}}" for name in used),
        f"{field} = {{{{ {HOST_FIELDS[tool][field]} }}}}",
        "",
        "# Filler, so that the rendered file is a few hundred bytes like a real one:",
        *(f"# option-{i:02d}-{k} is left at its default" for k in range(1, 6)),
        f"limit_{i:02d} = {i * 64}",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Layout:
    """Where everything is: the generated project, the per-host roots on the "hosts"."""

    project: Path  # the tools' files, sources and templates
    base: Path  # the hosts' roots are <base>/<tool>/<host name>

    def root(self, tool: str, host: SshHost) -> Path:
        return self.base / tool / host.name

    def sources(self) -> Path:
        return self.project / "files"

    def templates(self, tool: str) -> Path:
        return self.project / f"templates-{tool}"


def write_project(layout: Layout, lab: SshLab, hosts: Sequence[SshHost], control_dir: Path) -> None:
    """Sources, templates and each tool's configuration for ``hosts``."""
    rng = random.Random(SEED)
    layout.sources().mkdir(parents=True, exist_ok=True)
    for i in range(1, SOURCES + 1):
        (layout.sources() / source_name(i)).write_bytes(rng.randbytes(SOURCE_BYTES))
    for tool in TOOLS:
        folder = layout.templates(tool)
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(1, TEMPLATES + 1):
            (folder / f"{template_name(i)}.j2").write_text(template_text(i, tool))
    write_nexus(layout, lab, hosts, layout.project / "nexus.toml")
    write_pyinfra(layout, lab, hosts)
    write_ansible(layout, lab, hosts, control_dir)


# --- Nexus --------------------------------------------------------------------------------------


def nexus_steps(templates: str, sources: str) -> list[str]:
    """The task's steps as TOML inline tables; paths of templates and sources relative to the
    nexus.toml, targets under the host's ``${var:root}``."""
    steps = [f'{{ ensure = "dir", path = "${{var:root}}", mode = "{DIR_MODE:04o}" }}']
    for i in range(1, TEMPLATES + 1):
        steps.append(
            f'{{ ensure = "file", path = "${{var:root}}/{template_name(i)}", '
            f'template = "{templates}/{template_name(i)}.j2", mode = "{FILE_MODE:04o}" }}'
        )
    for i in range(1, SOURCES + 1):
        steps.append(
            f'{{ ensure = "file", path = "${{var:root}}/{source_name(i)}", '
            f'source = "{sources}/{source_name(i)}", mode = "{FILE_MODE:04o}" }}'
        )
    for name, keys in LINE_FILES.items():
        for key in keys:
            line, regexp = line_of(key)
            steps.append(
                f'{{ ensure = "line", path = "${{var:root}}/{name}", line = "{line}", '
                f'regexp = "{regexp}" }}'
            )
    return steps


def nexus_toml(
    lab: SshLab,
    hosts: Sequence[SshHost],
    roots: Mapping[str, Path],
    steps: Sequence[str],
    settings_vars: Mapping[str, str],
) -> str:
    """A nexus.toml: ``hosts`` in group ``fleet``, each with ``vars.root``, task ``converge``."""
    lines = ["[settings]", f"parallel_limit = {len(hosts)}", 'known_hosts = "strict"', ""]
    if settings_vars:
        lines.append("[settings.vars]")
        lines += [f"{name} = {toml_string(value)}" for name, value in settings_vars.items()]
        lines.append("")
    lines.append("[hosts]")
    lines += [
        f"{h.name} = {{ hostname = {toml_string(h.address)}, port = {h.port}, "
        f"user = {toml_string(lab.key_user)}, "
        f"vars = {{ root = {toml_string(str(roots[h.name]))} }} }}"
        for h in hosts
    ]
    names = ", ".join(toml_string(h.name) for h in hosts)
    lines += ["", "[groups]", f"fleet = [{names}]", ""]
    lines += ["[tasks.converge]", 'on = "fleet"', "commands = ["]
    lines += [f"  {step}," for step in steps]
    lines += ["]", ""]
    return "\n".join(lines)


def write_nexus(layout: Layout, lab: SshLab, hosts: Sequence[SshHost], path: Path) -> None:
    roots = {h.name: layout.root("nexus", h) for h in hosts}
    templates = layout.templates("nexus").relative_to(path.parent)
    sources = layout.sources().relative_to(path.parent)
    steps = nexus_steps(templates.as_posix(), sources.as_posix())
    path.write_text(nexus_toml(lab, hosts, roots, steps, VARS), encoding="utf-8")


# --- pyinfra ------------------------------------------------------------------------------------

PYINFRA_DEPLOY = '''\
"""The ensure benchmark's desired state (generated; see benchmarks/ensure_work.py)."""

from pyinfra import host
from pyinfra.operations import files

VARS = {vars!r}
TEMPLATES = {templates!r}
SOURCES = {sources!r}
LINES = {lines!r}
root = host.data.root

files.directory(name="root", path=root, mode={dir_mode})
for name in TEMPLATES:
    files.template(
        name=name,
        src="{template_dir}/" + name + ".j2",
        dest=root + "/" + name,
        mode={file_mode},
        **VARS,
    )
for name in SOURCES:
    files.put(name=name, src="{source_dir}/" + name, dest=root + "/" + name, mode={file_mode})
for name, line, regexp in LINES:
    files.line(name=name + ": " + line, path=root + "/" + name, line=regexp, replace=line)
'''


def write_pyinfra(layout: Layout, lab: SshLab, hosts: Sequence[SshHost]) -> None:
    fleet = [
        (
            h.name,
            {
                **pyinfra_login(lab, h),
                "root": str(layout.root("pyinfra", h)),
            },
        )
        for h in hosts
    ]
    inventory = f'"""Generated by benchmarks/ensure_work.py."""\n\nfleet = {fleet!r}\n'
    (layout.project / "inventory.py").write_text(inventory, encoding="utf-8")
    deploy = PYINFRA_DEPLOY.format(
        vars=dict(VARS),
        templates=[template_name(i) for i in range(1, TEMPLATES + 1)],
        sources=[source_name(i) for i in range(1, SOURCES + 1)],
        lines=[(name, *line_of(key)) for name, keys in LINE_FILES.items() for key in keys],
        template_dir=layout.templates("pyinfra").name,
        source_dir=layout.sources().name,
        dir_mode=f"{DIR_MODE:o}",  # pyinfra: the octal digits as an int
        file_mode=f"{FILE_MODE:o}",
    )
    (layout.project / "deploy.py").write_text(deploy, encoding="utf-8")


# --- Ansible ------------------------------------------------------------------------------------


def ansible_ssh_args(lab: SshLab) -> str:
    """The client's options: no user config, the lab's key and known_hosts, strict checking;
    a ControlMaster per host for the length of one run; the key exchange pinned as for every
    OpenSSH contender (see benchmarks/ssh.py); no compression (-C, Ansible's default, only
    costs CPU on loopback)."""
    options = [
        "ControlMaster=auto",
        "ControlPersist=60s",
        f"KexAlgorithms={OPENSSH_KEX}",
        "IdentitiesOnly=yes",
        "IdentityAgent=none",
        f"UserKnownHostsFile={lab.known_hosts}",
        "GlobalKnownHostsFile=/dev/null",
        "StrictHostKeyChecking=yes",
        "BatchMode=yes",
    ]
    return "-F /dev/null " + " ".join(f"-o {option}" for option in options)


def write_ansible(layout: Layout, lab: SshLab, hosts: Sequence[SshHost], control_dir: Path) -> None:
    project = layout.project
    inventory = {
        "fleet": {
            "vars": {
                **VARS,
                "ansible_user": lab.key_user,
                "ansible_ssh_private_key_file": str(lab.keys["ed25519"]),
                "ansible_python_interpreter": REMOTE_PYTHON,
            },
            "hosts": {
                h.name: {
                    "ansible_host": h.address,
                    "ansible_port": h.port,
                    "root": str(layout.root("ansible", h)),
                }
                for h in hosts
            },
        }
    }
    (project / "inventory.json").write_text(json.dumps(inventory, indent=1), encoding="utf-8")
    templates = layout.templates("ansible").name
    sources = layout.sources().name
    tasks = [
        {
            "name": "root",
            "ansible.builtin.file": {
                "path": "{{ root }}",
                "state": "directory",
                "mode": f"{DIR_MODE:04o}",
            },
        },
        {
            "name": "templates",
            "ansible.builtin.template": {
                "src": f"{templates}/{{{{ item }}}}.j2",
                "dest": "{{ root }}/{{ item }}",
                "mode": f"{FILE_MODE:04o}",
            },
            "loop": [template_name(i) for i in range(1, TEMPLATES + 1)],
        },
        {
            "name": "sources",
            "ansible.builtin.copy": {
                "src": f"{sources}/{{{{ item }}}}",
                "dest": "{{ root }}/{{ item }}",
                "mode": f"{FILE_MODE:04o}",
            },
            "loop": [source_name(i) for i in range(1, SOURCES + 1)],
        },
        {
            "name": "lines",
            "ansible.builtin.lineinfile": {
                "path": "{{ root }}/{{ item.file }}",
                "line": "{{ item.line }}",
                "regexp": "{{ item.regexp }}",
                "create": True,
            },
            "loop": [
                {"file": name, "line": line_of(key)[0], "regexp": line_of(key)[1]}
                for name, keys in LINE_FILES.items()
                for key in keys
            ],
        },
    ]
    play = [{"name": "converge", "hosts": "fleet", "gather_facts": False, "tasks": tasks}]
    (project / "playbook.yml").write_text(json.dumps(play, indent=1), encoding="utf-8")
    config = [
        "[defaults]",
        "inventory = inventory.json",
        f"forks = {len(hosts)}",
        "host_key_checking = True",
        "gathering = explicit",
        f"interpreter_python = {REMOTE_PYTHON}",
        "retry_files_enabled = False",
        "nocows = True",
        f"local_tmp = {project / 'ansible-tmp'}",
        "",
        "[ssh_connection]",
        "pipelining = True",
        f"ssh_args = {ansible_ssh_args(lab)}",
        f"control_path_dir = {control_dir}",
        "",
    ]
    (project / "ansible.cfg").write_text("\n".join(config), encoding="utf-8")


# --- checks -------------------------------------------------------------------------------------


def expected_files(lab: SshLab, host: SshHost) -> dict[str, bytes]:
    """Every file one host's root must hold after a converging run, name → bytes."""
    import jinja2  # noqa: PLC0415 - with the peers (pyinfra needs it), not the benchmarks

    # config files, not HTML: no escaping, as in every tool measured
    env = jinja2.Environment(
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701
    )
    fields = {"name": host.name, "hostname": host.address, "user": lab.key_user}
    files = {
        template_name(i): env.from_string(template_text(i, "nexus"))
        .render({**VARS, "host": fields})
        .encode()
        for i in range(1, TEMPLATES + 1)
    }
    rng = random.Random(SEED)
    files |= {source_name(i): rng.randbytes(SOURCE_BYTES) for i in range(1, SOURCES + 1)}
    for name, keys in LINE_FILES.items():
        files[name] = "".join(line_of(key)[0] + "\n" for key in keys).encode()
    return files


def converged(layout: Layout, lab: SshLab, tool: str, hosts: Sequence[SshHost]) -> list[str]:
    """What is wrong with ``tool``'s result on ``hosts`` (empty: every file as it must be)."""
    problems: list[str] = []
    for host in hosts:
        root = layout.root(tool, host)
        if not root.is_dir():
            problems.append(f"{root}: no directory")
            continue
        if stat.S_IMODE(root.stat().st_mode) != DIR_MODE:
            problems.append(f"{root}: mode {stat.S_IMODE(root.stat().st_mode):04o}")
        wanted = expected_files(lab, host)
        extra = {p.name for p in root.iterdir()} - set(wanted)
        problems += [f"{root / name}: not expected" for name in sorted(extra)]
        for name, content in wanted.items():
            path = root / name
            if not path.is_file():
                problems.append(f"{path}: missing")
            elif path.read_bytes() != content:
                problems.append(f"{path}: wrong content")
            elif name not in LINE_FILES and stat.S_IMODE(path.stat().st_mode) != FILE_MODE:
                problems.append(f"{path}: mode {stat.S_IMODE(path.stat().st_mode):04o}")
    return problems


def snapshot(layout: Layout, tool: str, hosts: Sequence[SshHost]) -> dict[str, tuple[int, ...]]:
    """Inode, size, mode and times of every file and root: a no-change run must leave them all
    as they were (a rewrite with the same bytes would still show)."""
    found: dict[str, tuple[int, ...]] = {}
    for host in hosts:
        root = layout.root(tool, host)
        for path in (root, *sorted(root.iterdir())):
            info = path.stat()
            found[str(path)] = (
                info.st_ino,
                info.st_size,
                info.st_mode,
                info.st_mtime_ns,
                info.st_ctime_ns,
            )
    return found


def prepare_roots(layout: Layout, lab: SshLab) -> None:
    """``<base>/<tool>`` for each tool, owned by the login user; ``base`` searchable by it."""
    layout.base.mkdir(parents=True, exist_ok=True)
    layout.base.chmod(0o755)
    owner = lab.key_user
    for tool in TOOLS:
        folder = layout.base / tool
        folder.mkdir(exist_ok=True)
        os.chown(folder, *_ids(owner))


def _ids(user: str) -> tuple[int, int]:
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid
