"""The ``nexus`` command. Textual is imported only to open the dashboard, never on the headless
path, so scripts and CI start fast."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from nexus_cli.parser import DEFAULT_CONFIG, build_parser
from nexus_engine.render.terminal import detach_stdout
from nexus_engine.status import EXIT_USAGE

if TYPE_CHECKING:
    from nexus_engine.config import LoadedConfig
    from nexus_engine.session import RunRequest


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    config_path = getattr(args, "config", DEFAULT_CONFIG)
    try:
        return dispatch(parser, args, config_path)
    except _user_errors() as error:
        print(_user_message(error, config_path), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C outside a run (during loading): nothing to record
        return 130
    except BrokenPipeError:  # the reader went away (`nexus list | head`): stop, quietly
        detach_stdout()
        return 141  # 128 + SIGPIPE, what shells report for a command its reader left


def _user_errors() -> tuple[type[Exception], ...]:
    """Errors a user causes, imported only once one is raised: an ``except`` clause evaluates
    its expression then, so ``nexus version`` never pays for pydantic and networkx."""
    from nexus_engine.config import ConfigError  # noqa: PLC0415
    from nexus_engine.graph import UnknownTaskError  # noqa: PLC0415
    from nexus_engine.selection import SelectionError  # noqa: PLC0415

    return (ConfigError, UnknownTaskError, SelectionError)


def _user_message(error: Exception, config_path: Path) -> str:
    from nexus_engine.graph import UnknownTaskError  # noqa: PLC0415 - loaded by now anyway

    if isinstance(error, UnknownTaskError):  # an unknown task named on the command line
        return f"nexus: no task named {error.args[0]!r} in {config_path}"
    if isinstance(error, ValueError):  # a host selection that names nothing, or too little
        return f"nexus: {error}"
    return str(error)  # a config error: already a full report


def dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace, config_path: Path) -> int:
    from nexus_cli import inspect, scaffold  # noqa: PLC0415 - keeps start-up lean

    standalone: dict[str | None, Callable[[], int]] = {
        None: lambda: _help(parser),
        "version": inspect.version,
        "completion": lambda: scaffold.completion(parser, args.shell),
        "init": lambda: scaffold.init(args.path),
        "runs": inspect.runs,
        "logs": lambda: inspect.logs(args.run, args.task, args.host, stderr_only=args.stderr),
    }
    dashboard = args.command is None and not getattr(args, "headless", False) and _interactive()
    if args.command in standalone and not dashboard:
        return standalone[args.command]()
    from nexus_engine.config import load_config  # noqa: PLC0415 - only commands that need it
    from nexus_engine.graph import UnknownTaskError  # noqa: PLC0415

    loaded = load_config(config_path)
    if dashboard:
        return _dashboard(loaded, None)
    configured: dict[str, Callable[[], int]] = {
        "validate": lambda: inspect.validate(loaded),
        "list": lambda: inspect.list_tasks(loaded),
        "preflight": lambda: _preflight(loaded, args),
    }
    if args.command in configured:
        return configured[args.command]()
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


def _preflight(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    from nexus_cli.preflight import preflight_command  # noqa: PLC0415 - SSH only here

    return preflight_command(loaded, args)


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
