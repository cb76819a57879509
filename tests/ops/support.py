"""What the ``ensure`` tests share: running a config in this process with every command the
transport receives recorded, telling a read-only command from one that changes the host, a
snapshot of a whole directory tree, and the places (this machine, or a host of the sshd lab)
the steps converge.

A run goes through the engine's own wiring (``start_session``), with ``transport_for`` wrapped
so that each :class:`CommandSpec` is kept before it runs: the second run of a converged config
must send only probes (and a ``cmd`` step's read-only guard checks), as pyinfra's operation
fixtures assert an empty command list.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import pwd
import re
import shutil
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from nexus_engine import events as ev
from nexus_engine.config import load_config
from nexus_engine.connections import Connections
from nexus_engine.ops.base import DONE
from nexus_engine.ops.execute import Mode
from nexus_engine.plan import Plan, Unit, build_plan
from nexus_engine.runner import TransportFor
from nexus_engine.scheduler import FailurePolicy
from nexus_engine.session import start_session
from nexus_engine.steps import StepPlan
from nexus_engine.transports.base import CommandResult, CommandSpec, OutputSink, Transport
from tests.e2e.conftest import Nexus
from tests.ssh.harness import SshLab

#: Every batch of probes starts so (``ops/probe.batch``): the only command a converged
#: ``ensure`` step may send.
PROBE_START = "echo @@tools"
#: A ``cmd`` step's ``creates``/``removes`` check: ``[ -e PATH ] && echo creates`` and the like.
_GUARD_LINE = re.compile(r"\[ -e .+ \] (&&|\|\|) echo (creates|removes)|true", re.DOTALL)

CHECK = Mode(checking=True)
CHECK_DIFF = Mode(checking=True, diff=True)


@dataclass
class Recording:
    """A transport that keeps every spec it is asked to run, then runs it."""

    inner: Transport
    sent: list[CommandSpec]

    async def run(
        self, spec: CommandSpec, on_output: OutputSink, cancel: asyncio.Event
    ) -> CommandResult:
        self.sent.append(spec)
        return await self.inner.run(spec, on_output, cancel)


@dataclass
class Outcome:
    """One run as its events tell it, and every command it sent."""

    plan: Plan
    finished: ev.RunFinished
    events: list[ev.Event]
    sent: list[CommandSpec]

    @property
    def steps(self) -> list[ev.StepFinished]:
        """The last attempt of each step that ran, in the order they finished."""
        last: dict[tuple[str, str, int], ev.StepFinished] = {}
        for event in self.events:
            if isinstance(event, ev.StepFinished):
                last[(event.task, event.host, event.step)] = event
        return list(last.values())

    @property
    def changes(self) -> list[str | None]:
        return [None if step.change is None else str(step.change) for step in self.steps]

    @property
    def summaries(self) -> list[str | None]:
        return [step.summary for step in self.steps]

    @property
    def reasons(self) -> list[str | None]:
        return [step.reason for step in self.steps]

    def output(self) -> bytes:
        return b"".join(e.data for e in self.events if isinstance(e, ev.OutputReceived))

    @property
    def succeeded(self) -> bool:
        return self.finished.exit_code == 0

    def describe(self) -> str:
        """What went wrong, for an assertion's message."""
        lines = [f"run ended {self.finished.status}"]
        for step in self.steps:
            lines.append(
                f"  step {step.step}: {step.status} {step.change} {step.summary!r} {step.reason!r}"
            )
        lines.append(f"  output: {self.output()[-2000:]!r}")
        return "\n".join(lines)

    def plan_steps(self) -> list[StepPlan]:
        (unit,) = self.plan.units
        return list(unit.steps)


async def run_config(
    path: Path,
    *,
    state: Path,
    mode: Mode | None = None,
    environ: Mapping[str, str] | None = None,
    transport_for: TransportFor | None = None,
) -> Outcome:
    """Load ``path``, plan it and run it the way ``nexus run`` does, recording what is sent.
    Without ``transport_for``, units reach their hosts as a real run does (``Connections``)."""
    loaded = load_config(path, environ or {})
    plan = build_plan(loaded)
    connections = None
    if transport_for is None:
        connections = Connections(loaded.config)
        transport_for = connections.transport_for
    sent: list[CommandSpec] = []
    inner = transport_for

    def recording(unit: Unit) -> Transport:
        return Recording(inner(unit), sent)

    session = start_session(
        loaded,
        plan,
        policy=FailurePolicy.FAIL_FAST,
        state_dir=state,
        transport_for=recording,
        mode=mode or Mode(),
    )
    stream = session.runner.bus.subscribe()
    seen: list[ev.Event] = []

    async def collect() -> None:
        async for event in stream:
            seen.append(event)

    collecting = asyncio.create_task(collect())
    try:
        finished = await session.run(handle_signals=False)
        await collecting
    finally:
        if connections is not None:
            await connections.close()
    return Outcome(plan, finished, seen, sent)


