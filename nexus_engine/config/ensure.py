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

#: The kinds this version knows, in the order the README documents them.
KINDS = ("dir", "file", "link", "line", "block", "absent")
#: A reference to a unit's variable: resolved per host when the plan is built.
VAR_REFERENCE = re.compile(r"\$\{var:(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}")
_MODE = re.compile(r"^[0-7]{3,4}$")


def _text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL byte")
    return value


def _absolute(value: str) -> str:
    _text(value)
    if not value.startswith("/") and not value.startswith("${var:"):
        raise ValueError(f"must be an absolute path on the host, such as '/{value}'")
    return value


def _mode(value: str) -> str:
    if not _MODE.match(value):
        raise ValueError("expected an octal mode of 3 or 4 digits, such as '0644'")
    return value


Text = Annotated[str, AfterValidator(_text)]
Name = Annotated[str, Field(min_length=1), AfterValidator(_text)]
HostPath = Annotated[str, Field(min_length=1), AfterValidator(_absolute)]
Mode = Annotated[str, AfterValidator(_mode)]


class EnsureBase(BaseModel):
    """What every kind shares: where, as whom, and how often and how long to try."""

    model_config = ConfigDict(extra="forbid", strict=True, hide_input_in_errors=True, frozen=True)

    path: HostPath
    sudo: bool = False
    user: Name | None = None
    retries: Annotated[int, Field(ge=0, le=1000)] | None = None
    retry_delay: Annotated[float, Field(ge=0, le=7 * 24 * 3600, allow_inf_nan=False)] | None = None
    timeout: Annotated[float, Field(gt=0, le=7 * 24 * 3600, allow_inf_nan=False)] | None = None
    when: Literal["changed"] | None = None


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


class UnknownEnsure(BaseModel):
    """A table whose ``ensure`` names no kind: reported on that key, with the kinds there are."""

    model_config = ConfigDict(extra="allow", strict=True, hide_input_in_errors=True)

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


AnyEnsure = DirStep | FileStep | LinkStep | LineStep | BlockStep | AbsentStep
