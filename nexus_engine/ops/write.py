"""The one way ``ensure`` replaces a file's content: atomically, checked, and reversible.

The bytes arrive on stdin into a private temp file (``mktemp``, mode 0600) in the destination's
own directory, so the final ``mv`` is a rename on one file system: a reader sees the old file
or the new one, never half of either. Before the rename the host checks the sha256 of what
arrived (a torn transfer replaces nothing), gives it its mode and owner, and runs ``validate``
on it; anything failing leaves the old file as it was and removes the temp file.
"""

from __future__ import annotations

import shlex
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
    attributes: Attributes,
    *,
    validate: str | None = None,
    backup: bool = False,
) -> str:
    """``validate``: shell text (references already made safe) that sees the new file as
    ``$NEXUS_NEW_FILE``; ``backup``: keep the old file beside it as ``PATH.<time>~`` (a hard
    link: the old content, whatever the rename does to the name)."""
    q = shlex.quote
    lines = [
        "set -e",
        f"p={q(path)}",
        'd=$(dirname -- "$p")',
        't=$(mktemp "$d/.nexus.XXXXXXXXXX")',
        "trap 'rm -f -- \"$t\"' EXIT",
        "trap 'exit 143' HUP INT TERM",
        'cat > "$t"',
        'got=$(sha256sum < "$t"); got=${got%% *}',
        f'if [ "$got" != {q(sha256)} ]; then',
        '  echo "nexus: the content arrived incomplete (sha256 $got): not replaced" >&2',
        "  exit 1",
        "fi",
    ]
    if attributes.mode is not None:
        lines.append(f'chmod -- {q(attributes.mode)} "$t"')
    else:
        lines.append(
            'if [ -e "$p" ]; then chmod -- "$(stat -c %a -- "$p")" "$t"; '
            'else chmod -- "$(printf %o $((0666 & ~0$(umask))))" "$t"; fi'
        )
    owner = _owner(attributes)
    if owner is not None:
        lines.append(f'chown -- {q(owner)} "$t"')
    else:
        lines.append(
            'if [ -e "$p" ] && [ "$(id -u)" = 0 ]; then '
            'chown -- "$(stat -c %u:%g -- "$p")" "$t"; fi'
        )
    if validate is not None:
        lines += [
            f'{NEW_FILE}="$t" && export {NEW_FILE}',
            f"if ! ( eval {q(validate)} ) </dev/null; then",
            '  echo "nexus: validate failed; the file was not replaced" >&2',
            "  exit 1",
            "fi",
        ]
    if backup:
        lines.append('if [ -f "$p" ]; then ln -f -- "$p" "$p.$(date +%Y%m%dT%H%M%S)~"; fi')
    lines += ['mv -f -- "$t" "$p"', "trap - EXIT"]
    return "\n".join(lines)


def attribute_script(path: str, attributes: Attributes) -> str:
    """Only the mode and owner of ``path`` put right: its content already is."""
    q = shlex.quote
    lines = ["set -e"]
    if attributes.mode is not None:
        lines.append(f"chmod -- {q(attributes.mode)} {q(path)}")
    owner = _owner(attributes)
    if owner is not None:
        lines.append(f"chown -- {q(owner)} {q(path)}")
    return "\n".join(lines)


def _owner(attributes: Attributes) -> str | None:
    if attributes.group is None:
        return attributes.owner
    return f"{attributes.owner or ''}:{attributes.group}"
