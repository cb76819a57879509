"""A task's steps as one unit runs them: its variables filled in, each ``ensure`` step resolved
to its kind, guards and flags set, and the defaults of ``[settings]`` applied.

Units of a task without ``ensure`` steps or ``${var:…}`` share one tuple of steps; the others
get their own, built here once per unit when the plan is made (before anything connects, so a
template that cannot be rendered for a host is a config error naming the template's line).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nexus_engine.config import LoadedConfig
from nexus_engine.config.ensure import AnyEnsure, UnknownEnsure
from nexus_engine.config.errors import ConfigError, ConfigProblem, format_path
from nexus_engine.config.interpolate import ShellCommand
from nexus_engine.config.models import Settings, Step
from nexus_engine.config.variables import Variables, substitute, var_env

if TYPE_CHECKING:
    from nexus_engine.ops.resolve import SourceReader


@dataclass(frozen=True, slots=True)
class StepPlan:
    """One step of a unit, filled in for its host: what to send, and how it is shown."""

    cmd: str
    shown: str  # cmd with secrets masked: the only form that is ever printed or stored
    sudo: bool
    user: str | None
    timeout: float
    retries: int
    retry_delay: float
    env: tuple[tuple[str, str], ...]
    cwd: str | None
    private: bool  # a secret is in cmd, env or cwd: a transport keeps it off argv
    #: an ``ensure`` step (an ``ops`` kind, resolved for its unit); ``cmd`` is then empty
    op: Any = None
    guard: Guard | None = None
    #: safe to run again: retrying a step that is not asks the operator first
    idempotent: bool | None = None
    when_changed: bool = False  # runs only when an earlier step of its unit changed something


@dataclass(frozen=True, slots=True)
class Guard:
    """When a ``cmd`` step's work is already done: ``creates`` exists, ``removes`` does not,
    or ``unless`` (shell text, references made safe, values in ``env``) succeeds."""

    creates: str | None = None
    removes: str | None = None
    unless: str | None = None
    env: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        parts = [f"unless {self.creates} exists" if self.creates else ""]
        parts.append(f"unless {self.removes} is gone" if self.removes else "")
        parts.append("unless its `unless` command succeeds" if self.unless else "")
        return ", ".join(part for part in parts if part)


def units_differ(loaded: LoadedConfig, task: str) -> bool:
    """Whether the units of ``task`` run different steps: an ``ensure`` step or a ``${var:…}``
    makes each host's own; otherwise one tuple of steps serves them all."""
    commands = loaded.config.tasks[task].commands
    if any(not isinstance(step, str | Step) for step in commands):
        return True
    if any(isinstance(step, Step) and step.user and "${var:" in step.user for step in commands):
        return True  # each host's own login to run as
    return any(key[0] == task and command.vars for key, command in loaded.commands.items())


