"""Plan time: ``load_config`` (parse, validate, cycle check) and ``build_plan``, separately, for
a generated nexus.toml of N local tasks forming a layered random DAG.

Baselines: ``tomllib.loads`` of the same file (the parse alone, the floor for loading) and
``graphlib.TopologicalSorter`` over the same dependencies (an ordering alone, the floor for
planning).
"""

from __future__ import annotations

import graphlib
import math
import random
import tomllib
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path

from benchmarks.common import Profile, Row, median_times, write_local_config
from nexus_engine import graph
from nexus_engine.config import load_config
from nexus_engine.plan import build_plan

SEED = 20261124
MAX_DEPS = 3


def layered_dag(count: int, seed: int = SEED) -> dict[str, list[str]]:
    """``count`` tasks in layers of about sqrt(count); every task past the first layer depends
    on 1 to 3 tasks of earlier layers, chosen at random (fixed seed, so every run is alike)."""
    rng = random.Random(seed)
    width = max(math.isqrt(count), 1)
    names = [f"t{index:05d}" for index in range(count)]
    dag: dict[str, list[str]] = {}
    for index, name in enumerate(names):
        earlier = (index // width) * width  # tasks of the layers before this one
        picks = rng.sample(range(earlier), min(rng.randint(1, MAX_DEPS), earlier))
        dag[name] = [names[pick] for pick in sorted(picks)]
    return dag


def run(profile: Profile, workdir: Path) -> list[Row]:
    rows: list[Row] = []
    first: dict[str, float] = {}
    stat = f"median of {profile.repeats}"
    for count in profile.plan_sizes:
        dag = layered_dag(count)
        path = write_local_config(
            workdir / f"dag-{count}.toml", {name: (deps, "true") for name, deps in dag.items()}
        )
        text = path.read_text(encoding="utf-8")
        edges = sum(len(deps) for deps in dag.values())
        loaded = load_config(path)
        plan = build_plan(loaded)
        full = graph.build_graph({name: task.deps for name, task in loaded.config.tasks.items()})
        load_s, parse_s = median_times(
            [partial(load_config, path), partial(tomllib.loads, text)], profile.repeats
        )
        plan_s, order_s, requested_s = median_times(
            [
                partial(build_plan, loaded),
                partial(_static_order, dag),
                partial(graph.requested, full, list(dag)),
            ],
            profile.repeats,
        )
        workload = f"{count:,} tasks, {edges:,} deps"
        scale = ""
        if first:
            factor = count // min(profile.plan_sizes)
            scale = (
                f"; {factor}x tasks: load x{load_s / first['load']:.0f},"
                f" plan x{plan_s / first['plan']:.0f}"
            )
        else:
            first = {"load": load_s, "plan": plan_s}
        rows.append(
            Row(
                "plan: load_config",
                workload,
                load_s * 1000,
                "ms",
                parse_s * 1000,
                "tomllib parse",
                stat,
                note=f"{len(plan.units):,} units, {len(plan.phases)} phases{scale}",
            )
        )
        rows.append(
            Row(
                "plan: build_plan",
                workload,
                plan_s * 1000,
                "ms",
                order_s * 1000,
                "graphlib topo sort",
                stat,
                note=f"graph.requested alone {requested_s * 1000:.0f} ms",
            )
        )
    rows.append(_chain(profile, workdir, stat))
    return rows


def _chain(profile: Profile, workdir: Path, stat: str) -> Row:
    """A deep DAG: t1 needs t0, t2 needs t1, ... Planning every task and planning only the last
    one select the same tasks and give the same plan; the difference is the cost of the
    selection."""
    count = profile.chain_size
    names = [f"c{index:05d}" for index in range(count)]
    tasks = {name: (names[index - 1 : index], "true") for index, name in enumerate(names)}
    loaded = load_config(write_local_config(workdir / f"chain-{count}.toml", tasks))
    all_s, last_s = median_times(
        [partial(build_plan, loaded), partial(build_plan, loaded, [names[-1]])], profile.repeats
    )
    return Row(
        "plan: build_plan",
        f"{count:,}-task chain, all tasks",
        all_s * 1000,
        "ms",
        last_s * 1000,
        "same plan, last task named",
        stat,
        note="identical plan; the gap is graph.requested, one ancestors walk per target",
    )


def _static_order(dag: Mapping[str, Sequence[str]]) -> list[str]:
    return list(graphlib.TopologicalSorter(dag).static_order())
