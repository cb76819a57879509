"""Properties of the task DAG helpers on random graphs, with networkx as the oracle."""

from __future__ import annotations

import itertools

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nexus_engine.graph import (
    UnknownTaskError,
    build_graph,
    cycles,
    find_cycle,
    format_cycle,
    phases,
    requested,
    topological_order,
)
from tests.engine.oracle import as_networkx

_fast = settings(max_examples=150, deadline=None)


@st.composite
def dags(draw: st.DrawFn) -> dict[str, list[str]]:
    """``deps`` for n tasks where task j may need task i only if i < j: acyclic by construction."""
    n = draw(st.integers(1, 12))
    names = [f"t{i:02d}" for i in range(n)]
    pairs = [(i, j) for j in range(n) for i in range(j)]
    edges = draw(st.lists(st.sampled_from(pairs), unique=True) if pairs else st.just([]))
    deps: dict[str, list[str]] = {name: [] for name in names}
    for i, j in edges:
        deps[names[j]].append(names[i])
    return deps


@st.composite
def any_graphs(draw: st.DrawFn) -> dict[str, list[str]]:
    n = draw(st.integers(1, 8))
    names = [f"t{i}" for i in range(n)]
    return {name: draw(st.lists(st.sampled_from(names), unique=True, max_size=3)) for name in names}


@_fast
@given(dags())
def test_topological_order_respects_every_edge(deps: dict[str, list[str]]) -> None:
    order = topological_order(build_graph(deps))
    assert sorted(order) == sorted(deps)
    where = {task: index for index, task in enumerate(order)}
    for task, needs in deps.items():
        for need in needs:
            assert where[need] < where[task]


@_fast
@given(dags())
def test_phases_cover_each_task_once_and_edges_go_forward(deps: dict[str, list[str]]) -> None:
    layers = phases(build_graph(deps))
    flat = [task for layer in layers for task in layer]
    assert sorted(flat) == sorted(deps)
    assert len(flat) == len(set(flat))
    phase_of = {task: number for number, layer in enumerate(layers) for task in layer}
    for task, needs in deps.items():
        for need in needs:
            assert phase_of[need] < phase_of[task]


@_fast
@given(any_graphs())
def test_find_cycle_agrees_with_networkx_and_names_a_real_cycle(
    deps: dict[str, list[str]],
) -> None:
    graph = build_graph(deps)
    cycle = find_cycle(graph)
    assert (cycle is None) == nx.is_directed_acyclic_graph(as_networkx(graph))
    if cycle is not None:
        assert len(cycle) >= 2
        assert cycle[0] == cycle[-1]
        for task, need in itertools.pairwise(cycle):
            assert need in deps[task], f"{task} does not need {need}"


@_fast
@given(dags(), st.data())
def test_requested_is_the_targets_and_all_their_ancestors(
    deps: dict[str, list[str]], data: st.DataObject
) -> None:
    graph = build_graph(deps)
    targets = data.draw(st.lists(st.sampled_from(sorted(deps)), max_size=3))
    wanted: set[str] = set()
    stack = list(targets)
    while stack:  # everything the targets need, computed by hand from ``deps``
        task = stack.pop()
        if task not in wanted:
            wanted.add(task)
            stack.extend(deps[task])
    sub = requested(graph, targets)
    assert set(sub.nodes) == wanted
    assert set(sub.edges) == {(u, v) for u, v in graph.edges if u in wanted and v in wanted}


def test_requested_rejects_unknown_targets() -> None:
    with pytest.raises(UnknownTaskError):
        requested(build_graph({"a": []}), ["b"])


def test_cycle_reads_as_needs_and_formats_with_arrows() -> None:
    graph = build_graph({"deploy": ["test"], "test": ["deploy"], "other": []})
    cycle = find_cycle(graph)
    assert cycle is not None
    assert format_cycle(cycle) in ("deploy → test → deploy", "test → deploy → test")
    assert format_cycle(["a", "a"]) == "a → a"


def test_order_breaks_ties_by_name() -> None:
    graph = build_graph({"c": ["b", "a"], "b": ["a"], "a": [], "d": []})
    assert topological_order(graph) == ["a", "b", "c", "d"]
    assert phases(graph) == [["a", "d"], ["b"], ["c"]]


@_fast
@given(dags())
def test_order_and_phases_agree_with_networkx(deps: dict[str, list[str]]) -> None:
    graph = build_graph(deps)
    oracle = as_networkx(graph)
    assert topological_order(graph) == list(nx.lexicographical_topological_sort(oracle))
    assert phases(graph) == [sorted(layer) for layer in nx.topological_generations(oracle)]


@_fast
@given(any_graphs())
def test_one_cycle_for_each_knot_networkx_finds(deps: dict[str, list[str]]) -> None:
    graph = build_graph(deps)
    oracle = as_networkx(graph)
    knots = sorted(
        (
            knot
            for knot in nx.strongly_connected_components(oracle)
            if len(knot) > 1 or oracle.has_edge(*[next(iter(knot))] * 2)
        ),
        key=min,
    )
    found = cycles(graph)
    # one cycle inside each knot, in the order of the knots' smallest names
    assert [[set(cycle) <= knot for knot in knots].index(True) for cycle in found] == list(
        range(len(knots))
    )
    for cycle in found:
        assert cycle[0] == cycle[-1]
        for task, need in itertools.pairwise(cycle):
            assert need in deps[task], f"{task} does not need {need}"
