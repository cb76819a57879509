"""Hostile ``${env:…}``/``${secret:…}`` values, and the quoting contexts a user may write around
a reference: what the local and SSH interpolation tests share.

One step prints the value from every context, the pieces separated by NUL (which no value can
hold), so one example costs one command on each transport. A value that ran as a command would
create the canary file, or change what ``printf %s`` gives back.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

from hypothesis import strategies as st

from nexus_engine.config import LoadedConfig, load_config
from nexus_engine.plan import build_plan
from nexus_engine.steps import StepPlan
from nexus_engine.transports.base import CommandSpec

#: Created only if a value ran as a command (the SSH lab's hosts are this machine too).
CANARY = Path(f"/tmp/nexus-injected-{secrets.token_hex(6)}")

#: (context, the command text around a reference to V, what it prints for a value)
CONTEXTS: tuple[tuple[str, str, Callable[[str], str]], ...] = (
    ("bare", "printf %s ${env:V}", lambda v: v),
    ("double quotes", 'printf %s "<${env:V}>"', lambda v: f"<{v}>"),
    ("single quotes", "printf %s '<${env:V}>'", lambda v: f"<{v}>"),
    ("here-document", "cat <<EOF\n${env:V}\nEOF", lambda v: f"{v}\n"),
    ("after =", 'X=${env:V}; printf %s "$X"', lambda v: v),
    # a command substitution drops trailing newlines, whatever it expands
    ("in $(…)", 'printf %s "$(printf %s ${env:V})"', lambda v: v.rstrip("\n")),
    ("secret", "printf %s ${secret:S}", lambda v: v),
)

_PIECES = [
    ";",
    "&&",
    "|",
    f"$(touch {CANARY})",
    f"`touch {CANARY}`",
    f"; touch {CANARY}",
    f"'; touch {CANARY}; '",
    f'"; touch {CANARY}; "',
    f"\nEOF\ntouch {CANARY}\n",
    "'",
    '"',
    "\\",
    "\n",
    "*",
    "-n",
    "-",
    "$V",
    "${V}",
    "}",
    "é☃",
    " ",
]

#: Hostile strings: the pieces above mixed with any text (no NUL: no environment can hold it).
HOSTILE = st.lists(
    st.sampled_from(_PIECES)
    | st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), max_size=8),
    max_size=6,
).map("".join)


def command() -> str:
    """Every context, one after another, each piece followed by a NUL."""
    return "\n".join(f"{text}\nprintf '\\000'" for _, text, _ in CONTEXTS)


def expected(value: str) -> bytes:
    return b"".join(shape(value).encode() + b"\0" for _, _, shape in CONTEXTS)


def the_step(tmp_path: Path, value: str) -> tuple[LoadedConfig, StepPlan]:
    """The step of a config whose command is :func:`command`, with V and S set to ``value``."""
    path = tmp_path / "nexus.toml"
    body = command().replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    path.write_text(f'[tasks.t]\ncommands = ["{body}"]\n', encoding="utf-8")
    loaded = load_config(path, environ={"V": value, "S": value})
    (unit,) = build_plan(loaded).units
    (step,) = unit.steps
    return loaded, step


def spec_of(step: StepPlan) -> CommandSpec:
    """The spec the runner builds for a step."""
    return CommandSpec(command=step.cmd, env=dict(step.env), private=step.private, timeout=30)
