"""The words every face shares: output streams, kinds of failure, a glyph per status, and how
a duration reads. Kept apart from the transports and the renderers that use them, so the
dashboard, the text and JSON faces and the transports speak one vocabulary without importing
each other."""

from __future__ import annotations

from enum import StrEnum

from nexus_engine.status import UnitStatus


class Failure(StrEnum):
    """Why a command could not run or finish, beyond its own exit status: the words a face
    shows per host, and the field JSON consumers match on."""

    START_FAILED = "start_failed"
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth_failed"
    HOST_KEY_UNKNOWN = "host_key_unknown"
    HOST_KEY_CHANGED = "host_key_changed"
    HOST_KEY_REVOKED = "host_key_revoked"
    CONNECTION_LOST = "connection_lost"
    SUDO_PASSWORD_REQUIRED = "sudo_password_required"  # noqa: S105 - a kind, not a password
    SUDO_AUTH_FAILED = "sudo_auth_failed"
    SUDO_PROMPT_TIMEOUT = "sudo_prompt_timeout"
    KILL_UNVERIFIED = "kill_unverified"


class Stream(StrEnum):
    STDOUT = "stdout"
    STDERR = "stderr"


#: One glyph per status, in text output and on the dashboard alike.
GLYPHS = {
    UnitStatus.SUCCEEDED: "✓",
    UnitStatus.FAILED: "✗",
    UnitStatus.TIMED_OUT: "⏱",
    UnitStatus.INTERRUPTED: "■",
    UnitStatus.SKIPPED: "↷",
    UnitStatus.NOT_RUN: "·",
    UnitStatus.RUNNING: "▶",
    UnitStatus.RETRY_WAIT: "↻",
    UnitStatus.AWAITING_DECISION: "?",
    UnitStatus.PENDING: "·",
    UnitStatus.PARTIAL: "◐",
}


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if round(seconds, 1) < 60:  # 59.97 would print as "60.0s"
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def size_text(count: float) -> str:
    """Bytes as a person reads them: ``312 bytes``, ``4.0 MiB``, ``1.0 GiB``."""
    for unit in ("bytes", "KiB", "MiB"):
        if count < 1024:
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GiB"
