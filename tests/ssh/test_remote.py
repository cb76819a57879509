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
    bourne_login,
)


def start(command: str, *, private: bool = False, **options: object) -> Launch:
    return StepScript(command, **options).launch(private=private)  # type: ignore[arg-type]


def run_in_sh(start: Launch, login_shell: str = "/bin/sh") -> subprocess.CompletedProcess[bytes]:
    """What a POSIX login shell does with the exec request, fed the launch's stdin; sshd sets
    ``SHELL`` to the login shell."""
    return subprocess.run(
        ["/bin/sh", "-c", start.request],
        input=start.stdin,
        capture_output=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "SHELL": login_shell},
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
    assert header.split(b" ")[0].isdigit()
    assert rest == value.encode() * 2


MARKER = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("bourne", [False, True], ids=["shell-unknown", "bourne-login"])
@pytest.mark.parametrize("private", [False, True], ids=["inline", "bootstrap"])
def test_the_first_shell_carries_the_marker_in_its_own_environment(
    bourne: bool, private: bool
) -> None:
    """What a sweep reads (/proc/PID/environ) holds the marker even for a step of builtins
    only, however the step started; and the header names the login shell."""
    command = "tr '\\0' '\\n' < /proc/$$/environ"
    started = StepScript(command, marker=MARKER).launch(private=private, bourne=bourne)
    assert started.request.startswith(f"NEXUS_STEP_ID={MARKER} exec " if bourne else "exec env ")
    done = run_in_sh(started, login_shell="/usr/bin/bash")
    header, _, rest = done.stdout.partition(b"\n")
    assert done.returncode == 0, done.stderr
    pid, shell = header.split(b" ")
    assert pid.isdigit()
    assert shell == b"/usr/bin/bash"
    assert f"NEXUS_STEP_ID={MARKER}".encode() in rest.splitlines()


@pytest.mark.parametrize(
    ("shell", "bourne"),
    [
        ("/bin/sh", True),
        ("/bin/bash", True),
        ("/usr/bin/zsh", True),
        ("/bin/dash", True),
        ("/usr/bin/fish", False),
        ("/bin/tcsh", False),
        ("/bin/csh", False),
        ("/usr/sbin/nologin", False),
        ("", False),
    ],
)
def test_only_bourne_login_shells_get_the_shorter_start(shell: str, bourne: bool) -> None:
    assert bourne_login(shell) is bourne
