"""The shell text Nexus sends to a host: how a step starts there, and how it is killed.

A step starts one of two ways, and both print the shell's PID (the process group: OpenSSH starts
every session's shell with ``setsid``) as the first line of stdout, so the step can be killed:

* **Inline**, the common case: the script rides in the exec request itself, as
  ``exec /bin/sh -c 'echo $$; SCRIPT' nexus``. Nothing more is sent, so the step starts as soon
  as the server has the request: no round trip waiting for stdin, and no extra packets. Only a
  script that holds no secret and no character a login shell could read differently goes
  inline: the exec request is parsed by the user's login shell (fish reads a backslash inside
  single quotes differently, csh a ``!``), and it is visible to every user of the host in
  ``ps`` for as long as the step runs.
* **On stdin**, for everything else: the exec request is the fixed :data:`BOOTSTRAP`, which
  reads a line count and that many lines with ``read`` (a builtin that reads byte by byte from
  a pipe, so it never swallows what the step reads from stdin), prints the PID, and ``eval``s
  them. A ``${secret:…}`` value, a multi-line script or a sudo step goes this way.

Either way the step's own command is ``eval``ed last, in that same ``/bin/sh``, as ``sh -c``
would run it, with stdin from ``/dev/null`` (as locally), and every value in the script is
quoted with :func:`shlex.quote`. A channel that ends without the PID line never reached the
script: the login shell could not start it.

Closing an SSH channel without a PTY kills nothing, so a step is stopped two ways (see
``transport``): ``signal`` requests on its own channel (OpenSSH ≥ 7.9 turns them into ``killpg``
of the login shell's group, as the login user; older servers ignore them), and, when the host
grants a second channel, :func:`kill_command` there, which sends TERM to every process group of
the step's session, waits the grace, sends KILL, and says whether anything of it is left.

A step given a token (``CommandSpec.step_id``) carries it as ``NEXUS_STEP_ID`` in the environment
of its first shell, and again behind sudo (which resets the environment), set by the shell sudo
starts before it ``exec``s the command's: every process of the step carries it, whoever it runs
as, so a later sweep (``transports.sweep``) finds the processes of a run that died. Set in the
script, not as a variable sudo keeps, which would need sudo's ``SETENV`` permission. The first
shell has it in its own environment (what ``/proc/PID/environ`` shows), set by the exec that
starts it, so a step made only of builtins is found too.

How that exec is written depends on the login shell, which the header also prints (``$SHELL``,
set by sshd): until a host's is known, ``exec env NEXUS_STEP_ID=<token> /bin/sh -c …`` (a hex word
and ``env`` read alike in every login shell, csh and fish included); once it is known to be a
Bourne shell, ``NEXUS_STEP_ID=<token> exec /bin/sh -c …``, one exec fewer: with ``env`` a step
cost the host about twice what ``sh -c`` alone does, nothing else Nexus adds cost as much.

``sudo`` runs as ``sudo -S`` with a prompt chosen at random for each step, so Nexus answers only
sudo's own question and never text a command printed; once sudo has let the step in, a second
random marker on stderr says so, and only then is stdin closed. Without a configured password
``sudo -n`` fails at once instead of waiting for an answer that never comes.
"""

from __future__ import annotations

import secrets
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from nexus_engine.transports.marker import MARKER, check_step_id

#: The first thing either way of starting prints, on a line of its own: the group id, and the
#: login shell (which says how the next step may start).
_HEADER = 'echo "$$ ${SHELL-}"'  # no backslash: the inline form must not need one
#: Login shells that read ``NAME=value exec …`` as the POSIX shell does.
BOURNE_SHELLS = frozenset({"sh", "bash", "dash", "ash", "ksh", "ksh93", "mksh", "pdksh", "zsh"})
#: The exec request of a step sent on stdin: read the script, print the group id, run it.
BOOTSTRAP = (
    "exec /bin/sh -c '"
    "IFS= read -r n || exit 125; s=; "
    'while [ "$n" -gt 0 ]; do IFS= read -r l || exit 125; s="$s$l\n"; n=$((n-1)); done; '
    f'{_HEADER}; eval "$s"'
    "' nexus"
)
#: Longest script sent inline: far below any argv limit, and a long script gains nothing.
INLINE_LIMIT = 4096
#: Characters that mean the same inside single quotes to every common login shell, on one line.
_INLINE_SAFE = frozenset(map(chr, range(0x20, 0x7F))) - {"\\", "!"}


@dataclass(frozen=True, slots=True)
class Launch:
    """How one step starts: the exec request, and what is written to the channel first."""

    request: str
    stdin: bytes


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


