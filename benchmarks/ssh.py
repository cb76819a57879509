"""SSH: Nexus against a real sshd lab, beside a bare asyncssh script, Fabric, pyinfra and OpenSSH.

One lab of 50 hosts (``tests.ssh.harness.SshLab``: local ``sshd`` processes, each host its own
loopback address) serves the whole topic. Measured, in one run:

* connection set-up to one host: a fresh :class:`SshPool` opening its first connection, beside
  ``asyncssh.connect`` and ``ssh -o ControlMaster=no HOST true`` (which also starts a process
  and runs a command);
* per-command cost on a warm connection: ``SshTransport.run(CommandSpec("true"))`` beside
  ``conn.run("true")``, median of 100 each, taken in turn; the difference is what Nexus adds
  (and a step carrying a secret, whose script goes on stdin rather than inline, shows what
  that path costs);
* ``true`` once on each of 10 and 50 hosts, 10 ``true`` in sequence on each of 10 and 50
  hosts, 1 MB of output from each of 50 hosts, each run start to end as a process of its own,
  in turn (Nexus, the script, Fabric, pyinfra, OpenSSH, Nexus, ...), by
  - Nexus, through its real CLI: ``nexus --headless run -c nexus.toml TASK --plain -q``;
  - the floor of any asyncssh-based tool: a minimal script (``FLOOR_SCRIPT``, as
    ``python -c``) that connects to every host at once and runs the commands;
  - Fabric (``FABRIC_SCRIPT``, as ``python -c``): a ``ThreadingGroup`` over the hosts,
    ``group.run(CMD, hide=True)`` once per command, so a sequence moves in step across hosts;
  - pyinfra, through its CLI: ``pyinfra INVENTORY exec --parallel N -- CMD``, and for the
    sequence a deploy file of one ``server.shell`` with the 10 commands (pyinfra runs each as
    its own command) run by ``pyinfra INVENTORY deploy.py -y --parallel N``;
  - OpenSSH: ``xargs -P N ssh -F CFG HOST CMD`` (N = hosts); for 10 commands one
    ControlMaster per host (``ControlMaster auto``, ``ControlPersist``), started inside the
    measured time and closed with ``ssh -O exit`` outside it.
  Each run is checked: every process exits 0, and with 1 MB each host's output is counted
  (the script and Fabric count it themselves, pyinfra's is read from its log, OpenSSH's goes
  through ``wc -c``; Nexus's CLI is checked by the in-process row below). Beside the wall
  time, the CPU time of each run's process tree on the client (``getrusage(RUSAGE_CHILDREN)``
  before and after; the sshds' side is not in it, nor OpenSSH's detached ControlMasters),
  divided by the hosts;
* for reference, Nexus's engine in-process (config load, plan, ``start_session`` and
  ``session.run`` with the journal and a face that only counts output bytes: no interpreter
  start-up, no imports) beside the same asyncssh script run in this process.

Every contender authenticates with the lab's ed25519 key, uses no agent and checks host keys
strictly against the lab's known_hosts (Fabric: paramiko's ``load_host_keys`` and
``RejectPolicy``; pyinfra: ``ssh_known_hosts_file`` with ``ssh_strict_host_key_checking``).
The asyncssh script (and the bare ``asyncssh.connect`` of the connection and per-command rows)
offers the ciphers Nexus offers, in its order (``common.nexus_ciphers``: AES-GCM first when the
CPU has AES instructions), passed in its JSON arguments: same key, same ciphers, so the script
is the floor of the same work rather than of asyncssh's chacha20-poly1305, whose cost per packet
would land on one side only. Fabric and pyinfra (paramiko) and OpenSSH keep their own choice.
They share a fake HOME (``lab.make_home``); OpenSSH reads only the generated ``-F`` config,
which pins the key exchange to the one asyncssh negotiates (curve25519-sha256): OpenSSH's own
default, sntrup761x25519, costs its client ~70 ms of CPU a connection, and the connection rows
show that default beside it.

The targets, judged on the whole-process rows at 50 hosts: Nexus's wall time at or below the
asyncssh script's on each workload, and its CPU time per host within 1.2× of the script's. Each
row of a workload puts Nexus beside one contender (the ratio is Nexus / contender); the note of
every other contender gives its own ratio to the asyncssh script. OpenSSH's C client starts no
interpreter, which on the one-command workloads alone can put it ahead of any Python tool.

The "remote" hosts are this machine: the sshds and every remote shell share its cores with the
client, so work a tool does on each host (Nexus's bootstrap shell, say) weighs more here than on
a real fleet, where 50 hosts do it in parallel.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import asyncssh

from benchmarks.common import (
    Profile,
    Row,
    children_cpu,
    client_env,
    nexus_argv,
    nexus_ciphers,
    pyinfra_login,
    pyinfra_report,
    run_quiet,
    script,
    timed,
    toml_string,
    version,
)
from nexus_engine import events as ev
from nexus_engine.config import load_config
from nexus_engine.plan import build_plan
from nexus_engine.scheduler import FailurePolicy
from nexus_engine.session import start_session
from nexus_engine.transports.base import CommandSpec
from nexus_engine.transports.ssh.connect import ConnectSettings, Login
from nexus_engine.transports.ssh.known_hosts import HostKeyPolicy, KnownHostsBook
from nexus_engine.transports.ssh.pool import SshPool
from nexus_engine.transports.ssh.transport import SshTransport
from nexus_engine.words import Stream
from tests.ssh.harness import SshLab, SshLabUnavailable, processes_matching

N_HOSTS = 50
MB = 1_048_576
MB_COMMAND = f"head -c {MB} /dev/zero | tr '\\0' a"
SEQUENCE = 10  # commands in sequence per host
PER_COMMAND = 100  # commands timed on a warm connection, each way
CPU_TARGET = 1.2  # Nexus's CPU per host within this factor of the asyncssh floor's, at 50 hosts
OVERHEAD_TARGET_MS = 2.0
#: The key exchange asyncssh (without liboqs) and OpenSSH 9.x agree on. Left to itself the
#: OpenSSH client picks sntrup761x25519-sha512, which asyncssh cannot offer and which costs
#: the client ~70 ms of CPU per connection: pinned, every contender does the same handshake.
OPENSSH_KEX = "curve25519-sha256"
MS = 1000.0

#: The floor: what any asyncssh-based tool must at least do. Run as ``python -c`` with one
#: JSON argument, and exec'd into this process for the in-process comparison.
FLOOR_SCRIPT = textwrap.dedent(
    """
    import asyncio
    import json
    import sys

    import asyncssh


    async def one_host(address, port, user, key, known_hosts, ciphers, command, times, size):
        async with asyncssh.connect(
            address, port, username=user, client_keys=[key], known_hosts=known_hosts,
            agent_path=None, encryption_algs=ciphers,
        ) as conn:
            for _ in range(times):
                result = await conn.run(command, check=True, encoding=None)
                if size is not None and len(result.stdout) != size:
                    raise RuntimeError(f"{address}: {len(result.stdout)} bytes, not {size}")


    async def floor(hosts, user, key, known_hosts, ciphers, command, times=1, size=None):
        await asyncio.gather(
            *(
                one_host(address, port, user, key, known_hosts, ciphers, command, times, size)
                for address, port in hosts
            )
        )


    if __name__ == "__main__":
        asyncio.run(floor(**json.loads(sys.argv[1])))
    """
)


#: Fabric as its documentation shows it: a ``ThreadingGroup`` of the hosts, the key and no
#: agent or other keys in ``connect_kwargs``, strict host keys on each connection's paramiko
#: client, ``group.run`` once per command. ``in_stream=False``: nothing to forward from stdin
#: (else Invoke starts a thread per connection to read it). Run as ``python -c``.
FABRIC_SCRIPT = textwrap.dedent(
    """
    import json
    import sys

    from fabric import ThreadingGroup
    from paramiko import RejectPolicy


    def main(hosts, user, key, known_hosts, command, times=1, size=None):
        group = ThreadingGroup(
            *(f"{address}:{port}" for address, port in hosts),
            user=user,
            connect_kwargs={"key_filename": key, "look_for_keys": False, "allow_agent": False},
        )
        for connection in group:
            connection.client.load_host_keys(known_hosts)
            connection.client.set_missing_host_key_policy(RejectPolicy())
        with group:
            for _ in range(times):
                results = group.run(command, hide=True, in_stream=False)
                for connection, result in results.items():
                    if size is not None and len(result.stdout) != size:
                        got = len(result.stdout)
                        raise RuntimeError(f"{connection.host}: {got} bytes, not {size}")


    if __name__ == "__main__":
        main(**json.loads(sys.argv[1]))
    """
)

#: pyinfra's deploy for a sequence: one operation of ``times`` commands, each run on its own
PYINFRA_DEPLOY = '''\
"""The ssh benchmark's sequence (generated; see benchmarks/ssh.py)."""

