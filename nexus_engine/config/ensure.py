"""``ensure`` steps as written in ``nexus.toml``: one model per kind, told apart by ``ensure``.

A kind's parameters are checked here as far as the file alone allows (types, an octal mode, an
absolute path, exactly one source of content); what needs the disk or a host's variables (a
``source`` that exists, a template that parses, a ``${var:…}`` that is defined) is checked when
the config is loaded and when the plan is built, still before anything connects.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from nexus_engine.config.ensure_accounts import GroupStep, UserStep
from nexus_engine.config.ensure_base import (
    VAR_REFERENCE,
    EnsureBase,
    HostPath,
    Line,
    Mode,
    Name,
    StepBase,
    Text,
)
from nexus_engine.config.ensure_git import GitStep
from nexus_engine.config.ensure_packages import PackageStep
from nexus_engine.config.ensure_services import ServiceStep

__all__ = ["VAR_REFERENCE", "EnsureBase", "HostPath", "StepBase"]

#: The kinds this version knows, in the order the README documents them.
KINDS = (
    "dir",
    "file",
    "link",
    "line",
    "block",
    "absent",
    "cron",
    "check",
    "service",
    "git",
    "user",
    "group",
    "package",
)


class Owned(EnsureBase):
    mode: Mode | None = None
    owner: Name | None = None
    group: Name | None = None


class DirStep(Owned):
    ensure: Literal["dir"]
    parents: bool = True


class FileStep(Owned):
    ensure: Literal["file"]
    content: Text | None = None
    source: Name | None = None  # a file on this machine, relative to the nexus.toml
    template: Name | None = None  # a Jinja2 template on this machine, likewise
    backup: bool = False
    #: a command run on the new file before it replaces the old one; ``%s`` is its path
    validate_cmd: Name | None = Field(default=None, alias="validate")

    model_config = ConfigDict(
        extra="forbid", strict=True, hide_input_in_errors=True, frozen=True, populate_by_name=True
    )

    @model_validator(mode="after")
    def _one_source(self) -> FileStep:
        given = [key for key in ("content", "source", "template") if getattr(self, key) is not None]
        if len(given) != 1:
            named = " and ".join(given) if given else "none of them"
            raise ValueError(f"give exactly one of content, source or template (got {named})")
        return self

    @field_validator("validate_cmd")
    @classmethod
    def _validate_has_path(cls, value: str | None) -> str | None:
        if value is not None and "%s" not in value.replace("%%", ""):
            raise ValueError("must name the new file as %s, such as 'nginx -t -c %s'")
        return value


class LinkStep(EnsureBase):
    ensure: Literal["link"]
    to: Name


class LineStep(EnsureBase):
    ensure: Literal["line"]
    line: Text
    regexp: Name | None = None  # the line to replace (or remove) matches this
    state: Literal["present", "absent"] = "present"

    @field_validator("regexp")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"not a valid regular expression: {error}") from None
        return value

    @field_validator("line")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value:
            raise ValueError("must be one line; use a block step for several")
        return value


class BlockStep(EnsureBase):
    ensure: Literal["block"]
    text: Text = ""
    #: the lines around the block, ``{mark}`` standing for BEGIN and END
    marker: Name = "# {mark} NEXUS MANAGED BLOCK"
    state: Literal["present", "absent"] = "present"

    @field_validator("marker")
    @classmethod
    def _has_mark(cls, value: str) -> str:
        if "{mark}" not in value or "\n" in value:
            raise ValueError("must be one line holding {mark}, such as '# {mark} app settings'")
        return value


class AbsentStep(EnsureBase):
    ensure: Literal["absent"]


#: ``special`` schedules ``cron`` knows, as crontab(5) spells them.
CronSpecial = Literal[
    "@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"
]
#: Each schedule field of ``cron`` and the numbers it takes.
CRON_FIELDS = {
    "minute": (0, 59),
    "hour": (0, 23),
    "day": (1, 31),
    "month": (1, 12),
    "weekday": (0, 7),  # 0 and 7 are both Sunday
}
_CRON_ITEM = re.compile(r"^(?:\*|(?P<low>[0-9]+)(?:-(?P<high>[0-9]+))?)(?:/(?P<step>[0-9]+))?$")


def cron_field(value: str, low: int, high: int) -> str:
    """``value`` as crontab(5) takes it, its numbers between ``low`` and ``high``: ``*``, a
    number, a range ``a-b``, each with an optional step ``/n``, or a comma-separated list."""
    for item in value.split(","):
        found = _CRON_ITEM.match(item)
        if found is None:
            raise ValueError(
                f"{value!r} is not a cron field: expected *, a number, a range such as 1-5, a "
                "step such as */5, or a list of them separated by commas"
            )
        numbers = [int(found[key]) for key in ("low", "high") if found[key] is not None]
        for number in numbers:
            if not low <= number <= high:
                raise ValueError(f"{number} is out of range: expected {low} to {high}")
        if len(numbers) == 2 and numbers[0] > numbers[1]:
            raise ValueError(f"the range {item!r} runs backwards")
        if found["step"] is not None and int(found["step"]) == 0:
            raise ValueError("a step of 0 never comes")
    return value


def _cron_validator(name: str) -> AfterValidator:
    low, high = CRON_FIELDS[name]
    return AfterValidator(lambda value: cron_field(value, low, high))


class CronStep(StepBase):
    """An entry of the crontab of the user the step runs as, found by the comment above it
    that carries its name (``#nexus: NAME``)."""

    ensure: Literal["cron"]
    name: Line
    minute: Annotated[str, _cron_validator("minute")] = "*"
    hour: Annotated[str, _cron_validator("hour")] = "*"
    day: Annotated[str, _cron_validator("day")] = "*"
    month: Annotated[str, _cron_validator("month")] = "*"
    weekday: Annotated[str, _cron_validator("weekday")] = "*"
    special: CronSpecial | None = None
    job: Line | None = None
    state: Literal["present", "absent"] = "present"

    @model_validator(mode="after")
    def _schedule(self) -> CronStep:
        if self.special is not None:
            fields = [key for key in CRON_FIELDS if getattr(self, key) != "*"]
            if fields:
                raise ValueError(f"give either special or {' and '.join(fields)}, not both")
        if self.state == "present" and self.job is None:
            raise ValueError("a present cron entry needs a job")
        return self


class CheckStep(StepBase):
    """A state the operator's own commands test and make: ``check`` exits 0 when it holds,
    ``apply`` makes it hold."""

    ensure: Literal["check"]
    check: Name
    apply: Name


class UnknownEnsure(BaseModel):
    """A table whose ``ensure`` names no kind: reported on that key, with the kinds there are."""

    model_config = ConfigDict(
        extra="allow", strict=True, hide_input_in_errors=True, defer_build=True
    )

    ensure: Any

    @field_validator("ensure")
    @classmethod
    def _known(cls, value: Any) -> Any:
        kinds = ", ".join(KINDS)
        given = repr(value) if isinstance(value, str) else "that is not a string"
        raise ValueError(f"unknown kind {given}; expected one of {kinds}")


def ensure_kind(value: Any) -> str:
    """The tag of an ``ensure`` table: its kind, or ``"unknown"``."""
    kind = value.get("ensure") if isinstance(value, dict) else getattr(value, "ensure", None)
    return kind if isinstance(kind, str) and kind in KINDS else "unknown"


AnyEnsure = (
    DirStep
    | FileStep
    | LinkStep
    | LineStep
    | BlockStep
    | AbsentStep
    | CronStep
    | CheckStep
    | ServiceStep
    | GitStep
    | UserStep
    | GroupStep
    | PackageStep
)
