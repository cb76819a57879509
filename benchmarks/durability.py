"""What the durable step start costs: every step's ``step_started`` fsynced (group commit) and
acknowledged before its command is sent, against the same run with the acknowledgement switched
off (the journal then syncs nothing at step start, as before issue 12).

Two workloads, in-process through ``start_session`` (the switch is the runner's ``start_ack``,
which only this benchmark sets to None; no user option exists), on and off in turn, round by
round, so a neighbour's load hits both alike:

* 100 × local ``true``, all started at once (``parallel_limit`` 100): one group commit;
* ``true`` on 50 sshd hosts of the lab (``tests.ssh.harness``), each run with fresh connections.

The journal goes to the benchmark's work directory, on whatever file system holds it: the
figures mean something only where fsync does (not on tmpfs).
"""

from __future__ import annotations

import asyncio
import statistics
from pathlib import Path

from benchmarks.common import Profile, Row, rounds, write_local_config
from benchmarks.ssh import N_HOSTS, _client_env, _write_nexus_config
from nexus_engine.config import load_config
from nexus_engine.plan import build_plan
from nexus_engine.scheduler import FailurePolicy
from nexus_engine.session import start_session
from nexus_engine.status import RunStatus
from tests.ssh.harness import SshLab, SshLabUnavailable

LOCAL_UNITS = 100
MIN_REPEATS = 9  # the local run's spread on a shared 2-core machine is ±20 %
TARGET = 5.0  # per cent: what durability may cost at most
MS = 1000.0


def run(profile: Profile, workdir: Path) -> list[Row]:
    repeats = max(profile.repeats, MIN_REPEATS)
    tasks = {f"t{i:03d}": ((), "true") for i in range(LOCAL_UNITS)}
    local = write_local_config(workdir / "local.toml", tasks, parallel_limit=LOCAL_UNITS)
    state = workdir / "state"
    rows = [_row(f"{LOCAL_UNITS} x local true, -p {LOCAL_UNITS}", local, state, [], repeats)]
    try:
        lab = SshLab.start(workdir / "lab", n_hosts=N_HOSTS)
    except SshLabUnavailable as problem:
        return [*rows, Row("durability", "ssh", None, "ms", note=f"no sshd lab here: {problem}")]
    with lab:
        config = _write_nexus_config(lab, workdir, N_HOSTS)
        with _client_env(lab.make_home(workdir / "home")):
            rows.append(_row(f"{N_HOSTS} sshd hosts, true", config, state, ["true1"], repeats))
    return rows


def _row(workload: str, config: Path, state: Path, targets: list[str], repeats: int) -> Row:
    on, off = rounds(
        [
            lambda: _run(config, state, targets, durable=True),
            lambda: _run(config, state, targets, durable=False),
        ],
        repeats,
    )
    cost = statistics.median(a - b for a, b in zip(on, off, strict=True))
    base = statistics.median(off)
    return Row(
        "durability",
        workload,
        statistics.median(on) * MS,
        "ms",
        base * MS,
        "durable start off",
        f"median of {repeats}",
        note=f"cost {cost / base * 100:+.1f}% (target <= {TARGET:g}%)",
    )


def _run(config: Path, state: Path, targets: list[str], *, durable: bool) -> None:
    loaded = load_config(config, {})
    session = start_session(
        loaded,
        build_plan(loaded, targets),
        policy=FailurePolicy.FAIL_FAST,
        state_dir=state,
    )
    if not durable:
        session.runner.start_ack = None
    finished = asyncio.run(session.run(handle_signals=False))
    if finished.status is not RunStatus.SUCCEEDED:
        raise RuntimeError(f"benchmark run {finished.run_id} did not succeed: {finished.error}")
