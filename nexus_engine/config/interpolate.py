"""``${env:NAME}``, ``${env:NAME:-default}`` and ``${secret:NAME}`` in string values.

Substitution happens once, on the parsed TOML and before validation, so a value read from the
environment is never itself scanned for references (an attacker-controlled variable cannot pull
in another one). Anything else that starts with ``$`` (``$HOME``, ``${HOME}``, ``$(cmd)``) is
left for the shell that later runs the command. A default runs to the first ``}``, so it cannot
contain one (nor another reference). Secret values, including a secret's default when it is
used, are collected so the rest of Nexus can redact them; problems name the variable, never
its value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nexus_engine.config.errors import KeyPath

#: The start of something meant as a reference; what follows must then be well-formed.
_START = re.compile(r"\$\{(?:env|secret):")
_REFERENCE = re.compile(
    r"\$\{(?P<kind>env|secret):(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
)


@dataclass
class Interpolated:
    """The parsed TOML with references substituted, and what the substitution found."""

    data: Any
    secrets: set[str] = field(default_factory=set)
    #: Path of every substituted string → its text as written (names only, never values).
    templates: dict[KeyPath, str] = field(default_factory=dict)
    problems: list[tuple[KeyPath, str]] = field(default_factory=list)


def interpolate(data: Mapping[str, Any], environ: Mapping[str, str]) -> Interpolated:
    result = Interpolated(data=None)
    result.data = _walk(data, (), environ, result)
    return result


def _walk(value: Any, path: KeyPath, environ: Mapping[str, str], result: Interpolated) -> Any:
    if isinstance(value, str):
        return _string(value, path, environ, result)
    if isinstance(value, dict):
        return {key: _walk(item, (*path, key), environ, result) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, (*path, index), environ, result) for index, item in enumerate(value)]
    return value


def _string(text: str, path: KeyPath, environ: Mapping[str, str], result: Interpolated) -> str:
    if _START.search(text) is None:
        return text
    out: list[str] = []
    position = 0
    for start in _START.finditer(text):
        if start.start() < position:
            continue  # inside a default we already consumed
        match = _REFERENCE.match(text, start.start())
        out.append(text[position : start.start()])
        if match is None:
            result.problems.append((path, _malformed(text, start.start())))
            out.append(start[0])
            position = start.end()
            continue
        out.append(_resolve(match, path, environ, result))
        position = match.end()
    out.append(text[position:])
    result.templates[path] = text
    return "".join(out)


def _resolve(
    match: re.Match[str], path: KeyPath, environ: Mapping[str, str], result: Interpolated
) -> str:
    kind, name, default = match["kind"], match["name"], match["default"]
    value = environ.get(name)
    if value is None and default is None:
        what = "environment variable" if kind == "env" else "secret"
        result.problems.append(
            (path, f"{what} {name!r} is not set (referenced as {match[0]}); export {name}")
        )
        return ""
    resolved = default if value is None else value
    if kind == "secret" and resolved:
        result.secrets.add(resolved)
    return resolved or ""


def _malformed(text: str, start: int) -> str:
    kind = "secret" if text.startswith("${secret:", start) else "env"
    return (
        f"malformed ${{{kind}:…}} reference; write ${{{kind}:NAME}} or ${{{kind}:NAME:-default}}"
        " with NAME made of letters, digits and '_'"
    )
