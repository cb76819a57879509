"""build_plan's rules: units per (task, host), what each unit waits for, serial batches, failure
budgets, step defaults, target selection, and the dry-run description."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nexus_engine import graph
from nexus_engine.config import ConfigError, LoadedConfig, load_config
from nexus_engine.config.models import NexusConfig
from nexus_engine.plan import HostReach, Plan, UnitKey, build_plan, describe
from nexus_engine.redact import Redactor
from tests.engine.driving import key, plan_from
from tests.engine.oracle import as_networkx


def hosts(count: int) -> str:
    names = [f"h{i}" for i in range(1, count + 1)]
    lines = ["[hosts]", *(f'{name} = "{name}.example"' for name in names)]
    members = ", ".join(f'"{name}"' for name in names)
    lines += ["[groups]", f"all = [{members}]"]
    return "\n".join(lines) + "\n"


def build(
    toml: str,
    targets: Sequence[str] = (),
    *,
    redact: Callable[[str], str] = str,
    parallel: int | None = None,
) -> Plan:
    config = NexusConfig.model_validate(tomllib.loads(toml))
    loaded = LoadedConfig(path=Path("nexus.toml"), config=config, secrets=frozenset())
    return build_plan(loaded, targets, redact=redact, parallel_limit=parallel)


def waits(plan: Plan, unit: str) -> set[str]:
    return {str(k) for k in next(u for u in plan.units if u.key == key(unit)).waits_for}


# ---- units ------------------------------------------------------------------------------------


def test_one_unit_per_task_and_host_in_task_then_host_order() -> None:
    plan = plan_from(
        hosts(2)
        + """
[tasks.build]
commands = ["make"]
[tasks.ship]
deps = ["build"]
on = ["h2", "h1", "local"]
commands = ["a", "b"]
"""
    )
    assert [str(u.key) for u in plan.units] == ["build@local", "ship@h2", "ship@h1", "ship@local"]
    assert [t.name for t in plan.tasks] == ["build", "ship"]
    assert plan.task("ship").hosts == ("h2", "h1", "local")
    local = next(u for u in plan.units if u.key == key("ship@local"))
    remote = next(u for u in plan.units if u.key == key("ship@h2"))
    assert local.host is None
    assert remote.host is not None
    assert remote.host.hostname == "h2.example"
    assert [s.cmd for s in remote.steps] == ["a", "b"]


def test_a_group_expands_to_its_hosts_once() -> None:
    plan = plan_from(hosts(3) + '[tasks.t]\non = ["all", "h2"]\ncommands = ["x"]\n')
    assert [u.key.host for u in plan.units] == ["h1", "h2", "h3"]


def test_a_dependency_on_the_same_host_waits_only_for_that_host() -> None:
    plan = plan_from(
        hosts(3)
        + """
[tasks.a]
on = "all"
commands = ["a"]
[tasks.b]
on = "all"
deps = ["a"]
commands = ["b"]
"""
    )
    assert waits(plan, "a@h1") == set()
    for host in ("h1", "h2", "h3"):
        assert waits(plan, f"b@{host}") == {f"a@{host}"}


def test_a_dependency_elsewhere_waits_for_all_of_its_units() -> None:
    plan = plan_from(
        hosts(3)
        + """
[tasks.build]
commands = ["make"]
[tasks.deploy]
on = "all"
deps = ["build"]
commands = ["ship"]
[tasks.report]
deps = ["deploy"]
commands = ["mail"]
"""
    )
    for host in ("h1", "h2", "h3"):
        assert waits(plan, f"deploy@{host}") == {"build@local"}
    assert waits(plan, "report@local") == {"deploy@h1", "deploy@h2", "deploy@h3"}


def test_a_partial_overlap_mixes_both_rules() -> None:
    plan = plan_from(
        hosts(3)
        + """
