"""What every benchmark shares: the result row, the run profile, timing and process helpers."""

from __future__ import annotations

import gc
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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.ssh.harness import SshHost, SshLab

STATE_ENV = "NEXUS_STATE_DIR"


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
