"""``ensure`` model of packages: ``package``.

Names and versions are checked against what the package managers take (Debian policy's
``[a-z0-9][a-z0-9+.-]+``, widened to what rpm and apk names hold: capitals and ``_``), never a
leading ``-`` (an option to the tool) and never a trailing ``-`` (``apt-get install name-``
removes ``name``), and nothing a manager reads as a pattern (``*``, ``?``, ``[``). A name or
version holding ``${var:…}`` is checked around its references here and in full once the
unit's value is filled in (:func:`package_problem`, by the step itself).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Discriminator, Field, Tag, model_validator

from nexus_engine.config.ensure_base import VAR_REFERENCE, StepBase

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_+.-]*(?<!-)")
#: Debian's ``[epoch:]upstream[-revision]``, rpm's ``version-release`` (``~``, ``^``, ``_``),
#: apk's ``1.2.3-r0``: what they are made of, starting with a letter or digit.
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+~^_:-]*")
#: The longest name or version taken: far above any real one, and a bound for the probe.
LONGEST = 200


def package_problem(value: str, *, version: bool = False) -> str | None:
    """Why no package manager takes ``value`` as a name (or a ``version``); None: fine."""
    pattern = _VERSION if version else _NAME
    if len(value) > LONGEST:
        return f"must be at most {LONGEST} characters long"
    if pattern.fullmatch(value) is None:
        if version:
            return "must start with a letter or digit and hold only letters, digits and .+~^_:-"
        return (
            "must start with a letter, digit or '_', hold only letters, digits and _+.- and "
            "not end with '-'"
        )
    return None


def _checked(*, version: bool) -> AfterValidator:
    def check(value: str) -> str:
        problem = package_problem(VAR_REFERENCE.sub("x", value), version=version)
        if problem is not None:
            raise ValueError(problem)
        return value

    return AfterValidator(check)


PackageName = Annotated[str, _checked(version=False)]
PackageVersion = Annotated[str, _checked(version=True)]


def _one_or_many(value: Any) -> str:
    """A list is names; anything else is checked as one name (so a mistake gets one message)."""
    return "many" if isinstance(value, list) else "one"


def _some(names: list[str]) -> list[str]:
    if not names:
        raise ValueError("give at least one package name")
    return names


PackageNames = Annotated[
    Annotated[PackageName, Tag("one")]
    | Annotated[list[PackageName], AfterValidator(_some), Tag("many")],
    Discriminator(_one_or_many),
]


class PackageStep(StepBase):
    """Packages installed (at a ``version``, or the newest the host's lists know: ``latest``)
    or removed, by the host's own package manager (apt, dnf, yum or apk), in one command."""

    ensure: Literal["package"]
    name: PackageNames
    state: Literal["present", "absent", "latest"] = "present"
    version: PackageVersion | None = None
    #: seconds: lists older than this are refreshed before anything is installed
    cache_valid: Annotated[int, Field(ge=0)] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name,) if isinstance(self.name, str) else tuple(self.name)

    @model_validator(mode="after")
    def _consistent(self) -> PackageStep:
        if self.version is not None:
            if not isinstance(self.name, str) and len(self.name) != 1:
                raise ValueError("version goes with one name, not a list of several")
            if self.state != "present":
                raise ValueError(f'version goes with state = "present", not {self.state!r}')
        if self.cache_valid is not None and self.state == "absent":
            raise ValueError('cache_valid refreshes lists to install from: not with "absent"')
        return self
