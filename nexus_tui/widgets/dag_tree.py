"""The task DAG as a tree: each task under what it depends on, built once, relabelled in place.

A task with several dependencies sits under the one that finishes last in plan order, and is
referenced (one line, same glyph) under the others, so shared dependencies appear once and the
tree stays a tree. Nodes are kept by task name, so a status change is one ``set_label``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.binding import BindingType
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from nexus_tui import text
from nexus_tui.bindings import MOVE, TREE
from nexus_tui.model import TaskRow


class DagTree(Tree[str]):
    BINDINGS: ClassVar[list[BindingType]] = [*MOVE, *TREE]

    @dataclass
    class RunRequested(Message):
        """The operator asked to run these tasks (and what they need)."""

        tasks: tuple[str, ...]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("tasks", id=id)
        self.show_root = False
        self.guide_depth = 2
        self.idle = True
        #: Before a run, showing how the last run ended: statuses, yet Enter and Space still
        #: choose tasks for a new run.
        self.past = False
        self.marked: list[str] = []
        self._task_nodes: dict[str, TreeNode[str]] = {}
        self._refs: dict[str, list[tuple[TreeNode[str], str]]] = {}
        self._rows: dict[str, TaskRow] = {}
        self._order: list[str] = []

    def build(self, rows: Sequence[TaskRow], now: float) -> None:
        """Once: every task in plan order (dependencies first)."""
        needed = {dep for row in rows for dep in row.deps}
        for row in rows:
            self._rows[row.name] = row
            self._order.append(row.name)
            parents = sorted(row.deps, key=self._order.index)
            parent = self._task_nodes[parents[-1]] if parents else self.root
            node = parent.add(
                self._label(row, now), data=row.name, expand=True, allow_expand=row.name in needed
            )
            self._task_nodes[row.name] = node
            for other in parents[:-1]:
                ref = self._task_nodes[other].add_leaf(
                    text.task_label(row, now, under=parents[-1]), data=row.name
                )
                self._refs.setdefault(row.name, []).append((ref, parents[-1]))
        self.root.expand()
        if self._order:
            self.move_cursor(self._task_nodes[self._order[0]])

    def relabel(self, row: TaskRow, now: float) -> None:
        self._rows[row.name] = row
        self._task_nodes[row.name].set_label(self._label(row, now))
        for ref, under in self._refs.get(row.name, ()):
            ref.set_label(text.task_label(row, now, under=under))

    def select_task(self, name: str) -> None:
        if (node := self._task_nodes.get(name)) is not None and self.cursor_node is not node:
            self.move_cursor(node)

    @property
    def cursor_task(self) -> str | None:
        node = self.cursor_node
        return node.data if node is not None else None

    def _label(self, row: TaskRow, now: float) -> Text:
        if self.past and row.in_run:  # its status, and whether it is chosen for a new run
            label = text.task_label(row, now)
            return Text.assemble(("● ", "bold cyan"), label) if row.name in self.marked else label
        if self.idle:
            mark = "●" if row.name in self.marked else "·"
            return Text.assemble(
                (mark, "bold cyan" if row.name in self.marked else "dim"),
                " ",
                row.name,
                (f"  {hosts(len(row.hosts))}", "dim"),
            )
        if not row.in_run:  # greyed: not part of this run
            return Text.assemble(
                (text.OUT_OF_RUN, "dim"), " ", row.name, (f"  {hosts(len(row.hosts))}", "dim")
            )
        return text.task_label(row, now)

    # -- actions --

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("run_tasks", "mark"):
            return self.idle
        if action in ("select_cursor", "toggle_node"):
            return not self.idle
        return True

    def action_mark(self) -> None:
        name = self.cursor_task
        if name is None:
            return
        if name in self.marked:
            self.marked.remove(name)
        else:
            self.marked.append(name)
        self.relabel(self._rows[name], 0.0)

    def action_run_tasks(self) -> None:
        chosen = tuple(self.marked) or ((self.cursor_task,) if self.cursor_task else ())
        if chosen:
            self.post_message(self.RunRequested(chosen))

    def show_past(self, rows: Iterable[TaskRow], now: float) -> None:
        """Label the tasks with how the last run left them, until a run begins."""
        self.past = True
        for row in rows:
            self.relabel(row, now)

    def leave_idle(self, rows: Iterable[TaskRow], now: float) -> None:
        """The run has begun: labels switch from 'choose' to status (the screen then
        refreshes the footer, where Enter and Space change meaning)."""
        self.idle = self.past = False
        for row in rows:
            self.relabel(row, now)


def hosts(count: int) -> str:
    """``1 host``, ``3 hosts``: how many hosts a task runs on (never ``1h``, an hour)."""
    return f"{count} host{'' if count == 1 else 's'}"
