"""Fleet: Nexus and asyncssh at 1,000 hosts with and without faults (issue 10, "Big fleets").

One lab of 1,000 hosts (``--quick``: 100), and for the runs with faults
:meth:`~tests.ssh.harness.SshLab.fault_hosts` in its place of 12 % of them: 5 % never answer the
SSH handshake (TCP accepted, no banner), 5 % refuse the connection, 2 % reject the key; the
other 88 % are lab hosts. A real fleet's dead hosts are scattered, so the fault hosts are shuffled
in among the healthy ones (a fixed seed: every run sees the same order), in the config and in the
script's list alike. The lab is sized against :func:`~tests.ssh.harness.capacity` before
anything starts: a machine without room for it gets a row that says which limit stops it.

Each run is a whole process, start to end, in a fresh helper interpreter
(:func:`~benchmarks.common.measure_process`): wall time, CPU time of the process tree, peak RSS
(``ru_maxrss`` of RUSAGE_CHILDREN: the largest process, not a sum) and the most files it held
open, sampled from /proc/PID/fd every 10 ms. Every run is under ``prlimit --nofile=1100:1100``,
so the file target is enforced, not just sampled: one file over and a host fails with EMFILE,
which breaks the exact counts. The contenders, in turn (A, B, C, D, A, ...):

* Nexus, through its real CLI, ``true`` on every host: ``nexus --headless run -c FILE fleet
  --format json``, with Nexus's default settings but three: ``connect_timeout = 5``,
  ``parallel_limit`` the fleet's size (a run over a fleet runs on all of it at once; the
  handshakes in flight are still bounded by the default ``connect_limit``, which is what the
  slot waits measure) and the task's ``max_failures = "12%"``, so the faults do not stop the run.
  Checked: without faults, exit 0 and every host succeeded; with faults, exit 1 and each host
  came out as exactly what was done to it (its status, error kind and reason in the JSON
  summary). Each step's wait for a handshake slot (``slot_wait`` of its ``step_finished`` in
  the journal's events.jsonl) is reported apart from the rest of its time (its own handshake
  and ``true``): median, longest, steps that waited, the sum;
* the asyncssh script (``FLEET_SCRIPT``, as ``python -c``): the ssh topic's floor, running
  ``true`` on every host with the same key (and known_hosts, each read once), the ciphers Nexus
  offers and the same ``connect_timeout``, tolerating failures (``gather(...,
  return_exceptions=True)``) and counting them by exception type, so that its fault run is
  measured too. It holds at most Nexus's default ``connect_limit`` (32) handshakes in flight,
  as a tool must at this size (sshd's ``MaxStartups``, the controller's CPU); the floor's own
  way, every handshake at once, is measured beside it without faults (here, where the sshds
  share the client's two cores, a thousand key exchanges at once share the CPU alike and all
  run past a 5 s connect timeout together).

The targets, from the issue, on the runs with faults at 1,000 hosts: wall time within 1.3× of
(Nexus's time without faults + ``connect_timeout``), the summary counts matching the injected
faults exactly, exit 1, peak RSS under 300 MB and open files under 1,100. With ``--quick`` they
are shown for reference only.

The "remote" hosts are this machine: every sshd, every remote shell and the silent hosts'
backlogs share its cores with the client, so the healthy run's handshakes weigh more here than
on a real fleet.
"""

from __future__ import annotations

import json
import random
import shutil
import statistics
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from benchmarks.common import (
    ProcessSample,
    Profile,
    Row,
    client_env,
    measure_process,
    nexus_argv,
    nexus_ciphers,
    toml_string,
)
from nexus_engine.config.models import Settings
from tests.ssh.harness import FaultHosts, SshHost, SshLab, SshLabUnavailable, capacity
from tests.ssh.outcomes import (
    AUTH_FAILED,
    CONNECTION_REFUSED,
    HANDSHAKE_TIMEOUT,
    SUCCEEDED,
    outcome,
)

