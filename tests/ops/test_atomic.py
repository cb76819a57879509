"""A file's content is replaced atomically: a reader never sees half of it, and a write that
must not happen (``validate`` fails, the bytes that arrived are not the ones planned) leaves
the old file exactly as it was, with no temporary file beside it."""

from __future__ import annotations

import asyncio
import hashlib
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from nexus_engine.status import Change
from nexus_engine.transports.base import CommandResult, CommandSpec, OutputSink
from nexus_engine.transports.local import LocalTransport
from tests.ops.support import (
    Place,
    is_probe,
    mode_of,
    names,
    run_config,
    snapshot,
    temp_files,
    write_config,
)

SIZE = 4 * 1024 * 1024


@dataclass
class Reader:
    """Reads ``path`` whole, over and over, until stopped; keeps the digest of every read
    that was neither of the two contents."""

    path: Path
    allowed: frozenset[bytes]
    reads: int = 0
    torn: list[str] = field(default_factory=list)
    first_read: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def loop(self) -> None:
        while not self.stop.is_set():
            data = self.path.read_bytes()
            if data not in self.allowed:
                self.torn.append(f"{len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
            self.reads += 1
            self.first_read.set()


@contextmanager
def reading(path: Path, allowed: frozenset[bytes]) -> Iterator[Reader]:
    reader = Reader(path, allowed)
    thread = threading.Thread(target=reader.loop, daemon=True)
    thread.start()
    try:
        assert reader.first_read.wait(30), "the reader never read the file"
        yield reader
    finally:
        reader.stop.set()
        thread.join(30)


async def test_a_reader_sees_one_whole_content_or_the_other_never_a_mix(
    place: Place, project: Path, state: Path
) -> None:
    contents = {name: random.Random(name).randbytes(SIZE) for name in ("a", "b")}
    configs = {}
    for name, data in contents.items():
        (project / f"{name}.bin").write_bytes(data)
        step = {"ensure": "file", "path": "${var:root}/big.bin", "source": f"{name}.bin"}
        configs[name] = write_config(project / f"{name}.toml", place.config([step]))
    target = place.root / "big.bin"
    target.write_bytes(contents["a"])
    place.give(target)

    with reading(target, frozenset(contents.values())) as reader:
        for name in ["b", "a"] * 3:
            done = await run_config(configs[name], state=state)
            assert done.succeeded, done.describe()
            assert done.changes == ["changed"]
            assert done.steps[0].sent == SIZE
            assert target.read_bytes() == contents[name]
    assert reader.torn == []
    assert reader.reads >= 1
    assert temp_files(place.root) == []
    assert names(place.root) == {"big.bin"}


async def test_a_failing_validate_keeps_the_old_file_byte_for_byte(
    place: Place, project: Path, state: Path
) -> None:
    conf = place.root / "app.conf"
    conf.write_bytes(b"good=1\r\nno final newline")
    conf.chmod(0o640)
    place.give(conf)
    before = snapshot(place.root, dir_times=False)
    step = {
        "ensure": "file",
        "path": "${var:root}/app.conf",
        "content": "bad\n",
        "mode": "0600",
        "backup": True,
        "validate": "grep -q '^good=' %s",
    }
    config = write_config(project / "nexus.toml", place.config([step]))
    done = await run_config(config, state=state)
    assert not done.succeeded
    assert done.changes == [None]
    assert b"nexus: validate failed; the file was not replaced" in done.output()
    # content, mode 0640, owner, inode, mtime: all as they were
    assert snapshot(place.root, dir_times=False) == before
    assert temp_files(place.root) == []
    assert conf.read_bytes() == b"good=1\r\nno final newline"
    assert mode_of(conf) == 0o640


async def test_a_failing_validate_creates_nothing(place: Place, project: Path, state: Path) -> None:
    step = {
        "ensure": "file",
        "path": "${var:root}/new.conf",
        "content": "bad\n",
        "validate": "test ! -s %s",
    }
    config = write_config(project / "nexus.toml", place.config([step]))
    done = await run_config(config, state=state)
    assert not done.succeeded
    assert b"validate failed" in done.output()
    assert names(place.root) == set()


@dataclass
class EditsSourceAfterProbe:
    """This machine's transport, which rewrites a step's ``source`` once the probe has run:
    the bytes the host then receives are not the ones the plan's digest was taken of."""

    source: Path
    sent: list[CommandSpec] = field(default_factory=list)
    inner: LocalTransport = field(default_factory=LocalTransport)

    async def run(
        self, spec: CommandSpec, on_output: OutputSink, cancel: asyncio.Event
    ) -> CommandResult:
        result = await self.inner.run(spec, on_output, cancel)
        if is_probe(spec):
            self.source.write_bytes(b"edited after planning\n")
        return result


async def test_content_that_arrives_otherwise_than_planned_replaces_nothing(
    here: Place, project: Path, state: Path
) -> None:
    """The host checks the sha256 of what arrived against the plan's: a source edited (or a
    transfer torn) after planning leaves the old file and no temporary file."""
    place = here
    source = project / "app.bin"
    source.write_bytes(b"as planned\n")
    (place.root / "app.bin").write_bytes(b"old\n")
    before = snapshot(place.root, dir_times=False)
    step = {"ensure": "file", "path": "${var:root}/app.bin", "source": "app.bin"}
    config = write_config(project / "nexus.toml", place.config([step]))
    transport = EditsSourceAfterProbe(source)
    done = await run_config(config, state=state, transport_for=lambda unit: transport)
    assert not done.succeeded
    assert done.steps[0].change is None
    assert b"the content arrived incomplete" in done.output()
    assert snapshot(place.root, dir_times=False) == before
    assert temp_files(place.root) == []
    assert Change.CHANGED not in [step.change for step in done.steps]
