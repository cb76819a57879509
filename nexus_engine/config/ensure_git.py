"""``ensure = "git"``: a clone of a repository at a version, as ``nexus.toml`` writes it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from nexus_engine.config.ensure_base import HostPath, Name, StepBase


def _not_an_option(value: str) -> str:
    if value.startswith("-"):
        raise ValueError("must not start with '-' (git would read it as an option)")
    return value


class GitStep(StepBase):
    """``dest`` holds a clone of ``repo`` (its ``origin``) with ``version`` checked out: a
    branch, a tag or a commit id; by default the branch the remote's HEAD names. ``force``
    discards local changes to tracked files; untracked files are never touched."""

    ensure: Literal["git"]
    repo: Annotated[Name, AfterValidator(_not_an_option)]
    dest: HostPath
    version: Annotated[Name, AfterValidator(_not_an_option)] | None = None
    depth: Annotated[int, Field(ge=1)] | None = None
    force: bool = False
