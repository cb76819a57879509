"""The text renderer fed scripted events: prefixes, line assembly, safety, verbosity, summary,
colour and the progress line."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import re

import pytest

from nexus_engine import events as ev
from nexus_engine import fold
from nexus_engine.fold import Rules
from nexus_engine.render import text as text_render
from nexus_engine.render.text import MAX_PENDING, TextRenderer
from nexus_engine.status import RunStatus, UnitStatus
from nexus_engine.words import Stream
from tests.engine.render.script import SIX_ADDRESSES, Script, six_hosts, stream

S = UnitStatus
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class Screen:
    def __init__(self, **options: object) -> None:
        self.out = io.StringIO()
        self.err = io.StringIO()
        self.renderer = TextRenderer(self.out, self.err, **options)  # type: ignore[arg-type]

    def feed(self, *events: ev.Event) -> None:
        for event in events:
            self.renderer.handle(event)

    @property
    def lines(self) -> list[str]:
        return self.out.getvalue().splitlines()


def a_run(s: Script) -> list[ev.Event]:
    """Two units: build succeeds with some output, test fails with output on stderr."""
    build = s.unit_finished("build@local", duration=1.5)
    test = s.unit_finished(
        "test@web1", S.FAILED, exit_code=2, duration=125, reason="exit status 2", attempts=3
    )
    events = [
        s.run_started("build", "test", units=2),
        s.unit_started("build@local"),
        s.step_started("build@local", "make all"),
        s.out("build@local", b"compiling\n"),
        s.step_finished("build@local"),
        build,
        s.unit_started("test@web1"),
        s.step_started("test@web1", "make test"),
        s.out("test@web1", b"1 failed\n", Stream.STDERR),
        s.step_finished("test@web1", S.FAILED, exit_code=2, reason="exit status 2"),
        test,
    ]
    return [*events, s.run_finished(RunStatus.FAILED, build, test)]


def test_output_lines_are_prefixed_with_task_and_host() -> None:
    screen = Screen()
    screen.feed(*a_run(Script()))
    lines = screen.lines
    assert "build@local $ make all" in lines
    assert "build@local | compiling" in lines
    assert "test@web1 ! 1 failed" in lines
    assert "build@local ✓ succeeded in 1.5s" in lines
    assert "test@web1 ✗ failed in 2m05s: exit status 2" in lines
    # in the order they happened
    assert lines.index("build@local | compiling") < lines.index("test@web1 ! 1 failed")
    assert screen.err.getvalue() == "nexus: run r1: 2 units (build, test)\n"


def test_partial_lines_are_joined_across_chunks_and_flushed_at_unit_end() -> None:
    s, screen = Script(), Screen()
    screen.feed(
        s.unit_started("a@local"),
        s.out("a@local", b"hel"),
        s.out("a@local", b"lo\nwor"),
    )
    assert screen.lines == ["a@local | hello"]
    screen.feed(s.out("a@local", b"ld"), s.out("a@local", b"err", Stream.STDERR))
    assert screen.lines == ["a@local | hello"]  # still waiting for the newlines
    screen.feed(s.unit_finished("a@local"))
    assert screen.lines == [
        "a@local | hello",
        "a@local | world",
        "a@local ! err",
        "a@local ✓ succeeded in 1.5s",
    ]


def test_streams_and_units_do_not_mix_their_partial_lines() -> None:
    s, screen = Script(), Screen()
    screen.feed(
        s.out("a@h1", b"one "),
        s.out("a@h2", b"two\n"),
        s.out("a@h1", b"err ", Stream.STDERR),
        s.out("a@h1", b"more\n"),
        s.out("a@h1", b"done\n", Stream.STDERR),
    )
    assert screen.lines == ["a@h2 | two", "a@h1 | one more", "a@h1 ! err done"]


def test_a_partial_line_ends_with_its_step() -> None:
    s, screen = Script(), Screen()
    screen.feed(
        s.step_started("a@local", "printf abc"),
        s.out("a@local", b"abc"),
        s.step_finished("a@local"),
        s.step_started("a@local", "echo def", step=1),
        s.out("a@local", b"def\n", step=1),
    )
    assert screen.lines == [
        "a@local $ printf abc",
        "a@local | abc",
        "a@local $ echo def",
        "a@local | def",
    ]


def test_crlf_line_endings_are_trimmed() -> None:
    s, screen = Script(), Screen()
    screen.feed(s.out("a@local", b"dos\r\nline\r\n"))
    assert screen.lines == ["a@local | dos", "a@local | line"]


def test_a_huge_line_without_newline_is_printed_without_holding_it() -> None:
    s, screen = Script(), Screen()
    huge = b"x" * (MAX_PENDING + 10)
    screen.feed(s.out("a@local", huge))
    assert screen.lines == ["a@local | " + "x" * (MAX_PENDING + 10)]
    # and what follows is a line of its own
    screen.feed(s.out("a@local", b"tail\n"))
    assert screen.lines[-1] == "a@local | tail"


def test_a_huge_line_in_small_chunks_is_printed_once_it_passes_the_limit() -> None:
    s, screen = Script(), Screen()
    chunk = b"y" * 16384
    for _ in range(4):
        screen.feed(s.out("a@local", chunk))
    assert screen.lines == []  # 64 KiB exactly: still held
    screen.feed(s.out("a@local", b"y"))
    assert screen.lines == ["a@local | " + "y" * (4 * 16384 + 1)]


def test_escape_sequences_and_control_characters_are_stripped() -> None:
    s, screen = Script(), Screen()
    hostile = (
        b"\x1b[31mred\x1b[0m \x1b]0;pwned title\x07ok\x1b[2J\x1b[1;1H"
        b" bell\x07 nul\x00 bs\x08 c1\xc2\x9b31m tab\tkept \xff\r\n"
    )
    screen.feed(
        s.out("a@local", hostile),
        s.step_started("a@local", "echo \x1b]52;c;Zm9v\x07hi"),
    )
    assert screen.lines == [
        "a@local | red ok bell nul bs c131m tab\tkept \ufffd",
        "a@local $ echo hi",
    ]
    assert "\x1b" not in screen.out.getvalue()
    assert "\x9b" not in screen.out.getvalue()


def test_quiet_prints_only_failures_and_the_summary() -> None:
    screen = Screen(verbosity=-1)
    screen.feed(*a_run(Script()))
    text = screen.out.getvalue()
    assert "make all" not in text
    assert "compiling" not in text
    assert "test@web1 ! 1 failed" not in screen.lines
    assert "build@local ✓" not in text
    assert "test@web1 ✗ failed in 2m05s: exit status 2" in screen.lines
    assert "TASK" in text
    assert screen.lines[-1] == "run r1 failed in 1m00s (exit 1)"
    assert screen.err.getvalue() == ""


def test_not_run_units_are_listed_only_when_verbose() -> None:
    for verbosity, shown in ((-1, False), (0, False), (1, True)):
        s, screen = Script(), Screen(verbosity=verbosity)
        screen.feed(s.unit_finished("b@local", S.NOT_RUN, None, None, "not run: a failed"))
        assert (screen.lines == ["b@local · not_run in -: not run: a failed"]) is shown


def test_skipped_and_interrupted_units_are_shown_even_when_quiet() -> None:
    s, screen = Script(), Screen(verbosity=-1)
    screen.feed(
        s.unit_finished("b@local", S.SKIPPED, None, None, "skipped: a@local failed"),
        s.unit_finished("c@local", S.INTERRUPTED, None, 0.5, "interrupted"),
    )
    assert screen.lines == [
        "b@local ↷ skipped in -: skipped: a@local failed",
        "c@local ■ interrupted in 0.5s: interrupted",
    ]


def test_verbose_prints_step_results() -> None:
    quiet, verbose = Screen(), Screen(verbosity=1)
    for screen in (quiet, verbose):
        screen.feed(*a_run(Script()))
    assert "build@local · step 1: exit status 0" in verbose.lines
    assert "test@web1 · step 1: exit status 2" in verbose.lines
    assert not any("step 1:" in line for line in quiet.lines)


def test_retries_and_decisions_are_announced() -> None:
    s, screen = Script(), Screen()
    screen.feed(
        s.out("a@local", b"partial"),
        s(ev.RetryScheduled, task="a", host="local", step=0, attempt=2, delay=1.25),
        s(ev.DecisionNeeded, task="a", host="local", status=S.FAILED, reason="exit status 1"),
    )
    assert screen.lines == [
        "a@local | partial",
        "a@local ↻ retrying step 1 in 1.2s (attempt 2)",
        "a@local ? waiting for a decision",
    ]


def test_a_quiet_host_is_pointed_out() -> None:
    s, screen = Script(), Screen()
    screen.feed(s(ev.UnitQuiet, task="a", host="h1", step=1, attempt=1, silent_for=75.0))
    assert screen.lines == ["a@h1 … quiet for 1m15s (step 2)"]


def test_the_summary_lists_every_unit_with_status_exit_tries_and_time() -> None:
    screen = Screen()
    screen.feed(*a_run(Script()))
    lines = screen.lines
    header = lines.index("TASK   HOST   STATUS       EXIT  TRIES  OK  CHANGED  TIME")
    assert lines[header + 1 : header + 3] == [
        "build  local  ✓ succeeded  0     1      0   0        1.5s",
        "test   web1   ✗ failed     2     3      0   0        2m05s",
    ]
    assert lines[-3:] == ["steps: 0 ok, 0 changed, 1 failed", "", "run r1 failed in 1m00s (exit 1)"]


def test_the_summary_folds_hosts_that_ended_alike_into_one_row() -> None:
    """1,000 hosts that all did the same are one row, with the longest time among them; every
    host that ended otherwise has a row of its own."""
    s, screen = Script(), Screen()
    units = [s.unit_finished(f"deploy@web{i:04d}", duration=1.0 + i / 1000) for i in range(1, 1001)]
    units[499] = s.unit_finished("deploy@web0500", S.FAILED, 3, 2.0, "exit status 3")
    units[9] = s.unit_finished("deploy@web0010", attempts=2)
    screen.feed(s.run_finished(RunStatus.FAILED, *units))
    lines = screen.lines
    header = next(i for i, line in enumerate(lines) if line.startswith("TASK "))
    assert lines[header + 1 : header + 4] == [
        "deploy  web[0001-0009,0011-0499,0501-1000]  ✓ succeeded  0     1      0   0        ≤ 2.0s",
        "deploy  web0010                             ✓ succeeded  0     2      0   0        1.5s",
        "deploy  web0500                             ✗ failed     3     1      0   0        2.0s",
    ]
    assert lines[header + 4].startswith("steps: ")


def test_the_summary_says_which_tasks_are_partial() -> None:
    """A task whose failures stayed within its budget: its hosts' rows alone read as failed."""
    s, screen = Script(), Screen()
    web1 = s.unit_finished("deploy@web1", S.FAILED, 3, 1.0, "exit status 3")
    web2 = s.unit_finished("deploy@web2")
    finished = s.run_finished(RunStatus.FAILED, web1, web2)
    tasks = {"deploy": ev.TaskSummary(S.PARTIAL, finished.tasks["deploy"].hosts)}
    screen.feed(dataclasses.replace(finished, tasks=tasks))
    assert screen.lines[-5:] == [
        "deploy  web2  ✓ succeeded  0     1      0   0        1.5s",
        "steps: 0 ok, 0 changed, 1 failed",
        "task deploy ◐ partial: 1 of 2 hosts failed (web1), within its max_failures, so its"
        " dependents could go on",
        "",
        "run r1 failed in 1m00s (exit 1)",
    ]