N_HOSTS = 1_000
QUICK_HOSTS = 100
#: of the fleet, in per cent: hosts that never answer the handshake, refuse, reject the key
SILENT_PCT, REFUSED_PCT, REJECTING_PCT = 5, 5, 2
FAULTS_PCT = SILENT_PCT + REFUSED_PCT + REJECTING_PCT
CONNECT_TIMEOUT = 5  # seconds, Nexus and the script alike
WALL_TARGET = 1.3  # × (healthy wall + connect_timeout)
RSS_TARGET = 300.0  # MB
FD_LIMIT = 1_100  # open files: the target, and the RLIMIT_NOFILE every run gets
WARM_UP_HOSTS = 10  # a run of each contender on this many hosts first, off the record
RUN_TIMEOUT = 600.0  # seconds for one run: a hang is a row's note, never a stalled benchmark
SETTLE = 30.0  # seconds for the lab's sessions of the previous run to end
WORTH_SAYING = 0.1  # seconds of slot wait: less is not a wait worth counting
SEED = 10  # the fault hosts' places in the fleet (issue 10)
TASK = "fleet"

#: One word for how a host ended, Nexus's and the script's alike.
#: The script's exception types for each fault (asyncio's timeout is the builtin TimeoutError).
SCRIPT_OUTCOMES = {
    "succeeded": SUCCEEDED,
    "TimeoutError": HANDSHAKE_TIMEOUT,
    "ConnectionRefusedError": CONNECTION_REFUSED,
    "PermissionDenied": AUTH_FAILED,
}