[tasks.a]
on = ["h1", "h2"]
commands = ["a"]
[tasks.b]
on = ["h2", "h3"]
deps = ["a"]
commands = ["b"]
"""
    )
    assert waits(plan, "b@h2") == {"a@h2"}
    assert waits(plan, "b@h3") == {"a@h1", "a@h2"}


# ---- serial batches and budgets ---------------------------------------------------------------


def test_serial_batches_of_a_fixed_size_each_wait_for_the_previous_one() -> None:
    plan = plan_from(hosts(5) + '[tasks.roll]\non = "all"\nstrategy = "serial"\nbatch = 2\n')
    assert plan.task("roll").batch_size == 2
    batches = {u.key.host: u.batch for u in plan.units}
    assert batches == {"h1": 0, "h2": 0, "h3": 1, "h4": 1, "h5": 2}
    assert waits(plan, "roll@h1") == waits(plan, "roll@h2") == set()
    assert waits(plan, "roll@h3") == waits(plan, "roll@h4") == {"roll@h1", "roll@h2"}
    assert waits(plan, "roll@h5") == {"roll@h3", "roll@h4"}


@pytest.mark.parametrize(
    ("share", "count", "size", "batches"),
    [
        ("25%", 10, 3, 4),  # 2.5 rounds up: no host is left without a batch
        ("50%", 4, 2, 2),
        ("1%", 3, 1, 3),  # never less than one host
        ("100%", 7, 7, 1),
        ("7%", 100, 7, 15),  # 7 % of 100 is exactly 7, not 8 (float error must not round up)
        ("12.5%", 8, 1, 8),
    ],
)
def test_a_percentage_batch_rounds_up(share: str, count: int, size: int, batches: int) -> None:
    plan = plan_from(
        hosts(count) + f'[tasks.roll]\non = "all"\nstrategy = "serial"\nbatch = "{share}"\n'
    )
    assert plan.task("roll").batch_size == size
    assert max(u.batch for u in plan.units) + 1 == batches


def test_a_parallel_task_is_one_batch_whatever_its_batch_setting() -> None:
    plan = plan_from(hosts(4) + '[tasks.t]\non = "all"\nbatch = 1\n')
    assert plan.task("t").batch_size == 4
    assert {u.batch for u in plan.units} == {0}
    assert all(not u.waits_for for u in plan.units)


@pytest.mark.parametrize(
    ("budget", "count", "expected"),
    [
        ("25%", 10, 2),  # 2.5 rounds down: a budget never tolerates more than asked
        ("50%", 3, 1),
        ("10%", 5, 0),
        ("29%", 100, 29),  # exactly 29, not 28 (float error must not round down)
        ("100%", 4, 4),
        (3, 2, 3),
    ],
)
def test_a_failure_budget_share_rounds_down(budget: object, count: int, expected: int) -> None:
    value = f'"{budget}"' if isinstance(budget, str) else budget
    plan = plan_from(hosts(count) + f'[tasks.t]\non = "all"\nmax_failures = {value}\n')
    assert plan.task("t").max_failures == expected


# ---- steps ------------------------------------------------------------------------------------


def test_steps_take_the_settings_defaults_unless_they_set_their_own() -> None:
    plan = plan_from("""
