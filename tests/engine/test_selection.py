"""Host selections (``--hosts`` / ``--exclude``): globs on host and group names, the ``local``
rule, the errors that keep a selection from quietly running nothing, and the plans they limit."""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Sequence
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nexus_engine import graph
from nexus_engine.config import LoadedConfig
from nexus_engine.config.models import LOCAL, NexusConfig
from nexus_engine.plan import Plan, UnitKey, build_plan, describe
from nexus_engine.selection import HostSelection, SelectionError
from tests.engine.oracle import as_networkx

INVENTORY = """
[hosts]
web1 = "10.0.0.1"
web2 = "10.0.0.2"
web3 = "10.0.0.3"
db1 = "10.0.1.1"
db2 = "10.0.1.2"
cache = "10.0.2.1"
[groups]
web = ["web1", "web2", "web3"]
db = ["db1", "db2"]
backend = ["db", "cache"]
everything = ["web", "backend"]
"""

PIPELINE = """
[tasks.build]
commands = ["make"]
[tasks.deploy]
deps = ["build"]
on = "web"
strategy = "serial"
commands = ["ship"]
[tasks.migrate]
deps = ["build"]
on = "db"
commands = ["migrate"]
[tasks.report]
deps = ["deploy", "migrate"]
commands = ["mail"]
"""


def parse(toml: str) -> NexusConfig:
    return NexusConfig.model_validate(tomllib.loads(toml))


def loaded(config: NexusConfig) -> LoadedConfig:
    return LoadedConfig(path=Path("nexus.toml"), config=config, secrets=frozenset())


def admitted(include: Sequence[str] = (), exclude: Sequence[str] = ()) -> set[str]:
    return set(HostSelection(tuple(include), tuple(exclude)).admitted(parse(INVENTORY)))


