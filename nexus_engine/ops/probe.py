"""The read-only shell text that finds out a host's state, and the parsing of what it prints.

The probes of a unit's steps go as one script, one round trip: each step's section starts with
a line ``@@step N`` and holds ``key=value`` lines; text that could hold anything (a file's
content, a link's target) is base64. Every path is quoted with :func:`shlex.quote`; nothing a
probe reads is ever run.
"""

from __future__ import annotations

import base64
import binascii
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
    a file's ``sha256`` (or ``unreadable``) and, with ``content``, its bytes when not larger
    than :data:`CONTENT_LIMIT`; for an absent path, whether its directory exists."""
    lines = [
        f"p={shlex.quote(path)}",
        'if [ -L "$p" ]; then echo type=link; t=$(readlink -- "$p")',
        '  printf target=; printf %s "$t" | base64 | tr -d "\\n"; echo',
        'elif [ -d "$p" ]; then echo type=dir',
        'elif [ -f "$p" ]; then echo type=file',
        'elif [ -e "$p" ]; then echo type=other',
        'else echo type=absent; [ -d "$(dirname -- "$p")" ] && echo parent=dir',
        "fi",
        'if [ -e "$p" ] && [ ! -L "$p" ]; then '
        "stat -c 'mode=%a owner=%U group=%G uid=%u gid=%g size=%s' -- \"$p\" | tr ' ' '\\n'; fi",
        'if [ -f "$p" ] && [ ! -L "$p" ]; then',
        '  if s=$(sha256sum < "$p" 2>/dev/null); then echo "sha256=${s%% *}"',
        "  else echo unreadable=1; fi",
    ]
    if content:
        lines.append(
            f'  if [ "$(wc -c < "$p")" -le {CONTENT_LIMIT} ]; then '
            'printf content=; base64 < "$p" | tr -d "\\n"; echo; fi'
        )
    lines.append("fi")
    return "\n".join(lines)


def batch(probes: Mapping[int, str]) -> str:
    """One script probing several steps: which tools are missing, then each step's section.
    Each section runs in a subshell, so one step's variables never reach the next."""
    parts = [
        f"echo @@{_TOOLS_SECTION}",
        f"for t in {' '.join(TOOLS)}; do command -v $t >/dev/null 2>&1 || echo missing=$t; done",
    ]
    for index, text in probes.items():
        parts.append(f"echo @@step {index}")
        parts.append(f"( {text}\n) 2>/dev/null")
    return "\n".join(parts) + "\n"


class ProbeReport:
    """What a batch probe printed, by step, and the tools the host lacks."""

    def __init__(self, output: bytes, steps: Iterable[int]) -> None:
        self.missing: tuple[str, ...] = ()
        self.facts: dict[int, dict[str, str]] = {}
        wanted = set(steps)
        current: dict[str, str] | None = None
        missing: list[str] = []
        for raw in output.decode("utf-8", "replace").splitlines():
            if raw.startswith("@@"):
                current = self._section(raw[2:], wanted)
                continue
            key, equals, value = raw.partition("=")
            if not equals or current is None:
                continue
            if current is self._tools:
                missing.append(value)
            else:
                current[key] = value
        self.missing = tuple(missing)

    _tools: dict[str, str] = {}  # noqa: RUF012 - a marker identity, never written to

    def _section(self, name: str, wanted: set[int]) -> dict[str, str] | None:
        if name == _TOOLS_SECTION:
            return self._tools
        kind, _, number = name.partition(" ")
        if kind != "step" or not number.isdigit() or int(number) not in wanted:
            return None
        return self.facts.setdefault(int(number), {})


def decoded(facts: Mapping[str, str], key: str) -> bytes | None:
    """A base64 fact (``content``, ``target``) as bytes; None when absent or garbled."""
    value = facts.get(key)
    if value is None:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
