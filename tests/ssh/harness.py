"""A real OpenSSH ``sshd`` lab on loopback addresses, for SSH transport tests and benchmarks.

Nexus talks to real servers, so its SSH code is tested against the real thing: one lab runs
``ceil(n_hosts / 16)`` ``/usr/sbin/sshd`` processes (one sshd listens on at most 16 addresses),
each "host" being its own loopback address (``127.A.B.n``) with a shared port. Every host thus
stands for a separate server while the processes it starts are on this machine, where tests can
inspect them (:func:`processes_matching`).

This module depends only on OpenSSH, sudo, shadow-utils and the standard library: it must keep
working while Nexus's own SSH code is broken, and benchmarks import it without pytest.

Isolation. Everything a lab touches belongs to a *slot*, named after the pytest-xdist worker
(``gw0``, ``gw1``, …; ``main`` without xdist) and held with an ``flock`` for the lab's lifetime:
the test users (``nxkey-<slot>``, ``nxpw-<slot>``), the sudoers drop-in, the address range
``127.(42+k).(worker+1).0/24`` and the marker ``nxlab.<slot>.`` in every file name a process of
the lab has on its command line. When the slot is taken (a benchmark while a non-xdist test run
is going, a second lab in one process) the next one is used (``main-1``, ``main-2``, …), so
concurrent labs never share users, passwords or addresses. Because the lock proves that no live
lab owns the slot, start-up kills whatever a crashed earlier run left behind in it.

Addresses. Of the slot's own /24, hosts take ``.1``–``.190`` and spares, listeners and
:meth:`SshLab.refused` ``.200``–``.254``. A lab that needs more addresses (more than 190 hosts,
or :meth:`SshLab.fault_hosts` beyond them) claims further /24 blocks, each whole (``.1``–``.254``)
and held with an ``flock`` of its own (``/tmp/nexus-sshlab-block-127.S.T.lock``) for the lab's
lifetime, the first free ones of ``127.142.0.0``–``127.254.255.0``: a second octet no slot uses
(slots use 42–141), so blocks keep labs apart however workers and slots are numbered. A lab's
address sequence is its slot's ``.1``–``.190``, then its blocks in the order claimed; hosts take
its start, fault hosts the lowest addresses free after them.

Capacity. A lab's size is bounded by the machine, not only by addresses: each host of a run
costs the run's controller a socket and the machine a handful of processes (sshd's monitor and
session processes, the command's shell) and their memory. :func:`capacity` reads the limits
(``RLIMIT_NOFILE`` and ``RLIMIT_NPROC``, whose soft values a lab raises to the hard ones for
itself and what it starts; ``kernel.pid_max``, ``kernel.threads-max`` and the cgroup's
``pids.max`` against the tasks already running; available memory) and :meth:`SshLab.start`
and :meth:`SshLab.fault_hosts` refuse a count beyond it, naming the limit, before they start
anything. :data:`MAX_HOSTS` is that capacity when this module was imported.

Requires root (it creates users and writes /etc/sudoers.d); CI gets the packages from
``just system-deps``.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import fcntl
import functools
import hashlib
import os
import pwd
import random
import re
import resource
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"
REQUIRED_BINARIES = (
    SSHD,
    "ssh",
    "ssh-keygen",
    "ssh-keyscan",
    "ssh-agent",
    "ssh-add",
    "sudo",
    "visudo",
    "useradd",
    "usermod",
    "chpasswd",
)
MAX_LISTEN_PER_SSHD = 16  # sshd's MAX_LISTEN_SOCKS: more ListenAddress lines are refused
SLOT_HOSTS = 190  # host addresses .1-.190 of the slot's /24; .200-.254 serve spares etc.
_EXTRA_FIRST, _EXTRA_LAST = 200, 253  # spares, listeners; .254 is refused()'s
BLOCK_HOSTS = 254  # host addresses .1-.254 of each further /24 a lab claims
BLOCK_SECOND_OCTETS = range(142, 255)  # further /24s: 127.142-254.*.0, beyond every slot's
MAX_BLOCKS = 16  # /24s of one lab, its slot's included
ADDRESS_ROOM = SLOT_HOSTS + (MAX_BLOCKS - 1) * BLOCK_HOSTS  # 4,000 host addresses a lab
#: unauthenticated connections one sshd holds at once (sshd drops beyond): every handshake of a
#: 1,000-host run may be aimed at the few addresses of one sshd, and none may be dropped
MAX_STARTUPS = 2048
# What one host of a run costs the machine, its session running one command (measured with
# OpenSSH 9.2: the connection's sshd monitor and session processes, the command's shell and
# what it runs, with room to spare), and what a run's controller holds beside a socket a host.
TASKS_PER_HOST = 6  # processes (and threads), all users
USER_TASKS_PER_HOST = 4  # of those, the login user's (what RLIMIT_NPROC counts)
MEMORY_PER_HOST = 4 << 20  # bytes
FD_RESERVE = 100  # a run's controller: its own files beside a socket per host
TASK_RESERVE = 200  # processes for the controller's threads, the test run, whatever else starts
MEMORY_RESERVE = 512 << 20  # bytes for the controller, the test run and the rest of the machine
START_TIMEOUT = 15.0  # seconds for sshd to report every listening socket
USERS_LOCK = Path("/tmp/nexus-sshlab-users.lock")  # serializes edits of /etc/passwd, /etc/shadow
SLOT_LOCK_DIR = Path("/tmp")
PUBLIC_DIR_PARENT = Path("/tmp")  # for what test users must read: /tmp/nxlab.<slot>.*
SUDOERS_DIR = Path("/etc/sudoers.d")
PRIVSEP_DIR = Path("/run/sshd")
FIX_HINT = "run `just system-deps` as root"

_CONNECTION_RE = re.compile(rb"Connection from \S+ port \d+ on (\S+) port (\d+)")
_LISTENING_RE = re.compile(rb"Server listening on (\S+) port (\d+)\.")


class SshLabUnavailable(RuntimeError):
    """This machine cannot run a lab (not root, or OpenSSH/sudo missing): a setup error."""


class SshLabTooLarge(SshLabUnavailable):
    """This machine cannot run a lab of the size asked for: a limit of it is named."""


@dataclass(frozen=True)
class SshHost:
    """One test "server": an address and port that a lab's sshd listens on."""

    name: str
    address: str
    port: int


