"""Tasks × hosts expanded into units, each with its resolved steps and what it waits for.

A plan is a plain value: ``--dry-run`` prints it and the scheduler runs it, so what the operator
reviewed is exactly what executes.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from nexus_engine import graph
from nexus_engine.config import LoadedConfig
from nexus_engine.config.hosts import Host, expand_targets, resolve_hosts
from nexus_engine.config.models import LOCAL, Task
from nexus_engine.redact import Redactor
from nexus_engine.selection import HostSelection
from nexus_engine.steps import StepPlan, StepsFor


@dataclass(frozen=True, slots=True, order=True)
class UnitKey:
    """Names a unit: a task on one host. Ordered, so output and tables sort alike."""

    task: str
    host: str

    def __str__(self) -> str:
        return f"{self.task}@{self.host}"


@dataclass(frozen=True, slots=True)
class Unit:
    """A task on one host: its steps and the units it waits for."""

    key: UnitKey
    host: Host | None  # None runs on the controller itself
    steps: tuple[StepPlan, ...]
    waits_for: frozenset[UnitKey]
    batch: int


@dataclass(frozen=True, slots=True)
class TaskPlan:
    """A task as planned: its hosts, its strategy across them and its failure budget."""

    name: str
    description: str
    deps: tuple[str, ...]
    hosts: tuple[str, ...]
    strategy: str
    batch_size: int
    max_failures: int  # failed units tolerated before the task counts as failed
    timeout: float | None  # for the whole task on one host, retries included


@dataclass(frozen=True, slots=True)
class Resumed:
    """What a resumed run (``nexus run --resume``) carries over from the run it resumes."""

    run_id: str
    reused: frozenset[UnitKey] = frozenset()  # succeeded there: reported, not run again
    first_step: Mapping[UnitKey, int] = field(default_factory=dict)  # again from here (else 0)
    #: an earlier step of the unit changed something there (what ``when = "changed"`` asks)
    changed_before: frozenset[UnitKey] = frozenset()
    #: the markers of steps that were running when that run died: their processes are found
    #: on the unit's host and killed before anything of this run starts
    leftovers: Mapping[UnitKey, tuple[str, ...]] = field(default_factory=dict)
    #: the request the old run was made from (its selection, or the one given now): what a
    #: resumed run records as its own, so it can be resumed in turn
    targets: tuple[str, ...] = ()
    selection: HostSelection | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything a run will do, fixed before it starts: tasks in order, units and phases."""

    tasks: tuple[TaskPlan, ...]  # dependencies first
    units: tuple[Unit, ...]  # in task order, then host order: the order units start in
    phases: tuple[tuple[str, ...], ...]
    parallel_limit: int
    resumed: Resumed | None = None

    def task(self, name: str) -> TaskPlan:
        return next(task for task in self.tasks if task.name == name)


def build_plan(
    loaded: LoadedConfig,
    targets: Sequence[str] = (),
    *,
    redact: Callable[[str], str] | None = None,
    parallel_limit: int | None = None,
    hosts: HostSelection | None = None,
    retry_unsafe: bool = False,
) -> Plan:
    """The plan for ``targets`` (every task when empty) and everything they depend on, on the
    hosts ``hosts`` admits (all when None).

    A limited plan is the plan of a config whose tasks name only their admitted hosts, so
    waits and serial batches are those of the smaller inventory, as an operator editing the
    file would expect. A task left with no host at all (one that ran on ``local`` alone, with
    ``local`` excluded) is dropped and its dependents take over its dependencies, so the tasks
    that remain still run in dependency order.

    ``retry_unsafe``: steps marked ``idempotent = false`` keep their ``retries`` (``--yes``);
    without it they run once, as running them twice may do the work twice.

    ``redact`` masks secrets in what a step shows, and so marks it private; it defaults to the
    config's own ``${secret:…}`` values, so no caller can forget them.

    Raises ``graph.UnknownTaskError`` for a target the config does not declare, and
    ``SelectionError`` for a selection that names nothing or leaves a task without hosts.
    """
    config = loaded.config
    if redact is None:
        redact = Redactor(loaded.secrets).text
    full = graph.build_graph({name: task.deps for name, task in config.tasks.items()})
    selected = graph.requested(full, targets or list(config.tasks))
    order = graph.topological_order(selected)
    inventory = resolve_hosts(config)
    task_hosts = {name: expand_targets(config, config.tasks[name].targets) for name in order}
    deps = {name: list(config.tasks[name].deps) for name in order}
    if hosts is not None:
        task_hosts = hosts.limit(config, task_hosts)
        if len(task_hosts) < len(order):
            deps = _bridged(deps, task_hosts)
            order = [name for name in order if name in task_hosts]
            selected = graph.build_graph(deps)

    task_plans: list[TaskPlan] = []
    units: list[Unit] = []
    unit_keys: dict[str, list[UnitKey]] = {}
    steps_for = StepsFor(loaded, redact, retry_unsafe=retry_unsafe)
    for name in order:
        task = config.tasks[name]
        names = task_hosts[name]
        task_plan = _task_plan(name, task, names, deps[name])
        task_plans.append(task_plan)
        shared = None if steps_for.differ(name) else steps_for(name, LOCAL)
        keys = [UnitKey(name, host) for host in names]
        unit_keys[name] = keys
        batches = _batches(keys, task_plan)
        for batch_index, batch in enumerate(batches):
            previous = batches[batch_index - 1] if batch_index else []
            for key in batch:
                waits = set(previous)
                for dep in deps[name]:
                    if key.host in task_hosts[dep]:
                        waits.add(UnitKey(dep, key.host))
                    else:
                        waits.update(unit_keys[dep])
                units.append(
                    Unit(
                        key=key,
                        host=None if key.host == LOCAL else inventory[key.host],
                        steps=shared if shared is not None else steps_for(name, key.host),
                        waits_for=frozenset(waits),
                        batch=batch_index,
                    )
                )
    return Plan(
        tasks=tuple(task_plans),
        units=tuple(units),
        phases=tuple(tuple(phase) for phase in graph.phases(selected)),
        parallel_limit=parallel_limit or config.settings.parallel_limit,
    )