@dataclass(frozen=True, slots=True)
class StepScript:
    """What one step runs on the host, before it is put into one of the two ways to start."""

    command: str
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    sudo: SudoDialogue | None = None
    user: str | None = None
    password: bool = False  # a sudo password will be fed to sudo's prompt
    stdin: bool = False  # the command reads what Nexus sends after the script, not /dev/null
    marker: str | None = None  # the step's token: every process of it carries MARKER=token

    def launch(self, *, private: bool, bourne: bool = False) -> Launch:
        """Inline when nothing in it must stay off the host's process list (``private``) and
        any login shell reads it as written; otherwise :data:`BOOTSTRAP` and stdin.
        ``bourne``: the login shell is known to be a Bourne shell (:func:`bourne_login`)."""
        lines = self.lines()
        if self.marker is None:
            marked = "exec "
        else:
            marked = f"{self._export()} exec " if bourne else f"exec env {self._export()} "
        if self.sudo is None and not private:
            body = "; ".join([_HEADER, *lines])
            if len(body) <= INLINE_LIMIT and _INLINE_SAFE.issuperset(body):
                return Launch(f"{marked}/bin/sh -c {shlex.quote(body)} nexus", b"")
        return Launch(BOOTSTRAP.replace("exec ", marked, 1), _framed(lines))

    def _export(self) -> str:
        """``NEXUS_STEP_ID=<token>``; the token is checked to be hex: it goes unquoted to the
        login shell."""
        return f"{MARKER}={check_step_id(self.marker or '')}"

    def lines(self) -> list[str]:
        lines = []
        if self.cwd is not None:
            lines.append(f"cd -- {shlex.quote(self.cwd)} || exit 126")
        for name, value in sorted(self.env.items()):
            lines.append(f"export {name}={shlex.quote(value)}")
        export = "" if self.marker is None else f"export {self._export()}; "
        if export:  # after the step's env: the step's own NEXUS_STEP_ID does not win
            lines.append(export.removesuffix("; "))
        if self.sudo is None:
            # The bootstrap is already /bin/sh: eval the command there rather than exec another
            # shell (a process fewer per step), with the bootstrap's variables out of its way.
            redirect = "" if self.stdin else " </dev/null"
            lines.append(f"unset n s l; eval {shlex.quote(self.command)}{redirect}")
            return lines
        marker = shlex.quote(self.sudo.marker.decode())
        announce = f'{export}printf "%s\\n" {marker} >&2; exec "$0" "$@"'
        argv = ["sudo", "-S" if self.password else "-n", "-p", self.sudo.prompt.decode()]
        if self.user:
            argv += ["-u", self.user]
        if self.env:
            argv.append("--preserve-env=" + ",".join(sorted(self.env)))
        argv += ["--", "/bin/sh", "-c", announce, "/bin/sh", "-c", self.command]
        closed = not (self.password or self.stdin)
        lines.append("exec " + shlex.join(argv) + (" </dev/null" if closed else ""))
        return lines


def bourne_login(shell: str) -> bool:
    """Whether the login shell a header named (``$SHELL``) is a Bourne shell."""
    return shell.rsplit("/", 1)[-1] in BOURNE_SHELLS


def kill_command(pgid: int, grace: float) -> str:
    """TERM the command, wait up to ``grace``, KILL it; exit 0 once no live process of it is
    left, 3 when one survived KILL (it runs as another user, or is stuck in the kernel).

    "The command" is every process in the group ``pgid`` *or in the session* ``pgid`` (the
    login shell is the session's leader: ``set -m`` moves a background job to a group of its
    own, but not out of the session); each group found there is signalled whole. A process
    that left both (``setsid``, a daemon) is out of reach. Zombies do not count: they have
    exited, only their reaper is late. Without ``/proc`` only the group can be seen."""
    ticks = max(int(grace * 10), 1)
    lines = [
        f"g={pgid}",
        "groups() {",
        "  [ -d /proc/self ] || { kill -0 -$g 2>/dev/null && echo $g; return; }",
        "  for f in /proc/[0-9]*/stat; do",
        '    IFS= read -r l < "$f" 2>/dev/null || continue',
        "    r=${l##*) }; set -- $r",
        '    [ "$1" = Z ] || [ "$1" = X ] && continue',
        '    [ "$3" = "$g" ] || [ "$4" = "$g" ] && echo "$3"',
        "  done",
        "}",
        # signal each group of the command once; false when none was left to signal
        "hit() {",
        '  h=" "',
        "  for p in $(groups); do",
        '    case $h in *" $p "*) continue; esac',
        '    h="$h$p "; kill -"$1" -"$p" 2>/dev/null',
        "  done",
        '  [ "$h" != " " ]',
        "}",
        "hit TERM || exit 0",
        "i=0",
        f'while [ "$(groups)" ]; do [ $i -ge {ticks} ] && break; sleep 0.1; i=$((i+1)); done',
        "i=0",
        "while hit KILL; do [ $i -ge 20 ] && exit 3; sleep 0.1; i=$((i+1)); done",
        "exit 0",
    ]
    return "\n".join(lines)


def _framed(lines: list[str]) -> bytes:
    """``read`` takes one line at a time, so a value with a newline in it (quoted, and legal in
    a command) must be counted by the lines it really spans."""
    text = "\n".join(lines) + "\n"
    return f"{text.count(chr(10))}\n{text}".encode()
