"""``user`` and ``group``: local accounts, read with ``getent`` and ``id``, changed with the
shadow tools (``useradd``/``usermod``/``userdel``, ``groupadd``/``groupmod``/``groupdel``).

The probe prints the account's ``getent`` line (and a user's primary group name and groups),
read-only; the assessment compares it field by field and makes one command with every option
that differs, each value :func:`shlex.quote`\\ d. A name is looked up by name, and an entry
``getent`` returns for another name (it reads a number as an id) counts as no account. Nexus
never creates or moves a home directory (``useradd -M``, ``usermod -d`` without ``-m``): a
``dir`` step makes it with the owner and mode wanted.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from nexus_engine.config.ensure_accounts import account_problem, passwd_problem
from nexus_engine.ops.base import Action, Assessment, Facts
from nexus_engine.ops.probe import Probe

#: The read-only tools the probes need (``useradd`` and the like are the action's: a missing
#: one, or a login that may not use it, fails the action with the tool's own words).
_PROBE_TOOLS = ("getent", "id", "cut", "head")
#: ``/etc/passwd``'s fields, as ``getent passwd`` prints them.
_PASSWD = ("name", "password", "uid", "gid", "gecos", "home", "shell")


def _missing_tools() -> str:
    tools = " ".join(_PROBE_TOOLS)
    return (
        f'm=; for t in {tools}; do command -v $t >/dev/null 2>&1 || m="$m $t"; done; '
        '[ -z "$m" ] || echo "missing=$m"'
    )


def _first_problem(what: Sequence[tuple[str, str]]) -> str | None:
    """The first name (``(role, name)``) the shadow tools would refuse, in words."""
    for role, name in what:
        problem = account_problem(name)
        if problem is not None:
            return f"{role} {name!r} is not a valid account name: it {problem}; nothing was changed"
    return None


def _lacking(facts: Facts, kind: str) -> str | None:
    missing = facts.get("missing", "").split()
    if missing:
        return f"the host lacks {', '.join(missing)}, which {kind} steps need"
    return None


def _record(facts: Facts, key: str, name: str, size: int) -> list[str] | None:
    """The account's ``getent`` line as fields, or None when there is no account ``name``."""
    fields = facts.get(key, "").split(":")
    if len(fields) < size or fields[0] != name:
        return None
    return fields


