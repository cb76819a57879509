"""Desired state: ``ensure`` steps on 50 hosts, Nexus beside pyinfra 3 and Ansible.

The work (``benchmarks/ensure_work.py`` writes it for each tool): on each of 50 hosts of the sshd
lab (``tests.ssh.harness.SshLab``, as in the ssh topic) one directory, 10 Jinja2 templates,
10 sources of 4 KiB and 5 ``key = value`` lines in two files: 26 steps a host, 1,300 in all.
Each tool runs through its real command line, whole process start to end, with its own fake
HOME and no agent, authenticating with the lab's ed25519 key and checking host keys strictly
against the lab's known_hosts:

* Nexus: ``nexus -c nexus.toml --headless run converge --plain -q`` (its recap is read to
  check what the run reports);
* pyinfra 3 (paramiko, its default sftp): ``pyinfra inventory.py deploy.py -y --parallel 50``;
* Ansible (ansible-core 2.19, the newest whose controller runs on Python 3.11; 2.20 needs
  3.12): ``ansible-playbook playbook.yml`` with ``forks = 50``, ``pipelining = True``,
  ``gather_facts: false``, the interpreter given (this machine's /usr/bin/python3, no
  discovery), ``host_key_checking = True``, ``ControlPersist`` on (its default; one
  ControlMaster per host carries every module of a run), compression off (its default ``-C``
  only costs CPU on loopback), the key exchange pinned to curve25519-sha256 as for every
  OpenSSH contender of the ssh topic. The masters are closed between runs, off the clock, so
  that each run opens its connections afresh, as Nexus's and pyinfra's do.

Tried and left out, being no faster here: Ansible's ``strategy = free`` and a coarser
``internal_poll_interval`` (0.05 s), and pyinfra's ``--no-wait``.

Measured: the converging run (every host's files wiped first, off the clock) and the no-change
run right after it. Checked, off the clock, after every run, so that a tool that silently did
nothing cannot score: after converging, every file on every host byte for byte (the templates
rendered by each tool must equal one another) with its mode, and the tool's own report
(pyinfra: all 1,300 operations "Success"; Ansible: ``changed`` on every task of every host;
Nexus: every step ``changed``); after the no-change run, the tool's own report of no change
(pyinfra: "No changes" on every host; Ansible: ``changed=0``; Nexus: every step ``ok``) and
every file and root untouched (inode, size, mode, mtime and ctime as before).

Goals: the no-change run at least 5× faster than pyinfra and 20× faster than Ansible; the
converging run ahead of both. Nexus and pyinfra are measured in turn, median of the profile's
repeats; one Ansible run of each kind takes minutes on this 2-core machine (1,300 module runs,
each a Python process on the "host" and a worker on the controller), so Ansible runs once.

Beside each row's wall time, the note gives the controller's CPU time of each run: the tool's
process and the children it waited for (Ansible's workers and ssh clients; not its detached
ControlMasters), none of the hosts' side. ``--quick`` runs everything once on 10 hosts.

Memory: a source of 1 GiB of random bytes (``--quick``: 100 MiB) to 5 hosts, the peak RSS of
the ``nexus`` process beside the same run with a 1 MiB source: flat memory shows as a ratio
near 1. Skipped, with a note, when the disk has no room for the source and its 5 copies.

The "remote" hosts are this machine: the sshds, every remote shell and Ansible's remote Python
share its two cores with the controller, so per-host work weighs more here than on a fleet.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import (
    Profile,
    Row,
    children_cpu,
    client_env,
    nexus_argv,
    pyinfra_report,
    script,
    version,
)
from benchmarks.ensure_work import (
    DIR_MODE,
    FILE_MODE,
    STEPS,
    Layout,
    converged,
    nexus_toml,
    prepare_roots,
    snapshot,
    write_project,
)
from benchmarks.memory import measure
from tests.ssh.harness import SshHost, SshLab, SshLabUnavailable, processes_matching

N_HOSTS = 50
QUICK_HOSTS = 10  # --quick: every code path once, on fewer hosts
MEMORY_HOSTS = 5
BIG_SOURCE = 2**30
QUICK_BIG_SOURCE = 100 * 2**20
SMALL_SOURCE = 2**20
FLAT_MB = 64.0  # "flat": the big run's peak RSS within this much of the small run's
#: the no-change run: Nexus at least this many times faster than each peer
NO_CHANGE_TARGETS: Mapping[str, float] = {"pyinfra": 5.0, "ansible": 20.0}
ANSIBLE_TASKS = 4  # the playbook's tasks (each loops over its items)
ANSIBLE_RUNS = 1  # of each kind: one takes minutes
MB = 1_000_000
GB = 1_000_000_000


@dataclass(frozen=True)
class Timing:
    """One run: wall seconds, and CPU seconds of the tool's process tree on the controller."""

    wall: float
    cpu: float


