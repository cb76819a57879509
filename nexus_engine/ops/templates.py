"""``template`` files: Jinja2 in a sandbox, every variable required, nothing escaped.

A template is parsed once when the config is loaded (a syntax error is a config error with the
template's own file and line) and rendered per unit when the plan is built, before anything
connects: an undefined variable names the template file and line too. The sandbox keeps a
template from reaching Python internals; ``StrictUndefined`` makes a typo an error rather
than an empty string in a deployed config file.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment


class TemplateProblem(Exception):
    """A template that cannot be parsed or rendered: ``line`` is in the template's file."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        super().__init__(message)
        self.path, self.line, self.message = path, line, message


@functools.cache
def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,  # config files, not HTML
        keep_trailing_newline=True,
    )


@functools.cache
def _parsed(path: Path) -> Any:
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TemplateProblem(path, None, f"cannot read the template: {error}") from None
    try:
        return _environment().from_string(source)
    except TemplateSyntaxError as error:
        raise TemplateProblem(
            path, error.lineno, f"template syntax error: {error.message}"
        ) from None


def check(path: Path) -> None:
    """Parse ``path``; raises TemplateProblem."""
    _parsed(path)


def render(path: Path, variables: Mapping[str, Any]) -> str:
    """``path`` rendered with ``variables``; raises TemplateProblem naming the line."""
    template = _parsed(path)
    try:
        return str(template.render(variables))
    except TemplateError as error:
        raise TemplateProblem(path, _line_of(error), f"{type(error).__name__}: {error}") from None


def _line_of(error: BaseException) -> int | None:
    """The template line an error was raised on, from the traceback Jinja2 rewrote for it."""
    trace = error.__traceback__
    line = None
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == "<template>":
            line = trace.tb_lineno
        trace = trace.tb_next
    return line