from pyinfra.operations import server

server.shell(name="sequence", commands={commands!r})
'''


@dataclass(frozen=True)
class Workload:
    name: str
    task: str  # in the generated nexus.toml
    hosts: int
    command: str
    times: int = 1  # commands in sequence per host
    size: int | None = None  # bytes of stdout each command must produce

    @property
    def floor_target(self) -> bool:
        return self.hosts == N_HOSTS


WORKLOADS = (
    Workload("true × 10 hosts", "true1", 10, "true"),
    Workload("true × 50 hosts", "true1", 50, "true"),
    Workload(f"{SEQUENCE} × true in sequence × 10 hosts", "seq10", 10, "true", SEQUENCE),
    Workload(f"{SEQUENCE} × true in sequence × 50 hosts", "seq10", 50, "true", SEQUENCE),
    Workload("1 MB of output × 50 hosts", "mb", 50, MB_COMMAND, 1, MB),
)
#: --quick: every contender and code path once (pooled sequences, ControlMasters, pyinfra's
#: deploy, bulk output), cheaply.
QUICK_WORKLOADS = (WORKLOADS[0], WORKLOADS[2], WORKLOADS[4])


@dataclass(frozen=True)
class Bench:
    """Everything the contenders share: the lab, the fake HOME, the generated configs."""

    lab: SshLab
    workdir: Path
    home: Path
    env: Mapping[str, str]  # for subprocesses: fake HOME, no agent, journal in workdir
    ssh_config: Path  # OpenSSH, one connection per ssh
    mux_config: Path  # OpenSSH, one ControlMaster per host
    control_dir: Path
    nexus_configs: Mapping[int, Path]  # host count → nexus.toml
    pyinfra_inventories: Mapping[int, Path]  # host count → inventory.py

    @property
    def state(self) -> Path:
        return self.workdir / "state"

    def floor_args(self, workload: Workload) -> dict[str, Any]:
        return {
            "hosts": [[h.address, h.port] for h in self.lab.hosts[: workload.hosts]],
            "user": self.lab.key_user,
            "key": str(self.lab.keys["ed25519"]),
            "known_hosts": str(self.lab.known_hosts),
            "ciphers": nexus_ciphers(),
            "command": workload.command,
            "times": workload.times,
            "size": workload.size,
        }


def run(profile: Profile, workdir: Path) -> list[Row]:
    try:
        lab = SshLab.start(workdir / "lab", n_hosts=N_HOSTS)
    except SshLabUnavailable as problem:
        return [Row("ssh", "not run", None, "ms", note=f"no sshd lab here: {problem}")]
    control_dir = Path(tempfile.mkdtemp(prefix="nxb-", dir="/tmp"))  # short: a socket path
    try:
        with lab:
            bench = _prepare(lab, workdir, control_dir)
            try:
                return _measure_all(bench, profile)
            finally:
                _close_masters(bench)
    finally:
        shutil.rmtree(control_dir, ignore_errors=True)


def _measure_all(bench: Bench, profile: Profile) -> list[Row]:
    repeats = min(profile.repeats, 3)  # 5 workloads × 7 contenders: keep the topic to minutes
    connects = 3 if profile.quick else 10
    rows = _connect_rows(bench, connects)
    rows += _per_command_rows(bench, 20 if profile.quick else PER_COMMAND)
    floor = _load_floor()
    workloads = QUICK_WORKLOADS if profile.quick else WORKLOADS
    for i, workload in enumerate(workloads):
        print(f"  ssh: {workload.name}", file=sys.stderr, flush=True)
        rows += _workload_rows(bench, workload, floor, repeats, warm_up=i == 0)
    return rows


# --- set-up -------------------------------------------------------------------------------------


def _prepare(lab: SshLab, workdir: Path, control_dir: Path) -> Bench:
    home = lab.make_home(workdir / "home")
    env = client_env(home, workdir / "state")
    counts = sorted({w.hosts for w in WORKLOADS})
    configs = {count: _write_nexus_config(lab, workdir, count) for count in counts}
    inventories = {count: _write_pyinfra_inventory(lab, workdir, count) for count in counts}
    ssh_config = _write_ssh_config(lab, workdir / "ssh_config", None)
    mux_config = _write_ssh_config(lab, workdir / "ssh_config_mux", control_dir)
    return Bench(lab, workdir, home, env, ssh_config, mux_config, control_dir, configs, inventories)


def _write_nexus_config(lab: SshLab, workdir: Path, count: int) -> Path:
    hosts = lab.hosts[:count]
    lines = [
        "[settings]",
        f"parallel_limit = {N_HOSTS}",
        'known_hosts = "strict"',
        "",
        "[hosts]",
    ]
    lines += [
        f"{h.name} = {{ hostname = {toml_string(h.address)}, port = {h.port}, "
        f"user = {toml_string(lab.key_user)} }}"
        for h in hosts
    ]
    names = ", ".join(toml_string(h.name) for h in hosts)
    lines += ["", "[groups]", f"all = [{names}]", ""]
    tasks = {
        "true1": ["true"],
        "seq10": ["true"] * SEQUENCE,
        "mb": [MB_COMMAND],
    }
    for task, commands in tasks.items():
        listed = ", ".join(toml_string(c) for c in commands)
        lines += [f"[tasks.{task}]", 'on = "all"', f"commands = [{listed}]", ""]
    path = workdir / f"nexus-{count}.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _write_pyinfra_inventory(lab: SshLab, workdir: Path, count: int) -> Path:
    """The first ``count`` hosts, each logged in as the ensure topic's pyinfra logs in."""
    fleet = [(h.name, pyinfra_login(lab, h)) for h in lab.hosts[:count]]
    path = workdir / f"pyinfra-{count}.py"
    path.write_text(
        f'"""Generated by benchmarks/ssh.py."""\n\nfleet = {fleet!r}\n', encoding="utf-8"
    )
    return path


def _write_ssh_config(lab: SshLab, path: Path, control_dir: Path | None) -> Path:
    blocks = []
    for host in lab.hosts:
        lines = [
            f"Host {host.name}",
            f"  HostName {host.address}",
            f"  Port {host.port}",
            f"  User {lab.key_user}",
            f"  IdentityFile {lab.keys['ed25519']}",
            "  IdentitiesOnly yes",
            "  IdentityAgent none",
            f"  UserKnownHostsFile {lab.known_hosts}",
            "  GlobalKnownHostsFile /dev/null",
            "  StrictHostKeyChecking yes",
            "  BatchMode yes",
            f"  KexAlgorithms {OPENSSH_KEX}",
        ]
        if control_dir is None:
            lines.append("  ControlMaster no")
        else:
            lines += [
                "  ControlMaster auto",
                f"  ControlPath {control_dir}/%C",
                "  ControlPersist 60",
            ]
        blocks.append("\n".join(lines))
    path.write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    return path


@contextlib.contextmanager
def _client_env(home: Path) -> Iterator[None]:
    """This process as the subprocesses see it: the fake HOME, no agent."""
    saved = {name: os.environ.get(name) for name in ("HOME", "SSH_AUTH_SOCK")}
    os.environ["HOME"] = str(home)
    os.environ.pop("SSH_AUTH_SOCK", None)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _load_floor() -> Callable[..., Any]:
    namespace: dict[str, Any] = {"__name__": "asyncssh_floor"}
    exec(compile(FLOOR_SCRIPT, "<asyncssh floor>", "exec"), namespace)  # noqa: S102 - our own text
    floor: Callable[..., Any] = namespace["floor"]
    return floor


def _close_masters(bench: Bench) -> None:
    """``ssh -O exit`` every ControlMaster; then make sure none is left (they are ours: their
    sockets are in our own control directory)."""
    if any(bench.control_dir.iterdir()):
        names = "\n".join(h.name for h in bench.lab.hosts).encode()
        stop = ["ssh", "-F", str(bench.mux_config), "-O", "exit", "{}"]
        subprocess.run(
            ["xargs", "-P", str(N_HOSTS), "-I{}", *stop],
            input=names,
            env=dict(bench.env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
    deadline = time.monotonic() + 5
    while (left := processes_matching(str(bench.control_dir))) and time.monotonic() < deadline:
        time.sleep(0.02)
    for pid, _ in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# --- connection set-up and per-command cost -----------------------------------------------------


def _connect_rows(bench: Bench, count: int) -> list[Row]:
    host = bench.lab.hosts[0]
    login = Login(name=host.name, hostname=host.address, port=host.port, user=bench.lab.key_user)
    with _client_env(bench.home):
        nexus, floor, ssh, ssh_default = asyncio.run(_connects(bench, login, count))
    stat = f"median of {count}"
    rows = [
        Row(
            "ssh",
            "connection set-up, 1 host",
            nexus * MS,
            "ms",
            floor * MS,
            "asyncssh.connect",
            stat,
            note="Nexus: SshPool.acquire() on a fresh pool (reads ssh_config, known_hosts, keys)",
        )
    ]
    for base, name, kex in (
        (ssh, "ssh ... true", OPENSSH_KEX),
        (ssh_default, "ssh ... true, default kex", "OpenSSH's default, sntrup761x25519-sha512"),
    ):
        rows.append(
            Row(
                "ssh",
                "connection set-up, 1 host",
                nexus * MS,
                "ms",
                base * MS,
                name,
                stat,
                note=f"ssh -o ControlMaster=no also starts a process and runs `true`; kex {kex}",
            )
        )
    return rows


async def _connects(bench: Bench, login: Login, count: int) -> list[float]:
    host = bench.lab.hosts[0]
    pinned = ["ssh", "-F", str(bench.ssh_config), "-o", "ControlMaster=no", host.name, "true"]
    default = [*bench.lab.ssh_argv(host, options=["ControlMaster=no"]), "--", "true"]
    samples: list[list[float]] = [[], [], [], []]
    for _ in range(count + 1):  # the first round warms up, off the record
        pool = SshPool(ConnectSettings(), KnownHostsBook(HostKeyPolicy.STRICT))
        started = time.perf_counter()
        await pool.acquire(login)
        samples[0].append(time.perf_counter() - started)
        await pool.close()

        started = time.perf_counter()
        conn = await _floor_connect(bench, host.address, host.port)
        samples[1].append(time.perf_counter() - started)
        conn.close()
        await conn.wait_closed()

        for argv, times in ((pinned, samples[2]), (default, samples[3])):
            started = time.perf_counter()
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=dict(bench.env)
            )
            if await proc.wait() != 0:
                raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}")
            times.append(time.perf_counter() - started)
    return [statistics.median(times[1:]) for times in samples]


async def _floor_connect(bench: Bench, address: str, port: int) -> asyncssh.SSHClientConnection:
    return await asyncssh.connect(
        address,
        port,
        username=bench.lab.key_user,
        client_keys=[str(bench.lab.keys["ed25519"])],
        known_hosts=str(bench.lab.known_hosts),
        agent_path=None,
        encryption_algs=nexus_ciphers(),
    )


def _per_command_rows(bench: Bench, count: int) -> list[Row]:
    host = bench.lab.hosts[0]
    login = Login(name=host.name, hostname=host.address, port=host.port, user=bench.lab.key_user)
    with _client_env(bench.home):
        nexus, floor, private, paired = asyncio.run(_per_command(bench, login, count))
    overhead = (nexus - floor) * MS
    met = "met" if overhead <= OVERHEAD_TARGET_MS else "NOT met"
    return [
        Row(
            "ssh",
            "per command, warm pooled connection",
            nexus * MS,
            "ms",
            floor * MS,
            "asyncssh conn.run",
            f"median of {count}",
            note=f"Nexus adds {overhead:+.2f} ms (target ≤ {OVERHEAD_TARGET_MS:.0f} ms: {met}); "
            f"median of paired differences {paired * MS:+.2f} ms; a step carrying a secret "
            f"(its script sent on stdin, not in the exec request): {private * MS:.1f} ms",
        )
    ]


async def _per_command(bench: Bench, login: Login, count: int) -> tuple[float, ...]:
    """Taken in turn, one of each per round: Nexus's transport, bare ``conn.run``, and Nexus's
    transport with a step that carries a secret, whose script goes on stdin behind the
    bootstrap instead of inline in the exec request."""
    host = bench.lab.hosts[0]
    pool = SshPool(ConnectSettings(), KnownHostsBook(HostKeyPolicy.STRICT))
    transport = SshTransport(pool, login)
    conn = await _floor_connect(bench, host.address, host.port)
    cancel = asyncio.Event()
    spec, private = CommandSpec("true"), CommandSpec("true", private=True)
    samples: tuple[list[float], list[float], list[float]] = ([], [], [])
    warm_up = 5
    try:
        for i in range(count + warm_up):
            started = time.perf_counter()
            result = await transport.run(spec, _discard, cancel)
            nexus = time.perf_counter() - started
            if not result.succeeded:
                raise RuntimeError(f"Nexus: true failed on {host.name}: {result}")
            started = time.perf_counter()
            await conn.run("true", check=True)
            floor = time.perf_counter() - started
            started = time.perf_counter()
            result = await transport.run(private, _discard, cancel)
            on_stdin = time.perf_counter() - started
            if not result.succeeded:
                raise RuntimeError(f"Nexus: private true failed on {host.name}: {result}")
            if i >= warm_up:
                for times, took in zip(samples, (nexus, floor, on_stdin), strict=True):
                    times.append(took)
        if pool.opened != 1:
            raise RuntimeError(f"the pool opened {pool.opened} connections, not 1")
    finally:
        conn.close()
        await conn.wait_closed()
        await pool.close()
    paired = statistics.median(n - f for n, f in zip(samples[0], samples[1], strict=True))
    return (*(statistics.median(times) for times in samples), paired)


async def _discard(stream: Stream, data: bytes) -> None:
    pass


# --- the workloads ------------------------------------------------------------------------------


@dataclass
class Contender:
    """One way of running a workload, timed in turn with the others. One that fails keeps its
    error (the table says why) and runs no more; the others go on."""

    name: str  # for the notes: "Fabric"
    label: str  # the table's baseline column: "Fabric 3.2.3, python -c"
    action: Callable[[], object]
    after: Callable[[], object] | None = None  # off the clock, after every run
    process: bool = True  # a process of its own: the children's CPU time is its CPU time
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    error: str | None = None

    def run_once(self, *, record: bool) -> None:
        cpu = children_cpu()
        try:
            wall = timed(self.action)
        finally:
            if self.after is not None:
                self.after()
        if record:
            self.walls.append(wall)
            self.cpus.append(children_cpu() - cpu)

    @property
    def wall(self) -> float | None:
        """Seconds, the median of the runs; None if it failed."""
        return statistics.median(self.walls) if self.walls and self.error is None else None

    def cpu_per_host(self, hosts: int) -> float | None:
        """CPU seconds per host of its process tree, the median of the runs."""
        if not self.process or not self.cpus or self.error is not None:
            return None
        return statistics.median(self.cpus) / hosts


def _workload_rows(
    bench: Bench, workload: Workload, floor: Callable[..., Any], repeats: int, *, warm_up: bool
) -> list[Row]:
    config = bench.nexus_configs[workload.hosts]
    cli_argv = [*nexus_argv(), "--headless", "run", "-c", str(config), workload.task]
    cli_argv += ["--plain", "-q"]
    floor_args = bench.floor_args(workload)
    forget = partial(shutil.rmtree, bench.state, ignore_errors=True)  # 50 MB a run with mb
    nexus = Contender("Nexus", "Nexus CLI", partial(run_quiet, cli_argv, bench.env), forget)
    script_cli = Contender(
        "the asyncssh script",
        "asyncssh script, python -c",
        partial(_python_c, bench, FLOOR_SCRIPT, floor_args),
    )
    peers = [
        _fabric(bench, floor_args),
        _pyinfra(bench, workload),
        _openssh(bench, workload),
    ]
    engine = Contender(
        "Nexus's engine",
        "Nexus engine",
        partial(_in_process, bench, config, workload),
        forget,
        process=False,
    )
    script_here = Contender(
        "the asyncssh script in-process",
        "asyncssh script, in-process",
        partial(_floor_in_process, bench, floor, floor_args),
        process=False,
    )
    contenders = [nexus, script_cli, *peers, engine, script_here]
    _rounds(contenders, max(repeats, 1), warm_up=warm_up)

    stat = f"median of {max(repeats, 1)}"
    name = f"{workload.name}, whole process"
    ours = _ms(nexus.wall)
    rows = [
        Row(
            "ssh",
            name,
            ours,
            "ms",
            _ms(script_cli.wall),
            script_cli.label,
            stat,
            note=_floor_note(workload, nexus, script_cli),
        )
    ]
    rows += [
        Row(
            "ssh",
            name,
            ours,
            "ms",
            _ms(peer.wall),
            peer.label,
            stat,
            note=_peer_note(workload, peer, script_cli),
        )
        for peer in peers
    ]
    rows.append(
        Row(
            "ssh",
            f"{workload.name}, engine in-process",
            _ms(engine.wall),
            "ms",
            _ms(script_here.wall),
            script_here.label,
            stat,
            note="; ".join(_errors(engine, script_here))
            or "for reference: no interpreter start-up, no imports, either side",
        )
    )
    return rows


def _rounds(contenders: Sequence[Contender], repeats: int, *, warm_up: bool) -> None:
    """``repeats`` rounds, each contender once a round, in turn (A, B, C, ..., A, B, C, ...), so
    that a neighbour's load on a shared machine falls on all of them alike; a warm-up round
    first, off the record (caches, imports, .pyc files), if asked."""
    for i in range(repeats + warm_up):
        for contender in contenders:
            if contender.error is not None:
                continue
            try:
                contender.run_once(record=i >= warm_up)
            except Exception as problem:  # noqa: BLE001 - a failed contender is a row's note
                contender.error = " ".join(str(problem).split())[-300:]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * MS


def _errors(*contenders: Contender) -> list[str]:
    return [f"{c.name} not measured: {c.error}" for c in contenders if c.error is not None]


def _floor_note(workload: Workload, nexus: Contender, floor: Contender) -> str:
    """The targets: Nexus's wall time at or below the script's, its CPU per host within
    ``CPU_TARGET``× of the script's; judged at 50 hosts, shown for reference below."""
    parts = _errors(nexus, floor)
    ours_cpu, floor_cpu = nexus.cpu_per_host(workload.hosts), floor.cpu_per_host(workload.hosts)
    judged = workload.floor_target
    if nexus.wall is not None and floor.wall is not None and judged:
        met = "met" if nexus.wall <= floor.wall else "NOT met"
        parts.append(f"target ≤ the asyncssh script: {met}")
    if ours_cpu is not None and floor_cpu:
        ratio = ours_cpu / floor_cpu
        cpu = (
            f"CPU/host: Nexus {ours_cpu * MS:.1f} ms, script {floor_cpu * MS:.1f} ms (×{ratio:.2f}"
        )
        if judged:
            cpu += f"; target ≤ {CPU_TARGET}×: {'met' if ratio <= CPU_TARGET else 'NOT met'}"
        parts.append(cpu + ")")
    if not judged:
        parts.append(f"for reference (the targets are for {N_HOSTS} hosts)")
    return "; ".join(parts)


def _peer_note(workload: Workload, peer: Contender, floor: Contender) -> str:
    """The peer beside the asyncssh script: its wall time's ratio, its CPU per host."""
    parts = _errors(peer)
    if peer.wall is not None and floor.wall is not None:
        parts.append(f"{peer.name}: ×{peer.wall / floor.wall:.2f} the asyncssh script")
    if (cpu := peer.cpu_per_host(workload.hosts)) is not None:
        parts.append(f"CPU/host {cpu * MS:.1f} ms")
    return "; ".join(parts)


def _python_c(bench: Bench, source: str, args: Mapping[str, Any]) -> None:
    """A script as ``python -c``, its arguments as one JSON document."""
    run_quiet([sys.executable, "-c", source, json.dumps(args)], bench.env)


def _fabric(bench: Bench, floor_args: Mapping[str, Any]) -> Contender:
    """Fabric's script, with the asyncssh script's arguments (it checks the size alike) but
    the ciphers: paramiko keeps its own."""
    args = {name: value for name, value in floor_args.items() if name != "ciphers"}
    contender = Contender(
        "Fabric",
        f"Fabric {version('fabric')}, python -c",
        partial(_python_c, bench, FABRIC_SCRIPT, args),
    )
    if importlib.util.find_spec("fabric") is None:
        contender.error = "fabric not installed: pip install -e '.[bench]'"
    return contender


def _pyinfra(bench: Bench, workload: Workload) -> Contender:
    """pyinfra's CLI: ``exec`` for one command; for a sequence, a deploy of one ``server.shell``
    (one operation a host, its commands run one by one)."""
    inventory = str(bench.pyinfra_inventories[workload.hosts])
    parallel = ["--parallel", str(workload.hosts)]
    if workload.times == 1:
        argv = [script("pyinfra"), inventory, "exec", *parallel, "--", workload.command]
        label = f"pyinfra {version('pyinfra')} exec"
    else:
        deploy = bench.workdir / f"pyinfra-{workload.task}.py"
        commands = [workload.command] * workload.times
        deploy.write_text(PYINFRA_DEPLOY.format(commands=commands), encoding="utf-8")
        argv = [script("pyinfra"), inventory, str(deploy), "-y", *parallel]
        label = f"pyinfra {version('pyinfra')} deploy"
    contender = Contender("pyinfra", label, partial(_pyinfra_run, argv, bench, workload))
    if not Path(argv[0]).exists():
        contender.error = "pyinfra not installed: pip install -e '.[bench]'"
    return contender


def _pyinfra_run(argv: Sequence[str], bench: Bench, workload: Workload) -> None:
    """One pyinfra run, checked: it exits 0, its results table has the operation succeeded on
    every host, and with 1 MB every host's output line (``[h1]  aaa…`` in its log, on stderr)
    holds the whole megabyte."""
    done = subprocess.run(
        argv,
        cwd=bench.workdir,
        env=dict(bench.env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
    )
    log = done.stderr.decode(errors="replace")
    if done.returncode != 0:
        raise RuntimeError(f"pyinfra exited {done.returncode}: {log[-300:]}")
    problems = pyinfra_report(log, True, workload.hosts, steps=1)
    if workload.size is not None:
        lines = re.findall(r"^\[(\S+)\] +(a+)$", log, re.MULTILINE)
        whole = {host for host, text in lines if len(text) == workload.size}
        if len(whole) != workload.hosts:
            problems.append(f"{len(whole)} of {workload.hosts} hosts printed {workload.size} bytes")
    if problems:
        raise RuntimeError("; ".join(problems))


def _openssh(bench: Bench, workload: Workload) -> Contender:
    """xargs starting one ``ssh`` per host; for a sequence, one ControlMaster per host, which
    the first ``ssh`` of each host starts (inside the measured time)."""
    names = "\n".join(h.name for h in bench.lab.hosts[: workload.hosts]).encode() + b"\n"
    xargs = ["xargs", "-P", str(workload.hosts), "-I{}"]
    if workload.times == 1:
        argv = [*xargs, "ssh", "-F", str(bench.ssh_config), "{}", workload.command]
        action = partial(_openssh_run, argv, bench.env, names, workload.size)
        return Contender("OpenSSH", "ssh + xargs -P", action)
    loop = (
        f'for i in $(seq {workload.times}); do ssh -F "$0" "$1" {workload.command} || exit 1; done'
    )
    argv = [*xargs, "sh", "-c", loop, str(bench.mux_config), "{}"]
    action = partial(_openssh_run, argv, bench.env, names, None)
    masters = partial(_close_masters, bench)
    return Contender("OpenSSH", "ssh ControlMaster + xargs -P", action, masters)


def _openssh_run(
    argv: Sequence[str], env: Mapping[str, str], stdin: bytes, size: int | None
) -> None:
    if size is None:
        run_quiet(argv, env, stdin=stdin)
        return
    # the output is counted, not kept: as cheap as OpenSSH's side can be
    result = subprocess.run(
        ["sh", "-c", '"$@" | wc -c', "sh", *argv],
        input=stdin,
        capture_output=True,
        env=dict(env),
        check=True,
    )
    total = int(result.stdout)
    if total != size * stdin.count(b"\n"):
        raise RuntimeError(f"OpenSSH: {total} bytes of output, not {size} per host")


def _floor_in_process(bench: Bench, floor: Callable[..., Any], args: Mapping[str, Any]) -> None:
    with _client_env(bench.home):
        asyncio.run(floor(**args))


def _in_process(bench: Bench, config: Path, workload: Workload) -> None:
    with _client_env(bench.home):
        asyncio.run(_engine_run(bench, config, workload))


async def _engine_run(bench: Bench, config: Path, workload: Workload) -> None:
    """What ``nexus run TASK`` does after start-up: load, plan, run with the journal, a face
    that only counts the output (so the run is checked to have moved every byte)."""
    loaded = load_config(config)
    plan = build_plan(loaded, [workload.task])
    session = start_session(loaded, plan, policy=FailurePolicy.FAIL_FAST, state_dir=bench.state)
    face = asyncio.create_task(_output_bytes(session.runner.bus.subscribe()))
    finished = await session.run(handle_signals=False)
    received = await face
    if session.exit_code(finished) != 0:
        raise RuntimeError(f"in-process Nexus run of {workload.task} exited {finished.exit_code}")
    pool = session.connections.pool if session.connections else None
    opened = pool.opened if pool else 0
    if opened != workload.hosts:  # one pooled connection per host, or it measured something else
        raise RuntimeError(f"Nexus opened {opened} connections for {workload.hosts} hosts")
    expected = (workload.size or 0) * workload.hosts
    if received != expected:
        raise RuntimeError(f"Nexus received {received} bytes of output, not {expected}")


async def _output_bytes(events: AsyncIterator[ev.Event]) -> int:
    received = 0
    async for event in events:
        if isinstance(event, ev.OutputReceived):
            received += len(event.data)
    return received
