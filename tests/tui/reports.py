"""Preflight reports written by hand, for the preflight screen's pilot and snapshot tests."""

from __future__ import annotations

from nexus_engine.preflight import Check, HostReport, Verdict
from nexus_engine.words import Failure


def where(host: str) -> str:
    return f"deploy@{host}.example.com:22"


def passing(host: str, *, sudo: bool = False) -> HostReport:
    return HostReport(
        host,
        where(host),
        (
            Check(host, "tcp", Verdict.PASSED, f"{host}.example.com:22 answers"),
            Check(host, "ssh", Verdict.PASSED, f"logged in to {where(host)}"),
            Check(host, "sudo", Verdict.PASSED, "sudo works as root")
            if sudo
            else Check(host, "sudo", Verdict.NOT_APPLICABLE, "no step needs sudo"),
        ),
    )


def failing(host: str) -> HostReport:
    """The password (or key) was refused."""
    return HostReport(
        host,
        where(host),
        (
            Check(host, "tcp", Verdict.PASSED, f"{host}.example.com:22 answers"),
            Check(
                host,
                "ssh",
                Verdict.FAILED,
                f"authentication failed for {where(host)}",
                kind=Failure.AUTH_FAILED,
            ),
            Check(host, "sudo", Verdict.SKIPPED, "not tried: ssh failed"),
        ),
    )


def unreachable(host: str) -> HostReport:
    return HostReport(
        host,
        where(host),
        (
            Check(
                host,
                "tcp",
                Verdict.FAILED,
                f"connection refused by {host}.example.com:22: nothing listens there",
                kind=Failure.UNREACHABLE,
            ),
            Check(host, "ssh", Verdict.SKIPPED, "not tried: tcp failed"),
            Check(host, "sudo", Verdict.SKIPPED, "not tried: tcp failed"),
        ),
    )
