"""What every benchmark shares: the result row, the run profile, timing and process helpers."""

from __future__ import annotations

import gc
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.ssh.harness import SshHost, SshLab

STATE_ENV = "NEXUS_STATE_DIR"
KIB = 1024
MB = 1_000_000


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the table. ``nexus`` and ``baseline`` are in ``unit``; ``ratio`` says
    whether nexus/baseline means something for this row (for memory it does not: the note
    gives the growth over the 1-byte run instead)."""

    benchmark: str
    workload: str
    nexus: float | None
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    stat: str = ""
    note: str = ""
    ratio: bool = True

    @property
    def ratio_value(self) -> float | None:
        if not self.ratio or self.nexus is None or not self.baseline:
            return None
        return self.nexus / self.baseline


@dataclass(frozen=True, slots=True)
class Profile:
    """How much to measure: the full run, or ``--quick`` for a smoke test."""

    quick: bool
    repeats: int  # wall-time measurements: the median of this many
    plan_sizes: tuple[int, ...]
    parallels: tuple[int, ...]
    trivial_units: int
    chain_size: int
    output_bytes: int
    memory_repeats: int
    hosts: int | None = None  # --hosts: the system topic's lab hosts (None: its default)

    @classmethod
    def full(cls) -> Profile:
        return cls(
            quick=False,
            repeats=5,
            plan_sizes=(1_000, 10_000),
            parallels=(1, 10, 100),
            trivial_units=100,
            chain_size=2_000,
            output_bytes=100_000_000,
            memory_repeats=2,
        )

    @classmethod
    def smoke(cls) -> Profile:
        return cls(
            quick=True,
            repeats=1,
            plan_sizes=(1_000,),
            parallels=(10,),
            trivial_units=100,
            chain_size=1_000,
            output_bytes=10_000_000,
            memory_repeats=1,
        )


def median_time(action: Callable[[], object], repeats: int) -> float:
    """Seconds: the median of ``repeats`` timed calls (``time.perf_counter``)."""
    return statistics.median(timed(action) for _ in range(max(repeats, 1)))


def median_times(actions: Sequence[Callable[[], object]], repeats: int) -> list[float]:
    """Seconds for each action, the median of ``repeats``, measured in turn (A, B, A, B, ...)
    so that a neighbour's load on a shared machine hits Nexus and its baseline alike."""
    return [statistics.median(times) for times in rounds(actions, repeats)]


def rounds(actions: Sequence[Callable[[], object]], repeats: int) -> list[list[float]]:
    """Seconds: ``repeats`` timings of each action, taken in turn; result[i][r] is action i in
    round r, so differences within a round (B - A) can be taken before the median."""
    samples: list[list[float]] = [[] for _ in actions]
    for _ in range(max(repeats, 1)):
        for action, times in zip(actions, samples, strict=True):
            times.append(timed(action))
    return samples


def timed(action: Callable[[], object]) -> float:
    """Seconds for one call; garbage from earlier calls is collected first, off the clock."""
    gc.collect()
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def nexus_argv() -> list[str]:
    """The real ``nexus`` entry point of the interpreter running the benchmarks."""
    script = Path(sys.executable).with_name("nexus")
    return [str(script)] if script.exists() else [sys.executable, "-m", "nexus_engine"]


def children_cpu() -> float:
    """CPU seconds (user + system) of every child this process has waited for: the delta
    around a run is the CPU time of the run's process tree on this machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def script(name: str) -> str:
    """A console script installed beside the interpreter running the benchmarks (a peer's
    command line from the ``bench`` extra: ``pyinfra``, ``ansible-playbook``)."""
    return str(Path(sys.executable).with_name(name))


def version(distribution: str) -> str:
    """An installed distribution's version, for the table to name the peer it measured."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def pyinfra_login(lab: SshLab, host: SshHost) -> dict[str, object]:
    """How pyinfra reaches a lab host (its inventory data): the lab's key and known_hosts,
    strict host keys, no agent and no other keys, as Nexus reaches it."""
    return {
        "ssh_hostname": host.address,
        "ssh_port": host.port,
        "ssh_user": lab.key_user,
        "ssh_key": str(lab.keys["ed25519"]),
        "ssh_known_hosts_file": str(lab.known_hosts),
        "ssh_strict_host_key_checking": "yes",
        "ssh_allow_agent": False,
        "ssh_look_for_keys": False,
    }


_GRAND_TOTAL = re.compile(r"Grand total\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)")


def pyinfra_report(output: str, converging: bool, hosts: int, *, steps: int) -> list[str]:
    """What is wrong in pyinfra's results table (it prints it on stderr): the operations on
    all hosts, ``steps`` a host, and their "Success" (changed), "Error" and "No Change" counts
    ("-" for none); after a no-change run, each host's "No changes" too. Empty: all is well."""
    found = _GRAND_TOTAL.search(output)
    if found is None:
        return ["pyinfra printed no results table"]
    total, success, error, no_change = (0 if n == "-" else int(n) for n in found.groups())
    want = steps * hosts
    if total != want or error:
        return [f"pyinfra: {total} operations, {error} errors (want {want}, 0)"]
    if converging:
        return [] if success == want else [f"pyinfra: {success} of {want} operations changed"]
    quiet = len(set(re.findall(r"\[(\S+)\]\s+No changes", output)))
    if no_change != want or quiet != hosts:
        return [f"pyinfra: {no_change} of {want} unchanged, {quiet} of {hosts} hosts quiet"]
    return []


