"""The shell text Nexus sends to a host: how a step starts there, and how it is killed.

A step's command travels on the channel's stdin, not in the exec request: the exec request is
visible to every user of the host in ``ps`` for as long as the step runs, and a command may carry
a ``${secret:…}`` value. The exec request is a fixed bootstrap that prints its PID (the process
group: OpenSSH starts every session's shell with ``setsid``) on the first line of stdout, reads a
line count and that many lines of script with ``read`` (a builtin that reads byte by byte from a
pipe, so it never swallows what the step reads from stdin), and ``eval``s them; the step's own
command is ``eval``ed last, in that same ``/bin/sh``, as ``sh -c`` would run it. Every value in
the script is quoted with :func:`shlex.quote`.

Killing goes out of band, because closing an SSH channel without a PTY kills nothing and not
every server honours ``signal`` requests: a second channel runs :func:`kill_command`, which sends
TERM to the whole group, waits the grace, sends KILL, and says whether the group is gone.

``sudo`` runs as ``sudo -S`` with a prompt chosen at random for each step, so Nexus answers only
sudo's own question and never text a command printed; once sudo has let the step in, a second
random marker on stderr says so, and only then is stdin closed. Without a configured password
``sudo -n`` fails at once instead of waiting for an answer that never comes.
"""

from __future__ import annotations

import secrets
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

#: What the exec request runs: print the group id, read the script from stdin, run it.
BOOTSTRAP = (
    "exec /bin/sh -c '"
    'printf "%s\\n" "$$"; '
    "IFS= read -r n || exit 125; s=; "
    'while [ "$n" -gt 0 ]; do IFS= read -r l || exit 125; s="$s$l\n"; n=$((n-1)); done; '
    'eval "$s"'
    "' nexus"
)
#: Exit status of the bootstrap when its script never arrived whole.
BOOTSTRAP_FAILED = 125


@dataclass(frozen=True, slots=True)
class SudoDialogue:
    """The words of one sudo exchange: the prompt sudo prints when it wants the password, and
    the marker the step prints once it is running; both random, so neither can be forged by
    output that came before."""

    prompt: bytes
    marker: bytes

    @classmethod
    def new(cls) -> SudoDialogue:
        token = secrets.token_hex(8)
        return cls(prompt=f"[nexus-sudo-{token}]".encode(), marker=f"nexus-in-{token}".encode())


def step_script(
    command: str,
    *,
    env: Mapping[str, str],
    cwd: str | None,
    sudo: SudoDialogue | None,
    user: str | None,
    password: bool,
) -> bytes:
    """The stdin of a step's channel: a line count, then the lines :data:`BOOTSTRAP` evals."""
    lines = []
    if cwd is not None:
        lines.append(f"cd -- {shlex.quote(cwd)} || exit 126")
    for name, value in sorted(env.items()):
        lines.append(f"export {name}={shlex.quote(value)}")
    if sudo is None:
        # The bootstrap is already /bin/sh: eval the command there rather than exec another
        # shell (a process fewer per step), with the bootstrap's own variables out of its way.
        lines.append(f"unset n s l; eval {shlex.quote(command)}")
    else:
        announce = f'printf "%s\\n" {shlex.quote(sudo.marker.decode())} >&2; exec "$0" "$@"'
        argv = ["sudo", "-S" if password else "-n", "-p", sudo.prompt.decode()]
        if user:
            argv += ["-u", user]
        if env:
            argv.append("--preserve-env=" + ",".join(sorted(env)))
        argv += ["--", "/bin/sh", "-c", announce, "/bin/sh", "-c", command]
        lines.append("exec " + shlex.join(argv))
    return _framed(lines)


def kill_command(pgid: int, grace: float) -> str:
    """TERM the group, wait up to ``grace``, KILL it; exit 0 once no live process of the group
    is left, 3 when one survived KILL (it runs as another user, or is stuck in the kernel).
    Zombies do not count: they have exited, only their reaper is late."""
    ticks = max(int(grace * 10), 1)
    lines = [
        f"g={pgid}",
        "alive() {",
        "  [ -d /proc/self ] || { kill -0 -$g 2>/dev/null; return; }",
        "  for f in /proc/[0-9]*/stat; do",
        '    IFS= read -r l < "$f" 2>/dev/null || continue',
        "    r=${l##*) }; set -- $r",
        '    [ "$3" = "$g" ] && [ "$1" != Z ] && [ "$1" != X ] && return 0',
        "  done",
        "  return 1",
        "}",
        "alive || exit 0",
        "kill -TERM -$g 2>/dev/null",
        "i=0",
        f"while alive; do [ $i -ge {ticks} ] && break; sleep 0.1; i=$((i+1)); done",
        "alive || exit 0",
        "kill -KILL -$g 2>/dev/null",
        "i=0",
        "while alive; do [ $i -ge 20 ] && exit 3; sleep 0.1; i=$((i+1)); done",
        "exit 0",
    ]
    return "\n".join(lines)


def _framed(lines: list[str]) -> bytes:
    """``read`` takes one line at a time, so a value with a newline in it (quoted, and legal in
    a command) must be counted by the lines it really spans."""
    text = "\n".join(lines) + "\n"
    return f"{text.count(chr(10))}\n{text}".encode()
