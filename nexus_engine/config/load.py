"""``nexus.toml`` → a validated, resolved config, or one ConfigError listing every problem.

The stages run in order (read → decode → parse → substitute → validate → cross-check) and each
later stage only adds problems about keys an earlier stage has not already complained about,
so one mistake reads as one message. Nothing but ConfigError leaves ``load_config``: a traceback
for a typo in a deploy file is a bug.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from nexus_engine.config.errors import ConfigError, ConfigProblem, KeyPath, format_path
from nexus_engine.config.explain import explain
from nexus_engine.config.interpolate import ShellCommand, interpolate
from nexus_engine.config.locate import SourceIndex
from nexus_engine.config.models import NexusConfig
from nexus_engine.config.stepcheck import check_steps
from nexus_engine.config.validate import check, check_keymap

#: tomllib's docs advise a limit; no real task file comes near it.
MAX_CONFIG_BYTES = 10 * 1024 * 1024
#: A generated file can hold 100 000 mistakes; nobody reads past the first screenful.
MAX_PROBLEMS = 100
_BOM = "\ufeff"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_TOO_DEEP = "arrays or tables are nested too deeply"
_TOML_POSITION = re.compile(r"^(?P<message>.*) \(at line (?P<line>\d+), column (?P<col>\d+)\)$")
_TOML_END = re.compile(r"^(?P<message>.*) \(at end of document\)$")
#: Secrets shorter than this are not scrubbed from messages: replacing every "a" would ruin
#: them. Messages never quote substituted values anyway; this pass is a second line of defence.
_MIN_SCRUBBED_SECRET = 4


@dataclass(frozen=True)
class LoadedConfig:
    """A validated nexus.toml and what loading it resolved: its secrets, its spliced commands."""

    path: Path
    config: NexusConfig
    #: Resolved ``${secret:…}`` values (non-empty), for the redactor.
    secrets: frozenset[str]
    #: ``(task, step index)`` → the step's command whose references travel as variables.
    commands: Mapping[tuple[str, int, str], ShellCommand] = field(default_factory=dict)
    #: What is worth knowing but no error: with ``unset_as_notes``, every ``${env:…}`` or
    #: ``${secret:…}`` that is not set. Such a config is for checking, never for running.
    notes: tuple[ConfigProblem, ...] = ()


def load_config(
    path: Path,
    environ: Mapping[str, str] | None = None,
    *,
    unset_as_notes: bool = False,
    binding_ids: Callable[[], Collection[str]] | None = None,
) -> LoadedConfig:
    """``unset_as_notes``: a reference to a variable that is not set is a note (in
    ``LoadedConfig.notes``) instead of an error, and the rest of the file is checked with a
    placeholder in its place: for ``nexus validate`` in CI, where the secrets are not at hand.
    ``binding_ids``: the dashboard's key binding ids, asked for only when the file has a
    ``[keymap]``; each id there must be one of them."""
    environ = os.environ if environ is None else environ
    label = str(path)
    text = _decode(_read(path, label), label)
    data = _parse(text, label)
    try:
        resolved = interpolate(data, environ, lenient=unset_as_notes)
    except RecursionError:  # tomllib's own limit depends on the stack depth we were called at
        raise _single(label, _TOO_DEEP) from None
    stages: list[list[tuple[KeyPath, str]]] = [resolved.problems]
    config: NexusConfig | None = None
    try:
        config = NexusConfig.model_validate(resolved.data)
    except ValidationError as error:
        stages.append(explain(error, resolved.data, resolved.templates, resolved.secrets))
    stages.append(check(resolved.data, Path(label).name or label))
    if config is not None and not any(stages):
        stages.append(check_steps(config, path.parent, resolved.commands))
    keymap = resolved.data.get("keymap")
    if binding_ids is not None and isinstance(keymap, dict) and keymap:
        stages.append(check_keymap(keymap, binding_ids()))
    # A value that is only noted as unset says nothing about its key: what the placeholder
    # makes of it there is no finding of its own.
    findings = _merge([resolved.unset, *stages])[len(resolved.unset) :]
    if config is None and not findings:
        # pydantic said no without saying why, or only about a placeholder's key
        findings = _merge(stages) or [((), "the config is not valid")]
    if findings or config is None:
        problems = _located(label, text, findings)
        if len(problems) > MAX_PROBLEMS:
            more = len(problems) - MAX_PROBLEMS
            problems = problems[:MAX_PROBLEMS]
            problems.append(ConfigProblem(label, None, None, "", f"… and {more} more problems"))
        raise ConfigError(_scrub(problems, resolved.secrets))
    return LoadedConfig(
        path=path,
        config=config,
        secrets=frozenset(resolved.secrets),
        commands=resolved.commands,
        notes=tuple(_located(label, text, resolved.unset)) if resolved.unset else (),
    )


def _located(label: str, text: str, findings: list[tuple[KeyPath, str]]) -> list[ConfigProblem]:
    index = SourceIndex(text)
    return _sorted([_problem(label, index, key, message) for key, message in findings])


def _read(path: Path, label: str) -> bytes:
    try:
        with path.open("rb") as handle:
            # Read one byte past the cap rather than trust stat(): /dev/zero has size 0.
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise _single(label, "file not found") from None
    except IsADirectoryError:
        raise _single(label, "is a directory, not a config file") from None
    except OSError as error:
        raise _single(label, f"cannot read: {error.strerror or error}") from None
    if len(data) > MAX_CONFIG_BYTES:
        limit = MAX_CONFIG_BYTES // (1024 * 1024)
        raise _single(label, f"file is larger than {limit} MiB; is this really a nexus.toml?")
    return data


def _decode(data: bytes, label: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        byte = data[error.start]
        message = f"not valid UTF-8: byte 0x{byte:02x} at offset {error.start}"
        if data.startswith(_UTF16_BOMS):
            message += "; the file looks like UTF-16, save it as UTF-8"
        raise ConfigError([ConfigProblem(label, line, column, "", message)]) from None
    return text.removeprefix(_BOM)


def _parse(text: str, label: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([_syntax_problem(label, text, str(error))]) from None
    except RecursionError:
        raise _single(label, _TOO_DEEP) from None


def _syntax_problem(label: str, text: str, raw: str) -> ConfigProblem:
    lines = text.split("\n")
    match = _TOML_POSITION.match(raw)
    if match is not None:
        line, column, message = int(match["line"]), int(match["col"]), match["message"]
    elif (end := _TOML_END.match(raw)) is not None:
        line, column, message = len(lines), len(lines[-1]) + 1, end["message"]
    else:
        return ConfigProblem(label, None, None, "", f"TOML syntax error: {raw}")
    source = lines[line - 1].rstrip("\r") if 0 < line <= len(lines) else ""
    return ConfigProblem(label, line, column, "", message, source=source)


def _merge(stages: Sequence[list[tuple[KeyPath, str]]]) -> list[tuple[KeyPath, str]]:
    """Drop a finding when an earlier stage already reported its key or a table around it."""
    kept: list[tuple[KeyPath, str]] = []
    for stage in stages:
        earlier = {key for key, _ in kept}
        kept += [
            (key, message)
            for key, message in stage
            if not any(key[:end] in earlier for end in range(len(key) + 1))
        ]
    return kept


def _problem(label: str, index: SourceIndex, key: KeyPath, message: str) -> ConfigProblem:
    position = index.find(key)
    line, column = position if position is not None else (None, None)
    return ConfigProblem(label, line, column, format_path(key), message)


def _sorted(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    """In file order, which is how a user fixes them; problems without a line come last."""
    return sorted(
        problems,
        key=lambda p: (p.line is None, p.line or 0, p.column or 0),
    )


def _scrub(problems: list[ConfigProblem], secrets: set[str]) -> list[ConfigProblem]:
    long_secrets = sorted((s for s in secrets if len(s) >= _MIN_SCRUBBED_SECRET), key=len)
    if not long_secrets:
        return problems

    def clean(text: str) -> str:
        for secret in reversed(long_secrets):
            text = text.replace(secret, "***")
        return text

    return [
        ConfigProblem(p.file, p.line, p.column, clean(p.key), clean(p.message), p.source)
        for p in problems
    ]


def _single(label: str, message: str) -> ConfigError:
    return ConfigError([ConfigProblem(label, None, None, "", message)])
