"""networkx as the oracle for Nexus's own task-graph walks (``nexus_engine.graph``)."""

from __future__ import annotations

import networkx as nx

from nexus_engine.graph import TaskGraph


def as_networkx(graph: TaskGraph) -> nx.DiGraph:
    """The same graph in networkx: an edge from a dependency to the task that needs it."""
    copy = nx.DiGraph()
    copy.add_nodes_from(graph.nodes)
    copy.add_edges_from(graph.edges)
    return copy