def test_the_summary_shows_a_dash_for_no_exit_code_or_time() -> None:
    s, screen = Script(), Screen()
    unit = s.unit_finished("b@local", S.NOT_RUN, None, None)
    screen.feed(s.run_finished(RunStatus.SUCCEEDED, unit))
    assert "b     local  · not_run  -     1      0   0        -" in screen.lines
    assert screen.lines[-1] == "run r1 succeeded in 1m00s (exit 0)"


def test_partial_lines_left_at_the_end_of_the_run_are_flushed_before_the_summary() -> None:
    s, screen = Script(), Screen()
    screen.feed(s.out("a@local", b"dangling"), s.run_finished(RunStatus.INTERRUPTED))
    assert screen.lines[0] == "a@local | dangling"
    assert screen.lines[-1] == "run r1 interrupted in 1m00s (exit 130)"


def test_no_ansi_without_colour() -> None:
    screen = Screen(colour=False)
    screen.feed(*a_run(Script()))
    assert "\x1b" not in screen.out.getvalue()
    assert "\x1b" not in screen.err.getvalue()


def test_ansi_with_colour_and_the_table_still_lines_up() -> None:
    plain, painted = Screen(colour=False), Screen(colour=True)
    plain.feed(*a_run(Script()))
    painted.feed(*a_run(Script()))
    text = painted.out.getvalue()
    assert "\x1b[1mbuild@local\x1b[0m" in text  # the prefix is bold
    assert "\x1b[32m✓ succeeded\x1b[0m" in text
    assert "\x1b[31m✗ failed\x1b[0m" in text
    assert "\x1b[31mfailed\x1b[0m in 1m00s" in text
    # painted cells take no room: without the codes it is the plain screen, letter for letter
    assert ANSI.sub("", text) == plain.out.getvalue()