def _bridged(deps: Mapping[str, list[str]], kept: Container[str]) -> dict[str, list[str]]:
    """The dependencies of the kept tasks, a dropped dependency replaced by its own (in
    dependency order, so each task's are settled before its dependents ask for them)."""
    bridged: dict[str, list[str]] = {}
    for name, needs in deps.items():
        through = (bridged[need] if need not in kept else [need] for need in needs)
        bridged[name] = list(dict.fromkeys(need for group in through for need in group))
    return {name: needs for name, needs in bridged.items() if name in kept}


def _task_plan(name: str, task: Task, hosts: Sequence[str], deps: Sequence[str]) -> TaskPlan:
    serial = task.strategy == "serial"
    return TaskPlan(
        name=name,
        description=task.description,
        deps=tuple(deps),
        hosts=tuple(hosts),
        strategy=task.strategy,
        batch_size=_share(task.batch, len(hosts), minimum=1) if serial else len(hosts),
        max_failures=_share(task.max_failures, len(hosts), minimum=0),
        timeout=task.timeout,
    )


def _share(value: int | str, total: int, *, minimum: int) -> int:
    """``3`` stays 3; ``"25%"`` of 10 hosts is 2 for a failure budget (rounded down, so a
    budget never tolerates more than asked) and 3 for a batch (rounded up, so no host is left
    without a batch)."""
    if isinstance(value, int):
        return max(value, minimum)
    fraction = Fraction(value.rstrip("%")) / 100 * total  # exact: 7 % of 100 is 7, not 8
    rounded = math.ceil(fraction) if minimum else math.floor(fraction)
    return max(rounded, minimum)


def _batches(keys: list[UnitKey], task: TaskPlan) -> list[list[UnitKey]]:
    size = max(task.batch_size, 1)
    return [keys[i : i + size] for i in range(0, len(keys), size)] or [[]]


@dataclass(frozen=True, slots=True)
class HostReach:
    """How ``--dry-run`` says a host is reached: the login ssh will make (``hostname`` None:
    this machine, as ``user``), and the jump host on the way with where it is written."""

    user: str
    hostname: str | None = None
    port: int | None = None
    jump: str | None = None
    jump_from: str | None = None  # "~/.ssh/config", say

    @property
    def login(self) -> str | None:
        if self.hostname is None:
            return None
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return f"{self.user}@{host}:{self.port}" if self.port else f"{self.user}@{host}"

    @property
    def via(self) -> str:
        if self.jump is None:
            return ""
        return f" via jump {self.jump}" + (f" ({self.jump_from})" if self.jump_from else "")


#: Where a dry run wraps a long list of hosts.
WIDTH = 100