# --- what a command does ------------------------------------------------------------------------


def is_probe(spec: CommandSpec) -> bool:
    return spec.command.startswith(PROBE_START) and spec.stdin is None


def is_guard_check(spec: CommandSpec) -> bool:
    """A ``creates``/``removes`` test: only ``[ -e … ]`` lines and ``true``."""
    lines = spec.command.split("\n")
    return spec.stdin is None and all(_GUARD_LINE.fullmatch(line) for line in lines)


def changing_commands(outcome: Outcome) -> list[str]:
    """The commands of a run that were neither probes, guard checks, nor a ``cmd`` step's own
    ``unless`` command (the operator's read-only test): what may have changed the host."""
    unless = {step.guard.unless for step in outcome.plan_steps() if step.guard is not None}
    return [
        spec.command
        for spec in outcome.sent
        if not (is_probe(spec) or is_guard_check(spec) or spec.command in unless)
    ]


def probes(outcome: Outcome) -> list[CommandSpec]:
    return [spec for spec in outcome.sent if is_probe(spec)]


def done_words(checking: str) -> str:
    """What a real run says for what a check said: "would create X" → "created X"."""
    if not checking.startswith("would "):
        return checking
    verb, _, rest = checking.removeprefix("would ").partition(" ")
    return f"{DONE.get(verb, verb)} {rest}"


# --- configs ------------------------------------------------------------------------------------


def write_config(path: Path, data: Mapping[str, Any]) -> Path:
    path.write_text(tomli_w.dumps(dict(data)), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Place:
    """Where a test's steps converge: this machine (``local``) or a host of the sshd lab,
    reached as its key user; ``root`` is a directory that login may write to, and ``uid``
    and ``gid`` are the login's, which owns what the steps make."""

    kind: str
    root: Path
    uid: int
    gid: int
    host: Mapping[str, Any] = field(default_factory=dict)  # the host's table, for sshd

    @property
    def unit_host(self) -> str:
        return "local" if self.kind == "local" else "web1"

    def config(
        self,
        commands: Sequence[Mapping[str, Any]],
        variables: Mapping[str, Any] | None = None,
        **settings: Any,
    ) -> dict[str, Any]:
        """A config whose task ``t`` runs ``commands`` here, ``${var:root}`` being ``root``.
        Locally every variable is in ``[settings.vars]``; on the lab ``root`` is the host's
        own (``[hosts.web1] vars``) and the others its group's (``[groups.web] vars``), the
        task running on the group."""
        task: dict[str, Any] = {"commands": [dict(c) for c in commands]}
        data: dict[str, Any] = {"settings": dict(settings), "tasks": {"t": task}}
        root = {"root": str(self.root)}
        if self.kind == "local":
            data["settings"]["vars"] = {**root, **(variables or {})}
        else:
            data["hosts"] = {"web1": {**self.host, "vars": root}}
            data["groups"] = {"web": {"hosts": ["web1"], "vars": dict(variables or {})}}
            task["on"] = "web"
        return data

    def give(self, *paths: Path) -> None:
        """Hand what the test made (as root) to the login, as if it had made it."""
        for path in paths:
            for item in [
                path,
                *(path.rglob("*") if path.is_dir() and not path.is_symlink() else []),
            ]:
                os.lchown(item, self.uid, self.gid)


def lab_place(lab: SshLab, where: Path, index: int = 0) -> Place:
    """A place on a lab host, logging in as the key user, whose ``root`` that user owns."""
    user = pwd.getpwnam(lab.key_user)
    root = where / "root"
    root.mkdir(mode=0o755)
    os.chown(root, user.pw_uid, user.pw_gid)
    host = lab.hosts[index]
    table = {"hostname": host.address, "port": host.port, "user": lab.key_user}
    return Place("sshd", root, user.pw_uid, user.pw_gid, table)


def local_place(tmp_path: Path) -> Place:
    """This machine, as the user running the tests."""
    root = tmp_path / "root"
    root.mkdir()
    return Place("local", root, os.getuid(), os.getgid())


# --- the state of a tree ------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    kind: str  # file, dir, link, other
    mode: int
    uid: int
    gid: int
    inode: int
    mtime_ns: int
    data: bytes  # a file's content, a link's target, a directory's sorted names


def entry(path: Path) -> Entry:
    info = path.lstat()
    mode = info.st_mode
    if stat.S_ISLNK(mode):
        kind, data = "link", os.readlink(os.fsencode(path))
    elif stat.S_ISDIR(mode):
        kind, data = "dir", b"\0".join(sorted(os.fsencode(p.name) for p in path.iterdir()))
    elif stat.S_ISREG(mode):
        kind, data = "file", path.read_bytes()
    else:
        kind, data = "other", b""
    return Entry(
        kind, stat.S_IMODE(mode), info.st_uid, info.st_gid, info.st_ino, info.st_mtime_ns, data
    )


def snapshot(root: Path, *, dir_times: bool = True) -> dict[str, Entry]:
    """Everything under ``root`` (itself included), links not followed: content, mode, owner,
    inode and mtime of each entry, so that any write, rename, chmod or chown shows.
    ``dir_times`` False leaves out the mtime of directories, which a temporary file made and
    removed again in them changes."""
    found = {".": entry(root)}
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder, name)
            found[str(path.relative_to(root))] = entry(path)
    if not dir_times:
        found = {
            key: dataclasses.replace(item, mtime_ns=0) if item.kind == "dir" else item
            for key, item in found.items()
        }
    return found