@dataclass(frozen=True, slots=True)
class User:
    """``present`` False: there must be no user ``name``; else it must be as each given field
    says (None: whatever it is)."""

    name: str
    uid: int | None = None
    group: str | None = None
    groups: tuple[str, ...] | None = None
    append: bool = True
    shell: str | None = None
    home: str | None = None
    system: bool = False
    present: bool = True
    kind: str = "user"

    @property
    def path(self) -> str:
        """Not a path: what checking keys this account's predicted state by."""
        return f"user {self.name}"

    def describe(self) -> str:
        if not self.present:
            return f"no user {self.name!r}"
        wanted = ", ".join(self._wanted())
        return f"user {self.name!r}" + (f" ({wanted})" if wanted else "")

    def _wanted(self) -> list[str]:
        words = [] if self.uid is None else [f"uid {self.uid}"]
        words += [] if self.group is None else [f"group {self.group}"]
        if self.groups is not None:
            words.append(f"groups {'+' if self.append else ''}{','.join(self.groups) or '-'}")
        words += [f"{key} {value}" for key, value in self._paths() if value is not None]
        return words + (["system"] if self.system else [])

    def _paths(self) -> tuple[tuple[str, str | None], ...]:
        return (("shell", self.shell), ("home", self.home))

    def probe(self, *, diff: bool = False) -> Probe:
        if self._invalid() is not None:
            return Probe(path="", script="")
        name = shlex.quote(self.name)
        script = "\n".join(
            [
                _missing_tools(),
                f"e=$(getent passwd {name} | head -n 1)",
                'if [ -n "$e" ]; then',
                "  printf 'passwd=%s\\n' \"$e\"",
                '  g=$(printf %s "$e" | cut -d: -f4)',
                '  printf \'primary=%s\\n\' "$(getent group "$g" | head -n 1 | cut -d: -f1)"',
                f"  printf 'groups=%s\\n' \"$(id -Gn {name})\"",
                "fi",
            ]
        )
        return Probe(path="", script=script)

    def _invalid(self) -> str | None:
        """What a variable's value made of this step that the tools would refuse."""
        names = [("user name", self.name)]
        if self.group is not None:
            names.append(("group", self.group))
        names += [("group", group) for group in self.groups or ()]
        problem = _first_problem(names)
        if problem is not None:
            return problem
        for key, value in self._paths():
            problem = None if value is None else passwd_problem(value)
            if problem is not None:
                return f"{key} {value!r} is not valid: it {problem}; nothing was changed"
        return None

    def assess(self, facts: Facts) -> Assessment:
        failure = self._invalid() or _lacking(facts, self.kind)
        if failure is not None:
            return Assessment(failure=failure)
        fields = _record(facts, "passwd", self.name, len(_PASSWD))
        detail = f"user {self.name!r}"
        if not self.present:
            if fields is None:
                return Assessment(detail=f"no {detail}")
            action = Action(shlex.join(["userdel", self.name]))
            return Assessment(verb="remove", detail=detail, action=action, predicted={})
        if fields is None:
            return self._create(detail)
        return self._update(detail, dict(zip(_PASSWD, fields, strict=False)), facts)

    def _create(self, detail: str) -> Assessment:
        argv = ["useradd", "-M", *(["--system"] if self.system else [])]
        argv += [] if self.uid is None else ["-u", str(self.uid)]
        argv += [] if self.group is None else ["-g", self.group]
        argv += ["-G", ",".join(self.groups)] if self.groups else []
        argv += [] if self.shell is None else ["-s", self.shell]
        argv += [] if self.home is None else ["-d", self.home]
        wanted = ", ".join(self._wanted())
        passwd = [self.name, "x", "" if self.uid is None else str(self.uid), "", ""]
        passwd += [self.home or "", self.shell or ""]
        by_name = self.group is not None and not self.group.isdigit()
        predicted = {
            "passwd": ":".join(passwd),
            "primary": self.group if by_name and self.group else "",
            "groups": " ".join(self.groups or ()),
        }
        return Assessment(
            verb="create",
            detail=detail + (f" ({wanted})" if wanted else ""),
            action=Action(shlex.join([*argv, self.name])),
            predicted=predicted,
        )

    def _update(self, detail: str, now: dict[str, str], facts: Facts) -> Assessment:
        options: list[str] = []
        changes: list[str] = []
        after = dict(now)
        if self.uid is not None and now["uid"] != str(self.uid):
            options += ["-u", str(self.uid)]
            changes.append(f"uid {now['uid']} → {self.uid}")
            after["uid"] = str(self.uid)
        primary = facts.get("primary", "")
        if self.group is not None:
            current = now["gid"] if self.group.isdigit() else primary
            if current != self.group:
                options += ["-g", self.group]
                changes.append(f"group {current or now['gid']} → {self.group}")
                after["gid"] = self.group if self.group.isdigit() else ""
                primary = "" if self.group.isdigit() else self.group
        groups = facts.get("groups", "").split()
        if self.groups is not None:
            options, changes, groups = self._supplementary(options, changes, groups, primary)
        for key, value in self._paths():
            if value is not None and now[key] != value:
                options += ["-d" if key == "home" else "-s", value]
                changes.append(f"{key} {now[key]} → {value}")
                after[key] = value
        if not options:
            return Assessment(detail=detail)
        predicted = {
            "passwd": ":".join(after[key] for key in _PASSWD),
            "primary": primary,
            "groups": " ".join(groups),
        }
        return Assessment(
            verb="update",
            detail=f"{detail}: {', '.join(changes)}",
            action=Action(shlex.join(["usermod", *options, self.name])),
            predicted=predicted,
        )

    def _supplementary(
        self, options: list[str], changes: list[str], groups: list[str], primary: str
    ) -> tuple[list[str], list[str], list[str]]:
        """``usermod``'s ``-G`` for the supplementary groups, and the user's groups after it.
        The primary group is none of them (``id -G`` names it too)."""
        wanted = [g for g in dict.fromkeys(self.groups or ()) if g != primary]
        current = [g for g in groups if g != primary]
        if self.append:
            adding = [g for g in wanted if g not in current]
            if not adding:
                return options, changes, groups
            options = [*options, "-a", "-G", ",".join(adding)]
            changes = [*changes, f"groups +{','.join(adding)}"]
            return options, changes, [*groups, *adding]
        if set(wanted) == set(current):
            return options, changes, groups
        options = [*options, "-G", ",".join(wanted)]
        changes = [*changes, f"groups {','.join(current) or '-'} → {','.join(wanted) or '-'}"]
        return options, changes, [*([primary] if primary else []), *wanted]


@dataclass(frozen=True, slots=True)
class Group:
    """A group as wanted on a host (or as found, when probed)."""

    name: str
    gid: int | None = None
    system: bool = False
    present: bool = True
    kind: str = "group"

    @property
    def path(self) -> str:
        """Not a path: what checking keys this group's predicted state by."""
        return f"group {self.name}"

    def describe(self) -> str:
        if not self.present:
            return f"no group {self.name!r}"
        wanted = ([] if self.gid is None else [f"gid {self.gid}"]) + (
            ["system"] if self.system else []
        )
        return f"group {self.name!r}" + (f" ({', '.join(wanted)})" if wanted else "")

    def probe(self, *, diff: bool = False) -> Probe:
        if account_problem(self.name) is not None:
            return Probe(path="", script="")
        line = f"getent group {shlex.quote(self.name)} | head -n 1"
        return Probe(path="", script=f"{_missing_tools()}\nprintf 'group=%s\\n' \"$({line})\"")

    def assess(self, facts: Facts) -> Assessment:
        failure = _first_problem([("group name", self.name)]) or _lacking(facts, self.kind)
        if failure is not None:
            return Assessment(failure=failure)
        fields = _record(facts, "group", self.name, 3)
        detail = f"group {self.name!r}"
        if not self.present:
            if fields is None:
                return Assessment(detail=f"no {detail}")
            action = Action(shlex.join(["groupdel", self.name]))
            return Assessment(verb="remove", detail=detail, action=action, predicted={})
        gid = None if self.gid is None else str(self.gid)
        if fields is None:
            argv = ["groupadd", *(["--system"] if self.system else [])]
            argv += [] if gid is None else ["-g", gid]
            return Assessment(
                verb="create",
                detail=self.describe(),
                action=Action(shlex.join([*argv, self.name])),
                predicted={"group": f"{self.name}:x:{gid or ''}:"},
            )
        if gid is None or fields[2] == gid:
            return Assessment(detail=detail)
        return Assessment(
            verb="update",
            detail=f"{detail}: gid {fields[2]} → {gid}",
            action=Action(shlex.join(["groupmod", "-g", gid, self.name])),
            predicted={"group": ":".join([self.name, fields[1], gid, *fields[3:]])},
        )