[settings]
timeout = 90.0
retries = 2
retry_delay = 0.25
[tasks.t]
timeout = 500.0
commands = [
    "plain",
    { cmd = "own", timeout = 5.0, retries = 0, retry_delay = 3.0, sudo = true, user = "deploy" },
]
""")
    plain, own = plan.units[0].steps
    assert (plain.cmd, plain.timeout, plain.retries, plain.retry_delay) == ("plain", 90.0, 2, 0.25)
    assert (plain.sudo, plain.user, plain.env, plain.cwd) == (False, None, (), None)
    assert (own.timeout, own.retries, own.retry_delay) == (5.0, 0, 3.0)
    assert (own.sudo, own.user) == (True, "deploy")
    assert plan.task("t").timeout == 500.0


def test_step_env_is_sorted_and_cwd_kept() -> None:
    plan = plan_from(
        '[tasks.t]\ncommands = [{ cmd = "x", env = { B = "2", A = "1" }, cwd = "/srv" }]\n'
    )
    (step,) = plan.units[0].steps
    assert step.env == (("A", "1"), ("B", "2"))
    assert step.cwd == "/srv"


def test_parallel_limit_comes_from_settings_or_the_override() -> None:
    toml = '[settings]\nparallel_limit = 7\n[tasks.t]\ncommands = ["x"]\n'
    assert plan_from(toml).parallel_limit == 7
    assert plan_from(toml, parallel=3).parallel_limit == 3
    assert plan_from('[tasks.t]\ncommands = ["x"]\n').parallel_limit == 10


# ---- targets ----------------------------------------------------------------------------------

CHAIN = """
[tasks.build]
commands = ["make"]
[tasks.test]
deps = ["build"]
commands = ["make test"]
[tasks.lint]
commands = ["ruff"]
[tasks.deploy]
deps = ["test"]
commands = ["ship"]
"""


def test_targets_pull_in_their_dependencies_and_nothing_else() -> None:
    plan = plan_from(CHAIN, targets=("test",))
    assert [t.name for t in plan.tasks] == ["build", "test"]
    assert [str(u.key) for u in plan.units] == ["build@local", "test@local"]
    assert plan.phases == (("build",), ("test",))


def test_no_targets_means_every_task_with_phases() -> None:
    plan = plan_from(CHAIN)
    assert {t.name for t in plan.tasks} == {"build", "test", "lint", "deploy"}
    assert plan.phases == (("build", "lint"), ("test",), ("deploy",))
    order = [t.name for t in plan.tasks]
    assert order.index("build") < order.index("test") < order.index("deploy")


def test_an_unknown_target_raises() -> None:
    with pytest.raises(graph.UnknownTaskError) as info:
        plan_from(CHAIN, targets=("test", "tset"))
    assert info.value.args[0] == "tset"


# ---- describe ---------------------------------------------------------------------------------


def test_describe_lists_phases_tasks_and_every_step_with_its_flags() -> None:
    plan = build(
        hosts(4)
        + """
[tasks.build]
commands = ["make"]
[tasks.deploy]
deps = ["build"]
on = "all"
strategy = "serial"
batch = 2
commands = [
    { cmd = "systemctl restart app", sudo = true, timeout = 30.0, retries = 2 },
    { cmd = "check", user = "www", cwd = "/srv/app" },
]
""",
        parallel=3,
    )
    lines = describe(plan)
    assert lines[:2] == ["phase 1: build", "phase 2: deploy"]
    assert "task build on local [parallel]" in lines
    assert "task deploy (after build) on h1, h2, h3, h4 [serial, batch 2]" in lines
    assert "  1. make  (timeout 3600s)" in lines
    assert "  1. systemctl restart app  (timeout 30s, retries 2)" in lines
    assert "  2. check  (timeout 3600s)" in lines
    assert lines[-1] == "5 units, at most 3 at once"


def test_describe_says_as_whom_where_and_with_which_variables_each_step_runs() -> None:
    redactor = Redactor({"hunter2"})
    plan = build(
        hosts(2)
        + """
