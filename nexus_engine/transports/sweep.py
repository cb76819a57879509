"""Kill what a dead run left running on a host: every process marked with one of its steps.

A run's controller that died (SIGKILL, power cut) kills nothing: its steps' processes live on,
on this machine and on every host. The journal names each step that had started, with the token
its processes carry as ``NEXUS_STEP_ID`` (``transports.marker``); before a run resumes, this finds
those processes on one host and ends them: TERM, a grace (polled, bounded), KILL what is left,
and a last look that nothing is.

It runs as one shell script through the host's own transport, the local one or SSH, so it reaches
the host the way the steps did: ``sudo``/``user`` as the steps ran (a process's environment can
be read only by its own user or root), over a fresh connection. The script reads every
``/proc/<pid>/environ`` with one ``grep -z`` (GNU or BusyBox grep): a process that left the
step's session (``setsid``, a daemon) is found all the same, whoever its parent now is. Zombies
have no environment left and are not counted: they have exited, only their reaper is late.

Limits: a process that cleared its environment, or that runs as another user than the sweep, is
not seen; a host without ``/proc`` cannot be swept (the report says so).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass, field

from nexus_engine.transports.base import CommandSpec, Transport
from nexus_engine.transports.marker import MARKER, check_step_id
from nexus_engine.words import Stream

#: Beyond the grace: the KILL phase's two seconds, and a slow host's start and ``/proc`` scans.
_SLACK = 30.0
_KILL_TICKS = 20  # tenths of a second to wait for KILLed processes to be gone
_LEFT, _NO_SEARCH = 3, 4  # exit statuses of the script


@dataclass(frozen=True, slots=True)
class Swept:
    """One process of a step: its pid on the host, and the step's token it carried."""

    pid: int
    step_id: str


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What a sweep of one host saw and did, for the journal of the run that resumes.

    ``found``: every process that carried one of the tokens (each was sent TERM). ``killed``:
    those still there after the grace (sent KILL). ``left``: those still there after KILL (a
    process stuck in the kernel, or one the sweep may not signal). ``error``: the sweep could not
    run or finish (host unreachable, sudo refused, no ``/proc``): then nothing is known."""

    found: tuple[Swept, ...] = ()
    killed: tuple[Swept, ...] = ()
    left: tuple[Swept, ...] = ()
    error: str | None = None

    @property
    def clean(self) -> bool:
        """The host is known to run no process of the swept steps any more."""
        return self.error is None and not self.left


@dataclass
class _Output:
    """A sweep's collected stdout and stderr."""

    out: bytearray = field(default_factory=bytearray)
    err: bytearray = field(default_factory=bytearray)

    async def __call__(self, stream: Stream, data: bytes) -> None:
        (self.err if stream is Stream.STDERR else self.out).extend(data)


async def sweep(
    transport: Transport,
    step_ids: Collection[str],
    *,
    sudo: bool = False,
    user: str | None = None,
    grace: float = 5.0,
    cancel: asyncio.Event | None = None,
) -> SweepReport:
    """Find and end, on ``transport``'s host, every process whose environment carries
    ``NEXUS_STEP_ID=<one of step_ids>``; ``sudo``/``user`` as the steps ran (root sees every
    user's). Raises ValueError for a token that is not one (they are written into the script)."""
    tokens = sorted({check_step_id(token) for token in step_ids})
    if not tokens:
        return SweepReport()
    output = _Output()
    spec = CommandSpec(
        command=sweep_script(tokens, grace),
        sudo=sudo,
        user=user,
        timeout=grace + _SLACK,
    )
    result = await transport.run(spec, output, cancel or asyncio.Event())
    seen: dict[str, list[Swept]] = {"found": [], "killed": [], "left": []}
    for line in output.out.decode(errors="replace").splitlines():
        match line.split():
            case [kind, pid, token] if kind in seen and pid.isdigit() and token in tokens:
                seen[kind].append(Swept(int(pid), token))
    error = None
    if result.exit_code == _NO_SEARCH:
        error = "cannot search the host's processes: it needs /proc and a grep with -z"
    elif result.exit_code not in (0, _LEFT):
        said = output.err.decode(errors="replace").strip().splitlines()
        how = result.error or (
            f"exit status {result.exit_code}" if result.exit_code is not None else "no exit status"
        )
        error = f"the sweep did not finish: {how}" + (f" ({said[-1]})" if said else "")
    return SweepReport(tuple(seen["found"]), tuple(seen["killed"]), tuple(seen["left"]), error)


def sweep_script(tokens: Collection[str], grace: float) -> str:
    """The shell script of a sweep: prints ``found|killed|left PID TOKEN`` lines, exits 0 once
    nothing carries a token, 3 when something survived KILL, 4 when it cannot search."""
    patterns = " ".join(f"-e {MARKER}={check_step_id(token)}" for token in tokens)
    ticks = max(int(grace * 10), 1)
    return "\n".join(
        [
            "printf 'x\\0' | grep -qazx x 2>/dev/null || exit 4",
            "[ -d /proc/self ] || exit 4",
            # "PID TOKEN" of each live process carrying a token (zombies have no environment)
            "look() {",
            f"  grep -s -a -z -x -H -m 1 -F {patterns} /proc/[0-9]*/environ | tr '\\0' '\\n' |",
            f"    sed -n 's,^/proc/\\([0-9][0-9]*\\)/environ:{MARKER}=,\\1 ,p'",
            "}",
            "pids() { echo \"$1\" | cut -d' ' -f1; }",
            # TERM each process once, the first time it is seen, and say it was found
            't=" "',
            "term() {",
            '  echo "$1" | while read -r p k; do',
            '    case $t in *" $p "*) continue; esac',
            '    echo "found $p $k"; kill -TERM "$p" 2>/dev/null',
            "  done",
            "  t=\"$t$(pids \"$1\" | tr '\\n' ' ')\"",
            "}",
            'f=$(look); [ -n "$f" ] || exit 0',
            'term "$f"',
            "i=0",
            f"while [ $i -lt {ticks} ]; do",
            '  sleep 0.1; i=$((i+1)); f=$(look); [ -n "$f" ] || exit 0; term "$f"',
            "done",
            "echo \"$f\" | sed 's/^/killed /'",
            "j=0",
            'while [ -n "$f" ]; do',
            '  kill -KILL $(pids "$f") 2>/dev/null',
            f"  [ $j -ge {_KILL_TICKS} ] && {{ echo \"$f\" | sed 's/^/left /'; exit 3; }}",
            "  sleep 0.1; j=$((j+1)); f=$(look)",
            "done",
            "exit 0",
        ]
    )