@dataclass
class Tool:
    """One contender: its command line and how to read what it reports."""

    name: str  # the roots' folder: "nexus", "pyinfra", "ansible"
    label: str  # as the table shows it
    argv: Sequence[str]
    env: Mapping[str, str]
    report: Callable[[str, bool, int], list[str]]  # (output, converging?, hosts) → problems
    runs: int  # rounds it takes part in
    converge: list[Timing] = field(default_factory=list)
    no_change: list[Timing] = field(default_factory=list)
    error: str | None = None  # why it could not be measured


@dataclass(frozen=True)
class Bench:
    lab: SshLab
    hosts: Sequence[SshHost]
    layout: Layout
    workdir: Path
    control_dir: Path  # Ansible's ControlMasters' sockets

    @property
    def state(self) -> Path:
        return self.workdir / "state"


def run(profile: Profile, workdir: Path) -> list[Row]:
    n_hosts = QUICK_HOSTS if profile.quick else N_HOSTS
    try:
        lab = SshLab.start(workdir / "lab", n_hosts=n_hosts)
    except SshLabUnavailable as problem:
        return [Row("ensure", "not run", None, "s", note=f"no sshd lab here: {problem}")]
    control_dir = Path(tempfile.mkdtemp(prefix="nxb-", dir="/tmp"))  # short: a socket path
    workdir.chmod(0o711)  # the hosts' login user reaches its roots under it
    try:
        with lab:
            bench = Bench(
                lab,
                lab.hosts,
                Layout(workdir / "project", workdir / "hosts"),
                workdir,
                control_dir,
            )
            write_project(bench.layout, lab, bench.hosts, control_dir)
            prepare_roots(bench.layout, lab)
            tools = _tools(bench, profile)
            rows = _converge_rows(bench, tools, profile)
            nexus = tools[0]
            return rows + _memory_rows(bench, profile, nexus.error)
    finally:
        _stop_masters(control_dir)
        shutil.rmtree(control_dir, ignore_errors=True)


# --- the contenders -----------------------------------------------------------------------------


def _tools(bench: Bench, profile: Profile) -> list[Tool]:
    project = bench.layout.project
    n = len(bench.hosts)

    def env(tool: str, **extra: str) -> dict[str, str]:
        home = bench.workdir / f"home-{tool}"
        home.mkdir(exist_ok=True)
        if tool == "nexus":
            bench.lab.make_home(home)
        return client_env(home, bench.state) | extra

    repeats = max(profile.repeats, 1)
    nexus = [*nexus_argv(), "-c", str(project / "nexus.toml"), "--headless", "run", "converge"]
    tools = [
        Tool(
            "nexus",
            "Nexus",
            [*nexus, "--plain", "-q"],
            env("nexus"),
            _nexus_report,
            repeats,
        ),
        Tool(
            "pyinfra",
            f"pyinfra {version('pyinfra')}",
            [script("pyinfra"), "inventory.py", "deploy.py", "-y", "--parallel", str(n)],
            env("pyinfra"),
            functools.partial(pyinfra_report, steps=STEPS),
            repeats,
        ),
        Tool(
            "ansible",
            f"Ansible (ansible-core {version('ansible-core')})",
            [script("ansible-playbook"), "playbook.yml"],
            env("ansible", ANSIBLE_CONFIG=str(project / "ansible.cfg")),
            _ansible_report,
            min(repeats, ANSIBLE_RUNS),
        ),
    ]
    for tool in tools:
        if not Path(tool.argv[0]).exists():
            tool.error = f"{Path(tool.argv[0]).name} not installed: pip install -e '.[bench]'"
    return tools