[tasks.build]
commands = ["make"]
[tasks.deploy]
on = "all"
commands = [
    { cmd = "systemctl restart app", sudo = true },
    { cmd = "check", user = "www", cwd = "/srv/app", env = { TOKEN = "hunter2", MODE = "b" } },
    "true",
]
[tasks.both]
on = ["h1", "local"]
commands = ["uptime"]
""",
        redact=redactor.text,
    )
    lines = describe(plan, redact=redactor.text)
    at = lines.index("  1. make  (timeout 3600s)")
    assert lines[at + 1] == "     as you · in the current directory"
    at = lines.index("  1. systemctl restart app  (timeout 3600s)")
    assert lines[at + 1] == "     as root (sudo) · in the login's home directory"
    # names only, never values; the one that carries a secret says so
    assert lines[at + 3] == "     as www (sudo) · in /srv/app · env MODE, TOKEN (secret)"
    assert lines[at + 5] == "     as the login user · in the login's home directory"
    at = lines.index("  1. uptime  (timeout 3600s)")
    assert lines[at + 1] == (
        "     as the login user (local: you) · in the login's home directory"
        " (local: the current directory)"
    )
    assert "hunter2" not in "\n".join(lines)


def test_describe_says_how_each_host_is_reached_hosts_reached_alike_together() -> None:
    many = [f"web{i:02}" for i in range(1, 51)]
    plan = build(
        "[hosts]\n"
        + "".join(f'{name} = "10.0.0.{i}"\n' for i, name in enumerate(many, start=1))
        + 'db1 = "db.example"\nbastion = "bastion.example"\n'
        + "[tasks.deploy]\n"
        + f"on = {json.dumps([*many, 'db1', 'bastion', 'local'])}\n"
        + 'commands = ["ship"]\n'
    )
    reach = {
        name: HostReach("deploy", f"10.0.0.{i}", 22, "ops@bastion:2222", "~/.ssh/config")
        for i, name in enumerate(many, start=1)
    }
    reach["db1"] = HostReach("postgres", "db.example", 5432)
    reach["bastion"] = HostReach("ops", "bastion", 2222)
    reach["local"] = HostReach("alice")
    lines = describe(plan, reach=reach)
    hosts_at = lines.index("  hosts:")
    block = lines[hosts_at + 1 : lines.index("", hosts_at)]
    assert block[0] == "    deploy@*:22 via jump ops@bastion:2222 (~/.ssh/config), 50 hosts:"
    listed = " ".join(line.strip() for line in block[1:-3])
    assert listed == ", ".join(f"{name} (10.0.0.{i})" for i, name in enumerate(many, start=1))
    assert all(len(line) <= 100 for line in block)  # readable, however many hosts
    assert block[-3:] == [
        "    db1: postgres@db.example:5432",
        "    bastion: ops@bastion:2222",
        "    local: this machine, as alice",
    ]


def test_describe_takes_a_host_formatter() -> None:
    plan = plan_from(hosts(3) + '[tasks.t]\non = "all"\ncommands = ["x"]\n')
    lines = describe(plan, hosts_of=lambda names: f"{len(list(names))} hosts")
    assert "task t on 3 hosts [parallel]" in lines


def test_shown_commands_are_redacted_and_only_there() -> None:
    redactor = Redactor({"hunter2"})
    plan = build(
        '[tasks.login]\ncommands = ["login --password hunter2", "echo ok"]\n',
        redact=redactor.text,
    )
    step = plan.units[0].steps[0]
    assert step.cmd == "login --password hunter2"  # what runs
    assert step.shown == "login --password ***"  # what is shown
    text = "\n".join(describe(plan))
    assert "hunter2" not in text
    assert "login --password ***" in text
    assert "2. echo ok" in text


def test_a_step_carrying_a_secret_anywhere_is_private() -> None:
    """Private steps are the ones a transport keeps off the host's process list."""
    redactor = Redactor({"hunter2"})
    steps = [
        '"echo plain"',
        '"login --password hunter2"',
        '{ cmd = "deploy", env = { TOKEN = "hunter2" } }',
        '{ cmd = "deploy", cwd = "/srv/hunter2" }',
        '{ cmd = "deploy", env = { MODE = "blue" }, cwd = "/srv/app" }',
    ]
    plan = build(f"[tasks.t]\ncommands = [{', '.join(steps)}]\n", redact=redactor.text)
    assert [step.private for step in plan.units[0].steps] == [False, True, True, True, False]


# ---- property: waits only point backwards -----------------------------------------------------

TARGETS = ["local", "h1", "h2", "h3", "web"]


