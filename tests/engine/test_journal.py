"""The journal: layout and contents, permissions (T-SEC-7), crash-tolerant reading, bounded memory
for huge output ("nothing lost", clause 3), and the reading side used by ``nexus runs``/``logs``."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import os
import re
import resource
import stat
import threading
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import platformdirs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nexus_engine import journal, journal_output
from nexus_engine.events import (
    Event,
    EventBus,
    OutputReceived,
    RetryScheduled,
    RunFinished,
    RunStarted,
    StepFinished,
    StepStarted,
    TaskFinished,
    TaskStarted,
    TaskSummary,
    UnitFinished,
    UnitStarted,
    UnitSummary,
    to_json,
)
from nexus_engine.journal import Journal, RunNotFoundError
from nexus_engine.journal_files import JournalError, safe_name
from nexus_engine.journal_output import MAX_OPEN_STEPS, open_steps_allowed
from nexus_engine.status import RunStatus, UnitStatus
from nexus_engine.words import Stream

T0 = 1_795_000_000.0  # a fixed wall-clock start


class Script:
    """Builds events of one run with increasing sequence numbers and times."""

    def __init__(self, run_id: str, start: float = T0) -> None:
        self.run_id = run_id
        self.seq = 0
        self.start = start

    def __call__(self, cls: type[Event], **fields: Any) -> Any:
        self.seq += 1
        return cls(run_id=self.run_id, seq=self.seq, time=self.start + self.seq, **fields)

    def out(self, unit: tuple[str, str, int, int], stream: Stream, data: bytes) -> Any:
        task, host, step, attempt = unit
        return self(
            OutputReceived, task=task, host=host, step=step, attempt=attempt, stream=stream,
            data=data,
        )  # fmt: skip

    def step_done(self, task: str, host: str, step: int, attempt: int, status: UnitStatus) -> Any:
        code = 0 if status is UnitStatus.SUCCEEDED else 1
        return self(
            StepFinished, task=task, host=host, step=step, attempt=attempt, status=status,
            exit_code=code, signal=None, duration=0.5,
        )  # fmt: skip

    def run_done(self, status: RunStatus = RunStatus.SUCCEEDED) -> Any:
        return self(RunFinished, status=status, started=self.start)


def scripted_run(s: Script) -> list[Event]:
    """Task ``build`` on host ``web1``: step 0 fails once, then succeeds; step 1 succeeds."""
    where = {"task": "build", "host": "web1"}
    return [
        s(RunStarted, config_path="nexus.toml", tasks=("build",), unit_count=1, parallel_limit=4),
        s(TaskStarted, task="build"),
        s(UnitStarted, **where),
        s(StepStarted, **where, step=0, attempt=1, command="make"),
        s.out(("build", "web1", 0, 1), Stream.STDOUT, b"compiling\n"),
        s.out(("build", "web1", 0, 1), Stream.STDERR, b"warning: \xff\xfe\x00\n"),
        s.out(("build", "web1", 0, 1), Stream.STDOUT, b"no newline"),
        s.step_done("build", "web1", 0, 1, UnitStatus.FAILED),
        s(RetryScheduled, **where, step=0, attempt=2, delay=0.1),
        s(StepStarted, **where, step=0, attempt=2, command="make"),
        s.out(("build", "web1", 0, 2), Stream.STDOUT, b"ok\n"),
        s.step_done("build", "web1", 0, 2, UnitStatus.SUCCEEDED),
        s(StepStarted, **where, step=1, attempt=1, command="make install"),
        s.out(("build", "web1", 1, 1), Stream.STDERR, b"installed\n"),
        s.step_done("build", "web1", 1, 1, UnitStatus.SUCCEEDED),
        s(UnitFinished, **where, status=UnitStatus.SUCCEEDED, attempts=2, exit_code=0,
          duration=1.5),
        s(TaskFinished, task="build", status=UnitStatus.SUCCEEDED),
        s(RunFinished, status=RunStatus.SUCCEEDED, started=T0, tasks={"build": TaskSummary(
            UnitStatus.SUCCEEDED, {"web1": UnitSummary(UnitStatus.SUCCEEDED, 0, 2, 1.5)})}),
    ]  # fmt: skip


async def through_bus(j: Journal, events: list[Event], maxsize: int = 4) -> None:
    """Publish through a real EventBus, the way the runner feeds the journal."""
    bus = EventBus(maxsize=maxsize)
    recording = asyncio.create_task(j.record(bus.subscribe()))
    for event in events:
        await bus.publish(event)
    await bus.close()
    await recording


def tree(root: Path) -> Iterator[Path]:
    yield root
    yield from root.rglob("*")


# ── layout and contents ─────────────────────────────────────────────────────────────────────────


async def test_layout_and_contents(tmp_path: Path) -> None:
    run_id = journal.new_run_id()
    j = Journal(run_id, state_dir=tmp_path)
    assert j.run_dir == tmp_path / "runs" / run_id
    events = scripted_run(Script(run_id))
    await through_bus(j, events)

    lines = (j.run_dir / "events.jsonl").read_text().splitlines()
    expected = [to_json(e) for e in events if not isinstance(e, OutputReceived)]
    assert [json.loads(line) for line in lines] == json.loads(json.dumps(expected))
    assert not any(k in line for line in lines for k in ('"text"', '"data_b64"', "compiling"))

    unit = j.run_dir / "output" / "build" / "web1"
    assert (unit / "0-1.log").read_bytes() == b"compiling\nwarning: \xff\xfe\x00\nno newline"
    assert (unit / "0-1.err").read_bytes() == b"warning: \xff\xfe\x00\n"
    assert (unit / "0-2.log").read_bytes() == b"ok\n"
    assert not (unit / "0-2.err").exists()  # opened lazily: no stderr, no file
    assert (unit / "1-1.log").read_bytes() == (unit / "1-1.err").read_bytes() == b"installed\n"

    summary = (j.run_dir / "summary.json").read_text()
    assert json.loads(summary) == json.loads(json.dumps(to_json(events[-1])))
    assert summary.startswith("{\n  ")  # pretty-printed
    assert summary == json.dumps(to_json(events[-1]), indent=2) + "\n"


async def test_read_events_and_unit_output(tmp_path: Path) -> None:
    j = Journal("run-1", state_dir=tmp_path)
    await through_bus(j, scripted_run(Script("run-1")))
    names = [e["event"] for e in journal.read_events(j.run_dir)]
    assert names[0] == "run_started"
    assert names[-1] == "run_finished"
    assert "output_received" not in names
    pieces = journal.unit_output(j.run_dir, "build", "web1")
    assert [(p.step, p.attempt) for p in pieces] == [(0, 1), (0, 2), (1, 1)]
    assert pieces[0].log.read_bytes().startswith(b"compiling")
    assert pieces[1].err == j.run_dir / "output/build/web1/0-2.err"
    assert not pieces[1].err.exists()
    assert journal.unit_output(j.run_dir, "build", "nohost") == []


async def test_recorded_units_give_each_attempt_its_command_ending_and_output(
    tmp_path: Path,
) -> None:
    j = Journal("run-1", state_dir=tmp_path)
    await through_bus(j, scripted_run(Script("run-1")))
    (unit,) = journal.recorded_units(j.run_dir)
    assert (unit.task, unit.host) == ("build", "web1")
    attempts = [(a.step, a.attempt, a.command) for a in unit.attempts]
    assert attempts == [(0, 1, "make"), (0, 2, "make"), (1, 1, "make install")]
    first = unit.attempts[0]
    assert first.ending is not None
    assert (first.ending.status, first.ending.exit_code) == ("failed", 1)
    assert first.ending.describe() == "failed: exit status 1 in 0.5s"
    assert first.output is not None
    assert first.output.log.read_bytes().startswith(b"compiling")
    assert unit.ending is not None
    assert unit.ending.describe() == "ended: exit status 0 after 2 attempts in 1.5s"
    assert journal.recorded_units(j.run_dir, task="build", host="web2") == []
    assert journal.recorded_units(j.run_dir, host="web1")[0].task == "build"


def test_an_ending_says_the_reason_and_kind_once() -> None:
    Ending = journal.Ending
    assert Ending("failed", reason="unreachable: refused", error_kind="unreachable").describe() == (
        "failed: unreachable: refused"
    )
    assert Ending("failed", reason="no way in", error_kind="auth_failed").describe() == (
        "failed: no way in [auth_failed]"
    )
    assert Ending("timed_out", reason="timed out after 5s").describe() == "timed out after 5s"
    assert Ending("skipped", reason="skipped: build@web1 failed").describe() == (
        "skipped: build@web1 failed"
    )
    assert Ending("failed", signal=9).describe() == "failed: killed by signal 9"


def test_streams_are_given_apart_only_where_the_record_allows(tmp_path: Path) -> None:
    def piece(log: bytes | None, err: bytes | None, out: bytes | None = None) -> journal.OutputFile:
        for suffix, data in ((".log", log), (".err", err), (".out", out)):
            path = tmp_path / f"0-1{suffix}"
            path.unlink(missing_ok=True)
            if data is not None:
                path.write_bytes(data)
        return journal.OutputFile(
            0, 1, tmp_path / "0-1.log", tmp_path / "0-1.err", tmp_path / "0-1.out"
        )

    only_out = piece(b"a\n", None).separated()
    assert only_out == journal.Separated(tmp_path / "0-1.log", None)
    only_err = piece(b"e\n", b"e\n").separated()
    assert only_err == journal.Separated(None, tmp_path / "0-1.err")
    assert piece(b"a\ne\n", b"e\n").separated() is None  # interleaved: cannot be told apart
    kept = piece(b"a\ne\n", b"e\n", b"a\n").separated()
    assert kept == journal.Separated(tmp_path / "0-1.out", tmp_path / "0-1.err")


async def test_unit_output_orders_steps_numerically(tmp_path: Path) -> None:
    s = Script("r")
    j = Journal("r", state_dir=tmp_path)
    keys = [(10, 1), (2, 1), (2, 12), (2, 3)]
    await through_bus(j, [s.out(("t", "h", st_, at), Stream.STDOUT, b"x") for st_, at in keys])
    found = [(p.step, p.attempt) for p in journal.unit_output(j.run_dir, "t", "h")]
    assert found == [(2, 1), (2, 3), (2, 12), (10, 1)]


async def test_output_after_its_step_finished_is_appended(tmp_path: Path) -> None:
    s = Script("r")
    j = Journal("r", state_dir=tmp_path)
    await through_bus(j, [
        s.out(("t", "h", 0, 1), Stream.STDERR, b"a"),
        s.step_done("t", "h", 0, 1, UnitStatus.SUCCEEDED),
        s.out(("t", "h", 0, 1), Stream.STDERR, b"b"),
    ])  # fmt: skip
    assert (j.run_dir / "output/t/h/0-1.log").read_bytes() == b"ab"
    assert (j.run_dir / "output/t/h/0-1.err").read_bytes() == b"ab"


async def test_stdout_is_kept_alone_once_a_step_also_writes_to_stderr(tmp_path: Path) -> None:
    """A step that only prints to stdout has one file, its .log; one that also writes to stderr
    gets a .out holding its stdout alone from the start, whenever stderr first came, even when
    its files were let go and opened again in between."""
    s = Script("r")
    j = Journal("r", state_dir=tmp_path)
    j.output.open_steps = 1  # every other step's chunk lets this one's files go
    quiet, mixed, other = ("t", "quiet", 0, 1), ("t", "mixed", 0, 1), ("t", "other", 0, 1)
    await through_bus(j, [
        s.out(quiet, Stream.STDOUT, b"only out\n"),
        s.out(mixed, Stream.STDOUT, b"out 1\n"),
        s.out(other, Stream.STDOUT, b"x\n"),
        s.out(mixed, Stream.STDOUT, b"out 2\n"),
        s.out(other, Stream.STDOUT, b"x\n"),
        s.out(mixed, Stream.STDERR, b"err 1\n"),
        s.out(other, Stream.STDOUT, b"x\n"),
        s.out(mixed, Stream.STDOUT, b"out 3\n"),
        s.step_done("t", "mixed", 0, 1, UnitStatus.SUCCEEDED),
        s.out(mixed, Stream.STDOUT, b"late\n"),
    ])  # fmt: skip
    output = j.run_dir / "output" / "t"
    assert sorted(p.name for p in (output / "quiet").iterdir()) == ["0-1.log"]
    assert (output / "quiet/0-1.log").read_bytes() == b"only out\n"
    assert (output / "mixed/0-1.out").read_bytes() == b"out 1\nout 2\nout 3\nlate\n"
    assert (output / "mixed/0-1.err").read_bytes() == b"err 1\n"
    assert (output / "mixed/0-1.log").read_bytes() == b"out 1\nout 2\nerr 1\nout 3\nlate\n"
    for host, stdout, stderr in (("quiet", "0-1.log", None), ("mixed", "0-1.out", "0-1.err")):
        (found,) = journal.unit_output(j.run_dir, "t", host)
        apart = found.separated()
        assert apart is not None
        assert apart.stdout == output / host / stdout
        assert apart.stderr == (None if stderr is None else output / host / stderr)


async def test_a_step_whose_first_words_are_on_stderr_keeps_its_stdout_alone(
    tmp_path: Path,
) -> None:
    s = Script("r")
    j = Journal("r", state_dir=tmp_path)
    unit = ("t", "h", 0, 1)
    await through_bus(j, [
        s.out(unit, Stream.STDERR, b"warming up\n"),
        s.out(unit, Stream.STDOUT, b"done\n"),
    ])  # fmt: skip
    step = j.run_dir / "output/t/h/0-1"
    assert step.with_suffix(".out").read_bytes() == b"done\n"
    assert step.with_suffix(".err").read_bytes() == b"warming up\n"


async def test_a_thousand_steps_printing_at_once_hold_a_bounded_number_of_files(
    tmp_path: Path,
) -> None:
    """Output of 1,000 steps, interleaved: each step's files are let go once 16 others have
    printed since, so the open files stay bounded, and every byte still lands in its place."""
    s = Script("r")
    j = Journal("r", state_dir=tmp_path)
    j.output.open_steps = 16
    units = [("t", f"h{i:04d}", 0, 1) for i in range(1000)]
    events = [
        s.out(unit, stream, f"{unit[1]} {round_} {stream.value}\n".encode())
        for round_ in range(3)
        for unit in units
        for stream in (Stream.STDOUT, Stream.STDERR)
    ]
    opened = len(os.listdir("/proc/self/fd"))
    most = 0

    async def counted() -> AsyncIterator[Event]:
        nonlocal most
        for event in events:
            yield event
            most = max(most, len(os.listdir("/proc/self/fd")) - opened)

    await j.record(counted())
    assert most <= 3 * 16 + 2  # + events.jsonl, and the directory being listed
    for _, host, _, _ in units:
        out = (j.run_dir / f"output/t/{host}/0-1.out").read_text()
        err = (j.run_dir / f"output/t/{host}/0-1.err").read_text()
        log = (j.run_dir / f"output/t/{host}/0-1.log").read_text()
        assert out == "".join(f"{host} {r} stdout\n" for r in range(3))
        assert err == "".join(f"{host} {r} stderr\n" for r in range(3))
        assert log == "".join(f"{host} {r} {k}\n" for r in range(3) for k in ("stdout", "stderr"))


class HeldWrites:
    """Output writes that wait, in the journal's writer thread, until the test lets them go."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.started = threading.Event()  # a write is waiting
        self._write = journal_output.write_all

    def __call__(self, fd: int, data: bytes) -> None:
        self.started.set()
        self.go.wait(timeout=30)
        self._write(fd, data)


