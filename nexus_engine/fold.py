"""Hosts that printed the same, as one group per task: ``web[001-480] (480 hosts)``.

A host's output is compared after it is *normalised*: its own name and address, timestamps
(ISO-8601 dates and times, ``HH:MM:SS``) and whatever the user's ``fold_ignore`` regexes match
become placeholders (``{host}``, ``{address}``, ``{time}``, ``{ignored}``). Hosts whose
normalised output and ending (status, exit status, kind of error) are the same are one group;
the largest group comes first and every other group carries a unified diff against it.

stdout and stderr are compared each on its own: how a host's two streams interleave depends on
timing, not on what it did, so hosts that printed the same never differ by it.

Nothing is lost. A group keeps its normalised text once, in an escaped form (a brace of the
output is doubled, so a literal ``{host}`` never reads as the placeholder), and each host keeps
the texts its placeholders stand for: :func:`unfold` gives every host its exact bytes back.
Bytes that are not UTF-8 are carried through as surrogates (``surrogateescape``).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nexus_engine import events as ev
from nexus_engine import hostrange
from nexus_engine.config.models import LOCAL
from nexus_engine.status import UnitStatus

if TYPE_CHECKING:
    from nexus_engine.plan import Plan
from nexus_engine.words import Stream

HOST = "host"
ADDRESS = "address"
TIME = "time"
IGNORED = "ignored"
#: Output kept per host and task for folding. A host that prints more forms a group of its own
#: (compared with no other), so a run of big outputs never holds them all in memory.
MAX_KEPT = 1024 * 1024

#: Characters a host name or address must not touch to be one: ``web1`` is not in ``web10``.
_NAME_CHARS = "A-Za-z0-9_-"
_TIME = re.compile(
    r"(?<![0-9])(?:"
    # an ISO-8601 date, perhaps with a time of day and a zone
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"
    # a time of day alone: 05:12:17, 5:12:17.250
    r"|[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:[.,][0-9]+)?"
    r")(?![0-9])"
)
#: The escaped form's pieces: a doubled brace, a placeholder, or text without braces.
_TOKEN = re.compile(r"\{\{|\}\}|\{(host|address|time|ignored)\}|[^{}]+")

_Pattern = tuple[str | None, re.Pattern[str]]  # a kind, or None: the match's group name
_Originals = tuple[tuple[str, ...], tuple[str, ...]]  # what the placeholders were, per stream
#: What makes hosts one group: status, exit status, kind of error, normalised stdout and stderr,
#: and the host itself for an incomplete output, which is compared with no other.
_Key = tuple[UnitStatus, int | None, str | None, str, str, str | None]


@dataclass(frozen=True, slots=True)
class Rules:
    """What normalising replaces beyond timestamps: ``ignore``, the user's ``fold_ignore``
    regexes (``^`` and ``$`` match at every line), and each host's address by host name."""

    ignore: tuple[re.Pattern[str], ...] = ()
    addresses: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, ignore: Iterable[str] = (), addresses: Mapping[str, str] | None = None) -> Rules:
        return cls(
            tuple(re.compile(pattern, re.MULTILINE) for pattern in ignore), dict(addresses or {})
        )

    @classmethod
    def for_plan(cls, ignore: Iterable[str], plan: Plan) -> Rules:
        """A run's rules, the same for every face: the file's ``fold_ignore`` and each of the
        plan's hosts' address."""
        return cls.of(ignore, {u.key.host: u.host.hostname for u in plan.units if u.host})

    def patterns(self, host: str) -> list[_Pattern]:
        """What is replaced in ``host``'s output, in order: the user's regexes first (they
        may span what the others would replace), then the host's name and address, then
        timestamps. ``local`` is no name a machine prints, so it is never replaced."""
        own: dict[str, str] = {}
        if host != LOCAL:
            own[host] = HOST
        address = self.addresses.get(host)
        if address and address not in own:
            own[address] = ADDRESS
        patterns: list[_Pattern] = [(IGNORED, pattern) for pattern in self.ignore]
        if own:
            longest_first = sorted(own, key=len, reverse=True)
            either = "|".join(f"(?P<{own[name]}>{re.escape(name)})" for name in longest_first)
            edge = f"[{_NAME_CHARS}]"
            patterns.append((None, re.compile(f"(?<!{edge})(?:{either})(?!{edge})")))
        patterns.append((TIME, _TIME))
        return patterns


