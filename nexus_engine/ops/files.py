"""``dir``, ``file``, ``link`` and ``absent``: the kinds that put a path itself right."""

from __future__ import annotations

import base64
import posixpath
import secrets
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from nexus_engine.ops.base import Action, Assessment, Facts
from nexus_engine.ops.content import Content, as_text
from nexus_engine.ops.probe import Probe, decoded, path_probe
from nexus_engine.ops.write import (
    Attributes,
    attribute_script,
    kept_owner,
    new_file_mode,
    owner_of,
    write_script,
)

_WHAT = {"file": "a file", "dir": "a directory", "link": "a symbolic link", "other": "special"}


def wrong_type(path: str, facts: Facts, wanted: str) -> Assessment:
    found = _WHAT.get(facts.get("type", ""), "something else")
    return Assessment(failure=f"{path} exists and is {found}, not {wanted}; nothing was changed")


def attribute_changes(facts: Facts, attributes: Attributes) -> list[str]:
    """What differs between the path's mode and owner and those asked for, in words."""
    changes = []
    mode = facts.get("mode")
    if attributes.mode is not None and mode is not None and int(mode, 8) != int(attributes.mode, 8):
        changes.append(f"mode {int(facts['mode'], 8):04o} → {int(attributes.mode, 8):04o}")
    for key, wanted in (("owner", attributes.owner), ("group", attributes.group)):
        if wanted is None:
            continue
        number = "uid" if key == "owner" else "gid"
        if wanted not in (facts.get(key), facts.get(number)):
            changes.append(f"{key} {facts.get(key, '?')} → {wanted}")
    return changes


def _attributes_of(mode: str | None, owner: str | None, group: str | None) -> Attributes:
    return Attributes(mode=mode, owner=owner, group=group)


def _traits(attributes: Attributes) -> list[str]:
    named = (("mode", attributes.mode), ("owner", attributes.owner), ("group", attributes.group))
    return [f"{key} {value}" for key, value in named if value]


def _with(attributes: Attributes) -> str:
    traits = _traits(attributes)
    return f" ({', '.join(traits)})" if traits else ""


@dataclass(frozen=True, slots=True)
class Dir:
    """A directory as wanted: its mode and owner."""

    path: str
    mode: str | None = None
    owner: str | None = None
    group: str | None = None
    parents: bool = True
    kind: str = "dir"

    @property
    def attributes(self) -> Attributes:
        return _attributes_of(self.mode, self.owner, self.group)

    def describe(self) -> str:
        return f"directory {self.path}{_with(self.attributes)}"

    def probe(self, *, diff: bool = False) -> Probe:
        return path_probe(self.path)

    def assess(self, facts: Facts) -> Assessment:
        found = facts.get("type")
        q = shlex.quote
        if found == "absent":
            make = f"mkdir {'-p ' if self.parents else ''}-- {q(self.path)}"
            script = "\n".join(["set -e", make, attribute_script(self.path, self.attributes)])
            return Assessment(
                "create",
                self.path + _with(self.attributes),
                Action(script),
                predicted=_made("dir", self.attributes),
            )
        if found != "dir":
            return wrong_type(self.path, facts, "a directory")
        changes = attribute_changes(facts, self.attributes)
        if not changes:
            return Assessment(detail=self.path)
        script = attribute_script(self.path, self.attributes)
        return Assessment("update", f"{self.path}: {', '.join(changes)}", Action(script))


@dataclass(frozen=True, slots=True)
class File:
    """A regular file as wanted: its content, mode and owner."""

    path: str
    content: Content
    origin: str  # where the content comes from, in words: "content", "source files/a.bin"
    mode: str | None = None
    owner: str | None = None
    group: str | None = None
    backup: bool = False
    validate: str | None = None  # shell text seeing the new file as $NEXUS_NEW_FILE
    validate_env: tuple[tuple[str, str], ...] = ()
    kind: str = "file"

    @property
    def attributes(self) -> Attributes:
        return _attributes_of(self.mode, self.owner, self.group)

    def describe(self) -> str:
        return f"file {self.path} from {self.origin}{_with(self.attributes)}"

    def probe(self, *, diff: bool = False) -> Probe:
        return path_probe(self.path, content=diff)

    def assess(self, facts: Facts) -> Assessment:
        write = writer(
            self.path,
            self.content,
            self.attributes,
            validate=self.validate,
            validate_env=self.validate_env,
            backup=self.backup,
        )
        return assess_content(self.path, facts, self.content, self.attributes, write)


#: Builds the write action of a content change, from what the probe found.
WriteFor = Callable[[Facts], Action]