async def test_output_is_written_off_the_event_loop_and_caught_up_waits_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While an output write is stuck in the disk, the record loop goes on writing events, and
    only ``caught_up`` for the output's seq waits for it."""
    held = HeldWrites()
    monkeypatch.setattr(journal_output, "write_all", held)
    s = Script("r")
    j = Journal("r", state_dir=tmp_path)
    output = s.out(("t", "h", 0, 1), Stream.STDOUT, b"slow disk\n")
    after = s(TaskStarted, task="later")
    bus = EventBus()
    recording = asyncio.create_task(j.record(bus.subscribe()))
    for event in (output, after):
        await bus.publish(event)
    await asyncio.to_thread(held.started.wait, 30)
    logged = asyncio.create_task(j.caught_up(output.seq))
    for _ in range(10_000):  # the loop is free: the event after the output gets written
        if (j.run_dir / "events.jsonl").exists():
            break
        await asyncio.sleep(0)
    assert [e["event"] for e in journal.read_events(j.run_dir)] == ["task_started"]
    assert not logged.done()  # the output is not on disk yet
    held.go.set()
    await asyncio.wait_for(logged, 30)
    await bus.close()
    await recording
    assert (j.run_dir / "output/t/h/0-1.log").read_bytes() == b"slow disk\n"