def plan(
    toml: str,
    targets: Sequence[str] = (),
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> Plan:
    selection = HostSelection(tuple(include), tuple(exclude))
    return build_plan(loaded(parse(toml)), targets, hosts=selection)


def units(plan: Plan) -> list[str]:
    return [str(unit.key) for unit in plan.units]


def waits(plan: Plan, unit: str) -> set[str]:
    return {str(k) for k in next(u for u in plan.units if str(u.key) == unit).waits_for}


# ---- what a selection admits ------------------------------------------------------------------


def test_no_pattern_admits_every_host_and_local() -> None:
    assert admitted() == {"web1", "web2", "web3", "db1", "db2", "cache", LOCAL}


def test_globs_match_host_names_and_local_is_kept() -> None:
    assert admitted(["web*"]) == {"web1", "web2", "web3", LOCAL}
    assert admitted(["db?", "cache"]) == {"db1", "db2", "cache", LOCAL}
    assert admitted(["web[12]"]) == {"web1", "web2", LOCAL}


def test_a_matched_group_admits_its_hosts_nested_groups_included() -> None:
    assert admitted(["db"]) == {"db1", "db2", LOCAL}
    assert admitted(["backend"]) == {"db1", "db2", "cache", LOCAL}
    assert admitted(["every*"]) == admitted()


def test_matching_is_case_sensitive_like_the_names() -> None:
    with pytest.raises(SelectionError):
        admitted(["WEB*"])


def test_exclude_applies_after_include() -> None:
    assert admitted(["web"], ["web2"]) == {"web1", "web3", LOCAL}
    assert admitted(["backend"], ["db"]) == {"cache", LOCAL}
    assert admitted(exclude=["web*", "cache"]) == {"db1", "db2", LOCAL}


def test_local_is_excluded_only_when_asked() -> None:
    assert admitted(["local"]) == {LOCAL}
    assert admitted(["web1"], ["local"]) == {"web1"}
    assert admitted(exclude=["loc*"]) == {"web1", "web2", "web3", "db1", "db2", "cache"}


def test_flags_may_repeat_and_hold_comma_separated_patterns() -> None:
    selection = HostSelection.from_flags(["web1,web2", " db* "], ["db2,"])
    assert selection == HostSelection(("web1", "web2", "db*"), ("db2",))
    assert str(selection) == "--hosts 'web1,web2,db*' --exclude db2"
    assert HostSelection.from_flags(None, None) is None
    assert HostSelection.from_flags(None, ["local"]) == HostSelection((), ("local",))


@pytest.mark.parametrize("flags", [([""], None), (None, [" , "])])
def test_a_flag_without_a_pattern_is_an_error_not_every_host(
    flags: tuple[list[str] | None, list[str] | None],
) -> None:
    with pytest.raises(SelectionError, match="needs a host or group pattern"):
        HostSelection.from_flags(*flags)


def test_a_pattern_that_matches_nothing_is_an_error_with_a_suggestion() -> None:
    with pytest.raises(SelectionError) as info:
        admitted(["wbe*"])
    assert str(info.value) == "--hosts 'wbe*' matches no host or group; did you mean 'web'?"
    with pytest.raises(SelectionError) as info:
        admitted(["web1"], ["zzz"])
    assert str(info.value) == "--exclude zzz matches no host or group"


# ---- limited plans ----------------------------------------------------------------------------


def test_no_selection_and_an_empty_one_plan_the_same() -> None:
    whole = build_plan(loaded(parse(INVENTORY + PIPELINE)))
    assert plan(INVENTORY + PIPELINE) == whole


def test_units_of_unselected_hosts_are_dropped_and_local_ones_kept() -> None:
    limited = plan(INVENTORY + PIPELINE, ["deploy"], include=["web1", "web3"])
    assert units(limited) == ["build@local", "deploy@web1", "deploy@web3"]
    assert limited.task("deploy").hosts == ("web1", "web3")
    assert waits(limited, "deploy@web1") == {"build@local"}
    assert describe(limited)[-1] == "3 units, at most 10 at once"


def test_serial_batches_are_those_of_the_kept_hosts() -> None:
    limited = plan(INVENTORY + PIPELINE, ["deploy"], exclude=["web2"])
    assert {u.key.host: u.batch for u in limited.units if u.key.task == "deploy"} == {
        "web1": 0,
        "web3": 1,
    }
    assert waits(limited, "deploy@web3") == {"build@local", "deploy@web1"}


def test_a_dependency_waits_only_on_kept_units() -> None:
    toml = (
        INVENTORY
        + """
[tasks.a]
on = ["web1", "web2"]
commands = ["a"]
[tasks.b]
deps = ["a"]
on = ["web2", "web3"]
commands = ["b"]
"""
    )
    assert waits(build_plan(loaded(parse(toml))), "b@web3") == {"a@web1", "a@web2"}
    limited = plan(toml, exclude=["web2"])
    assert units(limited) == ["a@web1", "b@web3"]
    assert waits(limited, "b@web3") == {"a@web1"}


def test_excluding_local_drops_local_only_tasks_and_bridges_their_dependencies() -> None:
    toml = (
        INVENTORY
        + """
[tasks.setup]
on = "web"
commands = ["setup"]
[tasks.build]
deps = ["setup"]
commands = ["make"]
[tasks.deploy]
deps = ["build"]
on = "web"
commands = ["ship"]
"""
    )
    limited = plan(toml, exclude=["local"])
    assert [task.name for task in limited.tasks] == ["setup", "deploy"]
    assert limited.task("deploy").deps == ("setup",)
    assert limited.phases == (("setup",), ("deploy",))
    # planned as if deploy needed setup itself: on the same host, the same-host rule
    assert waits(limited, "deploy@web1") == {"setup@web1"}


def test_a_task_left_without_hosts_is_an_error_naming_it() -> None:
    with pytest.raises(SelectionError) as info:
        plan(INVENTORY + PIPELINE, ["deploy"], include=["db*"])
    assert str(info.value).startswith(
        "--hosts 'db*' leaves no hosts for task deploy (it runs on web[1-3]);"
    )
    with pytest.raises(SelectionError) as info:
        plan(INVENTORY + PIPELINE, include=["cache"])
    assert "for task deploy (it runs on web[1-3]), task migrate (it runs on" in str(info.value)


def emptied_by_other(names: list[str]) -> str:
    """The message of a selection that leaves five tasks on ``names`` without hosts."""
    hosts = "\n".join(f'{name} = "{name}.test"' for name in names)
    tasks = "\n".join(f'[tasks.t{i}]\non = "all"\ncommands = ["x"]' for i in range(5))
    group = ", ".join(f'"{name}"' for name in names)
    toml = f'[hosts]\n{hosts}\nother = "o.test"\n[groups]\nall = [{group}]\n{tasks}\n'
    with pytest.raises(SelectionError) as info:
        plan(toml, include=["other"])
    return str(info.value)


def test_long_lists_in_messages_are_cut_short() -> None:
    names = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"]
    message = emptied_by_other(names)
    shown = "alpha, bravo, charlie, delta, echo and 4 more"
    assert f"task t0 (it runs on {shown})" in message
    assert f"task t2 (it runs on {shown}) and 2 more tasks;" in message


def test_numbered_hosts_in_messages_fold_into_ranges() -> None:
    message = emptied_by_other([f"web{i:03d}" for i in range(1, 481)] + ["db1"])
    assert "task t0 (it runs on web[001-480], db1)" in message


def test_a_selection_that_misses_every_host_of_the_run_is_an_error() -> None:
    with pytest.raises(SelectionError) as info:
        plan(INVENTORY + PIPELINE, ["build"], include=["db1"])
    assert str(info.value) == "--hosts db1 selects none of the hosts this run uses (local)"


def test_a_selection_that_leaves_nothing_to_run_is_an_error() -> None:
    with pytest.raises(SelectionError) as info:
        plan(INVENTORY + PIPELINE, ["build"], exclude=["local"])
    assert str(info.value) == "--exclude local leaves nothing to run"


def test_selecting_local_alone_runs_the_local_tasks() -> None:
    limited = plan(INVENTORY + PIPELINE, ["build"], include=["local"])
    assert units(limited) == ["build@local"]


# ---- properties -------------------------------------------------------------------------------

HOSTS = ["web1", "web2", "db1", "db2", "cache"]
GROUPS = ["web", "db", "backend", "all"]
PATTERNS = ["web*", "db?", "*", "w*1", "cache", "db", "backend", "all", "local", "l*", "x*", "?"]


@st.composite
def inventories(draw: st.DrawFn) -> NexusConfig:
    hosts = draw(st.lists(st.sampled_from(HOSTS), min_size=1, unique=True))
    groups: dict[str, list[str]] = {}
    for name in draw(st.lists(st.sampled_from(GROUPS), unique=True)):
        members = [*hosts, *groups, LOCAL]  # earlier groups only: no cycles
        groups[name] = draw(st.lists(st.sampled_from(members), min_size=1, max_size=4))
    count = draw(st.integers(1, 5))
    tasks: dict[str, object] = {}
    targets = [*hosts, *groups, LOCAL]
    for index in range(count):
        earlier = [f"t{i}" for i in range(index)]
        tasks[f"t{index}"] = {
            "deps": draw(st.lists(st.sampled_from(earlier), unique=True)) if earlier else [],
            "on": draw(st.lists(st.sampled_from(targets), min_size=1, max_size=3, unique=True)),
            "commands": ["x"],
            "strategy": draw(st.sampled_from(["parallel", "serial"])),
        }
    return NexusConfig.model_validate(
        {"hosts": {name: f"{name}.test" for name in hosts}, "groups": groups, "tasks": tasks}
    )


selections = st.builds(
    HostSelection,
    st.lists(st.sampled_from(PATTERNS), max_size=3).map(tuple),
    st.lists(st.sampled_from(PATTERNS), max_size=2).map(tuple),
)


def members(config: NexusConfig, name: str) -> set[str]:
    """The hosts a name stands for, by plain recursion: an oracle independent of ``expand``."""
    if name in config.groups:
        return {host for member in config.groups[name] for host in members(config, member)}
    return {name}


def oracle(config: NexusConfig, patterns: Sequence[str]) -> set[str] | None:
    """Hosts the patterns match directly or through a matched group; None if one matches
    nothing."""
    names = [*config.hosts, *config.groups, LOCAL]
    found: set[str] = set()
    for pattern in patterns:
        matched = [name for name in names if fnmatch.fnmatchcase(name, pattern)]
        if not matched:
            return None
        found |= {host for name in matched for host in members(config, name)}
    return found


@settings(max_examples=300, deadline=None)
@given(config=inventories(), selection=selections)
def test_admitted_is_the_included_hosts_minus_the_excluded(
    config: NexusConfig, selection: HostSelection
) -> None:
    included = oracle(config, selection.include) if selection.include else set(config.hosts)
    excluded = oracle(config, selection.exclude)
    if included is None or excluded is None:
        with pytest.raises(SelectionError, match="matches no host or group"):
            selection.admitted(config)
        return
    assert selection.admitted(config) == (included | {LOCAL}) - excluded


@st.composite
def fitting(draw: st.DrawFn) -> tuple[NexusConfig, HostSelection]:
    """An inventory and a selection mostly of names it has, so that most plans are built."""
    config = draw(inventories())
    names = st.sampled_from([*config.hosts, *config.groups, LOCAL])
    patterns = st.lists(st.one_of(names, names, st.sampled_from(PATTERNS)), max_size=2)
    include, exclude = draw(patterns), draw(patterns)
    return config, HostSelection(tuple(include), tuple(exclude))


@settings(max_examples=300, deadline=None)
@given(case=fitting())
def test_a_limited_plan_keeps_only_admitted_units_and_waits_inside_itself(
    case: tuple[NexusConfig, HostSelection],
) -> None:
    config, selection = case
    whole = build_plan(loaded(config))
    try:
        limited = build_plan(loaded(config), hosts=selection)
    except SelectionError as error:
        assert_justified(str(error), config, selection, whole)
        return
    allowed = selection.admitted(config)
    planned = {unit.key for unit in limited.units}
    assert limited.units, "a limited plan is never empty"
    assert planned == {key for key in (u.key for u in whole.units) if key.host in allowed}
    for unit in limited.units:
        assert unit.waits_for <= planned, f"{unit.key} waits outside the plan"
    for task in limited.tasks:
        assert task.hosts == tuple(u.key.host for u in limited.units if u.key.task == task.name)
        assert set(task.deps) <= {t.name for t in limited.tasks}
    assert {name for phase in limited.phases for name in phase} == {t.name for t in limited.tasks}
    # a task with remote hosts is never silently emptied; only local-only ones may go
    for task in whole.tasks:
        if task.name not in {t.name for t in limited.tasks}:
            assert set(task.hosts) == {LOCAL}
            assert LOCAL not in allowed
    # and a kept unit still starts after every kept unit of the tasks it needs, however far back
    assert_order_kept(config, limited)


def assert_order_kept(config: NexusConfig, plan: Plan) -> None:
    dag = as_networkx(graph.build_graph({name: task.deps for name, task in config.tasks.items()}))
    by_key = {unit.key: unit for unit in plan.units}
    before: dict[UnitKey, set[str]] = {}
    for unit in plan.units:  # dependencies first: every wait is already settled
        tasks = {wait.task for wait in unit.waits_for}
        for wait in unit.waits_for:
            tasks |= before[wait]
        before[unit.key] = tasks
    kept = {task.name for task in plan.tasks}
    for key, unit in by_key.items():
        needed = nx.ancestors(dag, key.task) & kept
        assert needed <= before[unit.key], f"{key} may start before {needed - before[key]}"


def assert_justified(
    message: str, config: NexusConfig, selection: HostSelection, whole: Plan
) -> None:
    """A selection is refused only for one of the reasons the module promises, and truly."""
    included = oracle(config, selection.include) if selection.include else set(config.hosts)
    excluded = oracle(config, selection.exclude)
    if "matches no host or group" in message:
        assert included is None or excluded is None
        return
    assert included is not None
    assert excluded is not None
    allowed = (included | {LOCAL}) - excluded
    if " leaves no hosts for " in message:
        emptied = [
            task.name
            for task in whole.tasks
            if set(task.hosts) - {LOCAL} and not set(task.hosts) & allowed
        ]
        assert emptied
        assert message.split(" leaves no hosts for task ")[1].startswith(emptied[0])
    elif " selects none of the hosts " in message:
        assert selection.include
        assert not {unit.key.host for unit in whole.units} & (included - excluded)
    else:
        assert message.endswith(" leaves nothing to run"), message
        assert not {unit.key.host for unit in whole.units} & allowed