@dataclass(frozen=True)
class FaultHosts:
    """Hosts of :meth:`SshLab.fault_hosts`, by how they fail."""

    silent: list[SshHost]  # TCP accepted, no SSH banner ever
    refused: list[SshHost]  # nothing listens: connecting is refused
    rejecting: list[SshHost]  # an sshd that takes no client key

    @property
    def all(self) -> list[SshHost]:
        return [*self.silent, *self.refused, *self.rejecting]


def preflight() -> list[str]:
    """What stops a lab from starting here, in words a person can act on (empty: nothing)."""
    problems = []
    if os.geteuid() != 0:
        problems.append(f"the SSH lab must run as root (uid {os.geteuid()}): it creates users")
    missing = [b for b in REQUIRED_BINARIES if shutil.which(b) is None]
    if missing:
        problems.append("missing programs: " + ", ".join(missing))
    return problems


def worker_id() -> str:
    """The pytest-xdist worker ("gw0", …) or "main": what keeps concurrent labs apart."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return worker if re.fullmatch(r"gw\d+", worker) else "main"


# --- capacity -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Capacity:
    """The most hosts a lab may have on this machine now, and the limit that bounds them."""

    hosts: int
    limit: str


def _read_int(path: Path) -> int | None:
    """A number a kernel file holds ("max", a missing file: None, no limit)."""
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _cgroup_dirs(controller: str) -> list[Path]:
    """This process's cgroup directory of ``controller`` and its ancestors' (cgroup v1 or v2):
    a limit anywhere up the tree applies."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers:
            if controller not in controllers.split(","):
                continue
            mounts = [Path("/sys/fs/cgroup") / controllers]
        else:
            mounts = [Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")]
        parts = Path(path).relative_to("/").parts
        for mount in mounts:
            found += [mount.joinpath(*parts[:depth]) for depth in range(len(parts), -1, -1)]
    return found


def _cgroup_room(controller: str, limit_names: Sequence[str], usage_names: Sequence[str]) -> int:
    """What is left under the tightest limit of ``controller`` up this process's cgroups."""
    rooms = []
    for directory in _cgroup_dirs(controller):
        for limit_name, usage_name in zip(limit_names, usage_names, strict=True):
            limit = _read_int(directory / limit_name)
            usage = _read_int(directory / usage_name)
            if limit is not None and usage is not None:
                rooms.append(limit - usage)
    return min(rooms, default=2**62)


def _tasks_running() -> int:
    """Processes and threads on the machine: what pid_max and threads-max count."""
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                count += len(os.listdir(f"{entry.path}/task"))
    return count


def _memory_available() -> int:
    """Bytes the lab may still use: the kernel's MemAvailable, or the cgroup's room if less."""
    available = 2**62
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                available = int(line.split()[1]) * 1024
    room = _cgroup_room(
        "memory",
        ("memory.max", "memory.limit_in_bytes"),
        ("memory.current", "memory.usage_in_bytes"),
    )
    return min(available, room)


def capacity() -> Capacity:
    """The most hosts a lab may have here, each running one session at a time, and the limit
    that bounds them; read anew each time, since the tasks and memory in use change.

    Soft rlimits are not limits here: a lab raises them to the hard ones
    (:func:`_raise_soft_limits`), and its sshds and the runs it serves inherit them.
    """
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    running = _tasks_running()
    tasks = {
        "kernel.pid_max": _read_int(Path("/proc/sys/kernel/pid_max")),
        "kernel.threads-max": _read_int(Path("/proc/sys/kernel/threads-max")),
    }
    bounds = [Capacity(ADDRESS_ROOM, f"the lab's address scheme ({MAX_BLOCKS} /24 blocks)")]
    if nofile != resource.RLIM_INFINITY:
        bounds.append(
            Capacity(
                nofile - FD_RESERVE,
                f"RLIMIT_NOFILE (hard) {nofile}: a run holds a socket per host "
                f"and {FD_RESERVE} other files",
            )
        )
    if nproc != resource.RLIM_INFINITY:
        bounds.append(
            Capacity(
                (nproc - TASK_RESERVE) // USER_TASKS_PER_HOST,
                f"RLIMIT_NPROC (hard) {nproc}: {USER_TASKS_PER_HOST} processes of the login "
                "user per host",
            )
        )
    for name, limit in tasks.items():
        if limit is not None:
            bounds.append(
                Capacity(
                    (limit - running - TASK_RESERVE) // TASKS_PER_HOST,
                    f"{name} {limit} with {running} tasks running: {TASKS_PER_HOST} per host",
                )
            )
    pids_room = _cgroup_room("pids", ("pids.max",), ("pids.current",))
    bounds.append(
        Capacity(
            (pids_room - TASK_RESERVE) // TASKS_PER_HOST,
            f"the cgroup's pids.max, room for {pids_room} tasks: {TASKS_PER_HOST} per host",
        )
    )
    memory = _memory_available()
    bounds.append(
        Capacity(
            (memory - MEMORY_RESERVE) // MEMORY_PER_HOST,
            f"available memory, {memory >> 20} MiB: {MEMORY_PER_HOST >> 20} MiB per host",
        )
    )
    tightest = min(bounds, key=lambda bound: bound.hosts)
    return Capacity(max(tightest.hosts, 0), tightest.limit)


def _require_room(n_hosts: int) -> None:
    """Raise :class:`SshLabTooLarge` unless ``n_hosts`` fit on this machine."""
    room = capacity()
    if n_hosts > room.hosts:
        raise SshLabTooLarge(
            f"{n_hosts} lab hosts do not fit on this machine: {room.limit} leaves room for "
            f"{room.hosts}"
        )


def _raise_soft_limits() -> None:
    """Soft RLIMIT_NOFILE and RLIMIT_NPROC up to the hard ones, for the sshds and the runs this
    process starts: a 1,000-host run needs more than the usual 1,024 files."""
    for which in (resource.RLIMIT_NOFILE, resource.RLIMIT_NPROC):
        soft, hard = resource.getrlimit(which)
        if soft != hard:
            resource.setrlimit(which, (hard, hard))


MAX_HOSTS = capacity().hosts  # this machine's room when the module was imported


# --- processes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Proc:
    pid: int
    ppid: int
    uid: int
    cmdline: str


def _processes() -> list[_Proc]:
    """Live (non-zombie) processes from /proc; ones that vanish while being read are left out."""
    procs = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            raw = Path(entry.path, "cmdline").read_bytes()
            uid = entry.stat().st_uid
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] in ("Z", "X"):
            continue
        cmdline = raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")
        procs.append(_Proc(int(entry.name), int(fields[1]), uid, cmdline))
    return procs


