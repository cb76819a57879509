"""The grouped view of a task's hosts: hosts that printed the same and ended alike, one row each.

Output is folded by the engine's own folding (``nexus_engine.fold``), with the settings'
``fold_ignore`` and each host's address, so the dashboard groups exactly as the text summary
does. A unit is folded once its output is final: when it has finished, or when it failed and
waits for a decision. The dashboard asks on every failure, so without the second the failures,
the outliers an operator is looking for, would never be folded while the run goes on. A unit
that is retried leaves its group until it ends again.

Units still going are one row per state: output still coming cannot be compared yet.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from nexus_engine import events as ev
from nexus_engine import hostrange
from nexus_engine.fold import Collector, Group, Rules
from nexus_engine.plan import UnitKey
from nexus_engine.status import UnitStatus
from nexus_engine.words import size_text
from nexus_tui import status_filter, text
from nexus_tui.bridge import DIFF_MARK, HISTORY_BYTES
from nexus_tui.model import RunModel
from nexus_tui.tally import Kind


class Folding:
    """A run's output folded per task as its events come. Output is kept per unit only while
    it runs, up to what the bridge keeps of a host (more makes a group of its own). A task's
    groups are made again only after one of its units has ended since they were last made."""

    def __init__(self, rules: Rules) -> None:
        self.collector = Collector(rules, limit=HISTORY_BYTES)
        self._last_step: dict[UnitKey, ev.StepFinished] = {}
        self._ended_units: Counter[str] = Counter()  # per task: units folded so far
        self._made: dict[str, tuple[int, list[Group]]] = {}

    def take(self, event: ev.Event) -> None:
        match event:
            case ev.StepFinished():
                self._last_step[UnitKey(event.task, event.host)] = event
            case ev.DecisionNeeded():  # its output is final unless retried: fold it now
                self.collector.take(self._ended(event))
                self._ended_units[event.task] += 1
            case ev.UnitFinished():
                self._last_step.pop(UnitKey(event.task, event.host), None)
                self._ended_units[event.task] += 1
            case ev.RunFinished():
                self._ended_units.update(list(event.tasks))  # each task once more
        self.collector.take(event)

    def groups(self, task: str, order: Sequence[str]) -> list[Group]:
        """The task's groups (``order``: its hosts), made again only if a unit has ended."""
        made = self._made.get(task)
        if made is None or made[0] != self._ended_units[task]:
            made = self._made[task] = (self._ended_units[task], self.collector.groups(task, order))
        return made[1]

    def _ended(self, waiting: ev.DecisionNeeded) -> ev.UnitFinished:
        """How the unit waiting for a decision ended, as the unit's end: its failed step's."""
        step = self._last_step.get(UnitKey(waiting.task, waiting.host))
        return ev.UnitFinished(
            run_id=waiting.run_id,
            seq=waiting.seq,
            time=waiting.time,
            task=waiting.task,
            host=waiting.host,
            status=waiting.status,
            attempts=step.attempt if step else 1,
            exit_code=step.exit_code if step else None,
            duration=None,
            reason=waiting.reason,
            error_kind=step.error_kind if step else None,
        )


@dataclass(frozen=True, slots=True)
class GroupRow:
    """One row of the grouped view: its hosts, how they ended (or what they are doing) and
    what the log pane shows when it is selected."""

    hosts: tuple[str, ...]
    status: UnitStatus
    ending: str
    lines: tuple[str, ...]
    compared: bool = True  # folded by output; False: hosts still going, by state alone
    in_run: bool = True

    @property
    def folded(self) -> str:
        """The hosts as ranges: ``web[001-480]``."""
        return hostrange.text(self.hosts)


def group_rows(
    model: RunModel, folding: Folding | None, task: str, name: str = "", kind: Kind | None = None
) -> list[GroupRow]:
    """The task's hosts as groups: those folded by output first (the largest first), then
    those still going, one row per state. Only hosts the filters (``name``, ``kind``) show."""
    rows = status_filter.rows(model, task, name, kind)
    final = {r.key.host for r in rows if r.in_run and (r.status.terminal or r.waiting)}
    shown: list[GroupRow] = []
    if folding is not None:
        reference, limit = "", folding.collector.limit
        for group in folding.groups(task, model.tasks[task].hosts):
            hosts = tuple(host for host in group.hosts if host in final)
            if hosts:
                reference = reference or hostrange.text(hosts)
                lines = _lines(group, reference, limit)
                shown.append(GroupRow(hosts, group.status, group.ending, lines))
    folded = {host for row in shown for host in row.hosts}
    going: dict[tuple[UnitStatus, bool], list[str]] = {}
    for row in rows:
        if row.key.host not in folded:
            going.setdefault((row.status, row.in_run), []).append(row.key.host)
    for (status, in_run), names in sorted(going.items(), key=lambda item: -len(item[1])):
        said = text.status_word(status) if in_run else "not in this run"
        waits = "compared once they have ended" if in_run else "nothing to compare"
        line = f"{len(names)} {_hosts(len(names))} {said}: {waits}"
        shown.append(GroupRow(tuple(names), status, said, (line,), compared=False, in_run=in_run))
    return shown


def _lines(group: Group, reference: str, limit: int) -> tuple[str, ...]:
    """What a group's row shows in the log pane: the largest group's output; every other
    group's diff against it, as the text summary prints them."""
    if not group.complete:
        return (f"more than {size_text(limit)} of output, compared with no other",)
    if group.diff is None:
        return tuple(group.lines()) or ("no output",)
    body = group.diff.split("\n")[2:]  # past the ---/+++ lines: the hosts are in the title
    if not body:
        return (f"the same output as {reference}",)
    return (f"differs from {reference}:", *(DIFF_MARK + line for line in body))


def _hosts(count: int) -> str:
    return "host" if count == 1 else "hosts"
