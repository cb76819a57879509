"""The ``nexus`` command. Textual is imported only to open the dashboard, never on the headless
path, so scripts and CI start fast."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    from nexus_engine.config import ConfigError, LoadedConfig
    from nexus_engine.session import RunRequest


def main(argv: Sequence[str] | None = None) -> int:
    if list(sys.argv[1:] if argv is None else argv) == ["version"]:
        try:  # what scripts ask most: answered before argparse is even imported
            return _version()
        except BrokenPipeError:
            return _reader_left()
    from nexus_cli.parser import DEFAULT_CONFIG, build_parser  # noqa: PLC0415
    from nexus_engine.status import EXIT_USAGE  # noqa: PLC0415

    parser = build_parser()
    args = parser.parse_args(argv)
    config_path = getattr(args, "config", DEFAULT_CONFIG)
    try:
        return dispatch(parser, args, config_path)
    except _user_errors() as error:
        message = _user_message(error, config_path)
        print(message, file=sys.stderr)
        if (fmt := getattr(args, "format", "text")) in ("json", "jsonl"):
            # a script that asked for JSON gets JSON, also when nothing could run
            _print_error_document(error, message, fmt)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C outside a run (during loading): nothing to record
        return 130
    except BrokenPipeError:  # the reader went away (`nexus list | head`): stop, quietly
        return _reader_left()


def _reader_left() -> int:
    """Stop quietly: 141 (128 + SIGPIPE), what shells report for a command its reader left."""
    from nexus_engine.render.terminal import detach_stdout  # noqa: PLC0415

    detach_stdout()
    return 141


def _user_errors() -> tuple[type[Exception], ...]:
    """Errors a user causes, imported only once one is raised: an ``except`` clause evaluates
    its expression then, so ``nexus version`` never pays for pydantic."""
    from nexus_engine.config import ConfigError  # noqa: PLC0415
    from nexus_engine.graph import UnknownTaskError  # noqa: PLC0415
    from nexus_engine.resume.prepare import ResumeRefused  # noqa: PLC0415
    from nexus_engine.selection import SelectionError  # noqa: PLC0415

    return (ConfigError, UnknownTaskError, SelectionError, ResumeRefused)


def _user_message(error: Exception, config_path: Path) -> str:
    from nexus_engine.config import ConfigError  # noqa: PLC0415 - loaded by now anyway
    from nexus_engine.graph import UnknownTaskError  # noqa: PLC0415

    if isinstance(error, UnknownTaskError):  # an unknown task named on the command line
        return f"nexus: no task named {error.args[0]!r} in {config_path}"
    if not isinstance(error, ConfigError):  # a selection that names nothing, a resume refused
        return f"nexus: {error}"
    if isinstance(error, ConfigError) and _missing(error, config_path):
        return f"{error}\n{_how_to_start(config_path)}"
    return str(error)  # a config error: already a full report


def _missing(error: ConfigError, config_path: Path) -> bool:
    return not config_path.exists() and [p.message for p in error.problems] == ["file not found"]


def _how_to_start(config_path: Path) -> str:
    """What someone who typed ``nexus`` in a directory without a config does next."""
    from nexus_cli.parser import DEFAULT_CONFIG  # noqa: PLC0415 - loaded by now anyway

    if config_path == DEFAULT_CONFIG:
        return (
            f"nexus: no {DEFAULT_CONFIG} in this directory. To start, `nexus init` writes a"
            " starter one here; `-c FILE` picks another config file"
        )
    return (
        f"nexus: no config at {config_path}. To start, `nexus init {config_path}` writes a"
        " starter one there; `-c FILE` picks another config file"
    )


def _print_error_document(error: Exception, message: str, fmt: str) -> None:
    """The error as one JSON document on stdout (one line for ``jsonl``): ``errors`` lists
    each problem with its file, line, column, key path and message."""
    import json  # noqa: PLC0415

    from nexus_engine.config import ConfigError  # noqa: PLC0415

    if isinstance(error, ConfigError):
        status = "config_error"
        errors = [problem.as_json() for problem in error.problems]
        said = f"{len(errors)} problem{'s' if len(errors) != 1 else ''} in the config"
    else:  # an unknown task or a host selection, named on the command line
        status, said = "usage_error", message.removeprefix("nexus: ")
        errors = [{"file": None, "line": None, "column": None, "key": None, "message": said}]
    from nexus_engine.status import EXIT_USAGE  # noqa: PLC0415 - loaded by now anyway

    document = {
        "status": status,
        "exit_code": EXIT_USAGE,
        "run_id": None,
        "error": said,
        "errors": errors,
    }
    if fmt == "jsonl":
        print(json.dumps({"event": status, **document}, separators=(",", ":")), flush=True)
    else:
        print(json.dumps(document, indent=2), flush=True)


def dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace, config_path: Path) -> int:
    dashboard = args.command is None and not getattr(args, "headless", False) and _interactive()
    if not dashboard and (status := _standalone(parser, args)) is not None:
        return status
    from nexus_engine.config import load_config  # noqa: PLC0415 - only commands that need it
    from nexus_engine.graph import UnknownTaskError  # noqa: PLC0415

    if args.command == "validate":  # checks what it can without the secrets: CI has none
        loaded = load_config(config_path, unset_as_notes=True, binding_ids=_binding_ids)
    else:
        loaded = load_config(config_path)
    if dashboard:
        return _dashboard(loaded, None)
    if args.command in ("validate", "list"):
        from nexus_cli import inspect  # noqa: PLC0415 - keeps a run's start-up lean

        return (
            inspect.validate(loaded) if args.command == "validate" else inspect.list_tasks(loaded)
        )
    if args.command == "preflight":
        from nexus_cli.preflight import preflight_command  # noqa: PLC0415 - SSH only here

        return preflight_command(loaded, args)
    if args.command == "run" and _wants_dashboard(args):
        if unknown := [task for task in args.tasks if task not in loaded.config.tasks]:
            raise UnknownTaskError(unknown[0])
        if _interactive():
            from nexus_cli.run import request_of  # noqa: PLC0415

            return _dashboard(loaded, request_of(args))
        if not args.quiet:
            print("nexus: not an interactive terminal, so running headless", file=sys.stderr)
    from nexus_cli.run import run_command  # noqa: PLC0415 - only a run needs the runner

    return run_command(loaded, args)


def _standalone(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int | None:
    """The commands that need no config, each importing only what it uses (``version``: its
    own line); None for every other command."""
    if args.command is None:
        return _help(parser)
    if args.command == "version":
        return _version()
    if args.command in ("completion", "init"):
        from nexus_cli import scaffold  # noqa: PLC0415

        init = args.command == "init"
        return scaffold.init(args.path) if init else scaffold.completion(parser, args.shell)
    if args.command in ("runs", "logs"):
        from nexus_cli import inspect  # noqa: PLC0415

        if args.command == "runs":
            return inspect.runs()
        return inspect.logs(
            args.run, args.task, args.host, stderr_only=args.stderr, combined=args.combined
        )
    return None


def _version() -> int:
    from nexus_cli.about import version_line  # noqa: PLC0415 - keeps start-up lean

    print(version_line())
    return 0


def _binding_ids() -> frozenset[str]:
    """The dashboard's key binding ids, for checking a ``[keymap]``: the only reason a command
    other than the dashboard imports it (and Textual), and only when the file has a keymap."""
    from nexus_tui.bindings import KNOWN_IDS  # noqa: PLC0415

    return KNOWN_IDS


def _wants_dashboard(args: argparse.Namespace) -> bool:
    """``nexus run`` opens the dashboard unless told --headless, or asked for JSON or a plan;
    every other option (hosts, login, preflight, parallelism) travels in the same request."""
    return not getattr(args, "headless", False) and not args.dry_run and args.format == "text"


def _interactive() -> bool:
    return sys.stdout.isatty() and sys.stdin.isatty()


def _dashboard(loaded: LoadedConfig, request: RunRequest | None) -> int:
    """The only place the command line imports the dashboard, and only when it opens it.
    ``request``: the run to start at once (None: choose tasks on screen)."""
    from nexus_tui.launch import open_dashboard  # noqa: PLC0415 - Textual only for the dashboard

    return open_dashboard(loaded, request)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0