def bench_env(state_dir: Path) -> dict[str, str]:
    """The environment for a run: the journal goes to ``state_dir``, no colour."""
    return {**os.environ, STATE_ENV: str(state_dir), "NO_COLOR": "1"}


def client_env(home: Path, state: Path) -> dict[str, str]:
    """The environment for an SSH client run against the lab: a fake HOME, no agent, the
    journal to ``state``, no colour."""
    env = {name: value for name, value in os.environ.items() if name != "SSH_AUTH_SOCK"}
    return env | {"HOME": str(home), STATE_ENV: str(state), "NO_COLOR": "1"}


def run_quiet(
    argv: Sequence[str], env: Mapping[str, str], stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run to completion with output discarded (stderr kept for the error message); a failed
    run makes the measurement meaningless, so it raises."""
    result = subprocess.run(
        argv,
        input=stdin,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(env),
        check=False,
    )
    if result.returncode != 0:
        command = " ".join(argv)
        raise RuntimeError(
            f"{command} exited {result.returncode}: {result.stderr.decode(errors='replace')}"
        )
    return result


@contextmanager
def environ(name: str, value: str) -> Iterator[None]:
    """Set one environment variable in this process for the duration."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ[name]
        else:
            os.environ[name] = old


def toml_string(value: str) -> str:
    """A TOML basic string (the commands here hold quotes and backslashes)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def write_local_config(
    path: Path, tasks: Mapping[str, tuple[Sequence[str], str]], parallel_limit: int = 10
) -> Path:
    """A nexus.toml of local tasks: name → (deps, one command)."""
    parts = [f"[settings]\nparallel_limit = {parallel_limit}\n"]
    for name, (deps, command) in tasks.items():
        dep_list = ", ".join(toml_string(dep) for dep in deps)
        parts.append(f"[tasks.{name}]\ndeps = [{dep_list}]\ncommands = [{toml_string(command)}]\n")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def nexus_ciphers() -> list[str]:
    """The ciphers Nexus offers a host whose ssh_config names no ``Ciphers``, in its order:
    asyncssh's defaults, AES-GCM first when the CPU has AES instructions (see
    ``nexus_engine.transports.ssh.connect``). A bare asyncssh contender is given the same list,
    so that it does the same work per packet as Nexus and only the tools differ."""
    import asyncssh  # noqa: PLC0415 - only the SSH topics need it

    from nexus_engine.transports.ssh.connect import (  # noqa: PLC0415
        _aes_gcm_first,
        _cpu_has_aes,
    )

    defaults = asyncssh.encryption.get_default_encryption_algs()
    return _aes_gcm_first(defaults) if _cpu_has_aes() else [name.decode() for name in defaults]


#: Runs one command (``argv`` of the JSON argument) in a fresh interpreter, its stdout and stderr
#: to files (None: discarded), and prints one JSON report: exit status (None: killed after
#: ``timeout`` seconds), wall time, CPU time and peak RSS (KiB) of the process tree, and the most
#: files the process held open at once, sampled from /proc/PID/fd every ``interval`` seconds by
#: a thread while the main one waits (so the wall time is not rounded up to a sample).
PROCESS_PROBE = """\
import json, os, resource, subprocess, sys, threading, time
job = json.loads(sys.argv[1])
def sink(path):
    return subprocess.DEVNULL if path is None else open(path, "wb")
started = time.perf_counter()
proc = subprocess.Popen(
    job["argv"], stdin=subprocess.DEVNULL, stdout=sink(job["stdout"]), stderr=sink(job["stderr"])
)
done = threading.Event()
most = [0]
def sample():
    fds = f"/proc/{proc.pid}/fd"
    while not done.is_set():
        try:
            most[0] = max(most[0], len(os.listdir(fds)))
        except OSError:
            pass
        done.wait(job["interval"])
sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
try:
    code = proc.wait(job["timeout"])
except subprocess.TimeoutExpired:
    proc.kill()
    proc.wait()
    code = None
wall = time.perf_counter() - started
done.set()
sampler.join()
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"code": code, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                  "peak_kib": usage.ru_maxrss, "peak_fds": most[0]}))
"""


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """One whole process, start to end, as :data:`PROCESS_PROBE` saw it."""

    code: int | None  # exit status; None: it ran out of time and was killed
    wall: float  # seconds, from just before its fork to its exit
    cpu: float  # seconds of CPU (user + system) of its whole tree
    peak_rss: float  # MB: the largest process of its tree, not a sum
    peak_fds: int  # the most open files seen at once (sampled: a brief peak can slip by)


def measure_process(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    stdout: Path | None = None,
    stderr: Path | None = None,
    timeout: float = 600.0,
    interval: float = 0.01,
) -> ProcessSample:
    """One run of ``argv`` under :data:`PROCESS_PROBE`, in a fresh helper interpreter: its
    RUSAGE_CHILDREN is the measured tree alone, and its start-up is not on the clock."""
    job: dict[str, Any] = {
        "argv": list(argv),
        "stdout": None if stdout is None else str(stdout),
        "stderr": None if stderr is None else str(stderr),
        "timeout": timeout,
        "interval": interval,
    }
    result = subprocess.run(
        [sys.executable, "-c", PROCESS_PROBE, json.dumps(job)],
        capture_output=True,
        env=dict(env),
        check=True,
    )
    report = json.loads(result.stdout)
    return ProcessSample(
        code=report["code"],
        wall=report["wall"],
        cpu=report["cpu"],
        peak_rss=report["peak_kib"] * KIB / MB,
        peak_fds=report["peak_fds"],
    )