async def test_a_disk_slower_than_the_output_holds_the_record_loop_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bytes handed to the writer and not yet written are bounded: past the bound the record
    loop takes no more events (the bus then slows the run), and nothing is lost."""
    held = HeldWrites()
    monkeypatch.setattr(journal_output, "write_all", held)
    monkeypatch.setattr(journal_output, "MAX_WAITING", 10)
    s = Script("r")
    j = Journal("r", state_dir=tmp_path)
    chunks = [s.out(("t", "h", 0, 1), Stream.STDOUT, b"%d twelve by\n" % i) for i in range(3)]
    bus = EventBus()
    recording = asyncio.create_task(j.record(bus.subscribe()))
    for event in chunks:
        await bus.publish(event)
    await asyncio.to_thread(held.started.wait, 30)
    for _ in range(100):  # the loop has every chance to take more
        await asyncio.sleep(0)
    assert j.output.written == 0
    room = asyncio.create_task(j.output.room())
    await asyncio.sleep(0)
    assert not room.done()  # the first chunk waiting is over the bound of 10
    assert j._logged == 0  # the record loop waits for room with the first chunk
    held.go.set()
    await asyncio.wait_for(room, 30)
    await bus.close()
    await recording
    written = (j.run_dir / "output/t/h/0-1.log").read_bytes()
    assert written == b"".join(chunk.data for chunk in chunks)


async def test_a_step_end_is_recorded_after_its_last_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record whose events.jsonl says a step finished holds all its output, as when output
    was written in line: a crash in between never leaves a finished step's log cut short."""
    held = HeldWrites()
    monkeypatch.setattr(journal_output, "write_all", held)
    s = Script("r")
    j = Journal("r", state_dir=tmp_path)
    events = [
        s.out(("t", "h", 0, 1), Stream.STDOUT, b"last words\n"),
        s.step_done("t", "h", 0, 1, UnitStatus.SUCCEEDED),
    ]
    bus = EventBus()
    recording = asyncio.create_task(j.record(bus.subscribe()))
    for event in events:
        await bus.publish(event)
    await asyncio.to_thread(held.started.wait, 30)
    for _ in range(100):  # every chance to write the end early
        await asyncio.sleep(0)
    assert not (j.run_dir / "events.jsonl").exists()
    held.go.set()
    await bus.close()
    await recording
    assert [e["event"] for e in journal.read_events(j.run_dir)] == ["step_finished"]
    assert (j.run_dir / "output/t/h/0-1.log").read_bytes() == b"last words\n"