def writer(
    path: str,
    content: Content,
    attributes: Attributes,
    *,
    validate: str | None = None,
    validate_env: tuple[tuple[str, str], ...] = (),
    backup: bool = False,
) -> WriteFor:
    """The atomic write of ``content`` to ``path``: the mode asked for, or the old file's, or
    the umask's; the owner asked for, or the old file's where the login may keep it."""

    def write(facts: Facts) -> Action:
        script = write_script(
            path,
            content.sha256,
            new_file_mode(facts, attributes.mode),
            owner_of(attributes),
            validate=validate,
            backup=backup,
            keep_owner=kept_owner(facts, attributes),
        )
        return Action(script, content, validate_env)

    return write


def assess_content(
    path: str,
    facts: Facts,
    content: Content,
    attributes: Attributes,
    write: WriteFor,
) -> Assessment:
    """A file whose content is ``content``: create it, replace its content, or only put its
    mode and owner right. Shared by ``file`` and the kinds that edit a file's lines."""
    found = facts.get("type")
    size = f"{content.size} bytes"
    if found == "absent":
        return Assessment(
            "create",
            f"{path} ({', '.join([size, *_traits(attributes)])})",
            write(facts),
            before="",
            after=content.text(),
            predicted=_made("file", attributes, content),
        )
    if found != "file":
        return wrong_type(path, facts, "a file")
    if "unreadable" in facts:
        return Assessment(failure=f"{path} cannot be read to compare it; use sudo = true")
    changes = attribute_changes(facts, attributes)
    if facts.get("sha256") != content.sha256:
        old = decoded(facts, "content")
        return Assessment(
            "update",
            f"{path} content ({size}){'; ' + ', '.join(changes) if changes else ''}",
            write(facts),
            before=None if old is None else as_text(old),
            after=content.text(),
            predicted=_rewritten(facts, content),
        )
    if changes:
        return Assessment(
            "update", f"{path}: {', '.join(changes)}", Action(attribute_script(path, attributes))
        )
    return Assessment(detail=path)


@dataclass(frozen=True, slots=True)
class Link:
    """A symbolic link as wanted."""

    path: str
    to: str
    kind: str = "link"

    def describe(self) -> str:
        return f"symbolic link {self.path} → {self.to}"

    def probe(self, *, diff: bool = False) -> Probe:
        return path_probe(self.path)

    def assess(self, facts: Facts) -> Assessment:
        found = facts.get("type")
        target = decoded(facts, "target")
        if found == "link" and target == self.to.encode():
            return Assessment(detail=f"{self.path} → {self.to}")
        if found not in ("absent", "link"):
            return wrong_type(self.path, facts, "a symbolic link")
        q = shlex.quote
        script = "\n".join(
            [
                "set -e",
                f"p={q(self.path)}",
                f"t={q(_beside(self.path))}",
                f'ln -s -- {q(self.to)} "$t"',
                'mv -fT -- "$t" "$p" || { rm -f -- "$t"; exit 1; }',
            ]
        )
        verb = "create" if found == "absent" else "update"
        was = "" if target is None else f" (was → {target.decode('utf-8', 'replace')})"
        predicted = {"type": "link", "target": _b64(self.to.encode())}
        return Assessment(
            verb, f"{self.path} → {self.to}{was}", Action(script), predicted=predicted
        )


@dataclass(frozen=True, slots=True)
class Absent:
    """A path that must not exist."""

    path: str
    kind: str = "absent"

    def describe(self) -> str:
        return f"nothing at {self.path}"

    def probe(self, *, diff: bool = False) -> Probe:
        return path_probe(self.path)

    def assess(self, facts: Facts) -> Assessment:
        found = facts.get("type")
        if found == "absent":
            return Assessment(detail=f"{self.path} is absent")
        script = f"rm -rf -- {shlex.quote(self.path)}"
        what = _WHAT.get(found or "", "something")
        return Assessment(
            "remove",
            f"{self.path} ({what})",
            Action(script),
            predicted={"type": "absent", "parent": "dir"},
        )


def _made(kind: str, attributes: Attributes, content: Content | None = None) -> dict[str, str]:
    made = {"type": kind}
    if attributes.mode is not None:
        made["mode"] = attributes.mode
    if content is not None:
        made |= {"sha256": content.sha256, "size": str(content.size)}
        if content.data is not None:
            made["content"] = _b64(content.data)
    return made


def _beside(path: str) -> str:
    """A random name in the directory of ``path``, for a link made there and renamed over it."""
    directory = posixpath.dirname(path.rstrip("/")) or "/"
    return posixpath.join(directory, f".nexus.{secrets.token_hex(8)}")


def _rewritten(facts: Facts, content: Content) -> dict[str, str]:
    """The facts of a file once its content is replaced (its mode and owner kept)."""
    after = {key: value for key, value in facts.items() if key != "content"}
    after |= {"sha256": content.sha256, "size": str(content.size)}
    if content.data is not None:
        after["content"] = _b64(content.data)
    return after


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
