"""Preflight's answers in words, the same on both faces: what a host's detail cell says, and
the verdict line under the table. Free of the SSH code, so the dashboard can import it before
it ever connects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from nexus_engine import hostrange

if TYPE_CHECKING:
    from nexus_engine.preflight import HostReport

NOTHING_TO_CHECK = "nothing to check: every task runs locally"


def detail(report: HostReport) -> str:
    """Why the host failed, or whom it reached (and how, when through a proxy)."""
    failed = report.failed
    if failed is not None:
        return f"{failed.kind}: {failed.detail}" if failed.kind else failed.detail
    tcp = report.check("tcp")
    if tcp.verdict.value == "n/a":  # reached through a proxy: say so
        return f"{report.where}; tcp {tcp.detail}"
    return report.where


def summary(reports: Sequence[HostReport]) -> str:
    """``preflight: 3 hosts ok``, or how many failed and which, folded into ranges
    (``preflight: 3 of 980 hosts failed: web[007,120-121]``)."""
    if not reports:
        return f"preflight: {NOTHING_TO_CHECK}"
    bad = [report.host for report in reports if not report.ok]
    hosts = f"{len(reports)} host{'' if len(reports) == 1 else 's'}"
    if not bad:
        return f"preflight: {hosts} ok"
    return f"preflight: {len(bad)} of {hosts} failed: {hostrange.text(bad)}"
