"""``vars`` on settings, tasks, groups and hosts, and ``${var:NAME}``: which value a unit sees,
how a command receives it, and what is refused before anything connects."""

from __future__ import annotations

from collections.abc import Callable

from nexus_engine.config import ConfigError, LoadedConfig
from nexus_engine.config.variables import Variables
from nexus_engine.plan import build_plan

LAYERS = """
[settings.vars]
level = "settings"
only_settings = 1
[hosts.web1]
hostname = "10.0.0.1"
vars = { level = "host" }
[hosts.web2]
hostname = "10.0.0.2"
user = "deploy"
[groups.web]
hosts = ["web1", "web2"]
vars = { level = "group", only_group = true }
[groups.late]
hosts = ["web2"]
vars = { level = "late group" }
[tasks.t]
on = ["web", "local"]
vars = { level = "task", only_task = [1, 2] }
commands = ["echo ${var:level}"]
"""


def test_the_more_specific_wins_host_group_task_settings(
    load: Callable[..., LoadedConfig],
) -> None:
    variables = Variables(load(LAYERS).config)
    web1, web2, local = (variables.for_unit("t", host) for host in ("web1", "web2", "local"))
    assert web1["level"] == "host"
    assert web2["level"] == "late group"  # groups in the file's order, the later winning
    assert local["level"] == "task"
    assert (web1["only_settings"], web1["only_group"], web1["only_task"]) == (1, True, [1, 2])
    assert "only_group" not in local
    assert web2["host"] == {"name": "web2", "hostname": "10.0.0.2", "user": "deploy"}
    assert local["host"]["name"] == "local"


def test_a_command_gets_each_hosts_value_as_one_word_never_as_shell(
    load: Callable[..., LoadedConfig],
) -> None:
    text = LAYERS.replace('level = "host"', "level = \"x'; touch pwned; echo '\"")
    plan = build_plan(load(text))
    steps = {unit.key.host: unit.steps[0] for unit in plan.units}
    assert steps["web1"].cmd == steps["web2"].cmd == 'echo "${NEXUS_VAR_level}"'
    assert dict(steps["web1"].env)["NEXUS_VAR_level"] == "x'; touch pwned; echo '"
    assert dict(steps["web2"].env)["NEXUS_VAR_level"] == "late group"
    assert steps["web2"].shown == "echo late group"


def test_a_secret_in_a_variable_is_masked_and_makes_the_step_private(
    load: Callable[..., LoadedConfig],
) -> None:
    text = (
        '[settings.vars]\ntoken = "${secret:TOKEN}"\n'
        '[tasks.t]\ncommands = ["curl -H ${var:token}"]\n'
    )
    (unit,) = build_plan(load(text, {"TOKEN": "hunter2-xyz"})).units
    assert unit.steps[0].shown == "curl -H ***"
    assert unit.steps[0].private


def test_an_undefined_variable_is_named_with_the_hosts_that_lack_it(
    problems: Callable[..., ConfigError],
) -> None:
    text = LAYERS.replace(
        'commands = ["echo ${var:level}"]', 'commands = ["echo ${var:only_group}"]'
    )
    (problem,) = problems(text).problems
    assert problem.key == "tasks.t.commands[0].cmd"
    assert "${var:only_group} is not defined for local" in problem.message


def test_variable_names_and_references_are_checked(problems: Callable[..., ConfigError]) -> None:
    error = problems('[settings.vars]\n"a-b" = 1\n[tasks.t]\ncommands = ["echo ${var:x:-d}"]\n')
    messages = {problem.key: problem.message for problem in error.problems}
    assert "not a valid name" in messages["settings.vars"]
    assert "takes no default" in messages["tasks.t.commands[0]"]
