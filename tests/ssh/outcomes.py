"""How a host's unit ended, in one word, as the fault-mix test and the fleet benchmark both read
Nexus's JSON: what each kind of faulty host must come out as. Free of pytest, so the
benchmarks import it too."""

from __future__ import annotations

SUCCEEDED = "succeeded"
HANDSHAKE_TIMEOUT = "handshake timeout"
CONNECTION_REFUSED = "connection refused"
AUTH_FAILED = "auth failed"


def outcome(status: str, error: str | None, reason: str | None) -> str:
    """One word for how a host's unit ended; anything unexpected in full, so that a failed
    comparison shows what happened instead."""
    if (status, error) == ("succeeded", None):
        return SUCCEEDED
    if (status, error) == ("failed", "unreachable"):
        if "did not complete the SSH handshake" in (reason or ""):
            return HANDSHAKE_TIMEOUT
        if "connection refused" in (reason or ""):
            return CONNECTION_REFUSED
    if (status, error) == ("failed", "auth_failed"):
        return AUTH_FAILED
    return f"{status} ({error}): {reason}"