@dataclass(frozen=True, slots=True)
class Output:
    """What one host printed for a task, and how its unit ended (``error``: why it could not
    run or finish, as ``UnitFinished.error_kind`` says). ``complete`` is false when there was
    more than was kept: such a host is compared with no other."""

    host: str
    stdout: bytes = b""
    stderr: bytes = b""
    status: UnitStatus = UnitStatus.SUCCEEDED
    exit_code: int | None = 0
    complete: bool = True
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Group:
    """Hosts that printed the same and ended alike. ``keys`` is the normalised stdout and
    stderr in the escaped form; :meth:`text` reads them. ``diff`` is a unified diff of this
    group's output against the first group's: None for that one and for incomplete groups,
    empty when only the ending differs. ``originals`` (per host, per stream, what each
    placeholder stood for) is empty when the folder was told not to keep them."""

    hosts: tuple[str, ...]
    status: UnitStatus
    exit_code: int | None
    keys: tuple[str, str]
    complete: bool = True
    error: str | None = None
    diff: str | None = None
    originals: Mapping[str, _Originals] = field(default_factory=dict)

    @property
    def folded(self) -> str:
        """The hosts as ranges: ``web[001-480]``."""
        return hostrange.text(self.hosts)

    @property
    def ending(self) -> str:
        """``exit 0``, or the status when there is no exit status (``timed_out``), and the
        kind of error if there was one (``failed: unreachable``)."""
        said = self.status.value if self.exit_code is None else f"exit {self.exit_code}"
        return f"{said}: {self.error}" if self.error else said

    def text(self, stream: Stream) -> str:
        """The normalised output of ``stream``: placeholders as ``{host}``, bytes that are not
        UTF-8 as U+FFFD."""
        key = self.keys[0 if stream is Stream.STDOUT else 1]
        return _shown("".join(_display(key)))

    def lines(self) -> list[str]:
        """The output as lines, stdout's marked ``| `` and stderr's ``! ``, as the live text
        output marks them."""
        return _lines(self.keys)


def fold(
    outputs: Iterable[Output], rules: Rules | None = None, order: Sequence[str] = ()
) -> list[Group]:
    """The groups of ``outputs`` (one per host; a later one for a host replaces it)."""
    folder = Folder(rules)
    for output in outputs:
        folder.add(output)
    return folder.groups(order)


def unfold(groups: Iterable[Group]) -> dict[str, Output]:
    """Every host's output back, byte for byte, from groups that kept their originals."""
    out: dict[str, Output] = {}
    for group in groups:
        for host in group.hosts:
            if host not in group.originals:
                raise ValueError(f"the group of {host} did not keep what it replaced")
            originals = group.originals[host]
            stdout, stderr = (
                _restore(key, kept) for key, kept in zip(group.keys, originals, strict=True)
            )
            out[host] = Output(
                host, stdout, stderr, group.status, group.exit_code, group.complete, group.error
            )
    return out


@dataclass(frozen=True, slots=True)
class _Member:
    """A host's place in a group: its normalised key, and its original text where that differs."""

    key: _Key
    originals: _Originals | None


