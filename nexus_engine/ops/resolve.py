"""``nexus.toml``'s ``ensure`` tables → the kinds of :mod:`nexus_engine.ops`, for one unit.

``${var:NAME}`` in a parameter is the unit's variable, pasted as text: Nexus quotes every
parameter it puts into its own shell text, so no value is ever read as shell syntax. In
``validate`` (shell text the operator wrote) a reference instead travels as an environment
variable, as in ``cmd``, and ``%s`` becomes a quoted expansion of the new file's path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from nexus_engine.config.ensure import (
    AbsentStep,
    AnyEnsure,
    BlockStep,
    CheckStep,
    CronStep,
    DirStep,
    FileStep,
    LineStep,
    LinkStep,
)
from nexus_engine.config.ensure_accounts import GroupStep, UserStep
from nexus_engine.config.ensure_git import GitStep
from nexus_engine.config.ensure_packages import PackageStep
from nexus_engine.config.ensure_services import ServiceStep
from nexus_engine.config.interpolate import ShellCommand
from nexus_engine.config.shellsplice import Span, splice
from nexus_engine.config.variables import substitute, var_env
from nexus_engine.ops import templates
from nexus_engine.ops.accounts import Group, User
from nexus_engine.ops.base import Op
from nexus_engine.ops.content import Content
from nexus_engine.ops.cron import Cron
from nexus_engine.ops.custom import Check
from nexus_engine.ops.files import Absent, Dir, File, Link
from nexus_engine.ops.git import Git
from nexus_engine.ops.lines import Block, Line
from nexus_engine.ops.packages import Packages
from nexus_engine.ops.services import Service
from nexus_engine.ops.write import NEW_FILE

#: Reads a local ``source`` once per run, however many units send it.
SourceReader = Callable[[Path], Content]


def resolve(
    step: AnyEnsure,
    variables: Mapping[str, Any],
    base: Path,
    *,
    validate: ShellCommand | None = None,
    read: SourceReader = Content.from_file,
    commands: Mapping[str, ShellCommand] | None = None,
) -> Op:
    """The kind ``step`` asks for on a unit with ``variables``; relative ``source`` and
    ``template`` paths are relative to ``base``, the directory of the config. ``commands``:
    the shell text of a ``check`` step (``check``, ``apply``) that held ``${…}`` references.
    Raises ``templates.TemplateProblem`` for a template that cannot be rendered."""
    if isinstance(step, CronStep):
        return _cron(step, lambda value: substitute(value, variables))
    if isinstance(step, CheckStep):
        return _check(step, commands or {}, variables)
    if isinstance(step, ServiceStep):
        name = substitute(step.name, variables)
        return Service(name, step.state, step.enabled, step.daemon_reload)
    if isinstance(step, GitStep):
        return _git(step, lambda value: substitute(value, variables))
    if isinstance(step, UserStep | GroupStep | PackageStep):
        return _system_kind(step, lambda value: substitute(value, variables))
    return _path_kind(step, variables, base, validate, read)


def _path_kind(
    step: DirStep | FileStep | LinkStep | LineStep | BlockStep | AbsentStep,
    variables: Mapping[str, Any],
    base: Path,
    validate: ShellCommand | None,
    read: SourceReader,
) -> Op:
    def text(value: str) -> str:
        return substitute(value, variables)

    def maybe(value: str | None) -> str | None:
        return None if value is None else text(value)

    path = text(step.path)
    match step:
        case DirStep():
            return Dir(path, step.mode, maybe(step.owner), maybe(step.group), step.parents)
        case FileStep():
            content, origin = _content(step, variables, base, read)
            shell, env = _validate(step, validate, variables)
            return File(
                path,
                content,
                origin,
                mode=step.mode,
                owner=maybe(step.owner),
                group=maybe(step.group),
                backup=step.backup,
                validate=shell,
                validate_env=tuple(sorted(env.items())),
            )
        case LinkStep():
            return Link(path, text(step.to))
        case LineStep():
            return Line(path, text(step.line), maybe(step.regexp), step.state == "present")
        case BlockStep():
            return Block(path, text(step.text), text(step.marker), step.state == "present")
        case AbsentStep():
            return Absent(path)
    raise AssertionError(f"unknown ensure kind {step!r}")  # pragma: no cover


def _cron(step: CronStep, text: Callable[[str], str]) -> Cron:
    whose = text(step.user) if step.user else ("root" if step.sudo else "the login")
    if step.state == "absent" or step.job is None:
        return Cron(text(step.name), None, whose)
    fields = (step.minute, step.hour, step.day, step.month, step.weekday)
    schedule = step.special if step.special is not None else " ".join(fields)
    return Cron(text(step.name), f"{schedule} {text(step.job)}", whose)


def _git(step: GitStep, text: Callable[[str], str]) -> Git:
    version = None if step.version is None else text(step.version)
    return Git(text(step.repo), text(step.dest), version, step.depth, step.force)


def _system_kind(step: UserStep | GroupStep | PackageStep, text: Callable[[str], str]) -> Op:
    """Accounts and packages: their names are checked again in the step, once filled in."""

    def maybe(value: str | None) -> str | None:
        return None if value is None else text(value)

    match step:
        case UserStep():
            groups = None if step.groups is None else tuple(text(g) for g in step.groups)
            return User(
                text(step.name),
                uid=step.uid,
                group=maybe(step.group),
                groups=groups,
                append=step.append,
                shell=maybe(step.shell),
                home=maybe(step.home),
                system=step.system,
                present=step.state == "present",
            )
        case GroupStep():
            return Group(text(step.name), step.gid, step.system, step.state == "present")
        case PackageStep():
            names = tuple(text(name) for name in step.names)
            return Packages(names, step.state, maybe(step.version), step.cache_valid)
    raise AssertionError(f"unknown ensure kind {step!r}")  # pragma: no cover


def _check(
    step: CheckStep, commands: Mapping[str, ShellCommand], variables: Mapping[str, Any]
) -> Check:
    """The operator's shell text as written (with its ``${…}`` values in the environment)."""
    check, apply = commands.get("check"), commands.get("apply")
    return Check(
        check=step.check if check is None else check.text,
        apply=step.apply if apply is None else apply.text,
        check_env=tuple(sorted(var_env(check, variables).items())),
        apply_env=tuple(sorted(var_env(apply, variables).items())),
        shown_check=step.check if check is None else substitute(check.shown, variables),
    )


