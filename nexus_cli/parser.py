"""The ``nexus`` command line, declared once: help, dispatch and shell completion all read it."""

from __future__ import annotations

import argparse
from pathlib import Path

from nexus_engine import __version__

DEFAULT_CONFIG = Path("nexus.toml")


#: ``nexus run``'s on/off options, in the order ``--help`` lists them.
RUN_SWITCHES = (
    ("--dry-run", "print the plan; run nothing"),
    (
        "--check",
        "probe every host read-only and say what ensure steps would change; change nothing",
    ),
    ("--diff", "show file content changes as unified diffs"),
    ("--yes", "retry steps marked idempotent = false as their retries say (else they run once)"),
    ("--preflight", "check every host first; run only if all pass"),
    ("--continue-on-error", "after a failure, independent tasks go on; dependents are skipped"),
)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c",
        "--config",
        type=Path,
        default=argparse.SUPPRESS,
        metavar="FILE",
        help=f"the config file (default: ./{DEFAULT_CONFIG})",
    )
    common.add_argument(
        "--headless",
        action="store_true",
        default=argparse.SUPPRESS,
        help="run without the dashboard, for scripts and CI",
    )

    parser = argparse.ArgumentParser(
        prog="nexus",
        description="Run a DAG of shell tasks on this machine and on SSH hosts. With no command,"
        " on a terminal, open the dashboard.",
        parents=[common],
        epilog="Exit codes: 0 success, 1 a unit failed, 2 usage or config error, 130 interrupted.",
    )
    parser.add_argument("-V", "--version", action="version", version=f"nexus {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    reach = argparse.ArgumentParser(add_help=False)  # how run and preflight reach hosts
    reach.add_argument("tasks", nargs="*", metavar="TASK", help="tasks (default: all)")
    reach.add_argument(
        "--hosts",
        action="append",
        metavar="PATTERN",
        help="only these hosts: globs on host and group names, comma-separated or repeated;"
        " local units are kept unless excluded",
    )
    reach.add_argument(
        "--exclude",
        action="append",
        metavar="PATTERN",
        help="not these hosts (globs on host and group names; 'local' for this machine)",
    )
    reach.add_argument("-u", "--user", metavar="USER", help="log in as USER on every host")
    reach.add_argument(
        "-i", "--identity", metavar="KEY", help="try this private key first on every host"
    )
    reach.add_argument(
        "-K",
        "--ask-sudo-password",
        action="store_true",
        help="ask once for the sudo password of steps that need one (on a terminal)",
    )

    run = commands.add_parser(
        "run",
        parents=[common, reach],
        help="run tasks and what they depend on",
        description="Run the named tasks (all tasks when none is named) and their dependencies.",
    )
    for flag, text in RUN_SWITCHES:
        run.add_argument(flag, action="store_true", help=text)
    run.add_argument(
        "-p", "--parallel", type=_positive, metavar="N", help="at most N units at once"
    )
    run.add_argument(
        "--resume",
        nargs="?",
        const="last",
        metavar="RUN",
        help="carry on a recorded run (default: the last): reuse the units that succeeded, run"
        " the rest from the step that did not finish",
    )
    run.add_argument(
        "--allow-changed",
        action="store_true",
        help="with --resume: go on even though the config or the plan changed since that run",
    )
    loud = run.add_mutually_exclusive_group()
    loud.add_argument("-v", "--verbose", action="count", default=0, help="say more")
    loud.add_argument("-q", "--quiet", action="store_true", help="failures and summary only")
    run.add_argument("--plain", action="store_true", help="no colour, no progress line")
    run.add_argument(
        "--format",
        choices=("text", "json", "jsonl"),
        default="text",
        help="text for people; json: one summary document; jsonl: every event, a line each",
    )

    commands.add_parser(
        "preflight",
        parents=[common, reach],
        help="check that every host the tasks touch can be reached and used",
        description="Per host: TCP reachability, SSH host key and authentication, and"
        " `sudo -n true` where a step needs sudo. Exits 1 if any check fails.",
    )
    commands.add_parser("list", parents=[common], help="list tasks, their hosts and deps")
    commands.add_parser("validate", parents=[common], help="check the config; run nothing")
    init = commands.add_parser("init", help="write a starter nexus.toml")
    init.add_argument("path", nargs="?", type=Path, default=DEFAULT_CONFIG, metavar="PATH")
    commands.add_parser("version", help="print the version")
    completion = commands.add_parser("completion", help="print a shell completion script")
    completion.add_argument("shell", choices=("bash", "zsh", "fish"))
    commands.add_parser("runs", help="list recorded runs, newest first")
    logs = commands.add_parser("logs", help="print a recorded unit's output")
    logs.add_argument("run", metavar="RUN", help="a run id, a unique prefix of one, or 'last'")
    logs.add_argument("--task", help="only this task")
    logs.add_argument("--host", help="only this host")
    shown = logs.add_mutually_exclusive_group()
    shown.add_argument("--stderr", action="store_true", help="only what went to stderr")
    shown.add_argument(
        "--combined",
        action="store_true",
        help="stdout and stderr together on stdout, in the order the bytes arrived",
    )
    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number ≥ 1, got {value}")
    return value


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse exposes sub-parsers only this way
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}
