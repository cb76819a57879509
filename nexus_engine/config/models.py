"""The shape of ``nexus.toml`` as pydantic models.

Every model forbids unknown keys and is strict about types, because a typo in a deploy file
(``timout = 10``) silently ignored is worse than an error. Input values are hidden from pydantic's
own messages so a secret next to a mistake never leaks; ``config.errors`` builds the messages.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

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


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, hide_input_in_errors=True, frozen=True)


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


class HostTable(StrictModel):
    hostname: NonEmptyStr
    user: NonEmptyStr | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    identity: NonEmptyStr | None = None
    password: NonEmptyStr | None = None
    sudo_password: NonEmptyStr | None = None


class Step(StrictModel):
    cmd: NonEmptyStr
    sudo: bool = False
    user: NonEmptyStr | None = None
    retries: Retries | None = None
    retry_delay: Delay | None = None
    timeout: Seconds | None = None
    env: dict[str, str] = Field(default_factory=dict)
    cwd: NonEmptyStr | None = None

    @field_validator("cmd", "cwd", "user")
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


class Task(StrictModel):
    description: str = ""
    deps: list[NonEmptyStr] = Field(default_factory=list)
    commands: list[CommandStr | Step] = Field(default_factory=list)
    on: NonEmptyStr | list[NonEmptyStr] = LOCAL
    strategy: Literal["parallel", "serial"] = "parallel"
    batch: Annotated[int, Field(ge=1)] | Percent = 1
    timeout: Seconds | None = None
    max_failures: Annotated[int, Field(ge=0)] | Percent = 0

    @property
    def targets(self) -> list[str]:
        """``on`` as a list: one name reads better in the file, a list is easier in code."""
        return [self.on] if isinstance(self.on, str) else list(self.on)


class NexusConfig(StrictModel):
    settings: Settings = Field(default_factory=Settings)
    hosts: dict[str, NonEmptyStr | HostTable] = Field(default_factory=dict)
    groups: dict[str, list[NonEmptyStr]] = Field(default_factory=dict)
    tasks: dict[str, Task] = Field(default_factory=dict)
    #: dashboard key remaps: binding id → keys, comma-separated ("retry" = "ctrl+r,r")
    keymap: dict[str, NonEmptyStr] = Field(default_factory=dict)
