"""``${env:NAME}``, ``${env:NAME:-default}`` and ``${secret:NAME}`` in string values.

Substitution happens once, on the parsed TOML and before validation, so a value read from the
environment is never itself scanned for references (an attacker-controlled variable cannot pull
in another one). Anything else that starts with ``$`` (``$HOME``, ``${HOME}``, ``$(cmd)``) is
left for the shell that later runs the command.

A step's command is the exception: a value is never pasted into shell text. There the reference
becomes a quoted expansion of an environment variable that carries the value
(:mod:`~nexus_engine.config.shellsplice`), so ``VERSION='1; touch /tmp/p'`` stays one word; the
value with the reference substituted is kept only as what the operator is shown.

A default runs to the first ``}``, so it cannot contain one (nor another reference). Secret
values, including a secret's default when it is used, are collected so the rest of Nexus can
redact them; problems name the variable, never its value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nexus_engine.config.errors import KeyPath
from nexus_engine.config.shellsplice import Span, SpliceError, splice

#: The start of something meant as a reference; what follows must then be well-formed.
_START = re.compile(r"\$\{(?:env|secret|var):")
_REFERENCE = re.compile(
    r"\$\{(?P<kind>env|secret|var):(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"
)
#: The keys of a step that hold shell text: a reference there travels as a variable.
COMMAND_KEYS = ("cmd", "unless", "validate", "check", "apply")


@dataclass(frozen=True, slots=True)
class ShellCommand:
    """A step's command whose references were made safe: ``text`` is what runs, ``env`` the
    variables that carry the values, ``shown`` the command with the values substituted, the
    form an operator reads (secrets are masked from it wherever it is shown)."""

    text: str
    shown: str
    env: tuple[tuple[str, str], ...]
    #: ``${var:NAME}`` references: the variable carrying each, and the unit variable it holds
    #: (known only per host, so ``shown`` still says ``${var:NAME}`` until the plan fills it)
    vars: tuple[tuple[str, str], ...] = ()


@dataclass
class Interpolated:
    """The parsed TOML with references substituted, and what the substitution found."""

    data: Any
    secrets: set[str] = field(default_factory=set)
    #: Path of every substituted string → its text as written (names only, never values).
    templates: dict[KeyPath, str] = field(default_factory=dict)
    problems: list[tuple[KeyPath, str]] = field(default_factory=list)
    #: ``(task, step index, key)`` → its shell text, for each that held a reference.
    commands: dict[tuple[str, int, str], ShellCommand] = field(default_factory=dict)
    #: Leniently (for ``nexus validate``): unset references, kept apart from ``problems``.
    unset: list[tuple[KeyPath, str]] = field(default_factory=list)
    lenient: bool = False


#: What an unset reference stands for when it is only noted: a plain word that a host name,
#: a user or a command accepts, so the rest of the file is still checked around it.
UNSET_PLACEHOLDER = "unset"


def interpolate(
    data: Mapping[str, Any], environ: Mapping[str, str], *, lenient: bool = False
) -> Interpolated:
    """``lenient``: a reference to a variable that is not set is a note in ``unset`` and
    stands for :data:`UNSET_PLACEHOLDER`, rather than a problem: for checking a file where
    the secrets are not at hand (CI), never for a run."""
    result = Interpolated(data=None, lenient=lenient)
    result.data = _walk(data, (), environ, result)
    return result


def _walk(value: Any, path: KeyPath, environ: Mapping[str, str], result: Interpolated) -> Any:
    if isinstance(value, str):
        if _is_command(path):
            return _command(value, path, environ, result)
        return _string(value, path, environ, result)
    if isinstance(value, dict):
        walked = {key: _walk(item, (*path, key), environ, result) for key, item in value.items()}
        if _is_command((*path, "cmd")):
            _check_clash(walked, path, result)
        return walked
    if isinstance(value, list):
        return [_walk(item, (*path, index), environ, result) for index, item in enumerate(value)]
    return value


def _is_command(path: KeyPath) -> bool:
    """``tasks.T.commands[i]`` in its short string form, or shell text in its table (``cmd``,
    ``unless``, a file's ``validate``)."""
    if len(path) < 4 or path[0] != "tasks" or path[2] != "commands":
        return False
    return len(path) == 4 or (len(path) == 5 and path[4] in COMMAND_KEYS)


def _command_key(path: KeyPath) -> tuple[str, int, str]:
    return (str(path[1]), int(path[3]), str(path[4]) if len(path) == 5 else "cmd")


def _string(text: str, path: KeyPath, environ: Mapping[str, str], result: Interpolated) -> str:
    return _substitute(text, path, environ, result)[0]


def _substitute(
    text: str, path: KeyPath, environ: Mapping[str, str], result: Interpolated
) -> tuple[str, list[tuple[re.Match[str], str]]]:
    """``text`` with its references resolved, and each well-formed reference with its value."""
    if _START.search(text) is None:
        return text, []
    out: list[str] = []
    found: list[tuple[re.Match[str], str]] = []
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
        value = _resolve(match, path, environ, result)
        found.append((match, value))
        out.append(value)
        position = match.end()
    out.append(text[position:])
    result.templates[path] = text
    return "".join(out), found


def _command(text: str, path: KeyPath, environ: Mapping[str, str], result: Interpolated) -> str:
    """The command as it will run: each reference an expansion of a variable named for it
    (``NEXUS_ENV_NAME``, ``NEXUS_SECRET_NAME``), the values recorded beside it."""
    shown, found = _substitute(text, path, environ, result)
    if not found:
        return shown
    variables: dict[str, str] = {}
    unit_vars: dict[str, str] = {}
    spans = []
    for match, value in found:
        name = _variable(match, value, variables)
        if match["kind"] == "var":
            unit_vars[name] = match["name"]
        else:
            variables[name] = value
        spans.append(Span(match.start(), match.end(), name))
    try:
        safe = splice(text, spans)
    except SpliceError as error:
        result.problems.append((path, str(error)))
        return shown
    result.commands[_command_key(path)] = ShellCommand(
        safe, shown, tuple(sorted(variables.items())), tuple(sorted(unit_vars.items()))
    )
    return safe


def _check_clash(step: Mapping[str, Any], path: KeyPath, result: Interpolated) -> None:
    """A step's own ``env`` may not reuse a name that carries one of its references."""
    command = result.commands.get((str(path[1]), int(path[3]), "cmd"))
    env = step.get("env")
    if command is None or not isinstance(env, dict):
        return
    for name, _ in (*command.env, *command.vars):
        if name in env:
            result.problems.append(
                ((*path, "env", name), f"{name} carries a ${{…}} reference of cmd; rename it")
            )


def _variable(match: re.Match[str], value: str, taken: Mapping[str, str]) -> str:
    """``NEXUS_ENV_VERSION`` for ``${env:VERSION}``; a second reference to the same name that
    resolved differently (another default) gets ``_2``, and so on."""
    base = f"NEXUS_{match['kind'].upper()}_{match['name']}"
    name, number = base, 1
    while name in taken and taken[name] != value:
        number += 1
        name = f"{base}_{number}"
    return name


def _resolve(
    match: re.Match[str], path: KeyPath, environ: Mapping[str, str], result: Interpolated
) -> str:
    kind, name, default = match["kind"], match["name"], match["default"]
    if kind == "var":
        if default is not None:
            result.problems.append(
                (path, f"${{var:{name}}} takes no default; set it in a vars table")
            )
        return match[0]  # the unit's variable: filled in per host when the plan is built
    value = environ.get(name)
    if value is None and default is None:
        what = "environment variable" if kind == "env" else "secret"
        problem = (path, f"{what} {name!r} is not set (referenced as {match[0]}); export {name}")
        if result.lenient:
            result.unset.append(problem)
            return UNSET_PLACEHOLDER
        result.problems.append(problem)
        return ""
    resolved = default if value is None else value
    if kind == "secret" and resolved:
        result.secrets.add(resolved)
    return resolved or ""


def _malformed(text: str, start: int) -> str:
    kind = next(
        k for k in ("secret", "var", "env") if text.startswith(f"${{{k}:", start) or k == "env"
    )
    if kind == "var":
        return (
            "malformed ${var:…} reference; write ${var:NAME} with NAME made of letters,"
            " digits and '_'"
        )
    return (
        f"malformed ${{{kind}:…}} reference; write ${{{kind}:NAME}} or ${{{kind}:NAME:-default}}"
        " with NAME made of letters, digits and '_'"
    )
