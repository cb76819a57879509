"""A host selection: ``--hosts`` and ``--exclude`` globs that limit a run to some hosts.

Patterns are matched against host names, group names and ``local``; a matched group stands for
every host in it. The controller (``local``) is kept unless it is excluded: a pipeline such as
"build here, deploy on web1" limited with ``--hosts web1`` still needs its local build.

Limiting never quietly narrows a run to nothing: a pattern that names nothing, a task whose
remote hosts are all left out, a ``--hosts`` that misses every host of the run, and a selection
that leaves no unit at all are errors, never a run that "succeeds" on no hosts.
"""

from __future__ import annotations

import fnmatch
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from nexus_engine import hostrange
from nexus_engine.config.hosts import expand, suggestion
from nexus_engine.config.models import LOCAL, NexusConfig

_SHOWN_NAMES = 5  # hosts named in a message before "and N more"
_SHOWN_TASKS = 3


class SelectionError(ValueError):
    """A host selection names nothing, or leaves a task (or the whole run) without hosts."""


@dataclass(frozen=True, slots=True)
class HostSelection:
    """The hosts ``--hosts``/``--exclude`` keep, by name, group or range."""

    include: tuple[str, ...] = ()  # empty: every host
    exclude: tuple[str, ...] = ()

    @classmethod
    def from_flags(
        cls, include: Iterable[str] | None, exclude: Iterable[str] | None
    ) -> HostSelection | None:
        """The selection repeated, comma-separated flags ask for; None when neither was given,
        so that an unlimited run takes exactly the path it took before selections existed."""
        if include is None and exclude is None:
            return None
        return cls(_patterns("--hosts", include or ()), _patterns("--exclude", exclude or ()))

    def __str__(self) -> str:
        """The flags as the user could have typed them, to say which selection went wrong."""
        flags = [
            f"{flag} {shlex.quote(','.join(patterns))}"
            for flag, patterns in (("--hosts", self.include), ("--exclude", self.exclude))
            if patterns
        ]
        return " ".join(flags)

    def admitted(self, config: NexusConfig) -> frozenset[str]:
        """Host names (and ``local``) a run may touch. Raises :class:`SelectionError` for a
        pattern that matches no host or group name: a typo must not pass for a choice."""
        return self._resolve(config)[0]

    def limit(
        self, config: NexusConfig, task_hosts: Mapping[str, Sequence[str]]
    ) -> dict[str, list[str]]:
        """``task_hosts`` (task → its hosts, in plan order) cut down to the admitted hosts.

        A task left with no hosts is missing from the answer only when it ran on ``local`` alone
        and ``local`` was excluded: that was asked for. Every other way of running less than
        the user thinks raises :class:`SelectionError`."""
        admitted, named = self._resolve(config)
        kept = {task: [h for h in hosts if h in admitted] for task, hosts in task_hosts.items()}
        emptied = [
            task
            for task, hosts in task_hosts.items()
            if not kept[task] and any(host != LOCAL for host in hosts)
        ]
        if emptied:
            shown = [f"task {task} (it runs on {_hosts(task_hosts[task])})" for task in emptied]
            raise SelectionError(
                f"{self} leaves no hosts for {_names(shown, _SHOWN_TASKS, ' tasks')}; "
                "name only the tasks to run, or select some of their hosts"
            )
        used = {host for hosts in kept.values() for host in hosts}
        if self.include and not used & named:
            every = dict.fromkeys(host for hosts in task_hosts.values() for host in hosts)
            raise SelectionError(
                f"{self} selects none of the hosts this run uses ({_hosts(every)})"
            )
        if not used:
            raise SelectionError(f"{self} leaves nothing to run")
        return {task: hosts for task, hosts in kept.items() if hosts}

    def _resolve(self, config: NexusConfig) -> tuple[frozenset[str], frozenset[str]]:
        """(admitted hosts, those of them ``--hosts`` named rather than kept by default)."""
        names = [*config.hosts, *config.groups, LOCAL]
        if self.include:
            included = self._matching("--hosts", self.include, names, config)
        else:
            included = set(config.hosts)
        excluded = self._matching("--exclude", self.exclude, names, config)
        return frozenset((included | {LOCAL}) - excluded), frozenset(included - excluded)

    @staticmethod
    def _matching(
        flag: str, patterns: Sequence[str], names: Sequence[str], config: NexusConfig
    ) -> set[str]:
        matched: list[str] = []
        for pattern in patterns:
            found = [name for name in names if fnmatch.fnmatchcase(name, pattern)]
            if not found:
                # The glob characters only get in the way of spotting a typo.
                plain = pattern.translate(str.maketrans("", "", "*?[]"))
                raise SelectionError(
                    f"{flag} {shlex.quote(pattern)} matches no host or group"
                    + suggestion(plain or pattern, names)
                )
            matched.extend(found)
        return set(expand(matched, config.hosts, config.group_members))


def _patterns(flag: str, values: Iterable[str]) -> tuple[str, ...]:
    """Every pattern of repeated, comma-separated flags. A stray comma is forgiven, but a flag
    with no pattern at all is not: ``--hosts ""`` would otherwise mean "every host"."""
    patterns: list[str] = []
    for value in values:
        found = [part.strip() for part in value.split(",") if part.strip()]
        if not found:
            raise SelectionError(f"{flag} needs a host or group pattern, got {shlex.quote(value)}")
        patterns.extend(found)
    return tuple(patterns)


def _hosts(names: Iterable[str]) -> str:
    """Host names folded into ranges (``web[001-480]``), then the first few of those."""
    return _names(hostrange.fold(names))


def _names(items: Iterable[str], limit: int = _SHOWN_NAMES, what: str = "") -> str:
    """``a, b, c and 7 more``: enough to recognise, short enough for one line."""
    listed = list(items)
    if len(listed) <= limit:
        return ", ".join(listed)
    return f"{', '.join(listed[:limit])} and {len(listed) - limit} more{what}"
