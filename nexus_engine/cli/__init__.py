"""The ``nexus`` command. Textual is imported only to open the dashboard, never on the headless
path, so scripts and CI start fast."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from nexus_engine.cli.parser import DEFAULT_CONFIG, build_parser
from nexus_engine.config import ConfigError, load_config
from nexus_engine.graph import UnknownTaskError
from nexus_engine.status import EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    config_path = getattr(args, "config", DEFAULT_CONFIG)
    try:
        return dispatch(parser, args, config_path)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return EXIT_USAGE
    except UnknownTaskError as error:
        print(f"nexus: no task named {error.args[0]!r} in {config_path}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # Ctrl-C outside a run (during loading): nothing to record
        return 130


def dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace, config_path: Path) -> int:
    from nexus_engine.cli import inspect, scaffold  # noqa: PLC0415 - keeps start-up lean

    standalone: dict[str | None, Callable[[], int]] = {
        None: lambda: _help(parser),
        "version": inspect.version,
        "completion": lambda: scaffold.completion(parser, args.shell),
        "init": lambda: scaffold.init(args.path),
        "runs": inspect.runs,
        "logs": lambda: inspect.logs(args.run, args.task, args.host, stderr_only=args.stderr),
    }
    if args.command in standalone:
        return standalone[args.command]()
    loaded = load_config(config_path)
    if args.command == "validate":
        return inspect.validate(loaded)
    if args.command == "list":
        return inspect.list_tasks(loaded)
    from nexus_engine.cli.run import run_command  # noqa: PLC0415 - only a run needs the runner

    return run_command(loaded, args)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0