class StepsFor:
    """The steps of a task on a host, variables resolved; each local ``source`` read once."""

    def __init__(
        self, loaded: LoadedConfig, redact: Callable[[str], str], *, retry_unsafe: bool
    ) -> None:
        self._retry_unsafe = retry_unsafe
        self._loaded = loaded
        self._redact = redact
        self._variables: Variables | None = None
        self._base = loaded.path.parent
        self._differ: dict[str, bool] = {}
        self._read: SourceReader | None = None

    def differ(self, task: str) -> bool:
        """:func:`units_differ`, worked out once per task (it is asked once per unit)."""
        if task not in self._differ:
            self._differ[task] = units_differ(self._loaded, task)
        return self._differ[task]

    def _reader(self) -> SourceReader:
        """Reads each local ``source`` once per plan, however many units send it."""
        if self._read is None:
            from nexus_engine.ops.content import Content  # noqa: PLC0415 - only with ensure steps

            self._read = functools.cache(Content.from_file)
        return self._read

    def __call__(self, task: str, host: str) -> tuple[StepPlan, ...]:
        config = self._loaded.config
        variables: Mapping[str, Any] = {}
        if self.differ(task):
            if self._variables is None:
                self._variables = Variables(config)
            variables = self._variables.for_unit(task, host)
        steps = []
        for index, step in enumerate(config.tasks[task].commands):
            assert not isinstance(step, UnknownEnsure)  # noqa: S101 - refused at load
            steps.append(self._step(task, index, step, variables=variables, host=host))
        return tuple(steps)

    def _step(
        self,
        task: str,
        index: int,
        step: str | Step | AnyEnsure,
        *,
        variables: Mapping[str, Any],
        host: str,
    ) -> StepPlan:
        commands = self._loaded.commands
        settings = self._loaded.config.settings
        if isinstance(step, str | Step):
            if isinstance(step, Step) and step.idempotent is False and not self._retry_unsafe:
                step = step.model_copy(update={"retries": 0})
            return _step_plan(
                step,
                settings,
                self._redact,
                commands.get((task, index, "cmd")),
                variables=variables,
                unless=commands.get((task, index, "unless")),
            )
        from nexus_engine.ops import resolve, templates  # noqa: PLC0415 - only with ensure steps

        try:
            op = resolve.resolve(
                step,
                variables,
                self._base,
                validate=commands.get((task, index, "validate")),
                commands={
                    key: command
                    for key in ("check", "apply")
                    if (command := commands.get((task, index, key))) is not None
                },
                read=self._reader(),
            )
        except templates.TemplateProblem as problem:
            key = format_path(("tasks", task, "commands", index, "template"))
            message = f"{problem.message} (rendering it for {host})"
            raise ConfigError(
                [ConfigProblem(str(problem.path), problem.line, None, key, message)]
            ) from None
        shown = self._redact(f"ensure {op.describe()}")
        return StepPlan(
            cmd="",
            shown=shown,
            sudo=step.sudo,
            user=None if step.user is None else substitute(step.user, variables),
            timeout=step.timeout if step.timeout is not None else settings.timeout,
            retries=step.retries if step.retries is not None else settings.retries,
            retry_delay=step.retry_delay if step.retry_delay is not None else settings.retry_delay,
            env=(),
            cwd=None,
            private=True,  # its script may carry content: it never goes on a command line
            op=op,
            idempotent=True,
            when_changed=step.when == "changed",
        )


def _step_plan(
    step: str | Step,
    settings: Settings,
    redact: Callable[[str], str],
    command: ShellCommand | None,
    *,
    variables: Mapping[str, Any],
    unless: ShellCommand | None,
) -> StepPlan:
    """``command``: the step's command when it held ``${…}`` references; their values ride in
    the environment beside the user's ``env``, and the operator is shown them substituted."""
    if isinstance(step, str):
        step = Step.model_construct(cmd=step)  # validated with the file; defaults only here
    shown = step.cmd if command is None else substitute(command.shown, variables)
    env = {**step.env, **var_env(command, variables)}
    guard = None
    if step.creates or step.removes or step.unless:
        unless_text = step.unless if unless is None else unless.text
        guard = Guard(
            creates=None if step.creates is None else substitute(step.creates, variables),
            removes=None if step.removes is None else substitute(step.removes, variables),
            unless=unless_text,
            env=tuple(sorted(var_env(unless, variables).items())),
        )
    return StepPlan(
        cmd=step.cmd,
        shown=redact(shown),
        sudo=step.sudo,
        user=None if step.user is None else substitute(step.user, variables),
        timeout=step.timeout if step.timeout is not None else settings.timeout,
        retries=step.retries if step.retries is not None else settings.retries,
        retry_delay=step.retry_delay if step.retry_delay is not None else settings.retry_delay,
        env=tuple(sorted(env.items())),
        cwd=step.cwd,
        private=any(redact(text) != text for text in (shown, step.cwd or "", *env.values())),
        guard=guard,
        idempotent=step.idempotent,
        when_changed=step.when == "changed",
    )
