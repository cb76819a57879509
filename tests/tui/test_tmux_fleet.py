"""End to end: the fleet keys of the real ``nexus`` dashboard in a real terminal (tmux).

Three web hosts no one can reach (a closed port on this machine: refused at once) and a local
task whose step fails: four failures, each waiting for a decision. ``n`` visits each failed
unit once and wraps round, ``F`` narrows the host table to the failed hosts, ``g`` folds the
three alike into one group, and ``q`` then ``y`` quits, cancelling the run.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from tests.tmux import DEADLINE, NEXUS, Tmux

HOSTS = "\n".join(f'web0{n} = {{ hostname = "127.0.0.1", port = 1 }}' for n in (1, 2, 3))
CONFIG = f"""
[settings]
connect_timeout = 5

[hosts]
{HOSTS}

[groups]
web = ["web01", "web02", "web03"]

[tasks.build]
commands = ["echo built"]

[tasks.lint]
commands = ["echo 'style error in main.c' >&2; exit 3"]

[tasks.deploy]
deps = ["build"]
on = "web"
commands = ["echo deployed"]
"""
FAILED = {"lint@local", "deploy@web01", "deploy@web02", "deploy@web03"}
LOG_TITLE = re.compile(r"╭─ (\S+@\S+) ─")


def shown_unit(tmux: Tmux, other_than: str | None = None) -> str:
    """The unit whose log is shown, once it is not ``other_than``."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        found = LOG_TITLE.search(tmux.screen())
        if found is not None and found[1] != other_than:
            return found[1]
        time.sleep(0.05)
    pytest.fail(f"the log did not move on from {other_than}:\n{tmux.screen()}")


@pytest.mark.e2e
def test_the_fleet_keys_jump_filter_and_group_in_a_real_terminal(
    tmux: Tmux, tmp_path: Path
) -> None:
    config = tmp_path / "nexus.toml"
    config.write_text(CONFIG)
    command = f"'{NEXUS}' -c '{config}' run; echo \"EXIT=$?\"; sleep 60"
    tmux("new-session", "-d", "-s", "nexus", "-x", "120", "-y", "30", "-c", str(tmp_path), command)

    screen = tmux.wait_for("? 4 waiting")
    assert "✓ 1  ✗ 4" in screen  # build succeeded; counts per state in the header

    first = shown_unit(tmux)
    visited = [first]
    for _ in range(4):
        tmux("send-keys", "-t", "nexus", "n")
        visited.append(shown_unit(tmux, other_than=visited[-1]))
    assert set(visited) == FAILED
    assert visited[-1] == first  # four failures: the fourth press wraps round
    while not visited[-1].startswith("deploy@"):
        tmux("send-keys", "-t", "nexus", "n")
        visited.append(shown_unit(tmux, other_than=visited[-1]))

    tmux("send-keys", "-t", "nexus", "F")
    screen = tmux.wait_for("only ✗ failed")
    assert all(f"? waiting    web0{n}" in screen for n in (1, 2, 3))

    tmux("send-keys", "-t", "nexus", "g")
    screen = tmux.wait_for("╭─ web[01-03] (3) ─")  # the group's output, in the log pane
    assert "│ grouped" in screen
    assert re.search(r"✗ failed +3 hosts +failed: unrea", screen)

    tmux("send-keys", "-t", "nexus", "g", "F", "F", "F", "F", "F", "F")  # back to all hosts
    screen = tmux.wait_for("? waiting    web01")
    assert "grouped" not in screen
    assert "only" not in screen

    tmux("send-keys", "-t", "nexus", "q")
    tmux.wait_for("Quit and cancel the run?")
    tmux("send-keys", "-t", "nexus", "y")
    screen = tmux.wait_for("EXIT=")
    assert "EXIT=0" not in screen
