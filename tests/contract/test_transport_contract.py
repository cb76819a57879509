"""The promises of the :class:`~nexus_engine.transports.base.Transport` protocol, kept by every
transport: locally, over SSH to the real OpenSSH lab, and over SSH to a server in this process
(the ``transport`` fixture, ``conftest.py``).

What each transport does beyond these, or in its own way, is tested with it: process groups,
``setsid`` escapees, the drain after exit and the subreaper locally
(``tests/engine/transports/test_local.py``); inline or on stdin, sudo, the pool, host keys and
lost connections over SSH (``tests/ssh``). A failure to start is a result everywhere, but says
so differently (locally an error, over SSH the script's exit status 126): each says it there.

(T-PROC-1, 3, 5, 7, 8, 9; T-SEC-4.)
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import random
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nexus_engine.transports.base import CommandSpec, Transport
from nexus_engine.words import Stream
from tests.contract.conftest import GRACE, Subject
from tests.ssh.harness import processes_matching
from tests.ssh.support import exists, remove, token
from tests.transport_helpers import Sink, live_members
from tests.transport_helpers import run_on as run


async def warm(transport: Subject) -> None:
    """Connect before a test whose deadline must cover only the command, not a handshake on a
    loaded machine (locally: nothing to warm)."""
    result, _ = await run(transport, "true")
    assert result.succeeded, result


async def test_each_satisfies_the_protocol(transport: Subject) -> None:
    implementation: Transport = transport.transport
    assert inspect.iscoroutinefunction(implementation.run)


# ── how a command ends ──────────────────────────────────────────────────────────────────────────


async def test_the_exit_status_and_both_streams_are_kept_apart(transport: Subject) -> None:
    result, sink = await run(transport, "echo out; echo err >&2; echo more; exit 3")
    assert (result.exit_code, result.signal, result.failure, result.error) == (3, None, None, None)
    assert (result.timed_out, result.cancelled) == (False, False)
    assert not result.succeeded
    assert sink.out == b"out\nmore\n"
    assert sink.err == b"err\n"

    result, sink = await run(transport, "echo fine")
    assert result.succeeded
    assert (result.exit_code, result.signal, result.failure, result.error) == (0, None, None, None)
    assert (result.timed_out, result.cancelled) == (False, False)
    assert result.duration > 0
    assert sink.out == b"fine\n"
    assert sink.err == b""


async def test_an_exit_by_signal_is_a_signal_and_never_success(transport: Subject) -> None:
    result, _ = await run(transport, "kill -TERM $$")
    assert (result.exit_code, result.signal) == (None, signal.SIGTERM)
    assert result.failure is None  # the command died; nothing else did
    assert (result.timed_out, result.cancelled) == (False, False)
    assert not result.succeeded


async def test_a_first_line_that_looks_like_a_number_is_not_eaten(transport: Subject) -> None:
    """The SSH transport takes a group id line off stdout; the command's own lines stay."""
    result, sink = await run(transport, "echo 12345; echo 678")
    assert result.succeeded
    assert sink.out == b"12345\n678\n"


# ── output, byte for byte ───────────────────────────────────────────────────────────────────────


async def test_one_megabyte_of_random_bytes_arrives_byte_exact(transport: Subject) -> None:
    command = (
        't=$(mktemp); head -c 1048576 /dev/urandom > "$t"; '
        'sha256sum < "$t" >&2; cat "$t"; rm -f "$t"'
    )
    result, sink = await run(transport, command)
    assert result.succeeded, result
    assert len(sink.out) == 1048576
    assert hashlib.sha256(sink.out).hexdigest() == sink.err.split()[0].decode()


async def test_a_twenty_megabyte_line_without_newline_streams_in_chunks(
    transport: Subject,
) -> None:
    """T-PROC-7: no line reader, so no line-length limit and no hang on a line never ended."""
    result, sink = await run(transport, "head -c 20971520 /dev/zero | tr '\\0' x", timeout=30)
    assert result.succeeded, result
    assert len(sink.out) == 20 * 1024 * 1024
    assert sink.out.count(b"x") == len(sink.out)
    assert len(sink.chunks) > 1  # it really streamed
    assert max(len(data) for _, data in sink.chunks) <= 65536