_NEXUS_STEPS = re.compile(r"^steps: (\d+) ok, (\d+) changed, (\d+) failed", re.MULTILINE)
_NEXUS_UNIT = re.compile(r"^converge\s+(\S+)\s+\S+ succeeded\s", re.MULTILINE)


def _nexus_report(
    output: str,
    converging: bool,
    hosts: int,
    *,
    steps: int = STEPS,
    unit: re.Pattern[str] = _NEXUS_UNIT,
) -> list[str]:
    """The ``-q`` recap: a succeeded row per host (``unit`` finds them), and the step counts
    of ``steps`` per host: every step changed (converging) or none (no change)."""
    found = _NEXUS_STEPS.search(output)
    if found is None:
        return [f"Nexus printed no step counts: {output[-300:]!r}"]
    ok, changed, failed = (int(n) for n in found.groups())
    want = steps * hosts
    problems = []
    if (ok, changed, failed) != ((0, want, 0) if converging else (want, 0, 0)):
        problems.append(f"Nexus: {ok} ok, {changed} changed, {failed} failed of {want} steps")
    if (succeeded := len(unit.findall(output))) != hosts:
        problems.append(f"Nexus: {succeeded} of {hosts} hosts succeeded")
    return problems


_RECAP = re.compile(
    r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE
)


def _ansible_report(output: str, converging: bool, hosts: int) -> list[str]:
    """The play recap: every host, ``changed`` on every task (converging) or none."""
    recap = _RECAP.findall(output)
    problems = [] if len(recap) == hosts else [f"Ansible: a recap of {len(recap)} hosts"]
    want = ANSIBLE_TASKS if converging else 0
    for host, ok, changed, unreachable, failed in recap:
        if (int(ok), int(changed), int(unreachable), int(failed)) != (ANSIBLE_TASKS, want, 0, 0):
            problems.append(
                f"Ansible: {host} ok={ok} changed={changed} unreachable={unreachable} "
                f"failed={failed} (want ok={ANSIBLE_TASKS} changed={want})"
            )
    return problems


# --- converging and no-change runs --------------------------------------------------------------


def _rounds(
    bench: Bench,
    tools: Sequence[Tool],
    topic: str,
    one_round: Callable[[Bench, Tool], None],
) -> None:
    """Every tool's rounds (``one_round`` runs and checks one), in turn (Nexus, pyinfra,
    Nexus, …), so a change in the machine's load falls on all of them alike; a tool that
    fails keeps its error and runs no more."""
    for i in range(max(tool.runs for tool in tools)):
        for tool in tools:
            if tool.error is None and i < tool.runs:
                print(f"  {topic}: {tool.label}, round {i + 1}", file=sys.stderr, flush=True)
                try:
                    one_round(bench, tool)
                except RuntimeError as problem:
                    tool.error = str(problem)


def _converge_rows(bench: Bench, tools: Sequence[Tool], profile: Profile) -> list[Row]:
    _rounds(bench, tools, "ensure", _round)
    nexus, peers = tools[0], tools[1:]
    n = len(bench.hosts)
    rows = []
    for kind in ("converge", "no change"):
        for peer in peers:
            ours, theirs = _median(nexus, kind), _median(peer, kind)
            rows.append(
                Row(
                    "ensure",
                    f"{kind} {n} hosts",
                    ours,
                    "s",
                    theirs,
                    peer.label,
                    _stat(nexus, peer),
                    note=_target(
                        kind, nexus=nexus, peer=peer, ours=ours, theirs=theirs, profile=profile
                    ),
                )
            )
    return rows


def _round(bench: Bench, tool: Tool) -> None:
    """One converging run after a wipe, then one no-change run; each checked off the clock."""
    for host in bench.hosts:
        shutil.rmtree(bench.layout.root(tool.name, host), ignore_errors=True)
    timing, output = _timed_run(bench, tool)
    _require(
        tool.report(output, True, len(bench.hosts))
        + converged(bench.layout, bench.lab, tool.name, bench.hosts),
        f"{tool.label}, converging run",
    )
    tool.converge.append(timing)
    before = snapshot(bench.layout, tool.name, bench.hosts)
    timing, output = _timed_run(bench, tool)
    after = snapshot(bench.layout, tool.name, bench.hosts)
    touched = [f"{path}: touched" for path, info in before.items() if after.get(path) != info]
    _require(tool.report(output, False, len(bench.hosts)) + touched, f"{tool.label}, no-change run")
    tool.no_change.append(timing)


