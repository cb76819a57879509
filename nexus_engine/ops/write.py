"""The one way ``ensure`` replaces a file's content: atomically, checked, and reversible.

The bytes arrive on stdin into a private temp file (a random name, created exclusively, mode
0600) in the destination's own directory, so the final ``mv`` is a rename on one file system:
a reader sees the old file or the new one, never half of either. Before the rename the host
checks the sha256 of what arrived (a torn transfer replaces nothing), gives it its mode and
owner, and runs ``validate`` on it; anything failing leaves the old file as it was and removes
the temp file.
"""

from __future__ import annotations

import posixpath
import secrets
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

#: Where ``validate``'s ``%s`` points: the new file, not yet in place.
NEW_FILE = "NEXUS_NEW_FILE"


@dataclass(frozen=True, slots=True)
class Attributes:
    """Mode and owner the written file gets; None keeps the old file's (or, for a new file,
    the default: the umask's mode, the writer's owner)."""

    mode: str | None = None
    owner: str | None = None
    group: str | None = None


def write_script(
    path: str,
    sha256: str,
    mode: str,
    owner: str | None = None,
    *,
    validate: str | None = None,
    backup: bool = False,
    keep_owner: str | None = None,
) -> str:
    """``mode``: the new file's (the asked one, the old file's, or the umask's: the caller
    knows them all from the probe); ``owner``: ``user``, ``user:group`` or ``:group`` to set;
    ``keep_owner``: the old file's ``uid:gid``, kept where this login may (as root);
    ``validate``: shell text (references already made safe) that sees the new file as
    ``$NEXUS_NEW_FILE``; ``backup``: keep the old file beside it as ``PATH.<time>~`` (a hard
    link: the old content, whatever the rename does to the name).

    The temp file is created with ``set -C`` (``O_EXCL``: never through a planted link) under
    ``umask 077`` with a random name; its digest is checked with ``sha256sum -c`` fed a
    here-document. Four processes for a new file: ``cat``, ``sha256sum``, ``chmod``, ``mv``."""
    q = shlex.quote
    directory = posixpath.dirname(path.rstrip("/")) or "/"
    name = posixpath.basename(path.rstrip("/"))
    temp = f".nexus.{secrets.token_hex(8)}"
    lines = [
        "set -e",
        f"cd -- {q(directory)}",
        "umask 077",
        f"t={temp}",
        "trap 'rm -f -- \"$t\"' EXIT",
        "trap 'exit 143' HUP INT TERM",
        'set -C; cat > "$t"; set +C',
        "if ! sha256sum -c --status <<EOF",
        f"{sha256}  {temp}",
        "EOF",
        "then",
        '  echo "nexus: the content arrived incomplete: the file was not replaced" >&2',
        "  exit 1",
        "fi",
        f'chmod -- {q(mode)} "$t"',
    ]
    if owner is not None:
        lines.append(f'chown -- {q(owner)} "$t"')
    elif keep_owner is not None:
        lines.append(f'chown -- {q(keep_owner)} "$t" 2>/dev/null || :')
    if validate is not None:
        lines += [
            f'{NEW_FILE}="$PWD/$t" && export {NEW_FILE}',
            f"if ! ( eval {q(validate)} ) </dev/null; then",
            '  echo "nexus: validate failed; the file was not replaced" >&2',
            "  exit 1",
            "fi",
        ]
    if backup:  # named for the second, and never over an earlier backup of that second
        lines += [
            f'b={q(name)}."$(date +%Y%m%dT%H%M%S)"; s=; n=0',
            'while [ -e "$b$s~" ] || [ -L "$b$s~" ]; do n=$((n+1)); s=".$n"; done',
            f'if [ -f {q(name)} ]; then ln -- {q(name)} "$b$s~"; fi',
        ]
    lines += [f'mv -f -- "$t" {q(name)}', "trap - EXIT"]
    return "\n".join(lines)


def new_file_mode(facts: Mapping[str, str], asked: str | None) -> str:
    """The mode a written file gets: the one asked for, else the old file's, else what the
    login's umask gives a new file (0644 when the probe could not say)."""
    if asked is not None:
        return asked
    if facts.get("type") == "file" and facts.get("mode"):
        return f"{int(facts['mode'], 8):04o}"
    umask = facts.get("_umask")
    return f"{0o666 & ~int(umask, 8):04o}" if umask else "0644"


def kept_owner(facts: Mapping[str, str], attributes: Attributes) -> str | None:
    """The old file's ``uid:gid`` when no owner is asked for and it is not the login's own
    (only root can keep it then: a replaced file would otherwise change hands)."""
    if attributes.owner is not None or attributes.group is not None:
        return None
    if facts.get("type") != "file" or "uid" not in facts:
        return None
    if (facts.get("uid"), facts.get("gid")) == (facts.get("_uid"), facts.get("_gid")):
        return None
    return f"{facts['uid']}:{facts['gid']}"


def attribute_script(path: str, attributes: Attributes) -> str:
    """Only the mode and owner of ``path`` put right: its content already is."""
    q = shlex.quote
    lines = ["set -e"]
    if attributes.mode is not None:
        lines.append(f"chmod -- {q(attributes.mode)} {q(path)}")
    owner = owner_of(attributes)
    if owner is not None:
        lines.append(f"chown -- {q(owner)} {q(path)}")
    return "\n".join(lines)


def owner_of(attributes: Attributes) -> str | None:
    if attributes.group is None:
        return attributes.owner
    return f"{attributes.owner or ''}:{attributes.group}"
