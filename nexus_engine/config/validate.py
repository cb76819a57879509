"""Checks that need the whole file: names that refer to each other, cycles, empty selections.

They run on the parsed data even when pydantic rejected part of it, reading only what has the
expected shape, so one pass reports a typo in one task and a cycle between two others. An
empty selection is an error, never a run that "succeeds" on no hosts (ansible/ansible#14693).
Every check is linear in the size of the file, so a generated file with 100 000 names is
judged in about a second rather than a day.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from nexus_engine.config.errors import KeyPath
from nexus_engine.config.hosts import check_hostname, parse_host, suggestion
from nexus_engine.config.models import LOCAL, NAME_PATTERN
from nexus_engine.graph import build_graph, cycles, format_cycle

Finding = tuple[KeyPath, str]
_NAME_RULE = (
    "name {name!r} may contain only letters, digits, '_', '.' and '-',"
    " and must not start with '.' or '-'"
)
#: "Did you mean" costs a difflib pass over every known name; only the first few get one.
_HINTS = 25


def check(data: Mapping[str, Any], filename: str = "nexus.toml") -> list[Finding]:
    hosts, groups, tasks = _table(data, "hosts"), _table(data, "groups"), _table(data, "tasks")
    checker = _Checker(hosts, groups, tasks)
    findings = checker.names() + checker.host_strings() + checker.groups()
    if data.get("tasks") in (None, {}):
        findings.append((("tasks",), f"{filename} declares no tasks; add a [tasks.NAME] table"))
    return findings + checker.deps() + checker.targets()


def check_keymap(keymap: Mapping[str, Any], known: Collection[str]) -> list[Finding]:
    """Each ``[keymap]`` id must name one of the dashboard's key bindings (``known``): an
    unknown one is most likely a typo, and a remap that silently does nothing is worse."""
    ids = sorted(known)
    return [
        (("keymap", name), f"no dashboard key binding has the id {name!r}" + suggestion(name, ids))
        for name in keymap
        if name not in known
    ]


def _table(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _strings(value: Any) -> list[tuple[int, str]]:
    """(index, item) for the non-empty string items of a list; the rest is pydantic's to report."""
    if not isinstance(value, list):
        return []
    return [(index, item) for index, item in enumerate(value) if isinstance(item, str) and item]


def _listed(group: Any) -> Any:
    """A group's members as written: the list itself, or the ``hosts`` of its table form."""
    return group.get("hosts") if isinstance(group, dict) else group


def _index_of(item: str, items: Any) -> int:
    """Where ``item`` first occurs in a raw list, to point at the entry that closes a cycle."""
    return next(index for index, value in _strings(items) if value == item)