def _timed_run(bench: Bench, tool: Tool) -> tuple[Timing, str]:
    """The whole process's wall time and CPU time (its own and its children's: Ansible's
    workers and ssh clients), and its output; a failed run raises. Afterwards, off the clock:
    Ansible's ControlMasters closed, Nexus's journal dropped."""
    cpu = children_cpu()
    started = time.perf_counter()
    done = subprocess.run(
        tool.argv,
        cwd=bench.layout.project,
        env=dict(tool.env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    timing = Timing(time.perf_counter() - started, children_cpu() - cpu)
    _stop_masters(bench.control_dir)
    shutil.rmtree(bench.state, ignore_errors=True)
    if done.returncode != 0:
        output = (done.stderr.strip() or done.stdout.strip())[-600:]
        raise RuntimeError(f"{tool.label} exited {done.returncode}: {output}")
    return timing, done.stdout + done.stderr  # pyinfra reports on stderr


def _require(problems: Sequence[str], what: str) -> None:
    if problems:
        shown = "; ".join(problems[:3])
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise RuntimeError(f"{what}: {shown}{more}")


def _stop_masters(control_dir: Path) -> None:
    """Close Ansible's ControlMasters: ours, by the socket directory on their command line."""
    deadline = time.monotonic() + 5
    sig = signal.SIGTERM
    while left := processes_matching(str(control_dir)):
        if time.monotonic() > deadline:
            sig = signal.SIGKILL
        for pid, _ in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        time.sleep(0.02)


def _median(tool: Tool, kind: str, *, cpu: bool = False) -> float | None:
    timings = tool.converge if kind == "converge" else tool.no_change
    if not timings or tool.error is not None:
        return None
    return statistics.median(t.cpu if cpu else t.wall for t in timings)


def _stat(nexus: Tool, peer: Tool) -> str:
    if nexus.runs == peer.runs:
        return f"median of {nexus.runs}"
    return f"Nexus median of {nexus.runs}, peer {peer.runs} run"


def _target(
    kind: str,
    *,
    nexus: Tool,
    peer: Tool,
    ours: float | None,
    theirs: float | None,
    profile: Profile,
) -> str:
    parts = []
    if nexus.error is not None:
        parts.append(f"Nexus not measured: {nexus.error}")
    if peer.error is not None:
        parts.append(f"{peer.label} not measured: {peer.error}")
    if ours is not None and theirs is not None:
        if kind == "converge":
            verdict = "met" if ours < theirs else "NOT met"
            parts.append(f"target: ahead of {peer.name}: {verdict}")
        else:
            factor = NO_CHANGE_TARGETS[peer.name]
            verdict = "met" if ours * factor <= theirs else "NOT met"
            parts.append(
                f"{theirs / ours:.1f}× faster; target ≥ {factor:g}× faster than {peer.name}: "
                f"{verdict}"
            )
    elif theirs is not None:
        parts.append(f"{peer.name} checked: {'converged' if kind == 'converge' else 'no change'}")
    cpu = [(t.label, _median(t, kind, cpu=True)) for t in (nexus, peer)]
    if any(seconds is not None for _, seconds in cpu):
        shown = ", ".join(f"{label} {seconds:.1f} s" for label, seconds in cpu if seconds)
        parts.append(f"controller CPU: {shown}")
    if profile.quick and parts:
        parts.append(f"--quick: {QUICK_HOSTS} hosts, not {N_HOSTS}")
    return "; ".join(parts)


# --- memory: one big source to 5 hosts ----------------------------------------------------------


def _memory_rows(bench: Bench, profile: Profile, nexus_error: str | None) -> list[Row]:
    size = QUICK_BIG_SOURCE if profile.quick else BIG_SOURCE
    hosts = bench.hosts[:MEMORY_HOSTS]
    workload = f"peak RSS, a {_size(size)} source → {len(hosts)} hosts"
    needed = size * (len(hosts) + 1)  # the source and its copies, all on this one disk
    free = shutil.disk_usage(bench.workdir).free
    if nexus_error is not None:
        note = "not run: Nexus failed the runs above"
    elif free < needed:
        note = f"not run: {free / GB:.1f} GB free here, it needs {needed / GB:.1f} GB"
    else:
        note = ""
    if note:
        return [Row("ensure", workload, None, "MB", note=note, ratio=False)]

    folder = bench.layout.project / "memory"
    folder.mkdir(exist_ok=True)
    samples = []
    for label, length in (("small", SMALL_SOURCE), ("big", size)):
        source = folder / f"{label}.bin"
        _random_file(source, length)
        tool = f"memory-{label}"
        config = _memory_config(bench, hosts, tool, source)
        home = bench.workdir / "home-nexus"
        argv = [*nexus_argv(), "-c", str(config), "--headless", "run", "converge"]
        samples.append(measure([*argv, "--plain", "-q"], client_env(home, bench.state)))
        shutil.rmtree(bench.state, ignore_errors=True)
        wrong = _copies_wrong(bench, hosts, tool, source)
        for host in hosts:
            shutil.rmtree(bench.layout.root(tool, host), ignore_errors=True)
        source.unlink()
        if wrong:
            return [Row("ensure", workload, None, "MB", note=f"not measured: {wrong}", ratio=False)]
    small, big = samples
    growth = big.peak - small.peak
    sent = size * len(hosts)
    verdict = "met" if growth <= FLAT_MB else "NOT met"
    return [
        Row(
            "ensure",
            f"peak RSS, a {_size(SMALL_SOURCE)} source → {len(hosts)} hosts",
            small.peak,
            "MB",
            stat="1 run",
            note="the base for the row below",
            ratio=False,
        ),
        Row(
            "ensure",
            workload,
            big.peak,
            "MB",
            stat="1 run",
            note=f"{growth:+.1f} MB over the {_size(SMALL_SOURCE)} run "
            f"(×{big.peak / small.peak:.2f}; flat, within {FLAT_MB:g} MB: {verdict}); "
            f"{sent / MB / big.wall:.0f} MB/s, {big.wall:.1f} s",
            ratio=False,
        ),
    ]


def _memory_config(bench: Bench, hosts: Sequence[SshHost], tool: str, source: Path) -> Path:
    layout = bench.layout
    (layout.base / tool).mkdir(exist_ok=True)
    shutil.chown(layout.base / tool, bench.lab.key_user, bench.lab.key_user)
    roots = {h.name: layout.root(tool, h) for h in hosts}
    relative = source.relative_to(layout.project).as_posix()
    steps = [
        f'{{ ensure = "dir", path = "${{var:root}}", mode = "{DIR_MODE:04o}" }}',
        f'{{ ensure = "file", path = "${{var:root}}/{source.name}", source = "{relative}", '
        f'mode = "{FILE_MODE:04o}" }}',
    ]
    config = layout.project / f"nexus-{tool}.toml"
    config.write_text(nexus_toml(bench.lab, hosts, roots, steps, {}), encoding="utf-8")
    return config


def _random_file(path: Path, size: int) -> None:
    chunk = 16 * 2**20
    with path.open("wb") as out:
        for start in range(0, size, chunk):
            out.write(os.urandom(min(chunk, size - start)))


def _copies_wrong(bench: Bench, hosts: Sequence[SshHost], tool: str, source: Path) -> str:
    with source.open("rb") as original:
        want = hashlib.file_digest(original, "sha256").hexdigest()
    for host in hosts:
        copy = bench.layout.root(tool, host) / source.name
        if not copy.is_file():
            return f"{copy}: missing"
        with copy.open("rb") as sent:
            if hashlib.file_digest(sent, "sha256").hexdigest() != want:
                return f"{copy}: not the source's bytes"
    return ""


def _size(size: int) -> str:
    return f"{size / 2**30:g} GiB" if size >= 2**30 else f"{size / 2**20:g} MiB"