def test_the_progress_line_goes_to_err_only_when_asked() -> None:
    without, with_progress = Screen(), Screen(progress=True)
    for screen in (without, with_progress):
        screen.feed(*a_run(Script()))
    assert "running" not in without.err.getvalue()
    err = with_progress.err.getvalue()
    assert "\r\x1b[K[0/2] running 0 · failed 0 · " in err
    assert "running" not in with_progress.out.getvalue()
    assert err.endswith("\r\x1b[K")  # cleared before the summary, and not drawn again
    assert with_progress.out.getvalue() == without.out.getvalue()


def test_the_progress_line_counts_units(monkeypatch: pytest.MonkeyPatch) -> None:
    """Running means a step executing now: not a unit waiting to retry or for a decision."""
    monkeypatch.setattr(text_render, "PROGRESS_INTERVAL", 0.0)  # draw at every event
    s, screen = Script(), Screen(progress=True)
    screen.feed(
        s.run_started("a", units=3),
        s.unit_started("a@h1"),
        s.step_started("a@h1", "x"),
        s.unit_started("a@h2"),
        s.step_started("a@h2", "x"),
    )
    assert screen.err.getvalue().endswith("[0/3] running 2 · failed 0 · 0.0s")
    screen.feed(
        s.step_finished("a@h1", S.FAILED, 1),
        s.unit_finished("a@h1", S.FAILED, 1),
        s.unit_finished("a@h3", S.NOT_RUN, None),
    )
    assert screen.err.getvalue().endswith("[2/3] running 1 · failed 1 · 0.0s")


