"""The read-only shell text that finds out a host's state, and the parsing of what it prints.

The probes of a unit's steps go as one script, one round trip: each step's section starts with
a line ``@@step N`` and holds ``key=value`` lines; text that could hold anything (a file's
content, a link's target) is base64. Every path is quoted with :func:`shlex.quote`; nothing a
probe reads is ever run.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import shlex
from collections.abc import Iterable, Mapping

#: What ``ensure`` steps need on a host besides a POSIX shell; a missing one fails the step
#: that needs it with its name, rather than with a riddle.
TOOLS = ("stat", "sha256sum", "base64", "mktemp", "readlink")
#: The most of an existing file ``line`` and ``block`` read back to edit, and ``--diff`` shows.
CONTENT_LIMIT = 4 * 1024 * 1024
_TOOLS_SECTION = "tools"


def path_probe(path: str, *, content: bool = False) -> str:
    """Facts about ``path``: ``type`` (absent, file, dir, link, other), for anything but a
    link its ``mode``, ``owner``, ``group``, ``uid``, ``gid``, ``size``; a link's ``target``;
    a file's ``sha256`` (or ``unreadable``) and, with ``content``, its first
    :data:`CONTENT_LIMIT` bytes and one more (so a larger file is known as such); for an
    absent path, whether its directory exists.

    Tests are the shell's own (``[``), so an unchanged file costs a host two processes
    (``stat``, ``sha256sum``): on a fleet, the probe is most of what a no-change run does."""
    q = shlex.quote
    parent = posixpath.dirname(path.rstrip("/")) or "/"
    lines = [
        f"p={q(path)}",
        'if [ -L "$p" ]; then echo type=link; printf target=; readlink -- "$p" | base64 -w0; echo',
        'elif [ -d "$p" ]; then echo type=dir',
        'elif [ -f "$p" ]; then echo type=file',
        'elif [ -e "$p" ]; then echo type=other',
        f"else echo type=absent; [ -d {q(parent)} ] && echo parent=dir; fi",
        '[ -e "$p" ] && [ ! -L "$p" ] && stat -c \'stat=%a %U %G %u %g %s\' -- "$p"',
        'if [ -f "$p" ] && [ ! -L "$p" ]; then',
        '  if [ -r "$p" ]; then printf sha256=; sha256sum < "$p"; else echo unreadable=1; fi',
    ]
    if content:
        lines.append(
            f'  [ -r "$p" ] && {{ printf content=; head -c {CONTENT_LIMIT + 1} < "$p"'
            " | base64 -w0; echo; }"
        )
    lines.append("fi")
    return "\n".join(lines)


def batch(probes: Mapping[int, str]) -> str:
    """One script probing several steps: the tools the host lacks and who the probe runs as
    (what a new file's mode and owner default to), then each step's section."""
    parts = [
        f"echo @@{_TOOLS_SECTION}",
        f"for t in {' '.join(TOOLS)}; do command -v $t >/dev/null 2>&1 || echo missing=$t; done",
        'echo "me=$(id -u) $(id -g) $(umask)"',
    ]
    for index, text in probes.items():
        parts.append(f"echo @@step {index}")
        parts.append(f"{{ {text}\n}} 2>/dev/null")
    return "\n".join(parts) + "\n"


class ProbeReport:
    """What a batch probe printed, by step, and the tools the host lacks. Each step's facts
    also say who probed (``_uid``, ``_gid``, ``_umask``): what a new file defaults to."""

    def __init__(self, output: bytes, steps: Iterable[int]) -> None:
        self.missing: tuple[str, ...] = ()
        self.facts: dict[int, dict[str, str]] = {}
        wanted = set(steps)
        current: dict[str, str] | None = None
        missing: list[str] = []
        me: dict[str, str] = {}
        for raw in output.decode("utf-8", "replace").splitlines():
            if raw.startswith("@@"):
                current = self._section(raw[2:], wanted)
                continue
            key, equals, value = raw.partition("=")
            if not equals or current is None:
                continue
            if current is self._tools:
                if key == "missing":
                    missing.append(value)
                elif key == "me":
                    me = dict(zip(("_uid", "_gid", "_umask"), value.split(), strict=False))
            else:
                current.update(_fact(key, value))
        self.missing = tuple(missing)
        for facts in self.facts.values():
            facts.update(me)

    _tools: dict[str, str] = {}  # noqa: RUF012 - a marker identity, never written to

    def _section(self, name: str, wanted: set[int]) -> dict[str, str] | None:
        if name == _TOOLS_SECTION:
            return self._tools
        kind, _, number = name.partition(" ")
        if kind != "step" or not number.isdigit() or int(number) not in wanted:
            return None
        return self.facts.setdefault(int(number), {})


_STAT = ("mode", "owner", "group", "uid", "gid", "size")


def _fact(key: str, value: str) -> dict[str, str]:
    """One printed line as facts: ``stat=644 root root 0 0 12`` is six, a sha256sum line its
    digest alone."""
    if key == "stat":
        return dict(zip(_STAT, value.split(), strict=False))
    if key == "sha256":
        return {key: value[:64]}
    return {key: value}


def decoded(facts: Mapping[str, str], key: str) -> bytes | None:
    """A base64 fact (``content``, ``target``) as bytes; None when absent or garbled."""
    value = facts.get(key)
    if value is None:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