def temp_files(root: Path) -> list[Path]:
    """Leftovers of the atomic write (``.nexus.XXXXXXXXXX``) anywhere under ``root``."""
    return list(root.rglob(".nexus.*"))


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def names(root: Path) -> set[str]:
    return {path.name for path in root.iterdir()}


# --- a host that lacks a tool ----------------------------------------------------------------

#: What a probe needs besides the tool a test leaves out.
PROBE_TOOLS = ("base64", "head", "id", "find", "sha256sum")


def bin_of(where: Path, tools: Sequence[str]) -> Path:
    """A directory holding only ``tools`` (links to this machine's), for a PATH without the
    rest."""
    where.mkdir()
    for tool in tools:
        found = shutil.which(tool)
        assert found is not None, tool
        os.symlink(found, where / tool)
    return where


def steps_with_only(
    nexus: Nexus, tmp_path: Path, commands: str, tools: Sequence[str] = PROBE_TOOLS
) -> list[tuple[str, str]]:
    """Each step's (status, reason) when ``commands`` (one TOML array) runs locally with a PATH
    of ``tools`` alone; the run must fail."""
    (nexus.cwd / "nexus.toml").write_text(f"[tasks.t]\ncommands = {commands}\n")
    path = str(bin_of(tmp_path / "bin", tools))
    done = nexus("--headless", "run", "--format", "jsonl", env={"PATH": path})
    assert done.returncode == 1, done.stdout + done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    return [(e["status"], e["reason"]) for e in events if e["event"] == "step_finished"]


async def check_run_twice(
    config: Path, state: Path, count: int, snapshot: Callable[[], object]
) -> Outcome:
    """Check, run, run again, for a config of ``count`` steps: the check changes nothing
    (``snapshot`` of what the steps touch is the same after it) and says word for word what
    the run then does; the second run finds everything as asked and sends only its probe.
    Returns the real run."""
    before = snapshot()
    checked = await run_config(config, state=state, mode=CHECK)
    assert checked.succeeded, checked.describe()
    assert changing_commands(checked) == []
    assert snapshot() == before
    first = await run_config(config, state=state)
    assert first.succeeded, first.describe()
    assert [done_words(words or "") for words in checked.summaries] == first.summaries
    assert checked.changes == first.changes
    second = await run_config(config, state=state)
    assert second.succeeded, second.describe()
    assert second.changes == ["ok"] * count, second.describe()
    assert changing_commands(second) == []
    assert len(probes(second)) == 1
    return first