#: The ssh topic's floor (``benchmarks.ssh.FLOOR_SCRIPT``) for a fleet where hosts fail: a
#: connect timeout (asyncssh's covers TCP, handshake and authentication, as Nexus's does), each
#: host's failure kept and counted by its exception type, and at most ``connect_limit``
#: handshakes at once (None: every host at once, as the floor does), each holding its slot until
#: it connects or times out. The key and known_hosts are read once: given their paths, asyncssh
#: reads them anew for every connection, and parsing a known_hosts of 1,000 lines (~20 ms) a
#: connection would make the floor quadratic in the fleet, which no tool need be (Nexus reads
#: each file once a run). Prints the counts as JSON; exits 1 if any host failed, as Nexus does.
#: Run as ``python -c``.
FLEET_SCRIPT = textwrap.dedent(
    """
    import asyncio
    import json
    import sys
    from collections import Counter

    import asyncssh


    async def one_host(address, port, options, slots, command):
        async with slots:
            conn = await asyncssh.connect(address, port, **options)
        async with conn:
            await conn.run(command, check=True)


    async def fleet(hosts, user, key, known_hosts, ciphers, timeout, connect_limit, command):
        options = dict(
            username=user, client_keys=[asyncssh.read_private_key(key)],
            known_hosts=asyncssh.read_known_hosts(known_hosts), agent_path=None,
            encryption_algs=ciphers, connect_timeout=timeout,
        )
        slots = asyncio.Semaphore(connect_limit or len(hosts))
        results = await asyncio.gather(
            *(one_host(address, port, options, slots, command) for address, port in hosts),
            return_exceptions=True,
        )
        return Counter("succeeded" if r is None else type(r).__name__ for r in results)


    if __name__ == "__main__":
        outcomes = asyncio.run(fleet(**json.loads(sys.argv[1])))
        print(json.dumps(outcomes))
        sys.exit(0 if set(outcomes) == {"succeeded"} else 1)
    """
)


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a Nexus run, from its ``step_finished`` in the journal: how long it took,
    and of that how long it waited for a handshake slot before its own handshake began."""

    duration: float
    slot_wait: float


@dataclass(frozen=True)
class Fleet:
    """The hosts of one kind of run, in config order, and what each must come out as."""

    hosts: list[SshHost]
    expected: dict[str, str]  # host name → outcome

    @property
    def counts(self) -> Counter[str]:
        return Counter(self.expected.values())


@dataclass
class Contender:
    """One way of running a fleet, as a whole process, repeated in turn with the others: its
    samples, how its hosts ended, and what went wrong in any run (which the rows then say
    instead of comparing with it)."""

    name: str  # for the notes
    label: str  # the table's baseline column
    argv: list[str]
    fleet: Fleet
    nexus: bool
    samples: list[ProcessSample] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    outcomes: list[Counter[str]] = field(default_factory=list)
    steps: list[list[Step]] = field(default_factory=list)  # Nexus: each run's steps

    @property
    def wall(self) -> float | None:
        """Seconds, the median of the runs (failed or not: see :attr:`sound`)."""
        return statistics.median(s.wall for s in self.samples) if self.samples else None

    @property
    def sound(self) -> float | None:
        """The wall time of a contender whose every run did what it should: the only one to
        compare with (a run whose hosts all timed out is fast for the wrong reason)."""
        return None if self.problems else self.wall

    def problem(self, text: str) -> None:
        if text not in self.problems:
            self.problems.append(text)

    @property
    def cpu(self) -> float | None:
        return statistics.median(s.cpu for s in self.samples) if self.samples else None

    @property
    def peak_rss(self) -> float | None:
        return max(s.peak_rss for s in self.samples) if self.samples else None

    @property
    def peak_fds(self) -> int | None:
        return max(s.peak_fds for s in self.samples) if self.samples else None

    @property
    def codes(self) -> set[int | None]:
        return {s.code for s in self.samples}


class Contenders(NamedTuple):
    """Every contender, in the order they run in each round."""

    nexus: Contender
    script: Contender  # Nexus's connect_limit handshakes at once
    script_all: Contender  # every handshake at once, as the ssh topic's floor
    nexus_faults: Contender
    script_faults: Contender


@dataclass(frozen=True)
class Bench:
    """What every run shares: the lab, the working directory, the environment."""

    lab: SshLab
    workdir: Path
    env: Mapping[str, str]  # for every run: the fake HOME, no agent, the journal in workdir
    quiet: frozenset[int]  # the lab's processes with no session open: its sshds

    @property
    def state(self) -> Path:
        return self.workdir / "state"

    @property
    def out(self) -> Path:  # a run's stdout
        return self.workdir / "out"

    @property
    def err(self) -> Path:  # a run's stderr
        return self.workdir / "err"


def run(profile: Profile, workdir: Path) -> list[Row]:
    """The topic: one lab with its fault hosts, every contender in turn, the rows; a machine
    without room for the lab is told so before anything starts."""
    total = QUICK_HOSTS if profile.quick else N_HOSTS
    silent, refused, rejecting = (
        total * pct // 100 for pct in (SILENT_PCT, REFUSED_PCT, REJECTING_PCT)
    )
    faults = silent + refused + rejecting
    room = capacity()
    if total + faults > room.hosts:  # the lab's hosts and the fault hosts, all at once
        note = (
            f"not run: {total} lab hosts and {faults} fault hosts do not fit on this machine: "
            f"{room.limit} leaves room for {room.hosts}"
        )
        return [Row("fleet", f"true × {total:,} hosts", None, "s", note=note)]
    try:
        lab = SshLab.start(workdir / "lab", n_hosts=total)
    except SshLabUnavailable as problem:
        return [Row("fleet", f"true × {total:,} hosts", None, "s", note=f"not run: {problem}")]
    with (
        lab,
        lab.fault_hosts(silent=silent, refused=refused, rejecting=rejecting) as broken,
    ):
        # the home inside the block: the rejecting hosts' keys are in known_hosts only there
        env = client_env(lab.make_home(workdir / "home"), workdir / "state")
        bench = Bench(lab, workdir, env, frozenset(lab.process_ids()))
        return _measure(bench, _healthy(lab.hosts), _with_faults(lab.hosts, broken), profile)


def _healthy(hosts: Sequence[SshHost]) -> Fleet:
    return Fleet(list(hosts), dict.fromkeys((h.name for h in hosts), SUCCEEDED))


def _with_faults(hosts: Sequence[SshHost], broken: FaultHosts) -> Fleet:
    """The lab's first hosts with the fault hosts in place of the rest, shuffled in among them."""
    kinds = [
        *((h, HANDSHAKE_TIMEOUT) for h in broken.silent),
        *((h, CONNECTION_REFUSED) for h in broken.refused),
        *((h, AUTH_FAILED) for h in broken.rejecting),
    ]
    kinds += [(h, SUCCEEDED) for h in hosts[: len(hosts) - len(kinds)]]
    random.Random(SEED).shuffle(kinds)
    return Fleet([h for h, _ in kinds], {h.name: kind for h, kind in kinds})


def _measure(bench: Bench, healthy: Fleet, faulty: Fleet, profile: Profile) -> list[Row]:
    repeats = 1 if profile.quick else min(profile.repeats, 2)  # a run at 1,000 takes tens of s
    total = len(healthy.hosts)
    limit = Settings().connect_limit  # Nexus's default, which its runs here keep
    contenders = Contenders(
        _nexus(bench, healthy, "healthy"),
        _script(bench, healthy, limit),
        _script(bench, healthy, None),
        _nexus(bench, faulty, "faults"),
        _script(bench, faulty, limit),
    )
    warm = _healthy(healthy.hosts[:WARM_UP_HOSTS])
    for warm_up in (_nexus(bench, warm, "warm"), _script(bench, warm, limit)):
        _run_once(bench, warm_up, record=False)
    for i in range(repeats):
        for contender in contenders:
            faults = " with faults" if contender.fleet is faulty else ""
            print(
                f"  fleet: {contender.name}, {total:,} hosts{faults}, run {i + 1}",
                file=sys.stderr,
                flush=True,
            )
            _run_once(bench, contender, record=True)
    return _rows(contenders, total, repeats, judged=not profile.quick)