async def test_binary_and_invalid_utf8_bytes_are_kept_exactly(transport: Subject) -> None:
    """T-PROC-8: raw bytes on both streams, including a UTF-8 character split across two
    writes (and so, likely, across two chunks), NUL, escapes and markup-looking text."""
    command = (
        r"printf '\377\376\000\033[31m[/bold]\303'; sleep 0.05; printf '\251\n'; "
        r"printf '\200err\000\n' >&2; printf '\377\000' >&2"
    )
    result, sink = await run(transport, command)
    assert result.succeeded, result
    assert sink.out == b"\xff\xfe\x00\x1b[31m[/bold]\xc3\xa9\n"
    assert sink.err == b"\x80err\x00\n\xff\x00"


async def test_a_slow_sink_throttles_the_command(transport: Subject, marker: Path) -> None:
    """Awaiting the sink is the back-pressure: while it stalls the command is held up, not read
    8 MB ahead into memory, and the sink gets one chunk at a time."""
    size = 8_000_000
    in_sink = 0
    most_in_sink = 0
    seen_marker_early: list[bool] = []
    received = bytearray()

    async def slow(stream: Stream, data: bytes) -> None:
        nonlocal in_sink, most_in_sink
        in_sink += 1
        most_in_sink = max(most_in_sink, in_sink)
        if not received:  # the first chunk: stall, and check the writer is blocked meanwhile
            await asyncio.sleep(0.3)
            seen_marker_early.append(exists(marker))
        received.extend(data)
        in_sink -= 1

    result = await transport.run(
        CommandSpec(f"head -c {size} /dev/zero; touch {marker}; head -c {size} /dev/zero >&2"),
        slow,
        asyncio.Event(),
    )
    assert result.exit_code == 0, result
    assert seen_marker_early == [False]  # it did not read 8 MB ahead of the stalled sink
    assert most_in_sink == 1  # one chunk at a time reaches the sink
    assert len(received) == 2 * size


# ── what the command is given ───────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("private", [False, True], ids=["plain", "carrying-a-secret"])
async def test_stdin_is_empty(transport: Subject, private: bool) -> None:
    """The command reads EOF at once, and nothing of how it was started (over SSH a step with a
    secret travels behind a bootstrap on the channel's stdin)."""
    command = 'cat; read -r line; echo "read=$? line=$line"; wc -c'
    result, sink = await run(transport, command, timeout=5, private=private)
    assert result.succeeded, result
    assert sink.out == b"read=1 line=\n0\n"  # and not a timeout: cat saw EOF at once


def chunks_of(data: bytes, size: int = 65536) -> Callable[[], AsyncIterator[bytes]]:
    async def source() -> AsyncIterator[bytes]:
        for start in range(0, len(data), size):
            yield data[start : start + size]

    return source


@pytest.mark.parametrize("private", [False, True], ids=["plain", "carrying-a-secret"])
async def test_fed_stdin_arrives_byte_exact_and_ends(transport: Subject, private: bool) -> None:
    """What Nexus feeds (a file's content) reaches the command whole, after whatever started
    it (the bootstrap's script rides the same channel), and then EOF."""
    data = random.Random(7).randbytes(3 * 1024 * 1024 + 17)
    command = 'sha256sum | cut -c1-64; read -r line; echo "read=$?"'
    result, sink = await run(transport, command, timeout=30, private=private, stdin=chunks_of(data))
    assert result.succeeded, result
    assert sink.out == f"{hashlib.sha256(data).hexdigest()}\nread=1\n".encode()


async def test_a_command_that_reads_no_stdin_is_not_held_up_by_a_feed(transport: Subject) -> None:
    data = b"x" * (8 * 1024 * 1024)
    result, sink = await run(transport, "echo done", timeout=30, stdin=chunks_of(data))
    assert result.succeeded, result
    assert sink.out == b"done\n"


