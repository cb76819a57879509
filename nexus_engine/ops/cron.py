"""``cron``: one entry of a user's crontab, found by the comment above it that carries its name.

The probe reads the crontab of the user the step runs as (``crontab -l``; none yet reads as
empty), the entry is put in place here (:func:`edit_crontab`), and the whole crontab goes back
through ``crontab -`` on stdin, so ``cron`` itself checks and installs it. The job is a line of
the crontab, not shell text Nexus runs: it goes in as written, and is one line by the model.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from nexus_engine.ops.base import Action, Assessment, Facts
from nexus_engine.ops.content import Content
from nexus_engine.ops.probe import Probe, decoded

#: Reads the crontab without changing it: its bytes, base64-encoded, or why it cannot be read.
PROBE_SCRIPT = (
    "if crontab -l >/dev/null 2>&1; then printf crontab=; crontab -l | base64 -w0; echo;"
    " else printf crontab_error=; crontab -l 2>&1 | head -c 300 | base64 -w0; echo; fi"
)
#: The command that installs the new crontab, read from stdin.
INSTALL = "crontab -"
#: What ``crontab -l`` says of a user without a crontab (Vixie cron, cronie, Debian's).
_NONE_YET = "no crontab for"
#: Bytes that are not text survive a decode and encode unchanged.
_ERRORS = "surrogateescape"


def marker(name: str) -> str:
    return f"#nexus: {name}"


def edit_crontab(text: str, name: str, entry: str | None) -> str:
    """``text`` with the entry named ``name`` (its marker line and the line after it) being
    ``entry``: replaced where it is, appended when it is not there, or, ``entry`` None, removed.
    A second copy of the marker (someone pasted it twice) goes too, so an entry is never
    doubled. Unchanged text comes back identical, so "nothing to do" is ``==``."""
    mark = marker(name)
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the crontab ends with a newline, as crontab(5) wants
    out: list[str] = []
    placed = False
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if line.rstrip("\r") != mark:
            out.append(line)
            continue
        if index < len(lines) and lines[index].rstrip("\r") != mark:
            index += 1  # the entry under the marker goes with it
        if entry is not None and not placed:
            out += [mark, entry]
            placed = True
    if entry is not None and not placed:
        out += [mark, entry]
    return "".join(line + "\n" for line in out)


@dataclass(frozen=True, slots=True)
class Cron:
    """``entry`` None: the entry named ``name`` must not be there."""

    name: str
    entry: str | None
    whose: str = "the login"  # whose crontab, in words
    kind: str = "cron"

    @property
    def path(self) -> str:
        """Not a path: what checking keys this crontab's predicted state by."""
        return f"crontab of {self.whose}"

    def describe(self) -> str:
        if self.entry is None:
            return f"no cron entry {self.name!r} in the {self.path}"
        return f"cron entry {self.name!r} in the {self.path}: {self.entry}"

    def probe(self, *, diff: bool = False) -> Probe:
        return Probe(path="", script=PROBE_SCRIPT)

    def assess(self, facts: Facts) -> Assessment:
        old = decoded(facts, "crontab")
        if old is None:
            error = decoded(facts, "crontab_error")
            said = "" if error is None else error.decode("utf-8", "replace").strip()
            if _NONE_YET not in said:
                why = f": {said}" if said else ""
                return Assessment(failure=f"cannot read the {self.path}{why}; nothing was changed")
            old = b""
        if any("\n" in part or "\r" in part for part in (self.name, self.entry or "")):
            return Assessment(
                failure=f"cron entry {self.name!r} must be one line (a variable's value held a "
                "line break); nothing was changed"
            )
        text = old.decode("utf-8", _ERRORS)
        new_text = edit_crontab(text, self.name, self.entry)
        detail = f"cron entry {self.name!r} in the {self.path}"
        if new_text == text:
            return Assessment(detail=detail)
        new = new_text.encode("utf-8", _ERRORS)
        if self.entry is None:
            verb = "remove"
        else:
            verb = "update" if marker(self.name) in text.split("\n") else "create"
        return Assessment(
            verb=verb,
            detail=detail,
            action=Action(INSTALL, Content.of(new)),
            before=text,
            after=new_text,
            predicted={"crontab": base64.b64encode(new).decode("ascii")},
        )