# --- the contenders -----------------------------------------------------------------------------


def _under_fd_limit(argv: Sequence[str]) -> list[str]:
    """``argv`` with its soft and hard RLIMIT_NOFILE at the target (util-linux prlimit execs
    it: the same process, measured as it is)."""
    return ["prlimit", f"--nofile={FD_LIMIT}:{FD_LIMIT}", "--", *argv]


def _nexus(bench: Bench, fleet: Fleet, tag: str) -> Contender:
    config = _write_config(bench, fleet, bench.workdir / f"nexus-{tag}.toml")
    argv = [*nexus_argv(), "--headless", "run", "-c", str(config), TASK, "--format", "json"]
    return Contender("Nexus", "Nexus CLI", _under_fd_limit(argv), fleet, nexus=True)


def _script(bench: Bench, fleet: Fleet, connect_limit: int | None) -> Contender:
    """The asyncssh script over ``fleet``, ``connect_limit`` handshakes at once (None: all)."""
    args = {
        "hosts": [[h.address, h.port] for h in fleet.hosts],
        "user": bench.lab.key_user,
        "key": str(bench.lab.keys["ed25519"]),
        "known_hosts": str(bench.lab.known_hosts),
        "ciphers": nexus_ciphers(),
        "timeout": CONNECT_TIMEOUT,
        "connect_limit": connect_limit,
        "command": "true",
    }
    argv = [sys.executable, "-c", FLEET_SCRIPT, json.dumps(args)]
    if connect_limit is None:
        name, label = "the asyncssh script, all at once", "asyncssh script, all at once"
    else:
        name = f"the asyncssh script, {connect_limit} handshakes at once"
        label = f"asyncssh script, {connect_limit} at once"
    return Contender(name, label, _under_fd_limit(argv), fleet, nexus=False)