NASTY = [
    'it\'s "quoted"',
    "$HOME and ${HOME}",
    "`id` and $(id)",
    "new\nline\n",
    "-n",
    "--leading",
    "back\\slash\\",
    "  spaces  ",
    "tab\there",
    "ünïcødé €",
    "*?~[a]|&;<>(){}",
    "a b$c'\"\n",
    "",
]


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(value=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0")))
async def test_an_env_value_round_trips_exactly(transport: Subject, value: str) -> None:
    """T-SEC-4: an env value reaches the command as one literal string, whatever it holds."""
    result, sink = await run(transport, 'printf %s "$V"', env={"V": value, "W": "-e"})
    assert result.succeeded, (result, sink.err)
    assert sink.out == value.encode()


@pytest.mark.parametrize("value", NASTY)
async def test_nasty_env_values_round_trip(transport: Subject, value: str) -> None:
    result, sink = await run(transport, 'printf %s "$V"', env={"V": value})
    assert result.succeeded, (result, sink.err)
    assert sink.out == value.encode()


async def test_injection_through_env_or_cwd_creates_nothing(transport: Subject) -> None:
    """T-SEC-4: ``x; touch /tmp/pwned`` in a value is data, never a command."""
    pwned = Path(f"/tmp/nexus-pwned-{token()}")
    values = [
        f"x; touch {pwned}",
        f"$(touch {pwned})",
        f"`touch {pwned}`",
        f"'; touch {pwned}; '",
        f'"; touch {pwned}; "',
        f"x\ntouch {pwned}\n",
    ]
    try:
        for value in values:
            result, sink = await run(transport, 'printf %s "$V"', env={"V": value})
            assert result.succeeded, result
            assert sink.out == value.encode()
            result, sink = await run(transport, "echo ran", cwd=value)
            assert not result.succeeded  # there is no such directory
            assert sink.out == b""
        assert not exists(pwned)
    finally:
        remove(pwned)


async def test_env_and_a_cwd_with_a_nasty_name_arrive_and_a_missing_cwd_runs_nothing(
    transport: Subject,
) -> None:
    """The directory is made by the command itself: on the lab the step runs as another user."""
    result, sink = await run(transport, "mktemp -d")
    assert result.succeeded
    base = sink.out.decode().strip()
    try:
        for name in [n for n in NASTY if n and "/" not in n]:
            where = f"{base}/{name}"
            result, sink = await run(transport, 'mkdir -- "$D"', env={"D": where})
            assert result.succeeded, (name, sink.err)
            command = 'printf "%s|" "$T"; pwd; ls -a'
            result, sink = await run(transport, command, cwd=where, env={"T": "a b$c'\"\n"})
            assert result.succeeded, (name, sink.err)
            assert sink.out == f"a b$c'\"\n|{where}\n.\n..\n".encode()
        result, sink = await run(transport, "echo ran", cwd=f"{base}/missing")
        assert not result.succeeded
        assert sink.out == b""
    finally:
        await run(transport, 'rm -rf -- "$D"', env={"D": base})


# ── timeout and cancel end the step, and everything it started ──────────────────────────────────


async def test_cancel_set_before_the_start_runs_nothing(transport: Subject, marker: Path) -> None:
    cancel = asyncio.Event()
    cancel.set()
    result, sink = await run(transport, f"touch {marker}", cancel=cancel)
    assert result.cancelled
    assert result.exit_code is None
    assert not result.succeeded
    await asyncio.sleep(0.2)
    assert not exists(marker)
    assert sink.chunks == []


@pytest.mark.parametrize("how", ["timeout", "cancel"])
async def test_a_stop_kills_the_whole_process_tree(
    transport: Subject, tag: str, marker: Path, how: str
) -> None:
    """T-PROC-1 / T-PROC-3: killing only the foreground ``sleep`` would let the shell go on to
    ``touch`` the marker; killing only the shell would leave the sleeps."""
    await warm(transport)
    sink, cancel = Sink(), asyncio.Event()
    command = f"echo $$; sh -c 'sleep {tag} & echo started; sleep {tag}; touch {marker}'"
    timeout = 2 if how == "timeout" else 20
    started = time.monotonic()
    task = asyncio.create_task(run(transport, command, sink=sink, cancel=cancel, timeout=timeout))
    await sink.wait_for(b"started\n")
    pgid = sink.first_line()
    assert len(live_members(pgid)) >= 2  # the checks see the group while it runs
    if how == "cancel":  # no deadline running: time for a second connection to look too
        before = await transport.views(pgid)
        assert all(len(members) >= 2 for members in before.values()), before
        cancel.set()
    result, _ = await task
    elapsed = time.monotonic() - started
    assert (result.timed_out, result.cancelled) == (how == "timeout", how == "cancel")
    assert result.failure is None, result  # the kill was verified
    assert not result.succeeded
    assert result.exit_code is None
    assert elapsed < (timeout if how == "timeout" else 0) + GRACE + 5
    assert sink.out == f"{pgid}\nstarted\n".encode()  # the partial output is kept
    await transport.assert_gone(pgid)
    assert processes_matching(f"sleep {tag}") == []
    await asyncio.sleep(0.3)
    assert not exists(marker)


@pytest.mark.parametrize("how", ["timeout", "cancel"])
async def test_a_child_ignoring_term_is_killed_after_the_grace(
    transport: Subject, tag: str, how: str
) -> None:
    """The shell dies of TERM; its child, which ignores TERM, is KILLed once the grace is over.
    The step says it was the signal that ended the shell."""
    await warm(transport)
    command = f"echo $$; sh -c 'trap \"\" TERM; echo trapped; sleep {tag}' & sleep {tag}"
    cancel, sink = asyncio.Event(), Sink()

    async def cancel_once_trapped() -> None:
        await sink.wait_for(b"trapped")
        cancel.set()

    timeout = 1.0 if how == "timeout" else 60
    canceller = asyncio.create_task(cancel_once_trapped()) if how == "cancel" else None
    begun = time.monotonic()
    result, _ = await run(transport, command, sink=sink, cancel=cancel, timeout=timeout)
    elapsed = time.monotonic() - begun
    if canceller is not None:
        await canceller
    assert (result.timed_out, result.cancelled) == (how == "timeout", how == "cancel")
    assert not result.succeeded
    assert (result.exit_code, result.signal) == (None, signal.SIGTERM)
    floor = timeout if how == "timeout" else 0
    assert floor + GRACE - 0.05 <= elapsed < 30  # the grace, then KILL: not the sleep's 300 s
    assert b"trapped" in sink.out
    await transport.assert_gone(sink.first_line())
    assert processes_matching(f"sleep {tag}") == []


async def test_a_shell_ignoring_term_is_killed_after_the_grace(
    transport: Subject, tag: str, marker: Path
) -> None:
    """``trap '' TERM`` is inherited by the children: only KILL, after the grace, ends them,
    and the shell never gets to ``touch`` the marker."""
    await warm(transport)
    command = f"trap '' TERM; echo $$; sh -c 'sleep {tag} & sleep {tag}'; touch {marker}"
    started = time.monotonic()
    result, sink = await run(transport, command, timeout=1)
    elapsed = time.monotonic() - started
    assert result.timed_out
    assert result.failure is None, result
    assert (result.exit_code, result.signal) == (None, signal.SIGKILL)
    assert 1 + GRACE - 0.1 <= elapsed < 1 + GRACE + 5
    await transport.assert_gone(sink.first_line())
    assert processes_matching(f"sleep {tag}") == []
    await asyncio.sleep(0.3)
    assert not exists(marker)


async def test_a_command_that_exits_on_term_reports_its_exit_status(
    transport: Subject, tag: str
) -> None:
    """Stopped, it still says how it ended (and a stopped step is never a success)."""
    await warm(transport)
    command = f"trap 'exit 7' TERM; echo ready; sleep {tag} & wait"
    result, sink = await run(transport, command, timeout=1)
    assert sink.out == b"ready\n"  # the trap was set before the deadline
    assert result.timed_out
    assert (result.exit_code, result.signal) == (7, None)
    assert not result.succeeded