def processes_matching(text: str) -> list[tuple[int, str]]:
    """(pid, cmdline) of live processes whose command line contains ``text``.

    The "remote" hosts are this machine, so tests use it to see what a run left behind.
    """
    me = os.getpid()
    return [(p.pid, p.cmdline) for p in _processes() if text in p.cmdline and p.pid != me]


def _descendants(roots: set[int], procs: Sequence[_Proc]) -> set[int]:
    found: set[int] = set()
    frontier = set(roots)
    while frontier:
        frontier = {p.pid for p in procs if p.ppid in frontier and p.pid not in found}
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def _kill_pids(pids: set[int], grace: float = 2.0) -> None:
    """SIGTERM, then SIGKILL what is still alive after ``grace`` seconds."""
    pids.discard(os.getpid())
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 5.0)
        while time.monotonic() < deadline:
            pids = {pid for pid in pids if _alive(pid)}
            if not pids:
                return
            time.sleep(0.01)


def _stop_popen(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- small helpers ------------------------------------------------------------------------------


def _run(argv: Sequence[str | Path], *, input_text: str | None = None) -> str:
    """Run a setup command; raise with its output if it fails (setup errors must be legible)."""
    done = subprocess.run(
        [str(a) for a in argv],
        input=input_text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        cmd = shlex.join(str(a) for a in argv)
        raise RuntimeError(f"`{cmd}` exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def _write(path: Path, text: str, mode: int) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def _public_key(private: Path) -> tuple[str, str]:
    """(type, base64 blob) of a private key's public half: from ``.pub``, else ``ssh-keygen -y``."""
    pub = Path(f"{private}.pub")
    text = pub.read_text() if pub.exists() else _run(["ssh-keygen", "-y", "-f", private])
    key_type, blob = text.split()[:2]
    return key_type, blob


def fingerprint(private: Path) -> str:
    """``SHA256:…`` of a key, exactly as ``ssh-keygen -lf`` prints it."""
    blob = base64.b64decode(_public_key(private)[1])
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return f"SHA256:{digest}"


def _bindable(address: str, port: int) -> bool:
    """Whether nothing listens on address:port (sshd binds with SO_REUSEADDR too)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def _port_candidates() -> list[int]:
    """Ports outside the kernel's ephemeral range, so client sockets never squat on them."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    ports = [p for p in range(10000, 32000) if not low <= p <= high]
    return ports or list(range(high + 1, 65000))


def _free_port(addresses: Sequence[str], avoid: Collection[int] = ()) -> int:
    """A port nothing listens on at any of ``addresses`` (randomized: labs race for ports)."""
    candidates = _port_candidates()
    for _ in range(200):
        port = random.choice(candidates)
        if port not in avoid and all(_bindable(a, port) for a in addresses):
            return port
    raise RuntimeError(f"no free port on {addresses[0]}…{addresses[-1]}")


@contextlib.contextmanager
def _silent_socket(address: str) -> Iterator[int]:
    """A port on ``address`` that completes TCP handshakes and never sends a byte: the kernel
    accepts connections into the listen backlog; nobody ever reads or writes."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, 0))
        sock.listen(1024)
        yield int(sock.getsockname()[1])


def _keygen(path: Path, key_type: str, passphrase: str = "") -> subprocess.Popen[bytes]:
    argv: list[str | Path] = ["ssh-keygen", "-q", "-t", key_type, "-N", passphrase]
    argv += ["-C", path.name, "-f", path]
    if key_type == "rsa":
        argv[4:4] = ["-b", "2048"]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_keygens(jobs: Sequence[subprocess.Popen[bytes]]) -> None:
    for job in jobs:
        _, err = job.communicate(timeout=60)
        if job.returncode != 0:
            raise RuntimeError(f"ssh-keygen failed: {err.decode(errors='replace').strip()}")


@functools.cache
def _sshd_version() -> tuple[int, int]:
    done = subprocess.run([SSHD, "-V"], capture_output=True, text=True, check=False, timeout=10)
    found = re.search(r"OpenSSH_(\d+)\.(\d+)", done.stdout + done.stderr)
    return (int(found[1]), int(found[2])) if found else (0, 0)


# --- slots and users ----------------------------------------------------------------------------


@dataclass
class _Slot:
    """An exclusive share of the machine: users, sudoers file, address range, process marker."""

    name: str
    network: str  # "127.A.B"
    lock: int  # fd holding the flock

    @property
    def key_user(self) -> str:
        return f"nxkey-{self.name}"

    @property
    def password_user(self) -> str:
        return f"nxpw-{self.name}"

    @property
    def marker(self) -> str:
        return f"nxlab.{self.name}."

    @property
    def sudoers(self) -> Path:
        return SUDOERS_DIR / f"nexus-test-{self.name}"

    def release(self) -> None:
        if self.lock >= 0:
            os.close(self.lock)
            self.lock = -1


def _try_lock(path: Path) -> int | None:
    """An fd holding an exclusive ``flock`` of ``path``, or None if another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _claim_slot() -> _Slot:
    worker = worker_id()
    third = 0 if worker == "main" else (int(worker[2:]) % 254) + 1
    for k in range(100):
        name = worker if k == 0 else f"{worker}-{k}"
        fd = _try_lock(SLOT_LOCK_DIR / f"nexus-sshlab-{name}.lock")
        if fd is not None:
            return _Slot(name, f"127.{42 + k}.{third}", fd)
    raise RuntimeError("no free SSH lab slot (100 labs of this worker running?)")


@dataclass
class _Block:
    """A further /24 of one lab's hosts (see the module's docstring), held while it lives."""

    network: str  # "127.S.T"
    lock: int  # fd holding the flock


def _claim_block() -> _Block:
    """The first free block: held by no live lab, whatever its slot."""
    for second in BLOCK_SECOND_OCTETS:
        for third in range(256):
            network = f"127.{second}.{third}"
            fd = _try_lock(SLOT_LOCK_DIR / f"nexus-sshlab-block-{network}.lock")
            if fd is not None:
                return _Block(network, fd)
    raise RuntimeError("no free /24 block for the SSH lab: every one is held")


def _user_uid(name: str) -> int | None:
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


def _kill_leftovers(slot: _Slot) -> None:
    """Kill processes of an earlier, crashed lab in this slot: we hold the lock, so it is dead."""
    uids = {uid for u in (slot.key_user, slot.password_user) if (uid := _user_uid(u)) is not None}
    session_titles = tuple(
        f"sshd: {u}{sep}" for u in (slot.key_user, slot.password_user) for sep in (" ", "@")
    )
    me = os.getpid()
    stale = {
        p.pid
        for p in _processes()
        if p.pid != me
        and (p.uid in uids or slot.marker in p.cmdline or p.cmdline.startswith(session_titles))
    }
    if stale:
        _kill_pids(stale)
    for old in PUBLIC_DIR_PARENT.glob(f"{slot.marker}*"):
        shutil.rmtree(old, ignore_errors=True)


def _ensure_users(slot: _Slot, password: str) -> None:
    """Create or update both users and their sudo rules (under a lock: useradd races otherwise)."""
    with USERS_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for user, shell in ((slot.key_user, "/bin/bash"), (slot.password_user, "/bin/sh")):
            try:
                entry = pwd.getpwnam(user)
            except KeyError:
                _run(["useradd", "-m", "-s", shell, "-c", "Nexus SSH test user", user])
            else:
                if entry.pw_shell != shell:
                    _run(["usermod", "-s", shell, user])
        # "*" cannot match any password yet is not "locked" ("!…"): sshd allows its pubkey logins
        _run(["usermod", "-p", "*", slot.key_user])
        _run(["chpasswd"], input_text=f"{slot.password_user}:{password}\n")
    rules = (
        "# Written by tests/ssh/harness.py for one SSH test lab; removed when it stops.\n"
        # the lecture shows once per user ever: its absence would depend on earlier runs
        f"Defaults:{slot.key_user}, {slot.password_user} lecture=never\n"
        f"{slot.key_user} ALL=(ALL:ALL) NOPASSWD: ALL\n"
        f"{slot.password_user} ALL=(ALL:ALL) ALL\n"
    )
    tmp = slot.sudoers.with_name(slot.sudoers.name + ".tmp")  # a "." hides it from #includedir
    _write(tmp, rules, 0o440)
    try:
        _run(["visudo", "-cqf", tmp])
    except RuntimeError:
        tmp.unlink()
        raise
    tmp.replace(slot.sudoers)


def _retire_users(slot: _Slot) -> None:
    """Leave the accounts unusable between labs: no sudo rule, no password."""
    slot.sudoers.unlink(missing_ok=True)
    with USERS_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _user_uid(slot.password_user) is not None:
            _run(["usermod", "-p", "*", slot.password_user])


# --- the lab ------------------------------------------------------------------------------------

_LIVE_LABS: set[SshLab] = set()  # strong references: a lab dropped unstopped is still stopped


@atexit.register
def _stop_live_labs() -> None:
    """A benchmark that forgets stop() must still not leave sshd running."""
    for lab in list(_LIVE_LABS):
        lab.stop()


@dataclass(eq=False)
class SshLab:
    """A running lab: hosts, users, keys, and helpers to inspect what happens on the "servers".

    Build it with :meth:`start`; use it as a context manager or call :meth:`stop`.
    """

    root: Path
    hosts: list[SshHost]
    host_key: Path
    host_key_fingerprint: str
    known_hosts: Path
    key_user: str
    password_user: str
    password: str
    keys: dict[str, Path]
    key_passphrase: str
    sshd_log: Path
    authorized_keys_dir: Path
    extra_config: tuple[str, ...] = ()
    _slot: _Slot | None = field(default=None, repr=False)
    _sshds: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)
    _extra_addresses: list[str] = field(default_factory=list, repr=False)
    _host_keys: dict[SshHost, Path] = field(default_factory=dict, repr=False)
    _serial: int = field(default=0, repr=False)
    _blocks: list[_Block] = field(default_factory=list, repr=False)
    _in_use: set[int] = field(default_factory=set, repr=False)  # indexes of lab addresses
    _stopped: bool = field(default=False, repr=False)

    # --- life cycle -----------------------------------------------------------------------------

    @classmethod
    def start(cls, root: Path, n_hosts: int = 20, *, extra_config: Sequence[str] = ()) -> SshLab:
        """Keys, users, sshd configs, ``ceil(n_hosts/16)`` sshd processes; returns once all listen.

        ``extra_config``: sshd_config lines added for every sshd of the lab (a test that needs,
        say, ``AcceptEnv FOO`` or ``MaxSessions 2``).
        Raises :class:`SshLabUnavailable` when the machine cannot host a lab at all, and
        :class:`SshLabTooLarge` when it cannot host ``n_hosts`` (see :func:`capacity`): both
        before anything is started or written.
        """
        if problems := preflight():
            raise SshLabUnavailable("; ".join(problems) + f" ({FIX_HINT})")
        if n_hosts < 1:
            raise ValueError(f"n_hosts must be at least 1, not {n_hosts}")
        _require_room(n_hosts)
        _raise_soft_limits()
        root = Path(root).resolve()
        root.mkdir(parents=True, exist_ok=True)
        slot = _claim_slot()
        try:
            lab = cls._build(root, n_hosts, slot, tuple(extra_config))
        except BaseException:
            slot.release()
            raise
        return lab

    @classmethod
    def _build(cls, root: Path, n_hosts: int, slot: _Slot, extra_config: tuple[str, ...]) -> SshLab:
        _kill_leftovers(slot)
        keys_dir = root / "keys"
        keys_dir.mkdir(exist_ok=True)
        for old in keys_dir.iterdir():  # ssh-keygen asks before overwriting: start clean
            old.unlink()
        passphrase = secrets.token_urlsafe(12)
        keys = {name: keys_dir / f"id_{name}" for name in ("ed25519", "ecdsa", "rsa")}
        keys["encrypted"] = keys_dir / "id_encrypted"
        keys["stranger"] = keys_dir / "id_stranger"
        host_key = keys_dir / "host_ed25519"
        jobs = [_keygen(path, name) for name, path in keys.items() if name in ("ecdsa", "rsa")]
        jobs += [
            _keygen(keys["ed25519"], "ed25519"),
            _keygen(keys["stranger"], "ed25519"),
            _keygen(keys["encrypted"], "ed25519", passphrase),
            _keygen(host_key, "ed25519"),
        ]
        password = secrets.token_urlsafe(16)
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
        _ensure_users(slot, password)
        _wait_keygens(jobs)

        # sshd reads authorized_keys as the user logging in, and pytest's tmp dirs are 0700
        # root's: the files live in a world-searchable directory of their own
        public = Path(tempfile.mkdtemp(prefix=slot.marker, dir=PUBLIC_DIR_PARENT))
        public.chmod(0o755)
        authorized = public / "authorized_keys"
        authorized.mkdir(mode=0o755)
        lines = "".join(
            " ".join(_public_key(keys[name])) + f" {name}\n"
            for name in ("ed25519", "ecdsa", "rsa", "encrypted")
        )
        for user in (slot.key_user, slot.password_user):
            _write(authorized / user, lines, 0o644)

        lab = cls(
            root=root,
            hosts=[],
            host_key=host_key,
            host_key_fingerprint=fingerprint(host_key),
            known_hosts=root / "known_hosts",
            key_user=slot.key_user,
            password_user=slot.password_user,
            password=password,
            keys=keys,
            key_passphrase=passphrase,
            sshd_log=root / f"{slot.marker}sshd.log",
            authorized_keys_dir=authorized,
            extra_config=extra_config,
            _slot=slot,
        )
        _LIVE_LABS.add(lab)
        try:
            lab._start_hosts(n_hosts)
        except BaseException:
            lab.stop()
            raise
        return lab

    def _start_hosts(self, n_hosts: int) -> None:
        addresses = self._take_addresses(n_hosts)
        port, _ = self._start_sshds("sshd", addresses, self.host_key)
        self.hosts = [SshHost(f"h{i}", a, port) for i, a in enumerate(addresses, 1)]
        self._host_keys = dict.fromkeys(self.hosts, self.host_key)
        _write(
            self.known_hosts,
            "".join(self.known_hosts_line(h) + "\n" for h in self.hosts),
            0o644,
        )

    def _address(self, index: int) -> str:
        """The lab's ``index``-th host address (see the module's docstring), claiming blocks
        up to the one it lies in."""
        assert self._slot is not None
        if index < SLOT_HOSTS:
            return f"{self._slot.network}.{index + 1}"
        block, number = divmod(index - SLOT_HOSTS, BLOCK_HOSTS)
        while len(self._blocks) <= block:
            self._blocks.append(_claim_block())
        return f"{self._blocks[block].network}.{number + 1}"

    def _take_addresses(self, count: int) -> list[str]:
        """The ``count`` lowest host addresses nothing of the lab uses; :meth:`_give_back`
        frees them."""
        taken: list[int] = []
        index = 0
        while len(taken) < count:
            if index not in self._in_use:
                taken.append(index)
            index += 1
        addresses = [self._address(index) for index in taken]  # may claim blocks, may fail
        self._in_use.update(taken)
        return addresses

    def _give_back(self, addresses: Collection[str]) -> None:
        self._in_use -= {i for i in self._in_use if self._address(i) in addresses}

    def _sshd_config(
        self,
        addresses: Sequence[str],
        port: int,
        host_key: Path,
        extra: Sequence[str] = (),
        authorized_keys: str | None = None,
    ) -> str:
        """``authorized_keys``: sshd's AuthorizedKeysFile, the lab's for its users by default
        (sshd keeps an option's first value, so ``extra`` cannot change it)."""
        lines = [f"ListenAddress {a}:{port}" for a in addresses]
        lines += [
            f"HostKey {host_key}",
            "PidFile none",
            f"AuthorizedKeysFile {authorized_keys or f'{self.authorized_keys_dir}/%u'}",
            "StrictModes no",  # the lab lives under /tmp, owned by whoever
            "PubkeyAuthentication yes",
            "PasswordAuthentication yes",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "PermitRootLogin no",
            f"AllowUsers {self.key_user} {self.password_user}",
            # every address stands for a separate server: the shared sshd must not drop
            # concurrent handshakes the way one busy real server would
            f"MaxStartups {MAX_STARTUPS}",
            "MaxSessions 10",  # OpenSSH's default, made explicit: tests rely on it
            "LogLevel VERBOSE",  # logs every accepted connection: connections_since() counts
            "Subsystem sftp internal-sftp",
            # Debian's defaults, so pty output is the same here as on a stock server
            "PrintMotd no",
            "PrintLastLog no",
            "AcceptEnv LANG LC_*",
        ]
        if _sshd_version() >= (9, 8):  # failed logins must not get 127.0.0.1 blocked
            lines.append("PerSourcePenalties no")
        lines += [*self.extra_config, *extra]
        return "\n".join(lines) + "\n"

    def _start_sshds(
        self,
        name: str,
        addresses: Sequence[str],
        host_key: Path,
        extra: Sequence[str] = (),
        authorized_keys: str | None = None,
    ) -> tuple[int, list[subprocess.Popen[bytes]]]:
        """sshds listening on ``addresses``, 16 to one, all on one port free at each of them;
        returns the port and the sshds once every socket listens (all are spawned first, then
        awaited together: a 1,000-host lab starts 63). Configs ``<marker><name><i>.conf``."""
        assert self._slot is not None
        groups = [
            addresses[i : i + MAX_LISTEN_PER_SSHD]
            for i in range(0, len(addresses), MAX_LISTEN_PER_SSHD)
        ]
        tried: set[int] = set()
        for _attempt in range(5):
            port = _free_port(addresses, tried)
            tried.add(port)
            configs = [
                _write(
                    self.root / f"{self._slot.marker}{name}{i}.conf",
                    self._sshd_config(group, port, host_key, extra, authorized_keys),
                    0o644,
                )
                for i, group in enumerate(groups)
            ]
            # the configs differ in their ListenAddress lines alone: checking one checks all
            check = subprocess.run(
                [SSHD, "-t", "-f", configs[0]],
                capture_output=True,
                text=True,
                check=False,
                timeout=30,
            )
            if check.returncode != 0:
                raise RuntimeError(
                    f"`sshd -t -f {configs[0]}` rejected the config: {check.stderr.strip()}"
                )
            mark = self.log_mark()
            procs = [
                subprocess.Popen(
                    [SSHD, "-D", "-e", "-f", str(config), "-E", str(self.sshd_log)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for config in configs
            ]
            if self._await_listening(procs, addresses, port, mark):
                self._sshds.extend(procs)
                return port, procs
            for proc in procs:  # lost a race for the port: try another
                _stop_popen(proc)
        raise RuntimeError(f"sshd could not bind a port; log: {self.sshd_log}")

    def _await_listening(
        self,
        procs: Sequence[subprocess.Popen[bytes]],
        addresses: Sequence[str],
        port: int,
        offset: int,
    ) -> bool:
        """True once sshd logged every socket as listening; False if it lost the port to
        someone else; raises if sshd died for any other reason or took too long.

        Reads only what the log gained since the last look: the log of a 1,000-host lab is
        long, and rescanning it every few milliseconds would be what start-up waits for."""
        waiting = set(addresses)
        lost = f"Bind to port {port} on".encode()
        read = offset
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            exited = any(p.poll() is not None for p in procs)
            new = self._log_since(read)
            new = new[: new.rfind(b"\n") + 1]  # whole lines only: sshd may be mid-write
            read += len(new)
            for found in _LISTENING_RE.finditer(new):
                if int(found[2]) == port:
                    waiting.discard(found[1].decode())
            if not waiting:
                return True
            if lost in new:
                return False
            if exited or time.monotonic() > deadline:
                for proc in procs:
                    _stop_popen(proc)
                text = self._log_since(offset).decode(errors="replace")
                raise RuntimeError(f"sshd did not start on port {port}; its log:\n{text[-3000:]}")
            time.sleep(0.005)

    def stop(self) -> None:
        """Kill the lab's sshd processes with their sessions, the users' processes and agents;
        retire the users. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        _LIVE_LABS.discard(self)
        procs = _processes()
        mine = {p.pid for p in self._sshds}
        doomed = mine | _descendants(mine, procs)
        if self._slot is not None:
            slot = self._slot
            uids = {
                uid
                for u in (slot.key_user, slot.password_user)
                if (uid := _user_uid(u)) is not None
            }
            doomed |= {p.pid for p in procs if p.uid in uids or slot.marker in p.cmdline}
        _kill_pids(doomed)
        for proc in self._sshds:
            proc.wait()
        self._sshds.clear()
        shutil.rmtree(self.authorized_keys_dir.parent, ignore_errors=True)
        for block in self._blocks:
            os.close(block.lock)
        self._blocks.clear()
        if self._slot is not None:
            try:
                _retire_users(self._slot)
            finally:
                self._slot.release()

    def process_ids(self) -> set[int]:
        """The lab's live sshds and everything they started: listeners, connections, sessions
        and the commands of these (what a run against the lab leaves running)."""
        sshds = {proc.pid for proc in self._sshds if proc.poll() is None}
        return sshds | _descendants(sshds, _processes())

    @property
    def slot(self) -> str:
        """The slot's name ("gw0", "main", "main-1", …): what users and files are named after."""
        assert self._slot is not None
        return self._slot.name

    @property
    def sudoers_file(self) -> Path:
        """The lab's /etc/sudoers.d drop-in (removed when the lab stops)."""
        assert self._slot is not None
        return self._slot.sudoers

    def __enter__(self) -> SshLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- client side ----------------------------------------------------------------------------

    def make_home(self, where: Path) -> Path:
        """A fresh fake HOME for one test: ``.ssh`` with the lab's ed25519 key as ``id_ed25519``,
        its ``known_hosts`` and an empty ``config``. Returns ``where``.

        Note: the OpenSSH *client* ignores $HOME (it uses the passwd entry); this is for Nexus,
        which resolves ``~`` from $HOME.
        """
        ssh_dir = Path(where) / ".ssh"
        ssh_dir.mkdir(parents=True, exist_ok=True)
        ssh_dir.chmod(0o700)
        shutil.copyfile(self.keys["ed25519"], ssh_dir / "id_ed25519")
        shutil.copyfile(f"{self.keys['ed25519']}.pub", ssh_dir / "id_ed25519.pub")
        shutil.copyfile(self.known_hosts, ssh_dir / "known_hosts")
        (ssh_dir / "config").write_text("")
        for name in ("id_ed25519", "id_ed25519.pub", "known_hosts", "config"):
            (ssh_dir / name).chmod(0o600)
        return Path(where)

    def known_hosts_line(self, host: SshHost, key: Path | None = None) -> str:
        """``[addr]:port <type> <base64>`` for ``host`` presenting the host *private* key ``key``
        (default: the lab's)."""
        key_type, blob = _public_key(key or self.host_key)
        return f"[{host.address}]:{host.port} {key_type} {blob}"

    def host_key_of(self, host: SshHost) -> Path:
        """The host private key ``host`` presents (the lab's, or a spare's own)."""
        return self._host_keys[host]

    def ssh_argv(
        self,
        host: SshHost,
        user: str | None = None,
        *,
        key: Path | None = None,
        agent: Path | None = None,
        known_hosts: Path | None = None,
        options: Sequence[str] = (),
    ) -> list[str]:
        """An OpenSSH ``ssh`` command line for ``host`` that ignores every user/system config and
        agent; append ``--`` and the remote command.

        Authenticates with ``key`` (default: keys["ed25519"]), or with only the agent at
        ``agent``. ``options`` (``"Name=value"``) come first, so they win: ssh keeps the first
        value it sees for an option.
        """
        argv = ["ssh", "-F", "/dev/null", "-p", str(host.port)]
        for option in options:
            argv += ["-o", option]
        if agent is None:
            argv += ["-i", str(key or self.keys["ed25519"]), "-o", "IdentitiesOnly=yes"]
            argv += ["-o", "IdentityAgent=none"]
        else:
            argv += ["-o", f"IdentityAgent={agent}", "-o", "IdentityFile=none"]
        for option in (
            f"UserKnownHostsFile={known_hosts or self.known_hosts}",
            "GlobalKnownHostsFile=/dev/null",
            "StrictHostKeyChecking=yes",
            "BatchMode=yes",
            "ConnectTimeout=10",
        ):
            argv += ["-o", option]
        return [*argv, "-l", user or self.key_user, host.address]

    def remote(
        self, host: SshHost, command: str, user: str | None = None, timeout: float = 20
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on ``host`` over a second, independent connection (OpenSSH's client),
        as ``user`` (default: key_user). Tests use it to check what is left on the "server"."""
        return subprocess.run(
            [*self.ssh_argv(host, user), "--", command],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    # --- server side ----------------------------------------------------------------------------

    def _log_since(self, mark: int) -> bytes:
        try:
            with self.sshd_log.open("rb") as log:
                log.seek(mark)
                return log.read()
        except FileNotFoundError:
            return b""

    def log_mark(self) -> int:
        """An opaque mark (the size of the lab's sshd log, which all its sshds share)."""
        try:
            return self.sshd_log.stat().st_size
        except FileNotFoundError:
            return 0

    def connections_since(self, mark: int, host: SshHost) -> int:
        """TCP connections sshd accepted on host's address:port since ``mark``, from its log."""
        wanted = (host.address.encode(), str(host.port).encode())
        return sum(
            1 for m in _CONNECTION_RE.finditer(self._log_since(mark)) if m.groups() == wanted
        )

    def _extra_address(self) -> str:
        """A loopback address of this lab's range that no host, spare or listener uses yet."""
        assert self._slot is not None
        for n in range(_EXTRA_FIRST, _EXTRA_LAST + 1):
            address = f"{self._slot.network}.{n}"
            if address not in self._extra_addresses:
                self._extra_addresses.append(address)
                return address
        self._extra_addresses.clear()  # all handed out: reuse; ports keep them apart
        return self._extra_address()

    def _release_address(self, address: str) -> None:
        with contextlib.suppress(ValueError):
            self._extra_addresses.remove(address)

    @contextlib.contextmanager
    def spare(
        self, *, new_host_key: bool = True, extra_config: Sequence[str] = ()
    ) -> Iterator[SshHost]:
        """Another sshd on an address that is not in ``known_hosts`` (an "unknown host"), with the
        same users and keys; with ``new_host_key`` it has a fresh host key (``host_key_of``).
        ``extra_config``: sshd_config lines for this server alone (a ``ForceCommand``, say)."""
        self._serial += 1
        name = f"spare{self._serial}"
        key = self.host_key
        if new_host_key:
            key = self.root / "keys" / f"{name}_host_ed25519"
            _wait_keygens([_keygen(key, "ed25519")])
        address = self._extra_address()
        try:
            with self._sshds_serving(name, [address], key, extra_config) as port:
                host = SshHost(name, address, port)
                self._host_keys[host] = key
                try:
                    yield host
                finally:
                    self._host_keys.pop(host, None)
        finally:
            self._release_address(address)

    @contextlib.contextmanager
    def _sshds_serving(
        self,
        name: str,
        addresses: Sequence[str],
        host_key: Path,
        extra: Sequence[str] = (),
        authorized_keys: str | None = None,
    ) -> Iterator[int]:
        """:meth:`_start_sshds` for a block: the port; the sshds and their sessions are killed
        after it (unless stop() killed them first: their pids may be reused)."""
        port, procs = self._start_sshds(name, addresses, host_key, extra, authorized_keys)
        try:
            yield port
        finally:
            live = {proc.pid for proc in procs if proc.poll() is None}
            _kill_pids(live | _descendants(live, _processes()))
            for proc in procs:
                proc.wait()
                with contextlib.suppress(ValueError):
                    self._sshds.remove(proc)

    @contextlib.contextmanager
    def _known(self, hosts: Sequence[SshHost]) -> Iterator[None]:
        """``hosts``, presenting the lab's host key, in ``known_hosts`` for the block."""
        known = self.known_hosts.read_text()
        self._host_keys.update(dict.fromkeys(hosts, self.host_key))
        self.known_hosts.write_text(known + "".join(self.known_hosts_line(h) + "\n" for h in hosts))
        try:
            yield
        finally:
            self.known_hosts.write_text(known)
            for host in hosts:
                self._host_keys.pop(host, None)

    @contextlib.contextmanager
    def silent_listener(self) -> Iterator[tuple[str, int]]:
        """(address, port) that completes TCP handshakes and never sends a byte: a hung host."""
        address = self._extra_address()
        try:
            with _silent_socket(address) as port:
                yield address, port
        finally:
            self._release_address(address)

    def refused(self) -> tuple[str, int]:
        """(address, port) where nothing listens: connecting is refused at once."""
        assert self._slot is not None
        address = f"{self._slot.network}.254"
        return address, _free_port([address])

    @contextlib.contextmanager
    def fault_hosts(
        self, *, silent: int = 0, refused: int = 0, rejecting: int = 0
    ) -> Iterator[FaultHosts]:
        """Hosts that fail in bulk, for a run over a fleet, each on an address of its own (the
        lowest the lab's hosts leave free, see the module's docstring) so that a run sees them
        as distinct servers: ``silent`` accept TCP and never send the SSH banner (a hung host),
        ``refused`` have nothing listening, ``rejecting`` are sshds with the lab's host key
        that take no client key at all (as a server that was never given ours): they are in
        ``known_hosts`` for the block, so a client gets as far as authenticating (make a home
        with :meth:`make_home` inside the block). Named ``silent1``…, ``refused1``…,
        ``rejecting1``…; all gone after the block.

        Raises :class:`SshLabTooLarge`, having started nothing, when the lab's hosts and these
        do not fit on the machine (see :func:`capacity`).
        """
        _require_room(len(self.hosts) + silent + refused + rejecting)
        addresses = self._take_addresses(silent + refused + rejecting)
        quiet, closed, rejecters = (
            addresses[:silent],
            addresses[silent : silent + refused],
            addresses[silent + refused :],
        )
        self._serial += 1
        try:
            with contextlib.ExitStack() as stack:
                ports = [stack.enter_context(_silent_socket(a)) for a in quiet]
                rejecting_port = 0
                if rejecters:
                    rejecting_port = stack.enter_context(
                        self._sshds_serving(
                            f"rejecting{self._serial}-",
                            rejecters,
                            self.host_key,
                            authorized_keys="none",
                        )
                    )
                hosts = FaultHosts(
                    silent=[
                        SshHost(f"silent{i}", a, port)
                        for i, (a, port) in enumerate(zip(quiet, ports, strict=True), 1)
                    ],
                    refused=[
                        SshHost(f"refused{i}", a, _free_port([a])) for i, a in enumerate(closed, 1)
                    ],
                    rejecting=[
                        SshHost(f"rejecting{i}", a, rejecting_port)
                        for i, a in enumerate(rejecters, 1)
                    ],
                )
                stack.enter_context(self._known(hosts.rejecting))
                yield hosts
        finally:
            self._give_back(addresses)

    @contextlib.contextmanager
    def agent(self, *keys: Path) -> Iterator[Path]:
        """A real ``ssh-agent`` holding ``keys``; yields its socket (for SSH_AUTH_SOCK).

        Encrypted keys are added with ``key_passphrase`` (through SSH_ASKPASS).
        """
        assert self._slot is not None
        self._serial += 1
        sock_dir = self.root / "agents"
        sock_dir.mkdir(exist_ok=True)
        sock = sock_dir / f"{self._slot.marker}agent{self._serial}.sock"
        if len(str(sock)) > 100:  # sun_path holds 108 bytes
            short = Path(f"/tmp/{self._slot.marker}{secrets.token_hex(4)}")
            short.mkdir(mode=0o700)
            sock = short / "agent.sock"
        askpass = _write(
            self.root / "askpass.sh",
            f"#!/bin/sh\nprintf '%s\\n' {shlex.quote(self.key_passphrase)}\n",
            0o700,
        )
        proc = subprocess.Popen(
            ["ssh-agent", "-D", "-a", str(sock)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 10
            while not sock.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"ssh-agent did not start: {err.strip()}")
                time.sleep(0.005)
            env = {
                **os.environ,
                "SSH_AUTH_SOCK": str(sock),
                "SSH_ASKPASS": str(askpass),
                "SSH_ASKPASS_REQUIRE": "force",
                "DISPLAY": os.environ.get("DISPLAY", ":0"),
            }
            for key in keys:
                done = subprocess.run(
                    ["ssh-add", "-q", str(key)],
                    env=env,
                    capture_output=True,
                    text=True,
                    stdin=subprocess.DEVNULL,
                    timeout=30,
                    check=False,
                )
                if done.returncode != 0:
                    raise RuntimeError(f"ssh-add {key} failed: {done.stderr.strip()}")
            yield sock
        finally:
            _stop_popen(proc)
            if proc.stderr:
                proc.stderr.close()
            sock.unlink(missing_ok=True)
            if sock.parent.name.startswith(self._slot.marker):
                with contextlib.suppress(OSError):
                    sock.parent.rmdir()
