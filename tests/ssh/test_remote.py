"""How a step is put to the host (``remote.launch``): inline in the exec request only when that
is safe, behind the bootstrap on stdin otherwise. What the host then does with either form is
checked against real sshd in ``test_transport``; here, which form each step gets."""

from __future__ import annotations

import shlex
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nexus_engine.transports.ssh.remote import (
    BOOTSTRAP,
    INLINE_LIMIT,
    Launch,
    StepScript,
    SudoDialogue,
)


def start(command: str, *, private: bool = False, **options: object) -> Launch:
    return StepScript(command, **options).launch(private=private)  # type: ignore[arg-type]


def run_in_sh(start: Launch) -> subprocess.CompletedProcess[bytes]:
    """What a POSIX login shell does with the exec request, fed the launch's stdin."""
    return subprocess.run(
        ["/bin/sh", "-c", start.request], input=start.stdin, capture_output=True, check=False
    )


def test_a_plain_step_goes_inline_and_sends_nothing_on_stdin() -> None:
    started = start("systemctl restart app", env={"MODE": "blue"}, cwd="/srv/app")
    assert started.stdin == b""
    assert started.request != BOOTSTRAP
    assert "systemctl restart app" in started.request


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("echo token", {"private": True}),
        ("printf 'a\\nb'", {}),  # a backslash: fish reads it differently inside quotes
        ("echo hi!", {}),  # csh history
        ("for i in 1 2; do\n  echo $i\ndone", {}),  # more than one line
        ("echo é", {}),  # not ASCII
        ("echo " + "x" * INLINE_LIMIT, {}),
        ("true", {"env": {"A": "line\nbreak"}}),
        ("true", {"sudo": SudoDialogue.new()}),
    ],
    ids=["private", "backslash", "bang", "multi-line", "non-ascii", "long", "env-newline", "sudo"],
)
def test_anything_else_goes_on_stdin_behind_the_bootstrap(
    command: str, options: dict[str, object]
) -> None:
    started = start(command, **options)
    assert started.request == BOOTSTRAP
    assert started.stdin  # the framed script
    if options.get("private"):
        assert command not in started.request


@settings(max_examples=150, deadline=None)
@given(
    value=st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40),
    private=st.booleans(),
)
def test_either_form_runs_the_same_command_with_the_same_output(value: str, private: bool) -> None:
    """The group id line first, then exactly what the command printed, whichever form."""
    command = f'printf %s {shlex.quote(value)}; printf %s "$V"'
    started = start(command, env={"V": value}, private=private)
    done = run_in_sh(started)
    header, _, rest = done.stdout.partition(b"\n")
    assert done.returncode == 0, done.stderr
    assert header.isdigit()
    assert rest == value.encode() * 2