def _content(
    step: FileStep, variables: Mapping[str, Any], base: Path, read: SourceReader
) -> tuple[Content, str]:
    if step.content is not None:
        return Content.of(substitute(step.content, variables).encode()), "content"
    if step.source is not None:
        return read(base / step.source), f"source {step.source}"
    assert step.template is not None  # noqa: S101 - the model requires one of the three
    rendered = templates.render(base / step.template, variables)
    return Content.of(rendered.encode()), f"template {step.template}"


def _validate(
    step: FileStep, command: ShellCommand | None, variables: Mapping[str, Any]
) -> tuple[str | None, dict[str, str]]:
    """``validate`` as shell text with ``%s`` a quoted expansion of ``$NEXUS_NEW_FILE``."""
    if step.validate_cmd is None:
        return None, {}
    shell = step.validate_cmd if command is None else command.text
    text, spans = percent_spans(shell)
    return splice(text, spans), var_env(command, variables)


def percent_spans(shell: str) -> tuple[str, list[Span]]:
    """``validate``'s ``%`` escapes, as in Ansible's: ``%%`` is a literal ``%`` and each
    ``%s`` is the new file. Returns the text with ``%%`` made ``%`` and ``%s`` kept, and the
    spans of the ``%s`` to splice."""
    out: list[str] = []
    spans: list[Span] = []
    index = 0
    while index < len(shell):
        pair = shell[index : index + 2]
        if pair in ("%%", "%s"):
            if pair == "%s":
                spans.append(Span(len("".join(out)), len("".join(out)) + 2, NEW_FILE))
            out.append(pair if pair == "%s" else "%")
            index += 2
        else:
            out.append(shell[index])
            index += 1
    return "".join(out), spans
