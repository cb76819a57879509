"""The read-only shell text that finds out a host's state, and the parsing of what it prints.

The probes of a unit's steps go as one script, one round trip, and cost the host a handful of
processes however many steps there are: the shell's own tests (``[``) sort the paths, one
``find`` says what each path is (type, mode, owner, size, a link's target), and one
``sha256sum`` digests every regular file. Those two print NUL-separated records (a path may
hold a newline), base64-encoded so they fit the line-based report; records are matched to
steps by path, never by position. Each step's own section (``@@step N``) holds what only it
needs: whether its directory exists, a file it cannot read, the content ``line``/``block``
edit or ``--diff`` shows. Every path is quoted with :func:`shlex.quote`; nothing a probe reads
is ever run.
"""

from __future__ import annotations

import base64
import binascii
import posixpath
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

#: What ``ensure`` steps need on a host besides a POSIX shell; a missing one fails the step
#: that needs it with its name, rather than with a riddle.
TOOLS = ("find", "sha256sum", "base64", "head", "crontab")
#: The most of an existing file ``line`` and ``block`` read back to edit, and ``--diff`` shows.
CONTENT_LIMIT = 4 * 1024 * 1024
_TOOLS_SECTION = "tools"
_FIND_SECTION = "find"
_DIGEST_SECTION = "sha256"
#: ``find -printf``'s type letters, as the kinds speak of them.
_TYPES = {"f": "file", "d": "dir", "l": "link"}
_FIND_FIELDS = ("type", "mode", "owner", "group", "uid", "gid", "size")


@dataclass(frozen=True, slots=True)
class Probe:
    """What one step needs to know of its host: its path, and whether its content too; or
    (a kind not about a path, ``path`` empty) shell text of its own, ``script``, that prints
    ``key=value`` lines into its step's section. ``script`` must be read-only."""

    path: str
    content: bool = False
    script: str = ""


def path_probe(path: str, *, content: bool = False) -> Probe:
    """Facts about ``path``: ``type`` (absent, file, dir, link, other); for anything but a
    link ``mode``, ``owner``, ``group``, ``uid``, ``gid``, ``size``; a link's ``target``; a
    file's ``sha256`` (or ``unreadable``) and, with ``content``, its first
    :data:`CONTENT_LIMIT` bytes and one more (so a larger file is known as such); for an
    absent path, whether its directory exists (``parent``)."""
    return Probe(path, content)


def batch(probes: Mapping[int, Probe]) -> str:
    """One script probing several steps: the tools the host lacks and who the probe runs as
    (what a new file's mode and owner default to), each step's section, then every path's
    ``find`` record and every regular file's digest."""
    q = shlex.quote
    parts = [
        f"echo @@{_TOOLS_SECTION}",
        "exec 2>/dev/null",  # what cannot be read is said in the facts, not on stderr
        f"for t in {' '.join(TOOLS)}; do command -v $t >/dev/null 2>&1 || echo missing=$t; done",
        'echo "me=$(id -u) $(id -g) $(umask)"',
        "set --",
    ]
    for index, probe in probes.items():
        if not probe.path:
            parts += [f"echo @@step {index}", probe.script]
            continue
        p = q(probe.path)
        parent = q(posixpath.dirname(probe.path.rstrip("/")) or "/")
        parts += [
            f"echo @@step {index}",
            f"[ -d {parent} ] && echo parent=dir",
            f"if [ -f {p} ] && [ ! -L {p} ]; then",
            f'  if [ -r {p} ]; then set -- "$@" {p}; else echo unreadable=1; fi',
        ]
        if probe.content:
            parts.append(
                f"  [ -r {p} ] && {{ printf content=; head -c {CONTENT_LIMIT + 1} < {p}"
                " | base64 -w0; echo; }"
            )
        parts.append("fi")
        if probe.script:
            parts.append(probe.script)
    paths = " ".join(q(probe.path) for probe in dict.fromkeys(probes.values()) if probe.path)
    printf = "%y %m %u %g %U %G %s %p\\0%l\\0"
    find = f"find {paths} -maxdepth 0 -printf {q(printf)} | base64 -w0; " if paths else ""
    parts += [
        f"printf '@@{_FIND_SECTION}\\nrecords='",
        f"{find}echo",
        f"printf '@@{_DIGEST_SECTION}\\nrecords='",
        '[ $# -gt 0 ] && sha256sum -z -- "$@" | base64 -w0; echo',
    ]
    return "\n".join(parts) + "\n"


class ProbeReport:
    """What a batch probe printed, as each step's facts, and the tools the host lacks. Each
    step's facts also say who probed (``_uid``, ``_gid``, ``_umask``): what a new file
    defaults to."""

    def __init__(self, output: bytes, probes: Mapping[int, Probe]) -> None:
        sections: dict[str, dict[str, list[str]]] = {}
        current: dict[str, list[str]] | None = None
        for raw in output.decode("utf-8", "replace").splitlines():
            if raw.startswith("@@"):
                current = sections.setdefault(raw[2:], {})
                continue
            key, equals, value = raw.partition("=")
            if equals and current is not None:
                current.setdefault(key, []).append(value)
        tools = sections.get(_TOOLS_SECTION, {})
        self.missing = tuple(tools.get("missing", ()))
        me = tools.get("me", [""])[0].split()
        who = dict(zip(("_uid", "_gid", "_umask"), me, strict=False))
        found = _found(_records(sections, _FIND_SECTION))
        digests = _digests(_records(sections, _DIGEST_SECTION))
        self.facts: dict[int, dict[str, str]] = {}
        for index, probe in probes.items():
            own = {key: values[-1] for key, values in sections.get(f"step {index}", {}).items()}
            if not probe.path:
                self.facts[index] = {**own, **who}
                continue
            facts = {**found.get(probe.path, {"type": "absent"}), **own, **who}
            if probe.path in digests and facts.get("type") == "file":
                facts["sha256"] = digests[probe.path]
            self.facts[index] = facts


def _records(sections: Mapping[str, Mapping[str, list[str]]], name: str) -> list[bytes]:
    encoded = sections.get(name, {}).get("records", [""])[0]
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return []
    return data.split(b"\0")


def _found(records: list[bytes]) -> dict[str, dict[str, str]]:
    """``find``'s records (``type mode owner group uid gid size path``, then the link
    target) by path."""
    found: dict[str, dict[str, str]] = {}
    for head, target in zip(records[0::2], records[1::2], strict=False):
        fields = head.decode("utf-8", "surrogateescape").split(" ", len(_FIND_FIELDS))
        if len(fields) != len(_FIND_FIELDS) + 1:
            continue
        facts = dict(zip(_FIND_FIELDS, fields, strict=False))
        facts["type"] = _TYPES.get(facts["type"], "other")
        if facts["type"] == "link":
            facts = {"type": "link", "target": base64.b64encode(target).decode("ascii")}
        found[fields[-1]] = facts
    return found


def _digests(records: list[bytes]) -> dict[str, str]:
    """``sha256sum -z``'s records (``digest  path``, names never escaped) by path."""
    digests: dict[str, str] = {}
    for record in records:
        if len(record) > 66 and record[64:66] in (b"  ", b" *"):
            path = record[66:].decode("utf-8", "surrogateescape")
            digests[path] = record[:64].decode("ascii", "replace")
    return digests


def decoded(facts: Mapping[str, str], key: str) -> bytes | None:
    """A base64 fact (``content``, ``target``) as bytes; None when absent or garbled."""
    value = facts.get(key)
    if value is None:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
