"""A fleet for the dashboard's fleet tests: twelve web hosts, run on this machine.

The hosts are named as SSH hosts are, but every unit runs through the local transport, so a
test sees a real run of many hosts (real processes, real events, the journal) without an SSH
server. Each step knows its host from ``$NEXUS_HOST``; web04 and web09 fail their deploy,
web07 its smoke test (and web04's and web09's smoke tests are skipped: their deploy failed).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from nexus_engine.config import LoadedConfig
from nexus_engine.plan import UnitKey, build_plan
from nexus_engine.scheduler import FailurePolicy
from nexus_engine.session import start_session
from nexus_engine.transports.local import LocalTransport
from nexus_tui.app import NexusApp
from nexus_tui.source import LiveRun
from tests.tui.conftest import Project

WEB = [f"web{number:02d}" for number in range(1, 13)]
HOSTS = "\n".join(f'{host} = "{host}.example.com"' for host in WEB)
FLEET = f"""
[settings]
parallel_limit = 12
fold_ignore = ["pid [0-9]+"]

[hosts]
{HOSTS}

[groups]
web = {WEB!r}

[tasks.prepare]
commands = ["echo prepared"]

[tasks.deploy]
deps = ["prepare"]
on = "web"
commands = [
    '''echo "deploying to $NEXUS_HOST as pid $$"
    case $NEXUS_HOST in web04|web09) echo "disk full on $NEXUS_HOST" >&2; exit 3;; esac
    echo deployed''',
]

[tasks.smoke]
deps = ["deploy"]
on = "web"
commands = ['test "$NEXUS_HOST" != web07 || exit 1']
"""
FAILED = [UnitKey("deploy", "web04"), UnitKey("deploy", "web09"), UnitKey("smoke", "web07")]


def start_fleet(loaded: LoadedConfig, tasks: Sequence[str], policy: FailurePolicy) -> LiveRun:
    """A run of ``tasks`` with every unit on this machine."""
    plan = build_plan(loaded, tasks)
    local = LocalTransport()
    session = start_session(
        loaded, plan, policy=policy, transport_for=lambda unit: local, targets=tuple(tasks)
    )
    return LiveRun(session, plan)


def fleet_app(
    project: Project, policy: FailurePolicy = FailurePolicy.CONTINUE, **options: Any
) -> NexusApp:
    """The dashboard over the fleet, running every task at once."""
    loaded = project.config(FLEET)
    return NexusApp(
        build_plan(loaded),
        partial(start_fleet, loaded, policy=policy),
        autostart=["smoke"],
        fold_ignore=loaded.config.settings.fold_ignore,
        **options,
    )