class Folder:
    """Groups hosts' outputs as they come. Each output is normalised when it is added and only
    its normalised form is kept, once per distinct form: hosts that printed the same share it.
    ``keep_originals``: keep what the placeholders stood for, so :func:`unfold` can restore
    every host's bytes; a face that only shows the groups does without."""

    def __init__(self, rules: Rules | None = None, *, keep_originals: bool = True) -> None:
        self._rules = rules or Rules()
        self._keep = keep_originals
        self._members: dict[str, _Member] = {}
        self._interned: dict[_Key, _Key] = {}

    def __contains__(self, host: object) -> bool:
        return host in self._members

    def __len__(self) -> int:
        return len(self._members)

    def add(self, output: Output) -> None:
        patterns = self._rules.patterns(output.host)
        stdout_key, stdout_kept = _normalise(_decode(output.stdout), patterns)
        stderr_key, stderr_kept = _normalise(_decode(output.stderr), patterns)
        alone = None if output.complete else output.host  # incomplete: a group of its own
        key = (output.status, output.exit_code, output.error, stdout_key, stderr_key, alone)
        key = self._interned.setdefault(key, key)
        originals = (stdout_kept, stderr_kept) if self._keep else None
        # a unit that ran again: its last run counts, in the place of its first
        self._members[output.host] = _Member(key, originals)

    def groups(self, order: Sequence[str] = ()) -> list[Group]:
        """Largest group first (then the one whose first host comes first in ``order``, then
        in the order hosts were added), incomplete groups last; hosts in ``order``'s order."""
        rank = {host: number for number, host in enumerate(order)}
        added = {host: number for number, host in enumerate(self._members)}
        by_key: dict[_Key, list[str]] = {}
        for host, member in self._members.items():
            by_key.setdefault(member.key, []).append(host)
        placed = [
            (key, sorted(hosts, key=lambda host: (rank.get(host, len(rank)), added[host])))
            for key, hosts in by_key.items()
        ]
        placed.sort(
            key=lambda item: (
                item[0][5] is not None,
                -len(item[1]),
                rank.get(item[1][0], len(rank)),
                added[item[1][0]],
            )
        )
        groups = [self._group(key, hosts) for key, hosts in placed]
        reference = next((group for group in groups if group.complete), None)
        if reference is None:
            return groups
        shown = reference.lines()
        return [
            group
            if group is reference or not group.complete
            else _with_diff(group, shown, reference.folded)
            for group in groups
        ]

    def _group(self, key: _Key, hosts: list[str]) -> Group:
        status, exit_code, error, stdout, stderr, alone = key
        kept = {host: self._members[host].originals for host in hosts}
        return Group(
            hosts=tuple(hosts),
            status=status,
            exit_code=exit_code,
            keys=(stdout, stderr),
            complete=alone is None,
            error=error,
            originals={host: value for host, value in kept.items() if value is not None},
        )


class Collector:
    """Folds a run's output from its events, per task: each unit's output (every step and
    attempt, up to ``limit`` bytes) is held only while the unit runs and normalised when it
    ends. A face asks for a task's groups once the run has finished."""

    def __init__(self, rules: Rules | None = None, *, limit: int | None = None) -> None:
        self._rules = rules or Rules()
        self._limit = MAX_KEPT if limit is None else limit
        self._running: dict[tuple[str, str], _Buffer] = {}
        self._folders: dict[str, Folder] = {}

    @property
    def limit(self) -> int:
        return self._limit

    def take(self, event: ev.Event) -> None:
        match event:
            case ev.OutputReceived():
                buffer = self._running.setdefault((event.task, event.host), _Buffer())
                buffer.add(event.stream, event.data, self._limit)
            case ev.UnitFinished():
                self._settle(event.task, event.host, event)
            case ev.RunFinished():  # units the run ended without a word of their own
                for task, summary in event.tasks.items():
                    for host, unit in summary.hosts.items():
                        if (task, host) in self._running or host not in self._folder(task):
                            self._settle(task, host, unit)

    def groups(self, task: str, order: Sequence[str] = ()) -> list[Group]:
        folder = self._folders.get(task)
        return folder.groups(order) if folder is not None else []

    def _folder(self, task: str) -> Folder:
        folder = self._folders.get(task)
        if folder is None:
            folder = self._folders[task] = Folder(self._rules, keep_originals=False)
        return folder

    def _settle(self, task: str, host: str, end: ev.UnitFinished | ev.UnitSummary) -> None:
        buffer = self._running.pop((task, host), None) or _Buffer()
        stdout, stderr = buffer.take()
        output = Output(
            host, stdout, stderr, end.status, end.exit_code, buffer.complete, end.error_kind
        )
        self._folder(task).add(output)