def _write_config(bench: Bench, fleet: Fleet, path: Path) -> Path:
    lines = [
        "[settings]",
        f"parallel_limit = {len(fleet.hosts)}",
        f"connect_timeout = {CONNECT_TIMEOUT}",
        "",
        "[hosts]",
    ]
    lines += [
        f"{h.name} = {{ hostname = {toml_string(h.address)}, port = {h.port}, "
        f"user = {toml_string(bench.lab.key_user)} }}"
        for h in fleet.hosts
    ]
    names = ", ".join(toml_string(h.name) for h in fleet.hosts)
    lines += ["", "[groups]", f"all = [{names}]", ""]
    lines += [
        f"[tasks.{TASK}]",
        'on = "all"',
        f'max_failures = "{FAULTS_PCT}%"',  # every host runs: the faults stay within it
        'commands = ["true"]',
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _run_once(bench: Bench, contender: Contender, *, record: bool) -> None:
    """One run, once the lab is quiet, its output checked; a run that failed is a note, and
    the others go on."""
    _settle(bench)
    try:
        sample, outcomes, steps = _checked_run(bench, contender)
    except Exception as problem:  # noqa: BLE001 - a failed run is a row's note
        if record:
            contender.problem(" ".join(str(problem).split())[-300:])
        return
    finally:
        shutil.rmtree(bench.state, ignore_errors=True)
    if not record:
        return
    contender.samples.append(sample)
    contender.outcomes.append(outcomes)
    contender.steps.append(steps)
    want = 1 if contender.fleet.counts[SUCCEEDED] < len(contender.fleet.hosts) else 0
    if sample.code != want:
        contender.problem(f"exited {sample.code}, not {want}")


def _checked_run(
    bench: Bench, contender: Contender
) -> tuple[ProcessSample, Counter[str], list[Step]]:
    """The run measured, how its hosts ended and (Nexus) its steps."""
    sample = measure_process(
        contender.argv, bench.env, stdout=bench.out, stderr=bench.err, timeout=RUN_TIMEOUT
    )
    if sample.code is None:
        raise RuntimeError(f"still running after {RUN_TIMEOUT:.0f} s, killed")
    if contender.nexus:
        if "Traceback" in _tail(bench.err, 100_000):
            raise RuntimeError(f"a traceback on stderr: {_tail(bench.err)}")
        outcomes, steps = _nexus_outcomes(bench, contender.fleet)
        return sample, outcomes, steps
    return sample, _script_outcomes(bench), []


def _settle(bench: Bench) -> None:
    """Wait for the lab's processes to be its sshds alone again (or ``SETTLE`` seconds): sshd
    ends a session a moment after its client hung up, and a run should not pay for the last."""
    deadline = time.monotonic() + SETTLE
    while bench.lab.process_ids() != bench.quiet and time.monotonic() < deadline:
        time.sleep(0.1)


def _tail(path: Path, size: int = 300) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return " ".join(text.split())[-size:] or "(no stderr)"


def _nexus_outcomes(bench: Bench, fleet: Fleet) -> tuple[Counter[str], list[Step]]:
    """How each host ended, from the JSON summary (any host that ended otherwise than it should
    raises, naming it), and each step's wait for a handshake slot, from the journal."""
    try:
        document = json.loads(bench.out.read_text(encoding="utf-8"))
    except ValueError:
        raise RuntimeError(f"no JSON summary: {_tail(bench.err)}") from None
    units: dict[str, dict[str, Any]] = document["tasks"][TASK]["hosts"]
    got = {host: outcome(u["status"], u["error"], u["reason"]) for host, u in units.items()}
    wrong = [
        f"{h}: {got.get(h, 'missing')}" for h, want in fleet.expected.items() if got.get(h) != want
    ]
    if wrong or len(got) != len(fleet.expected):
        raise RuntimeError(f"{len(wrong)} hosts ended otherwise than they should: {wrong[:3]}")
    events = bench.state / "runs" / document["run_id"] / "events.jsonl"
    lines = events.read_text(encoding="utf-8").splitlines()
    steps = [
        Step(float(event["duration"]), float(event.get("slot_wait", 0.0)))
        for event in map(json.loads, lines)
        if event["event"] == "step_finished"
    ]
    return Counter(got.values()), steps


def _script_outcomes(bench: Bench) -> Counter[str]:
    """The script's counts by exception type, in the words Nexus's are in."""
    try:
        counted: dict[str, int] = json.loads(bench.out.read_text(encoding="utf-8"))
    except ValueError:
        raise RuntimeError(f"no counts printed: {_tail(bench.err)}") from None
    return Counter({SCRIPT_OUTCOMES.get(kind, kind): n for kind, n in counted.items()})


# --- the rows -----------------------------------------------------------------------------------


def _rows(contenders: Contenders, total: int, repeats: int, *, judged: bool) -> list[Row]:
    c = contenders
    stat = f"median of {repeats}" if repeats > 1 else "1 run"
    peak = f"max of {repeats}" if repeats > 1 else "1 run"
    hosts = f"{total:,} hosts"
    faulty = c.nexus_faults.fleet.counts
    mix = (
        f"{faulty[HANDSHAKE_TIMEOUT]} never answer the handshake, "
        f"{faulty[CONNECTION_REFUSED]} refuse, "
        f"{faulty[AUTH_FAILED]} reject the key, scattered among the rest; "
        f"connect_timeout {CONNECT_TIMEOUT} s both"
    )
    healthy = f"true × {hosts}, no faults"
    rows = [
        _wall_row(healthy, c.nexus, c.script, stat, _run_note(c.nexus, c.script)),
        _wall_row(healthy, c.nexus, c.script_all, stat, _run_note(c.nexus, c.script_all)),
        _wall_row(
            f"true × {hosts}, {FAULTS_PCT} % faults",
            c.nexus_faults,
            c.script_faults,
            stat,
            f"{mix}; {_run_note(c.nexus_faults, c.script_faults)}",
        ),
    ]
    for what, unit, value in (
        ("peak RSS", "MB", _peak_rss),
        ("peak open files", "files", _peak_fds),
    ):
        others = "; ".join(
            f"{who} {_amount(value(one), unit)}"
            for who, one in (
                ("Nexus", c.nexus),
                ("script", c.script),
                ("script all at once", c.script_all),
            )
        )
        how = (
            "the largest process of the tree"
            if unit == "MB"
            else f"sampled from /proc/PID/fd every 10 ms, each run under prlimit "
            f"--nofile={FD_LIMIT}"
        )
        rows.append(
            Row(
                "fleet",
                f"{what}, {hosts} with faults",
                value(c.nexus_faults),
                unit,
                value(c.script_faults),
                c.script_faults.label,
                peak,
                note=f"no faults: {others}; {how}",
                ratio=False,
            )
        )
    budget = None if c.nexus.sound is None else c.nexus.sound + CONNECT_TIMEOUT
    rows.append(
        Row(
            "fleet",
            f"targets, {hosts} with faults (issue 10)",
            c.nexus_faults.wall,
            "s",
            budget,
            f"Nexus no faults + connect_timeout {CONNECT_TIMEOUT} s",
            stat,
            note=_targets_note(c.nexus, c.nexus_faults, judged=judged),
        )
    )
    return rows


def _wall_row(workload: str, nexus: Contender, script: Contender, stat: str, note: str) -> Row:
    """Nexus's wall time beside a script's, if the script's runs did what they should."""
    return Row("fleet", workload, nexus.wall, "s", script.sound, script.label, stat, note=note)


def _peak_rss(contender: Contender) -> float | None:
    return contender.peak_rss


def _peak_fds(contender: Contender) -> float | None:
    return None if contender.peak_fds is None else float(contender.peak_fds)


def _amount(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.0f} {unit}"


def _counts(contender: Contender) -> str:
    """The outcomes of its runs (each run's, if they differ), biggest first."""
    seen = []
    for outcomes in contender.outcomes:
        text = ", ".join(f"{n} {kind}" for kind, n in outcomes.most_common())
        if text not in seen:
            seen.append(text)
    return " | ".join(seen) or "-"


def _run_note(nexus: Contender, script: Contender) -> str:
    """How each side's hosts ended, Nexus's waits for a handshake slot, the CPU times; a side
    whose runs went wrong says so (and a script's wall time is then only in the note)."""
    parts = []
    for side in (nexus, script):
        said = f"{side.name}: {_counts(side)}, exit {_codes(side)}"
        if side.problems:
            said += f" (NOT as it should: {'; '.join(side.problems)}"
            said += f"; took {side.wall:.1f} s)" if side.wall is not None else ")"
        parts.append(said)
    if steps := [step for run in nexus.steps for step in run]:
        waits = [step.slot_wait for step in steps]
        own = [step.duration - step.slot_wait for step in steps]
        runs = len(nexus.steps)
        parts.insert(
            1,
            f"Nexus's steps waited for a handshake slot (connect_limit) a median "
            f"{statistics.median(waits):.2f} s, at most {max(waits):.2f} s "
            f"({sum(wait > WORTH_SAYING for wait in waits) / runs:.0f} steps over "
            f"{WORTH_SAYING} s, {sum(waits) / runs:.0f} s in all, a run), apart from their own "
            f"time (handshake and `true`): median {statistics.median(own):.2f} s, "
            f"at most {max(own):.2f} s",
        )
    if nexus.cpu is not None and script.cpu is not None:
        parts.append(f"CPU: Nexus {nexus.cpu:.1f} s, script {script.cpu:.1f} s")
    return "; ".join(parts)


def _codes(contender: Contender) -> str:
    return "/".join(str(code) for code in sorted(contender.codes, key=str)) or "-"


def _targets_note(healthy: Contender, faulty: Contender, *, judged: bool) -> str:
    """Each of the issue's targets with its verdict (for reference only with --quick)."""

    def verdict(held: bool) -> str:
        return "met" if held else "NOT met"

    if (healthy_wall := healthy.sound) is None or faulty.wall is None:
        return "not judged: " + "; ".join(healthy.problems + faulty.problems or ["no runs"])
    budget = healthy_wall + CONNECT_TIMEOUT
    rss, fds = faulty.peak_rss or 0.0, faulty.peak_fds or 0
    exact = all(outcomes == faulty.fleet.counts for outcomes in faulty.outcomes)
    in_time = faulty.wall <= WALL_TARGET * budget
    parts = [
        f"wall ≤ {WALL_TARGET}× (no faults + connect_timeout): {verdict(in_time)}",
        f"counts exact ({_counts(faulty)}): {verdict(exact and not faulty.problems)}",
        f"exit 1: {verdict(faulty.codes == {1})}",
        f"peak RSS {rss:.0f} MB < {RSS_TARGET:.0f} MB: {verdict(rss < RSS_TARGET)}",
        f"open files {fds} < {FD_LIMIT:,}: {verdict(fds < FD_LIMIT and not faulty.problems)}",
    ]
    if not judged:
        parts.append(f"for reference (the targets are for {N_HOSTS:,} hosts)")
    return "; ".join(parts)
