"""The mark every process of a step carries: ``NEXUS_STEP_ID=<token>`` in its environment.

The runner makes the token, records it in the step's ``step_started`` event (on disk before the
command is sent), and hands it to the transport, which puts it in the environment of the step's
first process, from where every process of the step inherits it, through sudo too. After a crash
the journal says which tokens were in flight, and ``transports.sweep`` finds their processes by it
(Jenkins' ProcessTreeKiller finds escapees the same way).

A token is 128 random bits in lower-case hex: nobody can guess it before the run to have a
process of theirs swept, and it is a plain word to any shell it is written into.
"""

from __future__ import annotations

import re
import secrets

MARKER = "NEXUS_STEP_ID"
_TOKEN = re.compile(r"[0-9a-f]{16,64}\Z")


def new_step_id() -> str:
    """A fresh token: 32 hex digits."""
    return secrets.token_hex(16)


def check_step_id(token: str) -> str:
    """``token`` if it has the form of one (16 to 64 lower-case hex digits); else ValueError:
    it is about to be written into shell text."""
    if not _TOKEN.match(token):
        raise ValueError(f"not a step token: {token!r}")
    return token