class _Checker:
    def __init__(
        self, hosts: dict[str, Any], groups: dict[str, Any], tasks: dict[str, Any]
    ) -> None:
        self.hosts, self.raw_groups, self.tasks = hosts, groups, tasks
        self.members = {group: _strings(_listed(members)) for group, members in groups.items()}
        self.targets_known = [*hosts, *groups]
        self.hints_left = _HINTS
        graph = build_graph(
            {g: [m for _, m in members if m in groups] for g, members in self.members.items()}
        )
        self.group_cycles = cycles(graph)
        self.empty = self._empty_groups({node for cycle in self.group_cycles for node in cycle})

    def names(self) -> list[Finding]:
        sections = (("hosts", self.hosts), ("groups", self.raw_groups), ("tasks", self.tasks))
        findings: list[Finding] = [
            ((section, name), _NAME_RULE.format(name=name))
            for section, names in sections
            for name in names
            if not NAME_PATTERN.match(name)
        ]
        findings += [
            ((section, name), f"{LOCAL!r} is reserved for the controller machine")
            for section, names in sections[:2]
            for name in names
            if name == LOCAL
        ]
        findings += [
            (("groups", name), f"{name!r} is both a host and a group; they share one namespace")
            for name in self.raw_groups
            if name in self.hosts and name != LOCAL
        ]
        return findings

    def host_strings(self) -> list[Finding]:
        findings: list[Finding] = []
        for name, entry in self.hosts.items():
            where: KeyPath = ("hosts", name)
            try:
                if isinstance(entry, str) and entry:
                    parse_host(entry)
                elif isinstance(entry, dict) and isinstance(entry.get("hostname"), str):
                    where = (*where, "hostname")
                    check_hostname(entry["hostname"])
            except ValueError as error:
                findings.append((where, f"invalid host: {error}"))
        return findings

    def groups(self) -> list[Finding]:
        findings: list[Finding] = [
            (self._member(group, index), self._unknown_target(member))
            for group, members in self.members.items()
            for index, member in members
            if not self._is_target(member)
        ]
        for cycle in self.group_cycles:
            where = self._member(cycle[0], _index_of(cycle[1], _listed(self.raw_groups[cycle[0]])))
            findings.append((where, f"groups include each other: {format_cycle(cycle)}"))
        findings += [
            (("groups", group), f"group {group!r} resolves to zero hosts")
            for group in self.members
            if group in self.empty
        ]
        return findings

    def _member(self, group: str, index: int) -> KeyPath:
        """Where a group's ``index``-th member is written: in its list, or its table's."""
        table = isinstance(self.raw_groups[group], dict)
        return ("groups", group, "hosts", index) if table else ("groups", group, index)

    def deps(self) -> list[Finding]:
        findings: list[Finding] = []
        needs: dict[str, list[str]] = {}
        for task, body in self.tasks.items():
            deps = _strings(body.get("deps")) if isinstance(body, dict) else []
            needs[task] = [dep for _, dep in deps if dep in self.tasks]
            findings += [
                (("tasks", task, "deps", index), self._unknown_task(dep))
                for index, dep in deps
                if dep not in self.tasks
            ]
        for cycle in cycles(build_graph(needs)):
            index = _index_of(cycle[1], self.tasks[cycle[0]].get("deps"))
            findings.append(
                (
                    ("tasks", cycle[0], "deps", index),
                    f"tasks depend on each other: {format_cycle(cycle)}",
                )
            )
        return findings

    def targets(self) -> list[Finding]:
        findings: list[Finding] = []
        for task, body in self.tasks.items():
            on = body.get("on", LOCAL) if isinstance(body, dict) else LOCAL
            base: KeyPath = ("tasks", task, "on")
            if on == []:
                findings.append((base, "`on` lists no hosts; name a host, a group or 'local'"))
                continue
            if isinstance(on, str):
                targets = [(base, on)] if on else []
            else:
                targets = [((*base, index), item) for index, item in _strings(on)]
            unknown = [(where, name) for where, name in targets if not self._is_target(name)]
            findings += [(where, self._unknown_target(name)) for where, name in unknown]
            names = [name for _, name in targets]
            if names and all(name in self.empty for name in names):
                findings.append((base, f"`on` selects zero hosts: {', '.join(map(repr, names))}"))
        return findings

    def _is_target(self, name: str) -> bool:
        return name == LOCAL or name in self.hosts or name in self.raw_groups

    def _unknown_target(self, name: str) -> str:
        return f"unknown host or group {name!r}" + self._hint(name, self.targets_known)

    def _unknown_task(self, name: str) -> str:
        return f"unknown task {name!r}" + self._hint(name, self.tasks)

    def _hint(self, name: str, known: Collection[str]) -> str:
        if self.hints_left <= 0:
            return ""
        self.hints_left -= 1
        return suggestion(name, list(known))

    def _empty_groups(self, cyclic: set[str]) -> set[str]:
        """Groups that cleanly resolve to no host, in linear time: a group is non-empty if it
        holds a host, ``local``, or a non-empty group. Unknown names and cycles are reported
        on their own, so a group holding one does not also count as empty."""
        contained_in: dict[str, list[str]] = {}
        full: list[str] = []
        for group, members in self.members.items():
            if group in cyclic or any(m == LOCAL or m not in self.members for _, m in members):
                full.append(group)
            for _, member in members:
                if member in self.members and member != LOCAL:
                    contained_in.setdefault(member, []).append(group)
        reached = set(full)
        while full:
            for parent in contained_in.get(full.pop(), []):
                if parent not in reached:
                    reached.add(parent)
                    full.append(parent)
        return set(self.members) - reached - {LOCAL}  # a group called "local" is reported as such