async def test_consume_reads_the_stream_to_its_end() -> None:
    screen = Screen(progress=True)
    await asyncio.wait_for(screen.renderer.consume(stream(a_run(Script()))), 5)
    assert screen.lines[-1] == "run r1 failed in 1m00s (exit 1)"
    assert "build@local | compiling" in screen.lines


async def test_the_progress_ticker_redraws_while_nothing_happens(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ticks: list[float] = []
    real_sleep = asyncio.sleep

    async def fast_sleep(delay: float) -> None:
        ticks.append(delay)
        await real_sleep(0.001)

    monkeypatch.setattr(text_render.asyncio, "sleep", fast_sleep)
    s = Script()
    screen = Screen(progress=True)
    gate = asyncio.Event()

    async def slow_stream():  # type: ignore[no-untyped-def]
        yield s.run_started("a", units=1)
        await gate.wait()
        yield s.run_finished(RunStatus.SUCCEEDED)

    consumer = asyncio.create_task(screen.renderer.consume(slow_stream()))
    while len(ticks) < 3:
        await real_sleep(0.001)
    redraws = screen.err.getvalue().count("[0/1] running 0")
    assert redraws >= 2  # the event drew it once, the ticker again
    gate.set()
    await asyncio.wait_for(consumer, 5)
    assert ticks[0] == 1


def test_each_line_of_a_multi_line_command_gets_the_prefix() -> None:
    s, screen = Script(), Screen()
    screen.feed(s.step_started("build@local", "set -e\nmake all"))
    assert screen.lines == ["build@local $ set -e", "build@local $ make all"]


def test_quiet_mode_leaves_out_retries_and_quiet_hosts() -> None:
    s, screen = Script(), Screen(verbosity=-1)
    screen.feed(
        s(ev.RetryScheduled, task="t", host="local", step=0, attempt=2, delay=1.0),
        s(ev.UnitQuiet, task="t", host="local", step=0, attempt=1, silent_for=61.0),
    )
    assert screen.lines == []
    loud = Screen()
    loud.feed(s(ev.UnitQuiet, task="t", host="local", step=0, attempt=1, silent_for=61.0))
    assert loud.lines == ["t@local … quiet for 1m01s (step 1)"]


# ── folded output ───────────────────────────────────────────────────────────────────────────

FOLDING = Rules.of([r"req-[0-9a-f]+"], SIX_ADDRESSES)


def folded_section(lines: list[str]) -> list[str]:
    """The lines from the first ``output of`` to the table."""
    start = next(i for i, line in enumerate(lines) if line.startswith("output of "))
    return lines[start : lines.index("", start)]


def test_hosts_that_printed_the_same_are_said_once_and_the_others_as_a_diff() -> None:
    screen = Screen(folding=FOLDING)
    screen.feed(*six_hosts(Script()))
    lines = screen.lines
    assert "deploy@web3 | deploying release 42 to web3 (10.0.0.3)" in lines  # live, as ever
    assert folded_section(lines) == [
        "output of deploy: 6 hosts, 3 groups",
        "  web[1-4] (4 hosts) exit 0:",
        "    | deploying release 42 to {host} ({address})",
        "    | started {time}",
        "    | {ignored} done",
        "  web5 (1 host) exit 0, differs from web[1-4]:",
        "    @@ -1,3 +1,4 @@",
        "     | deploying release 42 to {host} ({address})",
        "     | started {time}",
        "     | {ignored} done",
        "    +! warning: disk 91% full",
        "  web6 (1 host) exit 1, differs from web[1-4]:",
        "    @@ -1,3 +1,3 @@",
        "     | deploying release 42 to {host} ({address})",
        "     | started {time}",
        "    -| {ignored} done",
        "    +! error: no space left on device",
    ]
    header = next(i for i, line in enumerate(lines) if line.startswith("TASK "))
    assert lines.index("output of deploy: 6 hosts, 3 groups") < header
    assert lines[header + 1].startswith("deploy  web[1-5]  ✓ succeeded")  # ended alike: one row


def test_without_the_rules_only_times_are_normalised() -> None:
    screen = Screen()
    screen.feed(*six_hosts(Script()))
    assert folded_section(screen.lines)[:3] == [
        "output of deploy: 6 hosts, 6 groups",
        "  web1 (1 host) exit 0:",
        "    | deploying release 42 to {host} (10.0.0.1)",
    ]


def test_hosts_alike_print_their_output_once() -> None:
    s, screen = Script(), Screen()
    units = [s.unit_finished(f"t@n{n:02d}") for n in range(1, 4)]
    screen.feed(*[s.out(f"t@n{n:02d}", b"same\n") for n in range(1, 4)], *units)
    screen.feed(s.run_finished(RunStatus.SUCCEEDED, *units))
    assert folded_section(screen.lines) == [
        "output of t: 3 hosts, all alike",
        "  n[01-03] (3 hosts) exit 0:",
        "    | same",
    ]


def test_nothing_is_folded_for_one_host_nor_for_hosts_alike_that_printed_nothing() -> None:
    s, screen = Script(), Screen()
    one = s.unit_finished("single@web1")
    quiet = [s.unit_finished(f"quiet@web{n}") for n in (1, 2)]
    screen.feed(s.out("single@web1", b"hello\n"), one, *quiet)
    screen.feed(s.run_finished(RunStatus.SUCCEEDED, one, *quiet))
    assert not any(line.startswith("output of") for line in screen.lines)


def test_hosts_that_differ_only_in_how_they_ended() -> None:
    s, screen = Script(), Screen()
    units = [s.unit_finished("t@web1"), s.unit_finished("t@web2", S.FAILED, 3)]
    screen.feed(*units, s.run_finished(RunStatus.FAILED, *units))
    assert folded_section(screen.lines) == [
        "output of t: 2 hosts, 2 groups",
        "  web1 (1 host) exit 0: no output",
        "  web2 (1 host) exit 3: the same output as web1",
    ]


def test_a_host_over_the_limit_is_compared_with_no_other(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fold, "MAX_KEPT", 8)
    s, screen = Script(), Screen()
    units = [s.unit_finished("t@web1"), s.unit_finished("t@web2")]
    screen.feed(s.out("t@web1", b"short\n"), s.out("t@web2", b"much too long\n"), *units)
    screen.feed(s.run_finished(RunStatus.SUCCEEDED, *units))
    assert folded_section(screen.lines) == [
        "output of t: 2 hosts, 2 groups",
        "  web1 (1 host) exit 0:",
        "    | short",
        "  web2 (1 host) exit 0: more than 8 bytes of output, compared with no other",
    ]


def test_quiet_folds_nothing() -> None:
    screen = Screen(verbosity=-1, folding=FOLDING)
    screen.feed(*six_hosts(Script()))
    assert not any(line.startswith("output of") for line in screen.lines)


def test_folded_output_is_made_safe_and_its_diff_painted() -> None:
    s, screen = Script(), Screen(colour=True)
    units = [s.unit_finished("t@web1"), s.unit_finished("t@web2")]
    screen.feed(s.out("t@web1", b"a\x1b]0;title\x07\n"), s.out("t@web2", b"b\n"), *units)
    screen.feed(s.run_finished(RunStatus.SUCCEEDED, *units))
    text = screen.out.getvalue()
    assert "\x1b]0;" not in text
    assert "    | a\n" in text
    assert "    \x1b[31m-| a\x1b[0m\n" in text
    assert "    \x1b[32m+| b\x1b[0m\n" in text