async def test_the_writer_says_how_far_it_got_while_more_keeps_coming(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a steady stream the writer's queue never runs empty: it still reports every few
    chunks, so back-pressure and ``caught_up`` follow the writing, not the end of the stream."""
    monkeypatch.setattr(journal_output, "REPORT_ITEMS", 2)
    gate, reached, real = threading.Event(), threading.Event(), journal_output.write_all

    def write_all(fd: int, data: bytes) -> None:
        if data.startswith(b"third"):
            reached.set()
            gate.wait(timeout=30)
        real(fd, data)

    monkeypatch.setattr(journal_output, "write_all", write_all)
    s = Script("r")
    j = Journal("r", state_dir=tmp_path)
    words = (b"first\n", b"second\n", b"third\n", b"fourth\n")
    chunks = [s.out(("t", "h", 0, 1), Stream.STDOUT, word) for word in words]
    bus = EventBus()
    recording = asyncio.create_task(j.record(bus.subscribe()))
    for event in chunks:
        await bus.publish(event)
    await asyncio.to_thread(reached.wait, 30)
    await asyncio.wait_for(j.caught_up(chunks[1].seq), 30)  # told before the third is written
    assert j.output.written == chunks[1].seq
    gate.set()
    await bus.close()
    await recording
    assert (j.run_dir / "output/t/h/0-1.log").read_bytes() == b"".join(words)


async def test_an_output_write_that_fails_is_reported_and_the_rest_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = journal_output.write_all

    def write_all(fd: int, data: bytes) -> None:
        if data.startswith(b"lost"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "somewhere.log")
        real(fd, data)

    monkeypatch.setattr(journal_output, "write_all", write_all)
    told: list[str] = []
    s = Script("r")
    j = Journal("r", state_dir=tmp_path)
    j.on_failure = told.append
    with pytest.raises(JournalError, match="No space left on device"):
        await through_bus(
            j,
            [
                s.out(("t", "a", 0, 1), Stream.STDOUT, b"lost\n"),
                s.out(("t", "b", 0, 1), Stream.STDOUT, b"kept\n"),
                s.run_done(),
            ],
        )
    assert told == [
        "the journal could not write: No space left on device (writing in somewhere.log)"
    ]
    assert (j.run_dir / "output/t/b/0-1.log").read_bytes() == b"kept\n"
    assert (j.run_dir / "summary.json").exists()


@pytest.mark.parametrize(
    ("file_limit", "steps"),
    [(256, 128), (1_024, 128), (1_100, 128), (20_000, 1_666), (1 << 20, 4_096)],
)
def test_open_output_files_are_a_share_of_the_file_limit(file_limit: int, steps: int) -> None:
    assert open_steps_allowed(file_limit) == steps
    assert open_steps_allowed(resource.RLIM_INFINITY) == MAX_OPEN_STEPS


def test_a_journal_sizes_its_open_files_by_this_process_limit(tmp_path: Path) -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert Journal("r", state_dir=tmp_path).output.open_steps == open_steps_allowed(soft)


def test_new_run_id_format() -> None:
    ids = {journal.new_run_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", i) for i in ids)


# ── permissions and planted paths (T-SEC-7) ─────────────────────────────────────────────────────


@pytest.fixture
def umask_000() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("umask_000")
async def test_modes_under_umask_000(tmp_path: Path) -> None:
    state = tmp_path / "state"  # created by the journal itself
    j = Journal("r", state_dir=state)
    await through_bus(j, scripted_run(Script("r")))
    paths = list(tree(state))
    assert len(paths) > 10
    for path in paths:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o777])
def test_directories_made_on_the_way_to_the_state_dir_are_private(
    tmp_path: Path, umask: int
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    old = os.umask(umask)
    try:
        Journal("r", state_dir=home / ".local" / "state" / "nexus")
    finally:
        os.umask(old)
    for made in (home / ".local", home / ".local/state", home / ".local/state/nexus"):
        assert stat.S_IMODE(made.stat().st_mode) == 0o700, made
    assert stat.S_IMODE(home.stat().st_mode) == 0o755  # not ours: left as it was


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777, 0o1777])
def test_a_state_dir_others_can_write_to_is_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(mode)
    with pytest.raises(JournalError, match=f"chmod go-w {state}"):
        Journal("r", state_dir=state)
    assert not (state / "runs").exists()  # nothing written there


def test_a_state_dir_others_may_only_read_is_kept_as_it_is(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o755)
    Journal("r", state_dir=state)
    assert stat.S_IMODE(state.stat().st_mode) == 0o755
    assert stat.S_IMODE((state / "runs").stat().st_mode) == 0o700


async def test_planted_symlink_at_run_dir_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / "state/runs").mkdir(parents=True)
    (tmp_path / "state/runs/r").symlink_to(target)
    with pytest.raises(JournalError, match="refusing"):
        Journal("r", state_dir=tmp_path / "state")
    assert list(target.iterdir()) == []


async def test_planted_symlink_as_runs_dir_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / "state").mkdir()
    (tmp_path / "state/runs").symlink_to(target)
    with pytest.raises(JournalError, match="refusing"):
        Journal("r", state_dir=tmp_path / "state")
    assert list(target.iterdir()) == []


@pytest.mark.parametrize("dangling", [False, True])
async def test_planted_symlink_at_output_file_is_refused(tmp_path: Path, dangling: bool) -> None:
    victim = tmp_path / "victim"
    if not dangling:
        victim.write_bytes(b"precious")
    j = Journal("r", state_dir=tmp_path / "state")
    unit = j.run_dir / "output" / "t" / "h"
    unit.mkdir(parents=True)
    (unit / "0-1.log").symlink_to(victim)
    s = Script("r")
    events = [s.out(("t", "h", 0, 1), Stream.STDOUT, b"evil") for _ in range(20)]
    with pytest.raises(JournalError, match="refusing"):
        await through_bus(j, [*events, s.run_done()], maxsize=1)  # drained despite the error
    if dangling:
        assert not victim.exists()
    else:
        assert victim.read_bytes() == b"precious"
    assert [e["event"] for e in journal.read_events(j.run_dir)] == ["run_finished"]


async def test_existing_run_id_and_bad_run_ids_are_refused(tmp_path: Path) -> None:
    Journal("r", state_dir=tmp_path)
    with pytest.raises(JournalError):
        Journal("r", state_dir=tmp_path)
    for bad in ("../x", "a/b", "", ".hidden", "x\0"):
        with pytest.raises(JournalError):
            Journal(bad, state_dir=tmp_path)


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to plant a foreign-owned directory")
async def test_foreign_owned_runs_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir(mode=0o700)
    os.chown(tmp_path / "runs", 65534, 65534)
    with pytest.raises(JournalError, match="another user"):
        Journal("r", state_dir=tmp_path)


# ── names that are not file names ───────────────────────────────────────────────────────────────


async def test_hostile_task_and_host_names_stay_inside_the_run(tmp_path: Path) -> None:
    s = Script("r")
    j = Journal("r", state_dir=tmp_path / "state")
    names = [("..", "../x"), ("a/b", "a/b"), (".", "%2F"), ("t", "/"), ("t", "a%2Fb")]
    await through_bus(
        j, [s.out((t, h, 0, 1), Stream.STDOUT, f"{t}|{h}".encode()) for t, h in names]
    )
    for task, host in names:
        [piece] = journal.unit_output(j.run_dir, task, host)
        assert piece.log.read_bytes() == f"{task}|{host}".encode()  # no two names collide
        assert piece.log.resolve().is_relative_to((j.run_dir / "output").resolve())
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["runs"]


@given(st.text(min_size=1))
def test_safe_name_is_one_reversible_component(name: str) -> None:
    try:
        safe = safe_name(name)
    except UnicodeEncodeError:  # lone surrogates: not a TOML string either
        return
    assert unquote(safe) == name
    assert "/" not in safe
    assert "\0" not in safe
    assert not safe.startswith(".")


# ── reading: runs, references, crashes ──────────────────────────────────────────────────────────


async def make_run(state: Path, run_id: str, start: float, status: RunStatus | None) -> None:
    s = Script(run_id, start)
    started = s(RunStarted, config_path="n.toml", tasks=(), unit_count=0, parallel_limit=1)
    events: list[Event] = [started]
    if status is not None:
        events.append(s.run_done(status))
    await through_bus(Journal(run_id, state_dir=state), events)


async def test_list_and_find_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    await make_run(tmp_path, "20260101-000000-aaaaaa", T0, RunStatus.SUCCEEDED)
    await make_run(tmp_path, "20260102-000000-bbbbbb", T0 + 100, RunStatus.FAILED)
    await make_run(tmp_path, "20260102-000000-bbbccc", T0 + 200, None)  # crashed: no summary

    records = journal.list_runs(tmp_path)
    assert [r.run_id for r in records] == [
        "20260102-000000-bbbccc", "20260102-000000-bbbbbb", "20260101-000000-aaaaaa",
    ]  # fmt: skip
    assert [r.status for r in records] == [None, RunStatus.FAILED, RunStatus.SUCCEEDED]
    assert records[0].started is not None
    assert records[0].started.timestamp() == T0 + 201
    assert records[0].path == tmp_path / "runs" / "20260102-000000-bbbccc"

    assert journal.find_run("last", tmp_path) == records[0].path
    assert journal.find_run("20260101", tmp_path) == records[2].path
    assert journal.find_run("20260102-000000-bbbb", tmp_path) == records[1].path
    assert journal.find_run("20260102-000000-bbbccc", tmp_path) == records[0].path
    with pytest.raises(RunNotFoundError, match="matches 2 runs"):
        journal.find_run("20260102", tmp_path)
    for missing in ("2027", ""):
        with pytest.raises(RunNotFoundError):
            journal.find_run(missing, tmp_path)

    monkeypatch.setenv(journal.ENV_VAR, str(tmp_path))
    assert journal.state_dir() == tmp_path
    assert [r.run_id for r in journal.list_runs()] == [r.run_id for r in records]
    j = Journal("via-env")
    assert j.run_dir == tmp_path / "runs" / "via-env"


async def test_no_runs(tmp_path: Path) -> None:
    assert journal.list_runs(tmp_path / "nothing") == []
    with pytest.raises(RunNotFoundError):
        journal.find_run("last", tmp_path / "nothing")


def test_default_state_dir_is_platformdirs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(journal.ENV_VAR, raising=False)
    assert journal.state_dir() == platformdirs.user_state_path("nexus")


async def test_truncated_last_line_is_skipped(tmp_path: Path) -> None:
    await make_run(tmp_path, "r", T0, None)
    run_dir = tmp_path / "runs" / "r"
    with (run_dir / "events.jsonl").open("ab") as f:
        f.write(b'not json\n{"event": "unit_started", "ta')  # a crash mid-write
    assert [e["event"] for e in journal.read_events(run_dir)] == ["run_started"]
    (run_dir / "summary.json").write_text('{"status": "succ')  # a summary cut short
    assert journal.list_runs(tmp_path)[0].status is None
    assert list(journal.read_events(tmp_path / "runs" / "missing")) == []


# ── bounded memory ──────────────────────────────────────────────────────────────────────────────


async def test_hundred_megabytes_with_bounded_memory(tmp_path: Path) -> None:
    chunk = bytes(range(256)) * 256  # 64 KiB
    count = 1600  # 100 MiB
    s = Script("big")

    async def stream() -> AsyncIterator[Event]:
        for _ in range(count):
            yield s.out(("t", "h", 0, 1), Stream.STDOUT, chunk)
        yield s.step_done("t", "h", 0, 1, UnitStatus.SUCCEEDED)
        yield s.run_done()

    j = Journal("big", state_dir=tmp_path)
    tracemalloc.start()
    try:
        await j.record(stream())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024
    log = j.run_dir / "output/t/h/0-1.log"
    assert log.stat().st_size == count * len(chunk)
    expected = hashlib.sha256()
    for _ in range(count):
        expected.update(chunk)
    actual = hashlib.sha256()
    with log.open("rb") as f:
        while block := f.read(1 << 20):
            actual.update(block)
    assert actual.digest() == expected.digest()
