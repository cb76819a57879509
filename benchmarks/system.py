"""System state: a user, a package, a service and a cron entry on 50 hosts, Nexus beside pyinfra.

On each host of the sshd lab (``tests.ssh.harness.SshLab``, as in the ensure topic) 4 steps,
each host with names of its own (the hosts are all this machine, so they must not collide;
Nexus's names start ``nxn-``, pyinfra's ``nxp-``, then the host's name). pyinfra: one deploy,
the name from each host's inventory data. Nexus: one task a host (``converge-h1`` on ``h1``,
its names written out), all run by one ``nexus run converge-h1 … converge-hN``, because a
step's ``user`` (whom the cron step runs as) takes no ``${var:…}`` (it goes to sudo as
written); the other steps could share one task on the fleet:

* a user ``nxn-h1`` (Nexus ``ensure = "user"``; pyinfra ``server.user``), no home;
* a package ``nxt-pkg-nxn-h1`` (``ensure = "package"``; ``apt.packages``): a small ``.deb``
  built here into the private ``file:`` apt repository of ``tests.ops.debs``, whose apt.conf
  drop-in (removed afterwards) points apt at it alone;
* a service ``nxn-h1.service`` started and enabled (``ensure = "service"``;
  ``systemd.service``), against the stand-in ``systemctl`` of the service tests
  (``tests/ops/fake_systemctl.sh``: systemd is not PID 1 in this container), installed at
  /usr/local/sbin/systemctl for the run and removed after, its units made (inactive, disabled)
  before each converging run. The stand-in knows no ``show``, which pyinfra's facts ask, so a
  wrapper answers ``show`` from the stand-in's own files and hands every other verb to it;
* a cron entry named ``nxn-h1``, ``7 * * * * true`` (``ensure = "cron"``; ``server.crontab``)
  in the crontab of the host's new user, not the login user's: the 50 "hosts" share one login
  user, and 50 concurrent read-edit-write cycles of one crontab lose entries, whatever the tool.

Every step runs through ``sudo`` (Nexus ``sudo = true``; pyinfra ``--sudo``); the cron step as
the host's user (Nexus ``user``; pyinfra ``user=``, which runs ``crontab -u``).

Both tools run through their real command line as in the ensure topic. Measured: the converging
run (each tool's users, crontabs, packages and units reset first, off the clock) and the
no-change run right after it. Checked after each run, off the clock: the tool's own report
(every step changed, then none), and the machine: every user exists, every package is
installed, every unit is active and enabled, every crontab holds its entry exactly once; after
the no-change run, /etc/passwd, /etc/group, /etc/shadow, dpkg's status file and every crontab
untouched (inode, mtime, ctime), and the stand-in given no command but its questions.

All hosts share one dpkg database: dpkg takes its lock for each install, so the 50 installs of a
converging run are serialised (an apt.conf ``DPkg::Lock::Timeout`` makes apt-get wait for the
lock rather than fail, for both tools alike), and the converging run measures mostly dpkg.
``--quick`` runs once on 10 hosts; ``--hosts N`` sets the hosts (1..the lab's limit).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import pwd
import re
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

from benchmarks.common import (
    Profile,
    Row,
    client_env,
    nexus_argv,
    pyinfra_login,
    pyinfra_report,
    script,
    toml_string,
    version,
)
from benchmarks.ensure import (
    Bench,
    Tool,
    _median,
    _nexus_report,
    _require,
    _rounds,
    _stat,
    _timed_run,
)
from benchmarks.ensure_work import Layout
from tests.ops.debs import DROP_IN, PREFIX, Repository, installed, private_apt
from tests.ssh.harness import MAX_HOSTS, SshHost, SshLab, SshLabUnavailable

N_HOSTS = 50
QUICK_HOSTS = 10
MAX_REPEATS = 3  # each converging run installs N packages one after another
STEPS = 4
TASK = "converge"  # Nexus: one task a host, converge-<host>
PREFIXES = {"nexus": "nxn", "pyinfra": "nxp"}
MINUTE = "7"
JOB = "true"
#: the stand-in (see tests/ops/test_service.py, whose lock and paths these are)
FAKE = Path(__file__).resolve().parent.parent / "tests" / "ops" / "fake_systemctl.sh"
INSTALLED = Path("/usr/local/sbin/systemctl")
STAND_IN_STATE = Path("/var/tmp/nexus-fake-systemd")  # noqa: S108 - the stand-in names it
STAND_IN_LOCK = Path("/tmp/nexus-fake-systemctl.lock")  # noqa: S108 - the service tests' lock
STAND_IN = STAND_IN_STATE / "fake_systemctl.sh"
CRONTABS = Path("/var/spool/cron/crontabs")
WATCHED = ("/etc/passwd", "/etc/group", "/etc/shadow", "/var/lib/dpkg/status")
#: apt-get waits this long for dpkg's lock instead of failing at once
LOCK_TIMEOUT = 600

#: ``systemctl show`` (pyinfra's facts) answered from the stand-in's files; the rest to it
SHOW_WRAPPER = f"""#!/bin/sh
# Written by benchmarks/system.py for one benchmark run; removed after it.
[ "${{1-}}" = show ] || exec {STAND_IN} "$@"
shift
first=1
for arg; do
    case $arg in
    --all | --property | Id | SubState | UnitFileState) continue ;;
    *.*) unit=$arg ;;
    *) unit=$arg.service ;;
    esac
    [ $first = 1 ] || echo
    first=0
    dir={STAND_IN_STATE}/units/$unit
    echo "Id=$unit"
    if [ -d "$dir" ] && [ "$(cat "$dir/active")" = active ]; then
        echo SubState=running
    else
        echo SubState=dead
    fi
    if [ -d "$dir" ]; then echo "UnitFileState=$(cat "$dir/enabled")"; else echo UnitFileState=; fi
