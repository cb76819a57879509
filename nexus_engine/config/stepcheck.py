"""What a task's steps need beyond their own table, checked when the config is loaded, before
anything connects: the files ``source`` and ``template`` name, a template's syntax, and each
``${var:NAME}`` defined on every host the step runs on (and a path absolute once it is filled).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from pydantic import BaseModel

from nexus_engine.config.ensure import VAR_REFERENCE, EnsureBase, FileStep
from nexus_engine.config.errors import KeyPath
from nexus_engine.config.hosts import expand_targets
from nexus_engine.config.interpolate import COMMAND_KEYS, ShellCommand
from nexus_engine.config.models import NexusConfig, Step
from nexus_engine.config.variables import Variables, substitute

Finding = tuple[KeyPath, str]
#: The most hosts named in one message about an undefined variable.
_NAMED = 3


def check_steps(
    config: NexusConfig, base: Path, commands: Mapping[tuple[str, int, str], ShellCommand]
) -> list[Finding]:
    findings: list[Finding] = []
    variables: Variables | None = None
    for task_name, task in config.tasks.items():
        hosts: list[str] | None = None
        for index, step in enumerate(task.commands):
            where: KeyPath = ("tasks", task_name, "commands", index)
            if isinstance(step, FileStep):
                findings += _files(step, base, where)
            references = list(_references(step, commands, task_name, index))
            if not references:
                continue
            if variables is None:
                variables = Variables(config)
            if hosts is None:
                hosts = expand_targets(config, task.targets)
            findings += _undefined(references, variables, task_name, hosts, where)
            if isinstance(step, EnsureBase) and VAR_REFERENCE.search(step.path):
                findings += _relative(step.path, variables, task_name, hosts, where)
    return findings


def _relative(
    path: str, variables: Variables, task: str, hosts: list[str], where: KeyPath
) -> list[Finding]:
    """A path whose variables make it relative on some host: it would land wherever the
    login's shell starts, so it is refused like a relative path written out."""
    for host in hosts:
        defined = variables.for_unit(task, host)
        if all(name in defined for name in _names(path)):
            filled = substitute(path, defined)
            if not filled.startswith("/"):
                message = f"is {filled!r} on {host}: it must be an absolute path on the host"
                return [((*where, "path"), message)]
    return []


def _names(text: str) -> list[str]:
    return [match["name"] for match in VAR_REFERENCE.finditer(text)]


def _files(step: FileStep, base: Path, where: KeyPath) -> list[Finding]:
    findings: list[Finding] = []
    for key, name in (("source", step.source), ("template", step.template)):
        if name is None:
            continue
        path = base / name
        if not path.is_file():
            what = "is not a file" if path.exists() else "does not exist"
            findings.append(((*where, key), f"{name} {what} (relative to the config's directory)"))
        elif key == "template":
            from nexus_engine.ops import templates  # noqa: PLC0415 - Jinja2 only when used

            try:
                templates.check(path)
            except templates.TemplateProblem as problem:
                line = f":{problem.line}" if problem.line else ""
                findings.append(((*where, key), f"{name}{line}: {problem.message}"))
    return findings


def _references(
    step: str | BaseModel,
    commands: Mapping[tuple[str, int, str], ShellCommand],
    task: str,
    index: int,
) -> Iterator[tuple[str, str]]:
    """(key, variable name) of each ``${var:…}`` the step uses."""
    for key in COMMAND_KEYS:
        command = commands.get((task, index, key))
        if command is not None:
            yield from ((key, name) for _, name in command.vars)
    if isinstance(step, str):
        return
    # a cmd step's own fields are the shell's; only its guard paths and user are filled in
    fields = {"creates", "removes", "user"} if isinstance(step, Step) else None
    dumped = step.model_dump(include=fields, exclude={"unless", "validate_cmd", "check", "apply"})
    for key, value in dumped.items():
        for item in value if isinstance(value, list) else [value]:  # a list of names, too
            if isinstance(item, str):
                yield from ((key, match["name"]) for match in VAR_REFERENCE.finditer(item))


def _undefined(
    references: list[tuple[str, str]],
    variables: Variables,
    task: str,
    hosts: list[str],
    where: KeyPath,
) -> list[Finding]:
    missing: dict[tuple[str, str], list[str]] = {}
    for host in hosts:
        defined = variables.for_unit(task, host)
        for reference in references:
            if reference[1] not in defined:
                missing.setdefault(reference, []).append(host)
    findings: list[Finding] = []
    for (key, name), without in missing.items():
        named = ", ".join(without[:_NAMED]) + (
            f" and {len(without) - _NAMED} more" if len(without) > _NAMED else ""
        )
        findings.append(
            (
                (*where, key),
                f"${{var:{name}}} is not defined for {named}; set {name} in the vars of the"
                " host, one of its groups, the task or [settings]",
            )
        )
    return findings
