"""pydantic validation errors → messages a user can act on without reading the models.

pydantic's own text says "Input should be a valid integer" at ``('tasks', 'a', 'batch',
'constrained-int')`` and, for a union, one error per member. Here each error becomes the key
path as written in the file, what was expected ("an integer ≥ 1") and what was given, and a
union reports only the member that matches the kind of value given. A value is shown only when
it cannot be a secret: never under a password-like key, never after ``${…}`` substitution,
never when it contains a resolved secret.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import types
import typing
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from nexus_engine.config.errors import SECRET_KEY, KeyPath, PathPart
from nexus_engine.config.models import PERCENT_PATTERN, WEEK, NexusConfig

_EXPECTED_TYPE = {
    "int_type": "an integer",
    "float_type": "a number",
    "finite_number": "a finite number",
    "string_type": "a string",
    "bool_type": "true or false",
    "list_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}
_COMPARISON = {
    "greater_than": ("gt", ">"),
    "greater_than_equal": ("ge", "≥"),
    "less_than": ("lt", "<"),
    "less_than_equal": ("le", "≤"),
}
#: Values shown by kind only; datetime before date, as it is a subclass.
_KINDS: tuple[tuple[type, str], ...] = (
    (dict, "a table"),
    (list, "an array"),
    (dt.datetime, "a date-time"),
    (dt.date, "a date"),
    (dt.time, "a time"),
)
_HINTS = 100
#: Longer strings are not echoed: a long value is more likely a pasted token than a typo.
_SHOWN_STRING_LENGTH = 40


@dataclass(frozen=True)
class _Located:
    """A validation error, where it sits in the key tree, and which union member it came from."""

    path: KeyPath
    #: Where a union was entered (a prefix of ``path``) and which member this error is from.
    site: KeyPath | None
    member: str | None
    error: ErrorDetails


def explain(
    error: ValidationError,
    data: Any,
    templates: Mapping[KeyPath, str],
    secrets: Collection[str],
    model: type[BaseModel] = NexusConfig,
) -> list[tuple[KeyPath, str]]:
    """One (key path, message) per real problem, in pydantic's order."""
    located = [_locate(item, data) for item in error.errors(include_url=False)]
    describer = _Describer(data, templates, secrets)
    unions: dict[KeyPath, list[_Located]] = {}
    for item in located:
        if item.site is not None:
            unions.setdefault(item.site, []).append(item)
    out: list[tuple[KeyPath, str]] = []
    for item in located:
        if item.site is None:
            out.append((item.path, _message(item, model, describer)))
        elif item.site in unions:
            out.extend(_union(unions.pop(item.site), item.site, model, describer))
    return out


def _locate(error: ErrorDetails, data: Any) -> _Located:
    """Drop union member tags from ``loc`` by walking it along the data it describes."""
    path: list[PathPart] = []
    site: KeyPath | None = None
    member: str | None = None
    node = data
    loc = error["loc"]
    for number, part in enumerate(loc):
        if _has(node, part):
            node = node[part]
        elif number == len(loc) - 1 and error["type"] == "missing":
            node = None  # the missing key itself
        else:
            if site is None and isinstance(part, str):
                site, member = tuple(path), part
            continue
        path.append(part)
    return _Located(tuple(path), site, member, error)


def _has(node: Any, part: PathPart) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _union(
    errors: list[_Located], site: KeyPath, model: type[BaseModel], describer: _Describer
) -> list[tuple[KeyPath, str]]:
    """Keep the members that accepted the kind of value given; if none did, say what would."""
    members: dict[str | None, list[_Located]] = {}
    for item in errors:
        members.setdefault(item.member, []).append(item)
    matching = [
        items
        for items in members.values()
        if not all(i.path == site and i.error["type"] in _EXPECTED_TYPE for i in items)
    ]
    if matching:
        return [(i.path, _message(i, model, describer)) for items in matching for i in items]
    kinds = list(dict.fromkeys(_EXPECTED_TYPE[i.error["type"]] for i in errors))
    return [(site, f"expected {_either(kinds)}, got {describer.describe(site)}")]


