"""The task DAG: which task needs which, in what order, and what a request for some tasks pulls in.

An edge runs from a dependency to the task that needs it. The graph work a run needs (order,
phases, the sub-graph a request pulls in, cycles) is a few linear walks, done here with the
standard library: networkx did it before, and importing networkx cost a local run about 100 ms
of its start-up, more than everything else the run does. The tests check these walks against
networkx on random graphs.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field


class UnknownTaskError(ValueError):
    """A requested task is not in the config."""


@dataclass(frozen=True)
class TaskGraph:
    """Tasks and their needs: ``needs[t]`` are the tasks ``t`` needs, ``needed_by[t]`` those that
    need ``t``; both sorted, so every walk over them is reproducible."""

    needs: Mapping[str, tuple[str, ...]]
    needed_by: Mapping[str, tuple[str, ...]] = field(repr=False)

    @property
    def nodes(self) -> list[str]:
        return list(self.needs)

    @property
    def edges(self) -> Iterator[tuple[str, str]]:
        """(dependency, dependent) pairs."""
        return ((need, task) for task, needs in self.needs.items() for need in needs)

    def __contains__(self, task: object) -> bool:
        return task in self.needs

    def __len__(self) -> int:
        return len(self.needs)

    def subgraph(self, tasks: Iterable[str]) -> TaskGraph:
        """The tasks given, with the edges among them."""
        kept = set(tasks)
        return build_graph(
            {
                task: [n for n in self.needs[task] if n in kept]
                for task in self.needs
                if task in kept
            }
        )


def build_graph(deps: Mapping[str, Sequence[str]]) -> TaskGraph:
    """``deps`` maps each task to the tasks it needs; unknown names become nodes too, so that a
    validator can report them rather than this function raising."""
    needs: dict[str, set[str]] = {task: set() for task in deps}
    needed_by: dict[str, set[str]] = {task: set() for task in deps}
    for task, wanted in deps.items():
        for need in wanted:
            needs.setdefault(need, set())
            needed_by.setdefault(need, set()).add(task)
            needs[task].add(need)
    return TaskGraph(
        needs={task: tuple(sorted(n)) for task, n in needs.items()},
        needed_by={task: tuple(sorted(n)) for task, n in needed_by.items()},
    )


def find_cycle(graph: TaskGraph) -> list[str] | None:
    """One cycle as a closed path, read as "needs" (``["deploy", "test", "deploy"]``), or None."""
    state: dict[str, int] = {}  # absent: unseen; 1: on the current path; 2: done
    for root in graph.needs:
        if root in state:
            continue
        path, stack = [root], [iter(graph.needs[root])]
        state[root] = 1
        while stack:
            need = next(stack[-1], None)
            if need is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(need) == 1:
                return [*path[path.index(need) :], need]
            elif need not in state:
                state[need] = 1
                path.append(need)
                stack.append(iter(graph.needs[need]))
    return None


def cycles(graph: TaskGraph) -> list[list[str]]:
    """One cycle per knot of tasks that need each other, so every independent cycle is reported
    at once; knots in the order of their smallest name."""
    found = []
    for knot in sorted(_knots(graph), key=min):
        first = min(knot)
        if len(knot) > 1 or first in graph.needs[first]:
            cycle = find_cycle(graph.subgraph(knot))
            if cycle is not None:
                found.append(cycle)
    return found


def _knots(graph: TaskGraph) -> list[list[str]]:
    """The strongly connected components (Tarjan's algorithm, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    knots: list[list[str]] = []
    for root in graph.needs:
        if root in index:
            continue
        work = [(root, iter(graph.needs[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            task, pending = work[-1]
            need = next(pending, None)
            if need is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[task])
                if low[task] == index[task]:
                    knot = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        knot.append(member)
                        if member == task:
                            break
                    knots.append(knot)
            elif need not in index:
                index[need] = low[need] = len(index)
                stack.append(need)
                on_stack.add(need)
                work.append((need, iter(graph.needs[need])))
            elif need in on_stack:
                low[task] = min(low[task], index[need])
    return knots


def format_cycle(cycle: Sequence[str]) -> str:
    return " → ".join(cycle)


def topological_order(graph: TaskGraph) -> list[str]:
    """Dependencies before dependents; ties broken by name so plans are reproducible."""
    waiting = {task: len(needs) for task, needs in graph.needs.items()}
    ready = [task for task, count in waiting.items() if not count]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        task = heapq.heappop(ready)
        order.append(task)
        for dependent in graph.needed_by[task]:
            waiting[dependent] -= 1
            if not waiting[dependent]:
                heapq.heappush(ready, dependent)
    return order


def phases(graph: TaskGraph) -> list[list[str]]:
    """Generations: every task in phase n needs only tasks of earlier phases. For display only;
    the scheduler starts a unit as soon as its own dependencies are done."""
    waiting = {task: len(needs) for task, needs in graph.needs.items()}
    layer = sorted(task for task, count in waiting.items() if not count)
    layers: list[list[str]] = []
    while layer:
        layers.append(layer)
        following = []
        for task in layer:
            for dependent in graph.needed_by[task]:
                waiting[dependent] -= 1
                if not waiting[dependent]:
                    following.append(dependent)
        layer = sorted(following)
    return layers


def requested(graph: TaskGraph, targets: Iterable[str]) -> TaskGraph:
    """The sub-graph a run of ``targets`` needs: the targets and everything they depend on.

    One walk back from all targets at once, so planning stays linear in the graph's size
    (a walk per target is quadratic on a long chain)."""
    wanted: set[str] = set()
    frontier: list[str] = []
    for target in targets:
        if target not in graph:
            raise UnknownTaskError(target)
        if target not in wanted:
            wanted.add(target)
            frontier.append(target)
    while frontier:
        for need in graph.needs[frontier.pop()]:
            if need not in wanted:
                wanted.add(need)
                frontier.append(need)
    if len(wanted) == len(graph):
        return graph
    return graph.subgraph(wanted)