@st.composite
def configs(draw: st.DrawFn) -> NexusConfig:
    count = draw(st.integers(1, 6))
    tasks: dict[str, object] = {}
    for index in range(count):
        earlier = [f"t{i}" for i in range(index)]
        task: dict[str, object] = {
            "deps": draw(st.lists(st.sampled_from(earlier), unique=True)) if earlier else [],
            "on": draw(st.lists(st.sampled_from(TARGETS), min_size=1, max_size=4, unique=True)),
            "commands": ["x"],
            "strategy": draw(st.sampled_from(["parallel", "serial"])),
            "batch": draw(st.one_of(st.integers(1, 4), st.sampled_from(["25%", "50%", "34%"]))),
        }
        tasks[f"t{index}"] = task
    return NexusConfig.model_validate(
        {
            "hosts": {"h1": "h1.test", "h2": "h2.test", "h3": "h3.test"},
            "groups": {"web": ["h1", "h2"]},
            "tasks": tasks,
        }
    )


@settings(max_examples=150, deadline=None)
@given(config=configs(), pick=st.data())
def test_every_wait_is_on_a_dependency_or_the_previous_batch(
    config: NexusConfig, pick: st.DataObject
) -> None:
    names = list(config.tasks)
    targets = pick.draw(st.lists(st.sampled_from(names), max_size=2, unique=True))
    loaded = LoadedConfig(path=Path("nexus.toml"), config=config, secrets=frozenset())
    plan = build_plan(loaded, targets)
    dag = as_networkx(graph.build_graph({name: task.deps for name, task in config.tasks.items()}))
    by_key: dict[UnitKey, int] = {u.key: u.batch for u in plan.units}
    planned = {u.key for u in plan.units}
    for unit in plan.units:
        ancestors = nx.ancestors(dag, unit.key.task)
        for wait in unit.waits_for:
            assert wait in planned, f"{unit.key} waits for {wait}, which is not in the plan"
            if wait.task == unit.key.task:
                assert by_key[wait] == unit.batch - 1, f"{unit.key} waits within its task"
            else:
                assert wait.task in ancestors, f"{unit.key} waits for unrelated {wait}"
        # and every direct dependency is waited for, one way or the other
        for dep in config.tasks[unit.key.task].deps:
            assert any(w.task == dep for w in unit.waits_for)
    # targets pulled in exactly themselves and their ancestors
    wanted = set(targets or names)
    for target in list(wanted):
        wanted |= nx.ancestors(dag, target)
    assert {t.name for t in plan.tasks} == wanted


def test_describe_indents_the_lines_of_a_multi_line_command() -> None:
    plan = plan_from('[tasks.a]\ncommands = ["set -e\\nmake all"]\n')
    text = "\n".join(describe(plan))
    assert "  1. set -e\n     make all  (timeout 3600s)" in text


def test_a_step_runs_as_the_user_its_host_names_in_a_variable(tmp_path: Path) -> None:
    """``user = "${var:who}"`` is each host's own login to run as, on a ``cmd`` step and an
    ``ensure`` step alike (a cron entry then lands in that user's crontab); a host without
    the variable is a config error on the key, before anything connects."""
    path = tmp_path / "nexus.toml"
    path.write_text(
        """
[hosts.a]
hostname = "a.example"
vars = { who = "alice" }
[hosts.b]
hostname = "b.example"
vars = { who = "bob" }
[tasks.t]
on = ["a", "b"]
commands = [
  { cmd = "id -un", user = "${var:who}" },
  { ensure = "cron", name = "n", job = "true", user = "${var:who}" },
]
"""
    )
    plan = build_plan(load_config(path, {}))
    users = {unit.key.host: [step.user for step in unit.steps] for unit in plan.units}
    assert users == {"a": ["alice", "alice"], "b": ["bob", "bob"]}
    crons = {unit.key.host: unit.steps[1].op.describe() for unit in plan.units}
    assert "crontab of alice" in crons["a"]
    assert "crontab of bob" in crons["b"]
    path.write_text(path.read_text().replace('vars = { who = "bob" }', ""))
    with pytest.raises(ConfigError) as raised:
        load_config(path, {})
    assert "commands[0].user" in str(raised.value)
    assert "${var:who} is not defined for b" in str(raised.value)