class _Buffer:
    """One unit's output while it runs, per stream, dropped once it passes the limit."""

    def __init__(self) -> None:
        self.chunks: dict[Stream, list[bytes]] = {Stream.STDOUT: [], Stream.STDERR: []}
        self.size = 0
        self.complete = True

    def add(self, stream: Stream, data: bytes, limit: int) -> None:
        if not self.complete:
            return
        self.size += len(data)
        if self.size > limit:
            self.complete = False
            self.chunks = {Stream.STDOUT: [], Stream.STDERR: []}
            return
        self.chunks[stream].append(data)

    def take(self) -> tuple[bytes, bytes]:
        return b"".join(self.chunks[Stream.STDOUT]), b"".join(self.chunks[Stream.STDERR])


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="surrogateescape")


def _normalise(text: str, patterns: list[_Pattern]) -> tuple[str, tuple[str, ...]]:
    """``text`` in the escaped form with each match a placeholder, and the matches in order.
    Each pattern searches only what earlier ones left; empty matches replace nothing."""
    spans: list[tuple[int, int, str | None]] = [(0, len(text), None)]
    for kind, pattern in patterns:
        spans = list(_split(text, spans, kind, pattern))
    parts: list[str] = []
    originals: list[str] = []
    for start, end, kind in spans:
        if kind is None:
            parts.append(text[start:end].replace("{", "{{").replace("}", "}}"))
        else:
            parts.append(f"{{{kind}}}")
            originals.append(text[start:end])
    return "".join(parts), tuple(originals)


def _split(
    text: str, spans: list[tuple[int, int, str | None]], kind: str | None, pattern: re.Pattern[str]
) -> Iterator[tuple[int, int, str | None]]:
    for start, end, done in spans:
        if done is not None:
            yield start, end, done
            continue
        at = start
        for match in pattern.finditer(text, start, end):
            if match.end() == match.start():
                continue
            if match.start() > at:
                yield at, match.start(), None
            yield match.start(), match.end(), kind or match.lastgroup
            at = match.end()
        if at < end:
            yield at, end, None


def _display(key: str) -> Iterator[str]:
    for token in _TOKEN.finditer(key):
        piece = token[0]
        yield piece[0] if piece in ("{{", "}}") else piece


def _restore(key: str, originals: Sequence[str]) -> bytes:
    pieces: list[str] = []
    left = iter(originals)
    for token in _TOKEN.finditer(key):
        piece = token[0]
        if token[1] is not None:
            pieces.append(next(left))
        else:
            pieces.append(piece[0] if piece in ("{{", "}}") else piece)
    return "".join(pieces).encode("utf-8", errors="surrogateescape")


def _shown(text: str) -> str:
    """Surrogates standing for bytes that are not UTF-8 become U+FFFD, as a face prints."""
    return text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")


def _lines(keys: tuple[str, str]) -> list[str]:
    lines: list[str] = []
    for marker, key in zip(("| ", "! "), keys, strict=True):
        text = _shown("".join(_display(key)))
        if text:
            lines += [marker + line for line in text.removesuffix("\n").split("\n")]
    return lines


def _with_diff(group: Group, reference: list[str], reference_hosts: str) -> Group:
    diff = difflib.unified_diff(
        reference, group.lines(), fromfile=reference_hosts, tofile=group.folded, lineterm=""
    )
    return dataclasses.replace(group, diff="\n".join(diff))