done
"""

PYINFRA_DEPLOY = '''\
"""The system benchmark's desired state (generated; see benchmarks/system.py)."""

from pyinfra import host
from pyinfra.operations import apt, server, systemd

who = host.data.who
server.user(name="user", user=who, ensure_home=False)
apt.packages(name="package", packages=["{prefix}" + who])
systemd.service(name="service", service=who + ".service", running=True, enabled=True)
server.crontab(
    name="cron", command="{job}", user=who, cron_name=who, minute="{minute}"
)
'''


def run(profile: Profile, workdir: Path) -> list[Row]:
    n_hosts = profile.hosts or (QUICK_HOSTS if profile.quick else N_HOSTS)
    if not 1 <= n_hosts <= MAX_HOSTS:
        return [Row("system", "not run", None, "s", note=f"hosts: 1..{MAX_HOSTS}, not {n_hosts}")]
    try:
        lab = SshLab.start(workdir / "lab", n_hosts=n_hosts)
    except SshLabUnavailable as problem:
        return [Row("system", "not run", None, "s", note=f"no sshd lab here: {problem}")]
    workdir.chmod(0o711)
    control_dir = workdir / "control"  # unused: no Ansible here
    control_dir.mkdir()
    with lab, _stand_in(), _apt(workdir / "apt", lab.hosts) as repo:
        try:
            bench = Bench(
                lab, lab.hosts, Layout(workdir / "project", workdir), workdir, control_dir
            )
            bench.layout.project.mkdir()
            _write_project(bench)
            repo.update()
            tools = _tools(bench, profile)
            return _rows(bench, tools, profile)
        finally:
            for prefix in PREFIXES.values():
                _reset(prefix, lab.hosts)


# --- the machine: stand-in systemctl, apt, reset ------------------------------------------------


@contextlib.contextmanager
def _stand_in() -> Iterator[None]:
    """The stand-in systemctl (and its ``show`` wrapper), for the run alone."""
    STAND_IN_LOCK.touch()
    with STAND_IN_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if INSTALLED.exists():
            raise RuntimeError(f"{INSTALLED} exists already: not ours, left alone")
        shutil.rmtree(STAND_IN_STATE, ignore_errors=True)
        (STAND_IN_STATE / "units").mkdir(parents=True)
        try:
            shutil.copyfile(FAKE, STAND_IN)
            STAND_IN.chmod(0o755)
            INSTALLED.write_text(SHOW_WRAPPER)
            INSTALLED.chmod(0o755)
            yield
        finally:
            INSTALLED.unlink(missing_ok=True)
            shutil.rmtree(STAND_IN_STATE, ignore_errors=True)


@contextlib.contextmanager
def _apt(where: Path, hosts: Sequence[SshHost]) -> Iterator[Repository]:
    """The private repository holding each host's package for each tool; apt waits for dpkg's
    lock. Its clean-up purges every ``nxt-pkg-*`` package and removes the drop-in."""
    where.mkdir()
    with private_apt(where) as repo:
        with DROP_IN.open("a") as conf:
            conf.write(f'DPkg::Lock::Timeout "{LOCK_TIMEOUT}";\n')
        repo.add_all([_package(p, h) for p in PREFIXES.values() for h in hosts], "1.0")
        yield repo


def _who(prefix: str, host: SshHost) -> str:
    return f"{prefix}-{host.name}"


def _package(prefix: str, host: SshHost) -> str:
    return PREFIX + _who(prefix, host)


def _reset(prefix: str, hosts: Sequence[SshHost]) -> None:
    """None of ``prefix``'s users, crontabs or packages; its units there, inactive, disabled."""
    for host in hosts:
        who = _who(prefix, host)
        (CRONTABS / who).unlink(missing_ok=True)
        if _exists(who):
            subprocess.run(["userdel", who], capture_output=True, check=False)
        unit = STAND_IN_STATE / "units" / f"{who}.service"
        if STAND_IN_STATE.exists():
            unit.mkdir(parents=True, exist_ok=True)
            (unit / "active").write_text("inactive\n")
            (unit / "enabled").write_text("disabled\n")
    names = [_package(prefix, h) for h in hosts if installed(_package(prefix, h))]
    if names:
        subprocess.run(["dpkg", "--purge", *names], capture_output=True, check=False)
    with contextlib.suppress(FileNotFoundError):
        (STAND_IN_STATE / "calls").write_text("")


def _exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


# --- the contenders -----------------------------------------------------------------------------


def _nexus_task(prefix: str, host: SshHost) -> list[str]:
    """One host's task: its names written out, as ``user`` takes no ``${var:…}``."""
    who = _who(prefix, host)
    return [
        f"[tasks.{TASK}-{host.name}]",
        f"on = {toml_string(host.name)}",
        "commands = [",
        f'  {{ ensure = "user", name = "{who}", sudo = true }},',
        f'  {{ ensure = "package", name = "{PREFIX}{who}", sudo = true }},',
        f'  {{ ensure = "service", name = "{who}", state = "started", enabled = true, '
        "sudo = true },",
        f'  {{ ensure = "cron", name = "{who}", minute = "{MINUTE}", job = "{JOB}", sudo = true, '
        f'user = "{who}" }},',
        "]",
        "",
    ]


def _write_project(bench: Bench) -> None:
    project, lab, hosts = bench.layout.project, bench.lab, bench.hosts
    lines = ["[settings]", f"parallel_limit = {len(hosts)}", 'known_hosts = "strict"', ""]
    lines.append("[hosts]")
    lines += [
        f"{h.name} = {{ hostname = {toml_string(h.address)}, port = {h.port}, "
        f"user = {toml_string(lab.key_user)} }}"
        for h in hosts
    ]
    lines.append("")
    for host in hosts:
        lines += _nexus_task(PREFIXES["nexus"], host)
    (project / "nexus.toml").write_text("\n".join(lines), encoding="utf-8")
    fleet = [
        (
            h.name,
            {
                **pyinfra_login(lab, h),
                "who": _who(PREFIXES["pyinfra"], h),
            },
        )
        for h in hosts
    ]
    inventory = f'"""Generated by benchmarks/system.py."""\n\nfleet = {fleet!r}\n'
    (project / "inventory.py").write_text(inventory, encoding="utf-8")
    deploy = PYINFRA_DEPLOY.format(prefix=PREFIX, job=JOB, minute=MINUTE)
    (project / "deploy.py").write_text(deploy, encoding="utf-8")


def _tools(bench: Bench, profile: Profile) -> list[Tool]:
    project = bench.layout.project
    n = len(bench.hosts)

    def env(tool: str) -> dict[str, str]:
        home = bench.workdir / f"home-{tool}"
        home.mkdir(exist_ok=True)
        if tool == "nexus":
            bench.lab.make_home(home)
        return client_env(home, bench.state)

    repeats = 1 if profile.quick else min(max(profile.repeats, 1), MAX_REPEATS)
    tasks = [f"{TASK}-{h.name}" for h in bench.hosts]
    nexus = [*nexus_argv(), "-c", str(project / "nexus.toml"), "--headless", "run", *tasks]
    pyinfra = [script("pyinfra"), "inventory.py", "deploy.py", "-y", "--parallel", str(n)]
    tools = [
        Tool(
            "nexus",
            "Nexus",
            [*nexus, "--plain", "-q"],
            env("nexus"),
            functools.partial(_nexus_report, steps=STEPS, unit=_NEXUS_UNIT),
            repeats,
        ),
        Tool(
            "pyinfra",
            f"pyinfra {version('pyinfra')}",
            [*pyinfra, "--sudo"],
            env("pyinfra"),
            functools.partial(pyinfra_report, steps=STEPS),
            repeats,
        ),
    ]
    for tool in tools:
        if not Path(tool.argv[0]).exists():
            tool.error = f"{Path(tool.argv[0]).name} not installed: pip install -e '.[bench]'"
    return tools


#: a succeeded row of a host's own task, on that host
_NEXUS_UNIT = re.compile(rf"^{TASK}-(\S+)\s+\1\s+\S+ succeeded\s", re.MULTILINE)


# --- the runs -----------------------------------------------------------------------------------


def _rows(bench: Bench, tools: Sequence[Tool], profile: Profile) -> list[Row]:
    _rounds(bench, tools, "system", _round)
    nexus, peer = tools
    n = len(bench.hosts)
    rows = []
    for kind in ("converge", "no change"):
        ours, theirs = _median(nexus, kind), _median(peer, kind)
        notes = [f"{t.label} not measured: {t.error}" for t in tools if t.error is not None]
        cpu = [(t.label, _median(t, kind, cpu=True)) for t in tools]
        if any(seconds is not None for _, seconds in cpu):
            shown = ", ".join(f"{label} {seconds:.1f} s" for label, seconds in cpu if seconds)
            notes.append(f"controller CPU: {shown}")
        if kind == "converge":
            notes.append(f"{n} package installs, serialised by dpkg's lock")
        if profile.quick:
            notes.append(f"--quick: 1 run{'' if profile.hosts else f', {n} hosts'}")
        rows.append(
            Row(
                "system",
                f"{kind} {n} hosts: user+package+service+cron",
                ours,
                "s",
                theirs,
                peer.label,
                _stat(nexus, peer),
                note="; ".join(notes),
            )
        )
    return rows


def _round(bench: Bench, tool: Tool) -> None:
    """Reset, one converging run, one no-change run; each checked off the clock."""
    prefix = PREFIXES[tool.name]
    _reset(prefix, bench.hosts)
    timing, output = _timed_run(bench, tool)
    _require(
        tool.report(output, True, len(bench.hosts)) + _wrong(prefix, bench.hosts),
        f"{tool.label}, converging run",
    )
    tool.converge.append(timing)
    (STAND_IN_STATE / "calls").write_text("")
    before = _snapshot(prefix, bench.hosts)
    timing, output = _timed_run(bench, tool)
    after = _snapshot(prefix, bench.hosts)
    touched = [f"{path}: touched" for path, info in before.items() if after.get(path) != info]
    acts = [
        f"systemctl {call}"
        for call in (STAND_IN_STATE / "calls").read_text().splitlines()
        if not call.startswith(("is-active ", "is-enabled ", "show "))
    ]
    _require(
        tool.report(output, False, len(bench.hosts)) + _wrong(prefix, bench.hosts) + touched + acts,
        f"{tool.label}, no-change run",
    )
    tool.no_change.append(timing)


def _wrong(prefix: str, hosts: Sequence[SshHost]) -> list[str]:
    """What is not as asked: each host's user, package, unit and cron entry."""
    problems = []
    entry = f"{MINUTE} * * * * {JOB}"
    for host in hosts:
        who = _who(prefix, host)
        if not _exists(who):
            problems.append(f"user {who}: missing")
        if installed(_package(prefix, host)) is None:
            problems.append(f"package {_package(prefix, host)}: not installed")
        unit = STAND_IN_STATE / "units" / f"{who}.service"
        state = tuple((unit / name).read_text().strip() for name in ("active", "enabled"))
        if state != ("active", "enabled"):
            problems.append(f"unit {who}.service: {'/'.join(state)}")
        crontab = CRONTABS / who
        lines = crontab.read_text().splitlines() if crontab.exists() else []
        if lines.count(entry) != 1:
            problems.append(f"crontab of {who}: {lines.count(entry)} × {entry!r}")
    return problems


def _snapshot(prefix: str, hosts: Sequence[SshHost]) -> dict[str, tuple[int, ...]]:
    paths = [*WATCHED, *(str(CRONTABS / _who(prefix, h)) for h in hosts)]
    found: dict[str, tuple[int, ...]] = {}
    for path in paths:
        info = os.stat(path)
        found[path] = (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    return found
