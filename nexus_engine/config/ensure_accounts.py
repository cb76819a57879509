"""``ensure`` models of accounts: ``user`` and ``group``.

A name is checked as Debian's ``useradd`` and ``groupadd`` check it by default (their relaxed
rule: not empty, no leading ``-``, ``+`` or ``~``, no ``:``, ``,`` or white space, at most 32
bytes), so a name the tools would refuse is a config error on its line rather than a failed
step on every host; control characters and line separators, which Debian lets through, are
refused too: they would split the account's line in what the probe reads back. A name
holding ``${var:…}`` is checked around its references here, and in full once the unit's value
is filled in (:func:`account_problem`, by the step itself).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from nexus_engine.config.ensure_base import VAR_REFERENCE, StepBase, text

#: Debian's ``useradd``: ``^[^-~+:,\s][^:,\s]*$`` (``\s`` being C's ``isspace``), ≤ 32 bytes.
_ACCOUNT = re.compile(r"[^-~+:,\s\x00][^:,\s\x00]*", re.ASCII)
NAME_BYTES = 32
#: The largest id ``useradd`` gives (``(uid_t) -1`` means "no one").
MAX_ID = 2**32 - 2


def account_problem(name: str, *, length: bool = True) -> str | None:
    """Why ``useradd``/``groupadd`` would refuse ``name`` (None: they take it); ``length``
    False leaves out the length, for a name whose variables are not filled in yet."""
    if not _ACCOUNT.fullmatch(name):
        return "must not be empty, start with '-', '+' or '~', nor hold ':', ',' or white space"
    if breaks(name):
        return "must not hold control characters or line separators"
    if length and len(name.encode()) > NAME_BYTES:
        return f"must be at most {NAME_BYTES} bytes long"
    return None


def _account(value: str) -> str:
    filled = VAR_REFERENCE.sub("x", value)
    problem = account_problem(filled, length=filled == value)
    if problem is not None:
        raise ValueError(problem)
    return value


def breaks(value: str) -> bool:
    """Whether ``value`` holds a control character or a line or paragraph separator."""
    return any(unicodedata.category(char) in ("Cc", "Zl", "Zp") for char in value)


def passwd_problem(value: str) -> str | None:
    """Why ``value`` cannot be a ``home`` or ``shell``: an absolute path that fits one field
    of ``/etc/passwd``; None when it can."""
    if not value.startswith("/"):
        return "must be an absolute path on the host"
    if ":" in value or breaks(value):
        return "must hold no ':', control characters or line breaks (a field of /etc/passwd)"
    return None


def _passwd_field(value: str) -> str:
    text(value)
    problem = passwd_problem(VAR_REFERENCE.sub("/x", value))
    if problem is not None:
        raise ValueError(problem)
    return value


AccountName = Annotated[str, AfterValidator(_account)]
PasswdPath = Annotated[str, Field(min_length=1), AfterValidator(_passwd_field)]
AccountId = Annotated[int, Field(ge=0, le=MAX_ID)]


class UserStep(StepBase):
    """A local account: created with ``useradd``, changed with ``usermod`` (one command with
    every option that differs), removed with ``userdel``."""

    ensure: Literal["user"]
    name: AccountName
    uid: AccountId | None = None
    group: AccountName | None = None  # the primary group: a name, or a number (its gid)
    groups: list[AccountName] | None = None  # supplementary groups
    append: bool = True  # False: exactly ``groups``, leaving any other
    shell: PasswdPath | None = None
    home: PasswdPath | None = None
    system: bool = False  # only when it is created: ``useradd --system``
    state: Literal["present", "absent"] = "present"

    @model_validator(mode="after")
    def _absent_takes_only_its_name(self) -> UserStep:
        if self.state == "absent":
            given = [key for key in _USER_KEYS if key in self.model_fields_set]
            if given:
                raise ValueError(f"an absent user takes only its name (got {', '.join(given)})")
        if "append" in self.model_fields_set and self.groups is None:
            raise ValueError("append says how to treat groups: give groups too")
        return self


_USER_KEYS = ("uid", "group", "groups", "append", "shell", "home", "system")


class GroupStep(StepBase):
    """A local group: ``groupadd``, ``groupmod``, ``groupdel``."""

    ensure: Literal["group"]
    name: AccountName
    gid: AccountId | None = None
    system: bool = False  # only when it is created: ``groupadd --system``
    state: Literal["present", "absent"] = "present"

    @model_validator(mode="after")
    def _absent_takes_only_its_name(self) -> GroupStep:
        given = [key for key in ("gid", "system") if key in self.model_fields_set]
        if self.state == "absent" and given:
            raise ValueError(f"an absent group takes only its name (got {', '.join(given)})")
        return self
