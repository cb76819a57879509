"""The task DAG: which task needs which, in what order, and what a request for some tasks pulls in.

networkx does the graph work; this module fixes the direction (an edge runs from a dependency to
the task that needs it) and turns its answers into the words Nexus prints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import networkx as nx


class UnknownTaskError(ValueError):
    """A requested task is not in the config."""


def build_graph(deps: Mapping[str, Sequence[str]]) -> nx.DiGraph:
    """``deps`` maps each task to the tasks it needs; unknown names become nodes too, so that a
    validator can report them rather than this function raising."""
    graph = nx.DiGraph()
    graph.add_nodes_from(deps)
    for task, needs in deps.items():
        graph.add_edges_from((need, task) for need in needs)
    return graph


def find_cycle(graph: nx.DiGraph) -> list[str] | None:
    """One cycle as a closed path (``["deploy", "test", "deploy"]``), or None."""
    try:
        edges = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return None
    # Edges run dependency → dependent; print the cycle as "needs" reads: deploy → test → deploy.
    nodes = [edge[0] for edge in edges] + [edges[0][0]]
    return nodes[::-1]


def format_cycle(cycle: Sequence[str]) -> str:
    return " → ".join(cycle)


def topological_order(graph: nx.DiGraph) -> list[str]:
    """Dependencies before dependents; ties broken by name so plans are reproducible."""
    return list(nx.lexicographical_topological_sort(graph))


def phases(graph: nx.DiGraph) -> list[list[str]]:
    """Generations: every task in phase n needs only tasks of earlier phases. For display only;
    the scheduler starts a unit as soon as its own dependencies are done."""
    return [sorted(generation) for generation in nx.topological_generations(graph)]


def requested(graph: nx.DiGraph, targets: Iterable[str]) -> nx.DiGraph:
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
        for need in graph.predecessors(frontier.pop()):
            if need not in wanted:
                wanted.add(need)
                frontier.append(need)
    if len(wanted) == len(graph):
        return graph
    return graph.subgraph(wanted).copy()


def dependencies(graph: nx.DiGraph, task: str) -> list[str]:
    return sorted(graph.predecessors(task))


def dependents(graph: nx.DiGraph, task: str) -> list[str]:
    return sorted(graph.successors(task))