def describe(
    plan: Plan,
    hosts_of: Callable[[Iterable[str]], str] = ", ".join,
    reach: Mapping[str, HostReach] | None = None,
    redact: Callable[[str], str] | None = None,
) -> list[str]:
    """The plan as lines for ``--dry-run``: phases, then each task's steps, each with the user
    it runs as, its working directory and the names of its environment variables (never their
    values; ``redact`` marks those that carry a secret), and, given ``reach``, how each host is
    reached, hosts reached alike together."""
    lines: list[str] = []
    for number, phase in enumerate(plan.phases, start=1):
        lines.append(f"phase {number}: {', '.join(phase)}")
    by_task: dict[str, list[Unit]] = {}
    for unit in plan.units:
        by_task.setdefault(unit.key.task, []).append(unit)
    for task in plan.tasks:
        mode = task.strategy
        if task.strategy == "serial":
            mode += f", batch {task.batch_size}"
        deps = f" (after {', '.join(task.deps)})" if task.deps else ""
        lines.append("")
        lines.append(f"task {task.name}{deps} on {hosts_of(task.hosts)} [{mode}]")
        task_units = by_task.get(task.name, [])
        where = {unit.host is None for unit in task_units}
        for index, step in enumerate(task_units[0].steps if task_units else (), start=1):
            flags = [f"timeout {step.timeout:g}s"]
            if step.retries:
                flags.append(f"retries {step.retries}")
            flags += _conditions(step)
            indent = " " * (len(str(index)) + 4)
            shown = step.shown.replace("\n", "\n" + indent)
            lines.append(f"  {index}. {shown}  ({', '.join(flags)})")
            lines.append(indent + " · ".join(_step_details(step, where, redact)))
        if reach is not None and task_units:
            lines.append("  hosts:")
            lines += _reach_lines([unit.key.host for unit in task_units], reach)
    lines.append("")
    lines.append(f"{len(plan.units)} units, at most {plan.parallel_limit} at once")
    return lines


def _step_details(
    step: StepPlan, where: set[bool], redact: Callable[[str], str] | None
) -> list[str]:
    """As whom, where and with which variables a step runs. ``where``: whether the task's
    hosts are this machine (True), remote (False), or both."""
    if step.user:
        runs_as = f"as {step.user} (sudo)"
    elif step.sudo:
        runs_as = "as root (sudo)"
    elif where == {True}:
        runs_as = "as you"
    else:
        runs_as = "as the login user" + (" (local: you)" if True in where else "")
    if step.cwd:
        cwd = f"in {step.cwd}"
    elif where == {True}:
        cwd = "in the current directory"
    elif where == {False}:
        cwd = "in the login's home directory"
    else:
        cwd = "in the login's home directory (local: the current directory)"
    if step.op is not None:  # Nexus's own commands: no directory, no variables of the step
        return [runs_as]
    details = [runs_as, cwd]
    if step.env:
        details.append("env " + ", ".join(env_names(step, redact)))
    return details


def _conditions(step: StepPlan) -> list[str]:
    """When a step does less than run: a guard, ``when = "changed"``, not safe to repeat."""
    conditions = []
    if step.guard is not None:
        conditions.append(step.guard.describe())
    if step.when_changed:
        conditions.append("only after a change")
    if step.idempotent is False:
        conditions.append("not safe to repeat")
    return conditions


def env_names(step: StepPlan, redact: Callable[[str], str] | None = None) -> list[str]:
    """A step's environment by name only: a value may be a secret, or hold one. With
    ``redact``, a variable that carries a secret says so: ``TOKEN (secret)``."""
    return [
        name + (" (secret)" if redact is not None and redact(value) != value else "")
        for name, value in step.env
    ]


def _reach_lines(hosts: Sequence[str], reach: Mapping[str, HostReach]) -> list[str]:
    """Hosts reached alike (same user, port and jump) on one line; a group of many lists its
    hosts, each with its address where that is not its name, wrapped to :data:`WIDTH`."""
    groups: dict[tuple[object, ...], list[str]] = {}
    for host in hosts:
        how = reach.get(host)
        if how is None:
            continue
        shape = (how.hostname is None, how.user, how.port, how.jump, how.jump_from)
        groups.setdefault(shape, []).append(host)
    lines: list[str] = []
    for members in groups.values():
        first = reach[members[0]]
        if first.hostname is None:
            lines.append(f"    {', '.join(members)}: this machine, as {first.user}")
            continue
        if len(members) == 1:
            lines.append(f"    {members[0]}: {first.login}{first.via}")
            continue
        pattern = HostReach(first.user, "*", first.port).login
        lines.append(f"    {pattern}{first.via}, {len(members)} hosts:")
        named = [_named(host, reach[host].hostname) for host in members]
        lines += textwrap.wrap(
            ", ".join(named), WIDTH, initial_indent=" " * 6, subsequent_indent=" " * 6
        )
    return lines


def _named(host: str, address: str | None) -> str:
    return host if address in (None, host) else f"{host} ({address})"
