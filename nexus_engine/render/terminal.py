"""What a terminal can take: colour decisions and making untrusted output safe to print.

Host output is data, not instructions to the operator's terminal: escape sequences and other
control characters are removed before it is printed, so a remote command cannot move the cursor,
retitle the window or hide its own lines.
"""

from __future__ import annotations

import os
import re
import sys
from typing import TextIO

from nexus_engine.status import UnitStatus
from nexus_engine.words import GLYPHS

#: CSI sequences, OSC strings, then every other escape: ESC, intermediates, a final byte
#: (``ESC 7``, ``ESC ( B``, ``ESC c`` …) so no stray final character is left behind.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[ -/]*[0-~]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # C0, DEL and C1 (U+009B is CSI)

COLOURS = {
    UnitStatus.SUCCEEDED: "32",
    UnitStatus.FAILED: "31",
    UnitStatus.TIMED_OUT: "31",
    UnitStatus.INTERRUPTED: "35",
    UnitStatus.SKIPPED: "33",
    UnitStatus.NOT_RUN: "2",
    UnitStatus.RUNNING: "36",
    UnitStatus.RETRY_WAIT: "33",
    UnitStatus.AWAITING_DECISION: "33",
    UnitStatus.PENDING: "2",
    UnitStatus.PARTIAL: "33",
}


def wants_colour(stream: TextIO, plain: bool) -> bool:
    """Colour only for a person at a terminal: never with --plain, NO_COLOR, or TERM=dumb."""
    if plain or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":  # no-color.org
        return False
    return stream.isatty()


def printable(text: str) -> str:
    """``text`` with escape sequences and control characters (but tabs) removed."""
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def paint(text: str, code: str | None, enabled: bool) -> str:
    if not enabled or not code:
        return text
    return f"\x1b[{code}m{text}\x1b[0m"


def status_text(status: UnitStatus, colour: bool, *, reused: bool = False) -> str:
    """``✓ succeeded``; a unit reused from the run a resumed run carries on is ``✓ reused``."""
    word = "reused" if reused and status is UnitStatus.SUCCEEDED else status.value
    return paint(f"{GLYPHS[status]} {word}", COLOURS[status], colour)


def table(rows: list[list[str]], widths_of: list[list[str]] | None = None) -> list[str]:
    """Left-aligned columns; ``widths_of`` gives the unpainted cells when ``rows`` carry
    colour codes, which take no room on screen."""
    plain = widths_of or rows
    widths = [max(len(row[i]) for row in plain) for i in range(len(plain[0]))]
    lines = []
    for row, bare in zip(rows, plain, strict=True):
        cells = [
            cell + " " * (width - len(b)) for cell, b, width in zip(row, bare, widths, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def detach_stdout() -> None:
    """Point stdout at /dev/null once its reader has gone (``nexus … | head``), so nothing
    more is written there and the interpreter's last flush does not fail loudly."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
