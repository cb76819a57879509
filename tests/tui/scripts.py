"""Scripted runs for snapshot and unit tests: a deploy-shaped DAG and events at fixed times.

The config names SSH hosts, which is fine: nothing here runs, the events are written by hand.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from nexus_engine import events as ev
from nexus_engine.config import LoadedConfig
from nexus_engine.config.models import NexusConfig
from nexus_engine.plan import Plan, build_plan
from nexus_engine.status import RunStatus, UnitStatus
from nexus_engine.words import Stream

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
RUN_ID = "20260101-000000-c0ffee"
JOURNAL = f"/home/ops/.local/state/nexus/runs/{RUN_ID}"
S = UnitStatus

DEPLOY = """
[hosts]
web1 = "web1.example.com"
web2 = "web2.example.com"
web3 = "web3.example.com"
db1 = "db1.example.com"

[groups]
web = ["web1", "web2", "web3"]

[tasks.fetch]
commands = ["git fetch"]

[tasks.build]
deps = ["fetch"]
commands = ["make"]

[tasks.lint]
deps = ["fetch"]
commands = ["make lint"]

[tasks.migrate]
deps = ["build"]
on = "db1"
commands = ["migrate up"]

[tasks.deploy]
deps = ["build", "lint"]
on = "web"
commands = ["ship", "restart"]

[tasks.smoke]
deps = ["deploy", "migrate"]
on = "web"
commands = ["curl -f localhost"]
"""


def deploy_config() -> LoadedConfig:
    config = NexusConfig.model_validate(tomllib.loads(DEPLOY))
    return LoadedConfig(path=Path("nexus.toml"), config=config, secrets=frozenset())


def deploy_plan() -> Plan:
    return build_plan(deploy_config())


class Script:
    """Events with increasing ``seq``; ``at`` sets the clock (seconds after T0)."""

    def __init__(self) -> None:
        self.seq = 0
        self.now = 0.0
        self.events: list[ev.Event] = []

    def at(self, seconds: float) -> Script:
        self.now = seconds
        return self

    def add(self, kind: type[ev.Event], **fields: Any) -> Script:
        self.seq += 1
        self.events.append(kind(run_id=RUN_ID, seq=self.seq, time=T0 + self.now, **fields))
        return self

    def start(self, units: int) -> Script:
        tasks = ("fetch", "build", "lint", "migrate", "deploy", "smoke")
        return self.add(
            ev.RunStarted,
            config_path="nexus.toml",
            tasks=tasks,
            unit_count=units,
            parallel_limit=10,
            journal_dir=JOURNAL,
        )

    def unit(self, task: str, host: str, command: str = "run", step: int = 0) -> Script:
        if step == 0:
            self.add(ev.UnitStarted, task=task, host=host)
        return self.add(ev.StepStarted, task=task, host=host, step=step, attempt=1, command=command)

    def out(self, task: str, host: str, data: bytes, err: bool = False) -> Script:
        stream = Stream.STDERR if err else Stream.STDOUT
        return self.add(
            ev.OutputReceived, task=task, host=host, step=0, attempt=1, stream=stream, data=data
        )

    def done(
        self, task: str, host: str, status: UnitStatus = S.SUCCEEDED, code: int | None = 0
    ) -> Script:
        reason = None if status is S.SUCCEEDED else f"exit status {code}"
        self.add(
            ev.StepFinished, task=task, host=host, step=0, attempt=1, status=status,
            exit_code=code, signal=None, duration=1.0, reason=reason,
        )  # fmt: skip
        if status is S.SUCCEEDED:
            return self.add(
                ev.UnitFinished, task=task, host=host, status=status, attempts=1,
                exit_code=code, duration=self.now - self._started(task, host), reason=None,
            )  # fmt: skip
        return self.add(ev.DecisionNeeded, task=task, host=host, status=status, reason=reason)

    def task(self, task: str, status: UnitStatus | None = None) -> Script:
        if status is None:
            return self.add(ev.TaskStarted, task=task)
        return self.add(ev.TaskFinished, task=task, status=status)

    def _started(self, task: str, host: str) -> float:
        for event in self.events:
            if isinstance(event, ev.UnitStarted) and (event.task, event.host) == (task, host):
                return event.time - T0
        return 0.0


def in_progress() -> Script:
    """12.5 s in: fetch, build and lint done; migrate and two web hosts deploying."""
    s = Script().start(units=11)
    s.task("fetch").unit("fetch", "local", "git fetch").out("fetch", "local", b"up to date\n")
    s.at(1.2).done("fetch", "local").task("fetch", S.SUCCEEDED)
    s.task("build").unit("build", "local", "make").task("lint").unit("lint", "local")
    s.out("build", "local", b"cc -O2 -c main.c\ncc -o app main.o\n")
    s.at(2.0).done("lint", "local").task("lint", S.SUCCEEDED)
    s.at(6.4).done("build", "local").task("build", S.SUCCEEDED)
    s.task("migrate").unit("migrate", "db1", "migrate up").task("deploy")
    for host in ("web1", "web2", "web3"):
        s.unit("deploy", host, "ship")
    s.out("migrate", "db1", b"applying 0042_add_index\n")
    s.out("deploy", "web1", b"shipping app-1.4.2.tar.gz\nunpacked\n")
    s.at(9.0).done("deploy", "web1")
    s.out("deploy", "web2", b"shipping app-1.4.2.tar.gz\n\x1b[32munpacking\x1b[0m [/bold]\n")
    s.out("deploy", "web2", b"warning: disk 91% full\n", err=True)
    s.out("deploy", "web3", b"shipping app-1.4.2.tar.gz\n")
    s.at(9.5).add(ev.UnitQuiet, task="deploy", host="web3", step=0, attempt=1, silent_for=3.0)
    return s.at(12.5)


def waiting() -> Script:
    """web2's deploy failed and waits for a decision; smoke there waits with it."""
    s = in_progress()
    s.out("deploy", "web2", b"restart failed: unit app.service not found\n", err=True)
    s.at(11.0).done("deploy", "web2", S.FAILED, 5)
    return s.at(14.0)


def finished() -> Script:
    """After the operator skipped web2: the summary of a run that failed elsewhere."""
    s = waiting()
    done = {
        "fetch": {"local": (S.SUCCEEDED, 0, 1, 1.2)},
        "build": {"local": (S.SUCCEEDED, 0, 1, 4.4)},
        "lint": {"local": (S.SUCCEEDED, 0, 1, 0.8)},
        "migrate": {"db1": (S.SUCCEEDED, 0, 1, 9.1)},
        "deploy": {
            "web1": (S.SUCCEEDED, 0, 1, 2.6),
            "web2": (S.SKIPPED, 5, 2, 8.1),
            "web3": (S.FAILED, 1, 1, 14.9),
        },
        "smoke": {"web1": (S.SUCCEEDED, 0, 1, 0.4), "web2": (S.SKIPPED, None, 0, None)},
    }
    done["smoke"]["web3"] = (S.SKIPPED, None, 0, None)
    tasks = {
        name: ev.TaskSummary(
            status=S.FAILED if name == "deploy" else S.SUCCEEDED,
            hosts={
                host: ev.UnitSummary(status, code, tries, took)
                for host, (status, code, tries, took) in hosts.items()
            },
        )
        for name, hosts in done.items()
    }
    s.at(21.3).add(ev.RunFinished, status=RunStatus.FAILED, started=T0, tasks=tasks)
    return s
