"""``nexus preflight``: check every host the selected tasks touch, print a table, exit 1 on any
failure. ``nexus run --preflight`` uses the same checks and the same table (on stderr) to refuse
a run that would fail on a host before it changes anything."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TextIO

from nexus_cli.prompt import terminal_ask
from nexus_cli.run import request_of
from nexus_engine.config import LoadedConfig
from nexus_engine.connections import warnings
from nexus_engine.preflight import HostReport, Verdict, all_ok
from nexus_engine.render.preflight import NOTHING_TO_CHECK, summary
from nexus_engine.render.preflight import detail as detail_of
from nexus_engine.render.terminal import paint, printable, table, wants_colour
from nexus_engine.session import check_hosts

_CELLS = {
    Verdict.PASSED: ("✓ ok", "32"),
    Verdict.FAILED: ("✗ failed", "31"),
    Verdict.SKIPPED: ("skipped", "33"),
    Verdict.NOT_APPLICABLE: ("-", "2"),
}


def preflight_command(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    """0 when every check passes (or there is nothing to check), 1 when one fails; usage
    errors (an unknown task, a selection naming nothing) are raised for ``main`` to report."""
    request = request_of(args, ask=terminal_ask())
    plan = request.plan(loaded)
    for warning in warnings(loaded.config):
        print(f"nexus: warning: {warning}", file=sys.stderr)
    reports = asyncio.run(check_hosts(loaded, plan, request))
    if not reports:
        print(NOTHING_TO_CHECK)
        return 0
    print_reports(reports, sys.stdout)
    return 0 if all_ok(reports) else 1


def print_reports(reports: list[HostReport], out: TextIO) -> None:
    """One row per host: a verdict per check, then why it failed (or whom it reached)."""
    colour = wants_colour(out, plain=False)
    header = ["HOST", "TCP", "SSH", "SUDO", "DETAIL"]
    rows, bare = [header], [header]
    for report in reports:
        cells = [_CELLS[report.check(name).verdict] for name in ("tcp", "ssh", "sudo")]
        detail = printable(detail_of(report))
        bare.append([report.host, *(text for text, _ in cells), detail])
        rows.append([report.host, *(paint(text, code, colour) for text, code in cells), detail])
    for line in table(rows, bare):
        print(line, file=out)
    print(summary(reports), file=out)
