"""The shape of ``nexus.toml`` as pydantic models.

Every model forbids unknown keys and is strict about types, because a typo in a deploy file
(``timout = 10``) silently ignored is worse than an error. Input values are hidden from pydantic's
own messages so a secret next to a mistake never leaks; ``config.errors`` builds the messages.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
)

from nexus_engine.config.ensure import (
    AbsentStep,
    BlockStep,
    CheckStep,
    CronStep,
    DirStep,
    FileStep,
    LineStep,
    LinkStep,
    UnknownEnsure,
    ensure_kind,
)
from nexus_engine.config.ensure_accounts import GroupStep, UserStep
from nexus_engine.config.ensure_git import GitStep
from nexus_engine.config.ensure_packages import PackageStep
from nexus_engine.config.ensure_services import ServiceStep

#: 0% to 100%, decimals allowed ("12.5%"), but not above 100 ("100.5%").
PERCENT_PATTERN = r"^(100(\.0+)?|[1-9]?[0-9](\.[0-9]+)?)%$"
#: A share of a task's hosts, such as ``"25%"``.
Percent = Annotated[str, Field(pattern=PERCENT_PATTERN)]
NonEmptyStr = Annotated[str, Field(min_length=1)]
#: The longest wait a run honours: a bound, so ``retry_delay = 1e308`` is a mistake reported
#: with the file and line instead of a run that sleeps forever (and ``inf``/``nan`` are no time).
WEEK = 7 * 24 * 3600
#: A duration that must pass: more than nothing, at most a week.
Seconds = Annotated[float, Field(gt=0, le=WEEK, allow_inf_nan=False)]
#: A wait that may be none at all.
Delay = Annotated[float, Field(ge=0, le=WEEK, allow_inf_nan=False)]
#: Tries after the first: a bound a run can honour, like the times above.
Retries = Annotated[int, Field(ge=0, le=1000)]
LOCAL = "local"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


def _reject_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL byte")
    return value


#: A command in its short string form; a NUL byte would silently truncate it in ``execve``.
CommandStr = Annotated[str, Field(min_length=1), AfterValidator(_reject_nul)]


def _regex(value: str) -> str:
    try:
        re.compile(value, re.MULTILINE)  # as output folding compiles it
    except (re.error, OverflowError, RecursionError) as error:
        raise ValueError(f"not a valid regular expression: {error}") from None
    return value


#: A Python regular expression, checked when the file is loaded.
Regex = Annotated[str, AfterValidator(_regex)]


class StrictModel(BaseModel):
    model_config = ConfigDict(
        extra="forbid", strict=True, hide_input_in_errors=True, frozen=True, defer_build=True
    )


def _var_names(value: dict[str, Any]) -> dict[str, Any]:
    for name in value:
        if not VAR_NAME.fullmatch(name):
            raise ValueError(
                f"variable name {name!r} is not a valid name (letters, digits and '_')"
            )
    return value


#: A name a template and ``${var:NAME}`` can both use.
VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Variables for templates and ``${var:…}``: any TOML value under a name a template can use.
Vars = Annotated[dict[str, Any], AfterValidator(_var_names)]


class Settings(StrictModel):
    parallel_limit: Annotated[int, Field(ge=1)] = 10
    continue_on_error: bool = False
    retries: Retries = 0
    retry_delay: Delay = 1.0
    timeout: Seconds = 3600.0
    user: NonEmptyStr | None = None
    known_hosts: Literal["strict", "accept-new", "off"] = "strict"
    quiet_after: Seconds = 60.0
    #: SSH: asyncssh leaves these off; a deploy must not hang on a dead or vanished host.
    connect_timeout: Seconds = 10.0
    connect_limit: Annotated[int, Field(ge=1)] = 32
    keepalive_interval: Seconds = 15.0
    keepalive_count: Annotated[int, Field(ge=1, le=1000)] = 3
    identity: NonEmptyStr | None = None
    password: NonEmptyStr | None = None
    sudo_password: NonEmptyStr | None = None
    vars: Vars = Field(default_factory=dict)
    #: What output folding ignores: hosts whose output differs only where these match (and in
    #: their names, addresses and timestamps) are one group.
    fold_ignore: list[Regex] = Field(default_factory=list)


class HostTable(StrictModel):
    hostname: NonEmptyStr
    user: NonEmptyStr | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    identity: NonEmptyStr | None = None
    password: NonEmptyStr | None = None
    sudo_password: NonEmptyStr | None = None
    vars: Vars = Field(default_factory=dict)


class GroupTable(StrictModel):
    """A group with variables of its own: ``[groups.web] hosts = [...]`` and ``vars``."""

    hosts: list[NonEmptyStr]
    vars: Vars = Field(default_factory=dict)


class Step(StrictModel):
    cmd: NonEmptyStr
    #: guards: the work is done when this path exists / is gone / this command succeeds
    creates: NonEmptyStr | None = None
    removes: NonEmptyStr | None = None
    unless: NonEmptyStr | None = None
    #: false: running it twice may do the work twice, so it is retried only when the operator
    #: says so (``--yes``, or the dashboard's confirmation); unset: retried as ``retries`` say
    idempotent: bool | None = None
    when: Literal["changed"] | None = None
    sudo: bool = False
    user: NonEmptyStr | None = None
    retries: Retries | None = None
    retry_delay: Delay | None = None
    timeout: Seconds | None = None
    env: dict[str, str] = Field(default_factory=dict)
    cwd: NonEmptyStr | None = None

    @field_validator("cmd", "cwd", "user", "creates", "removes", "unless")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        return None if value is None else _reject_nul(value)

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, item in value.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"environment variable name {name!r} is not a valid name")
            _reject_nul(item)
        return value


def _item_kind(value: Any) -> str | None:
    """Which model a ``commands`` entry is: a string, a ``cmd`` table or an ``ensure`` kind."""
    if isinstance(value, str):
        return "step str"
    if isinstance(value, dict):
        return f"ensure {ensure_kind(value)}" if "ensure" in value else "step cmd"
    if isinstance(value, BaseModel):
        return f"ensure {ensure_kind(value)}" if hasattr(value, "ensure") else "step cmd"
    return None


#: One entry of a task's ``commands``: told apart by its shape, so an error speaks of one kind.
CommandItem = Annotated[
    Annotated[CommandStr, Tag("step str")]
    | Annotated[Step, Tag("step cmd")]
    | Annotated[DirStep, Tag("ensure dir")]
    | Annotated[FileStep, Tag("ensure file")]
    | Annotated[LinkStep, Tag("ensure link")]
    | Annotated[LineStep, Tag("ensure line")]
    | Annotated[BlockStep, Tag("ensure block")]
    | Annotated[AbsentStep, Tag("ensure absent")]
    | Annotated[CronStep, Tag("ensure cron")]
    | Annotated[CheckStep, Tag("ensure check")]
    | Annotated[ServiceStep, Tag("ensure service")]
    | Annotated[GitStep, Tag("ensure git")]
    | Annotated[UserStep, Tag("ensure user")]
    | Annotated[GroupStep, Tag("ensure group")]
    | Annotated[PackageStep, Tag("ensure package")]
    | Annotated[UnknownEnsure, Tag("ensure unknown")],
    Discriminator(_item_kind),
]


class Task(StrictModel):
    description: str = ""
    deps: list[NonEmptyStr] = Field(default_factory=list)
    commands: list[CommandItem] = Field(default_factory=list)
    on: NonEmptyStr | list[NonEmptyStr] = LOCAL
    strategy: Literal["parallel", "serial"] = "parallel"
    batch: Annotated[int, Field(ge=1)] | Percent = 1
    timeout: Seconds | None = None
    max_failures: Annotated[int, Field(ge=0)] | Percent = 0
    vars: Vars = Field(default_factory=dict)

    @property
    def targets(self) -> list[str]:
        """``on`` as a list: one name reads better in the file, a list is easier in code."""
        return [self.on] if isinstance(self.on, str) else list(self.on)


class NexusConfig(StrictModel):
    settings: Settings = Field(default_factory=Settings)
    hosts: dict[str, NonEmptyStr | HostTable] = Field(default_factory=dict)
    groups: dict[str, list[NonEmptyStr] | GroupTable] = Field(default_factory=dict)
    tasks: dict[str, Task] = Field(default_factory=dict)
    #: dashboard key remaps: binding id → keys, comma-separated ("retry" = "ctrl+r,r")
    keymap: dict[str, NonEmptyStr] = Field(default_factory=dict)

    @property
    def group_members(self) -> dict[str, list[str]]:
        """Each group's members, whichever form it is written in."""
        return {
            name: group.hosts if isinstance(group, GroupTable) else group
            for name, group in self.groups.items()
        }