def _either(words: list[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return " or ".join([", ".join(words[:-1]), words[-1]]) if len(words) > 1 else "".join(words)


def _message(item: _Located, model: type[BaseModel], describer: _Describer) -> str:
    kind, ctx, path = item.error["type"], item.error.get("ctx", {}), item.path
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        name = str(path[-1]) if path else ""
        return "unknown key" + describer.hint(name, lambda: _field_names(model, path[:-1]))
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    if kind == "union_tag_not_found":
        return f"expected a string or a table, got {describer.describe(path)}"
    expected = _expected(kind, ctx, _leaf_types(model, path))
    if expected is None:
        return str(item.error["msg"])
    message = f"expected {expected}, got {describer.describe(path)}"
    given = describer.value(path)
    if kind == "literal_error" and isinstance(given, str):
        message += describer.hint(given, lambda: _choices(ctx))
    return message


def _expected(kind: str, ctx: dict[str, Any], leaf_types: list[Any]) -> str | None:
    """What the key wants, in words, or None for an error type this module does not know."""
    expected: str | None = _EXPECTED_TYPE.get(kind)
    if kind in _COMPARISON:
        key, sign = _COMPARISON[kind]
        noun = "an integer" if int in leaf_types else "a number"
        expected = f"{noun} {sign} {_number(ctx.get(key))}"
        if ctx.get(key) == WEEK:
            expected += " (a week, in seconds: the longest wait a run honours)"
    elif kind == "string_too_short":
        size = ctx.get("min_length", 1)
        expected = "a non-empty string" if size == 1 else f"a string of at least {size} characters"
    elif kind == "string_pattern_mismatch":
        pattern = ctx.get("pattern")
        expected = (
            "a percentage from 0% to 100%, such as '25%'"
            if pattern == PERCENT_PATTERN
            else f"a string matching {pattern}"
        )
    elif kind == "literal_error":
        expected = _either([repr(choice) for choice in _choices(ctx)])
    return expected


def _choices(ctx: dict[str, Any]) -> list[str]:
    return re.findall(r"'([^']*)'", str(ctx.get("expected", "")))


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _did_you_mean(name: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Describer:
    """Says what a value is ("the string 'ten'", "-1", "a table") without leaking secrets."""

    def __init__(
        self, data: Any, templates: Mapping[KeyPath, str], secrets: Collection[str]
    ) -> None:
        self._data = data
        self._templates = templates
        self._secrets = [secret for secret in secrets if secret]
        self._hints_left = _HINTS

    def hint(self, name: str, choices: Callable[[], Sequence[str]]) -> str:
        """A "did you mean" for the first few errors only: each costs a difflib pass, and a
        generated file with 100 000 typos must not take minutes to reject."""
        if self._hints_left <= 0:
            return ""
        self._hints_left -= 1
        return _did_you_mean(name, choices())

    def value(self, path: KeyPath) -> Any:
        node = self._data
        try:
            for part in path:
                node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
        return node

    def describe(self, path: KeyPath) -> str:
        value = self.value(path)
        if isinstance(value, str):
            return self._describe_string(path, value)
        if _secret_named(path):
            return "a value"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return repr(value)
        return next((text for kind, text in _KINDS if isinstance(value, kind)), "a value")

    def _describe_string(self, path: KeyPath, value: str) -> str:
        template = self._templates.get(path)
        if template is not None:
            source = "" if self._leaks(path, template) else f" (from {template!r})"
            return f"an empty string{source}" if not value else f"a string{source}"
        if not value:
            return "an empty string"
        if self._leaks(path, value) or len(value) > _SHOWN_STRING_LENGTH:
            return "a string"
        return f"the string {value!r}"

    def _leaks(self, path: KeyPath, text: str) -> bool:
        return _secret_named(path) or any(secret in text for secret in self._secrets)


def _secret_named(path: KeyPath) -> bool:
    return any(isinstance(part, str) and SECRET_KEY.search(part) for part in path)


def _field_names(model: type[BaseModel], path: KeyPath) -> list[str]:
    return [
        name
        for kind in _types_at(model, path)
        if isinstance(kind, type) and issubclass(kind, BaseModel)
        for name in kind.model_fields
    ]


def _leaf_types(model: type[BaseModel], path: KeyPath) -> list[Any]:
    return [_strip(kind) for kind in _types_at(model, path)]


def _types_at(model: type[BaseModel], path: KeyPath) -> list[Any]:
    """The declared types a key path can hold, following models, dicts, lists and unions."""
    current: list[Any] = [model]
    for part in path:
        current = [child for kind in current for child in _children(kind, part)]
    return [member for kind in current for member in _members(kind)]


def _children(kind: Any, part: PathPart) -> list[Any]:
    found: list[Any] = []
    for member in _members(kind):
        origin, args = typing.get_origin(member), typing.get_args(member)
        if isinstance(member, type) and issubclass(member, BaseModel):
            field = member.model_fields.get(part) if isinstance(part, str) else None
            found += [] if field is None else [field.annotation]
        elif origin is dict and isinstance(part, str):
            found.append(args[1])
        elif origin is list and isinstance(part, int):
            found.append(args[0])
    return found


def _members(kind: Any) -> list[Any]:
    """A union's members (flattened), with ``Annotated`` metadata removed."""
    kind = _strip(kind)
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return [member for arg in typing.get_args(kind) for member in _members(arg)]
    return [kind]


def _strip(kind: Any) -> Any:
    while typing.get_origin(kind) is typing.Annotated:
        kind = typing.get_args(kind)[0]
    return kind
