"""``nexus preflight`` without hosts to reach: what it says when there is nothing to check, how
its table reads, and the terminal prompt runs and preflight share. The checks themselves run
against real sshd in ``tests/ssh/test_preflight.py``."""

from __future__ import annotations

import asyncio
import io
import threading
import time

import pytest

from nexus_cli import _wants_dashboard
from nexus_cli.parser import build_parser
from nexus_cli.preflight import NOTHING_TO_CHECK, print_reports, summary
from nexus_cli.prompt import TerminalAsk, terminal_ask
from nexus_engine.preflight import CHECKS, Check, HostReport, Verdict, all_ok
from nexus_engine.status import EXIT_USAGE
from nexus_engine.words import Failure
from tests.cli.conftest import Project


def test_a_plan_without_remote_hosts_has_nothing_to_check(project: Project) -> None:
    code, out, err = project.nexus("preflight")
    assert (code, out, err) == (0, NOTHING_TO_CHECK + "\n", "")
    assert project.runs() == []


def test_preflight_of_an_unknown_task_is_a_usage_error(project: Project) -> None:
    code, out, err = project.nexus("preflight", "nope")
    assert code == EXIT_USAGE
    assert out == ""
    assert "no task named 'nope'" in err


def test_run_preflight_with_only_local_units_runs(project: Project) -> None:
    code, out, err = project.nexus("--headless", "run", "--preflight")
    assert code == 0
    assert "build@local | building" in out
    assert f"preflight: {NOTHING_TO_CHECK}" in err
    assert len(project.runs()) == 1


@pytest.mark.parametrize(
    ("argv", "dashboard"),
    [
        (["run"], True),
        (["run", "--preflight"], True),
        (["run", "-u", "deploy", "--hosts", "web*"], True),
        (["run", "-i", "~/.ssh/deploy"], True),
        (["--headless", "run"], False),
        (["run", "--format", "jsonl"], False),
        (["run", "--dry-run"], False),
    ],
)
def test_only_headless_json_and_dry_run_keep_a_run_off_the_dashboard(
    argv: list[str], dashboard: bool
) -> None:
    assert _wants_dashboard(build_parser().parse_args(argv)) is dashboard


# --- the table ----------------------------------------------------------------------------------


def report(
    host: str, *verdicts: Verdict, kind: Failure | None = None, detail: str = ""
) -> HostReport:
    checks = tuple(
        Check(host, name, verdict, detail if verdict is Verdict.FAILED else "", kind)
        for name, verdict in zip(CHECKS, verdicts, strict=True)
    )
    return HostReport(host, f"deploy@{host}:22", checks)


P, F, S, NA = Verdict.PASSED, Verdict.FAILED, Verdict.SKIPPED, Verdict.NOT_APPLICABLE


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_table_has_a_row_per_host_and_a_summary() -> None:
    reports = [
        report("web1", P, P, NA),
        report("db", F, S, S, kind=Failure.UNREACHABLE, detail="refused \x1b[2Jby db"),
    ]
    out = io.StringIO()
    print_reports(reports, out)
    assert out.getvalue().splitlines() == [
        "HOST  TCP       SSH      SUDO     DETAIL",
        "web1  ✓ ok      ✓ ok     -        deploy@web1:22",
        "db    ✗ failed  skipped  skipped  unreachable: refused by db",  # escapes removed
        "preflight: 1 of 2 hosts failed: db",
    ]
    assert not all_ok(reports)


def test_the_table_is_coloured_on_a_terminal_but_aligned_as_plain_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    out = Tty()
    print_reports([report("a", P, P, P), report("bb", P, F, S, kind=Failure.AUTH_FAILED)], out)
    lines = out.getvalue().splitlines()
    assert "\x1b[32m✓ ok\x1b[0m" in lines[1]
    assert "\x1b[31m✗ failed\x1b[0m" in lines[2]
    plain = [line.replace("\x1b[32m", "").replace("\x1b[31m", "") for line in lines]
    plain = [line.replace("\x1b[33m", "").replace("\x1b[0m", "") for line in plain]
    assert plain[1].index("deploy@a") == plain[2].index("auth_failed")


def test_summary_counts_hosts() -> None:
    assert summary([report("a", P, P, NA)]) == "preflight: 1 host ok"
    assert summary([report("a", P, P, NA), report("b", P, P, P)]) == "preflight: 2 hosts ok"


# --- the prompt ---------------------------------------------------------------------------------


async def test_questions_are_asked_one_at_a_time_and_each_once() -> None:
    asked: list[str] = []
    at_once = 0
    most = 0
    lock = threading.Lock()

    def read(prompt: str) -> str:
        nonlocal at_once, most
        with lock:
            at_once += 1
            most = max(most, at_once)
        asked.append(prompt)
        time.sleep(0.05)
        with lock:
            at_once -= 1
        return f"answer to {prompt}"

    ask = TerminalAsk(read)
    answers = await asyncio.gather(ask("a: "), ask("b: "), ask("a: "), ask("b: "))
    assert list(answers) == ["answer to a: ", "answer to b: ", "answer to a: ", "answer to b: "]
    assert sorted(asked) == ["a: ", "b: "]
    assert most == 1


async def test_no_answer_is_none_and_is_not_asked_again() -> None:
    calls = 0

    def read(prompt: str) -> str:
        nonlocal calls
        calls += 1
        if prompt == "eof: ":
            raise EOFError
        return ""

    ask = TerminalAsk(read)
    assert await ask("empty: ") is None
    assert await ask("eof: ") is None
    assert await ask("eof: ") is None
    assert calls == 2


async def test_an_abandoned_question_does_not_hold_up_the_caller() -> None:
    """Ctrl-C at the prompt cancels the run: the unanswered read must not keep it waiting."""
    release = threading.Event()
    ask = TerminalAsk(lambda prompt: "late" if release.wait(10) else "")
    question = asyncio.create_task(ask("password: "))
    await asyncio.sleep(0.05)
    question.cancel()
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await question
    assert time.monotonic() - started < 5  # not the reader's 10 s
    release.set()


def test_only_a_terminal_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert terminal_ask() is None
    monkeypatch.setattr("sys.stdin", Tty(""))
    assert isinstance(terminal_ask(), TerminalAsk)
