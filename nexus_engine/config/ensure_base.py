"""What every ``ensure`` kind's model is built from: the checked kinds of text, and the keys
every step shares. A module of its own so that each family of kinds (files here in
``ensure``, accounts, packages, services, git) keeps its models in a module of its own.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

#: A reference to a unit's variable: resolved per host when the plan is built.
VAR_REFERENCE = re.compile(r"\$\{var:(?P<name>[A-Za-z_][A-Za-z0-9_]*)\}")
_MODE = re.compile(r"^[0-7]{3,4}$")


def text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL byte")
    return value


def _absolute(value: str) -> str:
    text(value)
    if not value.startswith("/") and not value.startswith("${var:"):
        raise ValueError(f"must be an absolute path on the host, such as '/{value}'")
    return value


def _mode(value: str) -> str:
    if not _MODE.match(value):
        raise ValueError("expected an octal mode of 3 or 4 digits, such as '0644'")
    return value


Text = Annotated[str, AfterValidator(text)]
Name = Annotated[str, Field(min_length=1), AfterValidator(text)]
HostPath = Annotated[str, Field(min_length=1), AfterValidator(_absolute)]
Mode = Annotated[str, AfterValidator(_mode)]


class StepBase(BaseModel):
    """What every kind shares: as whom, and how often and how long to try."""

    model_config = ConfigDict(
        extra="forbid", strict=True, hide_input_in_errors=True, frozen=True, defer_build=True
    )

    sudo: bool = False
    user: Name | None = None
    retries: Annotated[int, Field(ge=0, le=1000)] | None = None
    retry_delay: Annotated[float, Field(ge=0, le=7 * 24 * 3600, allow_inf_nan=False)] | None = None
    timeout: Annotated[float, Field(gt=0, le=7 * 24 * 3600, allow_inf_nan=False)] | None = None
    when: Literal["changed"] | None = None


class EnsureBase(StepBase):
    """What every kind about a path shares: the path."""

    path: HostPath


def _one_line(value: str) -> str:
    text(value)
    if "\n" in value or "\r" in value:
        raise ValueError("must be one line")
    return value


Line = Annotated[str, Field(min_length=1), AfterValidator(_one_line)]
