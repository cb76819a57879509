"""``service`` against a stand-in ``systemctl`` (``fake_systemctl.sh``), locally and over sshd.

systemd cannot be PID 1 in the container the tests run in, and the real ``systemctl`` then
refuses every command, so the ``systemd`` fixture puts the stand-in first in sudo's
``secure_path`` (``/usr/local/sbin``; the steps run with ``sudo``, as managing services
does) and removes it afterwards, under a file lock that serialises it across pytest-xdist
workers. The stand-in keeps each unit's state in files and logs every command it is given;
everything else (Nexus, sudo, sshd, the shell) is real. The real ``systemctl`` is what the
test of a host without systemd runs, under the same lock with the stand-in gone.

Converging twice leaves the units as asked and the second run sends only its probe;
``--check`` changes nothing and predicts the real run word for word; ``restarted`` with
``when = "changed"`` restarts only after a change; ``daemon_reload`` reloads only after one;
a bad unit name is a config error on its key and line, exit 2.
"""

from __future__ import annotations

import base64
import fcntl
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import example, given

from nexus_engine.config.ensure_services import unit_problem
from nexus_engine.ops.services import Service
from tests.e2e.conftest import Nexus
from tests.injection import CANARY, HOSTILE
from tests.ops.support import (
    CHECK,
    Place,
    changing_commands,
    done_words,
    probes,
    run_config,
    steps_with_only,
    write_config,
)
from tests.ops.test_config_errors import Case, assert_config_errors
from tests.ops.test_hostile import EXAMPLES, Lab

FAKE = Path(__file__).with_name("fake_systemctl.sh")
#: first in sudo's secure_path (/etc/sudoers), and in this process's PATH
INSTALLED = Path("/usr/local/sbin/systemctl")
#: where the stand-in keeps its units and its log (fake_systemctl.sh names it too)
STATE = Path("/var/tmp/nexus-fake-systemd")
LOCK = Path("/tmp/nexus-fake-systemctl.lock")
R = "${var:root}"
WEB = "nexus-web"
#: what the stand-in logs for the commands that only read
_READS = ("is-active ", "is-enabled ")


@contextmanager
def systemctl_lock() -> Iterator[None]:
    """This worker alone decides which ``systemctl`` the machine has, until it lets go."""
    with LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@contextmanager
def real_systemctl() -> Iterator[None]:
    """The machine's own ``systemctl``, the stand-in gone, until the test lets go."""
    with systemctl_lock():
        assert not INSTALLED.exists()
        yield


class Systemd:
    """The stand-in's units and log."""

    def unit(self, name: str, active: str = "inactive", enabled: str = "disabled") -> None:
        where = STATE / "units" / f"{name}.service"
        where.mkdir(parents=True)
        (where / "active").write_text(f"{active}\n")
        (where / "enabled").write_text(f"{enabled}\n")

    def state(self, name: str) -> tuple[str, str]:
        where = STATE / "units" / f"{name}.service"
        return (where / "active").read_text().strip(), (where / "enabled").read_text().strip()

    def log(self) -> str:
        """Every command given since the last look, one a line, and none after it."""
        log = STATE / "calls"
        # bytes as written: a name holding a CR must not read back as a line break
        calls = log.read_bytes().decode("utf-8", "surrogateescape") if log.exists() else ""
        log.write_text("")
        return calls

    def acts(self) -> list[str]:
        """The commands given since the last look that were not questions."""
        return [call for call in self.log().splitlines() if not call.startswith(_READS)]


@pytest.fixture
def systemd() -> Iterator[Systemd]:
    """The stand-in ``systemctl``, installed for the test alone."""
    with systemctl_lock():
        shutil.rmtree(STATE, ignore_errors=True)
        (STATE / "units").mkdir(parents=True)
        shutil.copyfile(FAKE, INSTALLED)
        INSTALLED.chmod(0o755)
        try:
            yield Systemd()
        finally:
            INSTALLED.unlink(missing_ok=True)
            shutil.rmtree(STATE, ignore_errors=True)


def pid1() -> str:
    """The command name of PID 1, which the failure of a host without systemd names."""
    return Path("/proc/1/comm").read_text().strip()


def service(**keys: object) -> dict[str, object]:
    return {"ensure": "service", "name": WEB, "sudo": True, **keys}


async def test_started_and_enabled_converge_then_a_second_run_only_probes(
    place: Place, systemd: Systemd, project: Path, state: Path
) -> None:
    systemd.unit(WEB)
    systemd.unit("nexus-old", active="active", enabled="enabled")
    commands = [
        service(state="started", enabled=True),
        service(name="nexus-old", state="stopped", enabled=False),
    ]
    config = write_config(project / "nexus.toml", place.config(commands))
    first = await run_config(config, state=state)
    assert first.succeeded, first.describe()
    assert first.summaries == [
        f"updated service {WEB} (inactive → active, disabled → enabled)",
        "updated service nexus-old (active → inactive, enabled → disabled)",
    ]
    assert systemd.acts() == [
        f"start -- {WEB}",
        f"enable -- {WEB}",
        "stop -- nexus-old",
        "disable -- nexus-old",
    ]
    assert systemd.state(WEB) == ("active", "enabled")
    assert systemd.state("nexus-old") == ("inactive", "disabled")

    second = await run_config(config, state=state)
    assert second.succeeded, second.describe()
    assert second.summaries == [
        f"ok: service {WEB} is active and enabled",
        "ok: service nexus-old is inactive and disabled",
    ]
    assert changing_commands(second) == []
    assert len(probes(second)) == 1
    assert systemd.acts() == []


async def test_check_predicts_the_real_run_and_changes_nothing(
    place: Place, systemd: Systemd, project: Path, state: Path
) -> None:
    """The second step sees the unit as the first would leave it: running, so it restarts."""
    systemd.unit(WEB)
    systemd.unit("nexus-old", active="active", enabled="enabled")
    commands = [
        service(state="started", enabled=True),
        service(state="restarted", when="changed"),
        service(name="nexus-old", enabled=False),
    ]
    config = write_config(project / "nexus.toml", place.config(commands))
    checked = await run_config(config, state=state, mode=CHECK)
    assert checked.succeeded, checked.describe()
    assert changing_commands(checked) == []
    assert systemd.acts() == []
    assert checked.summaries[1] == f"would restart service {WEB}"
    assert systemd.state(WEB) == ("inactive", "disabled")

    real = await run_config(config, state=state)
    assert real.succeeded, real.describe()
    predicted = [(s.change, done_words(s.summary or "")) for s in checked.steps]
    assert predicted == [(s.change, s.summary) for s in real.steps]
    assert systemd.acts() == [
        f"start -- {WEB}",
        f"enable -- {WEB}",
        f"restart -- {WEB}",
        "disable -- nexus-old",
    ]


async def test_restarted_after_a_change_and_not_otherwise(
    place: Place, systemd: Systemd, project: Path, state: Path
) -> None:
    systemd.unit(WEB, active="active", enabled="enabled")
    commands = [
        {"ensure": "file", "path": f"{R}/web.conf", "content": "port=80\n"},
        service(state="restarted", when="changed"),
    ]
    config = write_config(project / "nexus.toml", place.config(commands))
    first = await run_config(config, state=state)
    assert first.changes == ["changed", "changed"], first.describe()
    assert first.summaries[1] == f"restarted service {WEB}"
    assert systemd.acts() == [f"restart -- {WEB}"]

    second = await run_config(config, state=state)
    assert second.changes == ["ok", "skipped"], second.describe()
    assert changing_commands(second) == []
    assert systemd.acts() == []


async def test_daemon_reload_runs_only_after_a_change(
    place: Place, systemd: Systemd, project: Path, state: Path
) -> None:
    systemd.unit(WEB)
    unit_file = place.root / "web.service"
    commands = [
        {"ensure": "file", "path": f"{R}/web.service", "content": "[Service]\nExecStart=a\n"},
        service(state="started", daemon_reload=True),
    ]
    config = write_config(project / "nexus.toml", place.config(commands))
    first = await run_config(config, state=state)
    assert first.changes == ["changed", "changed"], first.describe()
    assert first.summaries[1] == f"updated service {WEB} (daemon-reload first, inactive → active)"
    assert systemd.acts() == ["daemon-reload", f"start -- {WEB}"]

    second = await run_config(config, state=state)
    assert second.changes == ["ok", "ok"], second.describe()
    assert changing_commands(second) == []
    assert systemd.acts() == []

    unit_file.write_text("[Service]\nExecStart=b\n")
    third = await run_config(config, state=state)
    assert third.changes == ["changed", "changed"], third.describe()
    assert third.summaries[1] == f"updated service {WEB} (daemon-reload first)"
    assert systemd.acts() == ["daemon-reload"]


async def test_a_unit_that_is_not_there_fails_and_changes_nothing(
    here: Place, systemd: Systemd, project: Path, state: Path
) -> None:
    commands = [service(name="nexus-none", state="started")]
    config = write_config(project / "nexus.toml", here.config(commands))
    done = await run_config(config, state=state)
    assert done.changes == [None], done.describe()
    assert done.reasons == [
        "service nexus-none: there is no such unit on this host; nothing was changed"
    ]
    assert systemd.acts() == []


async def test_a_host_not_booted_with_systemd_fails_naming_what_it_runs(
    here: Place, project: Path, state: Path
) -> None:
    """The real ``systemctl``, which says the system was not booted with systemd."""
    init = pid1()
    others = [tool for tool in ("service", "rc-service") if shutil.which(tool)]
    has = f"; it has {' and '.join(others)}" if others else ""
    config = write_config(
        project / "nexus.toml", here.config([service(state="started", enabled=True)])
    )
    with real_systemctl():
        done = await run_config(config, state=state)
    assert done.changes == [None], done.describe()
    (reason,) = done.reasons
    assert reason is not None
    assert reason.startswith(
        f"systemd does not manage services on this host (PID 1 is {init}{has}): systemctl says: "
    ), reason
    assert "not been booted with systemd" in reason
    assert reason.endswith("; nothing was changed")


@pytest.mark.e2e
def test_a_host_without_systemctl_fails_naming_what_it_runs(nexus: Nexus, tmp_path: Path) -> None:
    commands = '[{ ensure = "service", name = "web", state = "started" }]'
    steps = steps_with_only(nexus, tmp_path, commands)
    init = pid1()
    assert steps == [
        (
            "failed",
            f"systemd does not manage services on this host (PID 1 is {init}): it has no "
            "systemctl; nothing was changed",
        )
    ]


def test_a_variable_that_makes_a_bad_unit_name_fails_the_step() -> None:
    """A name from ``${var:…}`` is checked once filled in: never pasted as an option."""
    for name in ("-H evil", "a b", "$(id)", "x;y"):
        assessment = Service(name, "started").assess({"systemctl": "yes"})
        assert assessment.action is None
        assert assessment.failure is not None
        assert "is not a systemd unit name" in assessment.failure


SVC = 'ensure = "service", name = "web"'
BAD = [
    Case("bad-unit-name", '{ ensure = "service", name = "web server", state = "started" }',
         ".name", "'web server' is not a systemd unit name"),
    Case("leading-dash", '{ ensure = "service", name = "-web", state = "started" }', ".name",
         "must not start with '-'"),
    Case("bad-state", f'{{ {SVC}, state = "running" }}', ".state", "'started'"),
    Case("enabled-type", f'{{ {SVC}, enabled = "yes" }}', ".enabled", "expected true or false"),
    Case("unknown-key", f'{{ {SVC}, state = "started", restart = true }}', ".restart", ""),
    Case("nothing-asked", f"{{ {SVC} }}", "", "give state, enabled or daemon_reload"),
]  # fmt: skip


@pytest.mark.e2e
def test_bad_service_steps_are_config_errors(tmp_path: Path) -> None:
    assert_config_errors(tmp_path, BAD)


@pytest.mark.sshd
@pytest.mark.usefixtures("in_ssh_home")
@EXAMPLES
@example(name="-H evil")
@example(name="web@$(id).service")
@example(name="web\rcarriage")
@given(name=HOSTILE)
async def test_hostile_unit_names_reach_systemctl_quoted_and_are_refused(
    host: Lab, systemd: Systemd, name: str
) -> None:
    """The probe hands ``systemctl`` the name as one argument, whatever it holds; the step
    then refuses a name that is not a unit name (and finds no such unit of one that is)."""
    target = host.lab.hosts[5]
    table = {"hostname": target.address, "port": target.port, "user": host.lab.key_user}
    data = {
        "hosts": {"h": {**table, "vars": {"n": name}}},
        "tasks": {"t": {"on": ["h"], "commands": [service(name="${var:n}", state="started")]}},
    }
    config = write_config(host.project / "nexus.toml", data)
    transport = host.transport
    done = await run_config(
        config, state=host.project / "state", transport_for=lambda unit: transport
    )
    assert not CANARY.exists(), "a hostile value ran as a command"
    assert systemd.log() == f"is-active -- {name}\nis-enabled -- {name}\n"
    (reason,) = done.reasons
    refused = unit_problem(name) is not None
    wanted = "is not a systemd unit name" if refused else "there is no such unit on this host"
    assert reason is not None
    assert wanted in reason


def answers(active: str, enabled: str) -> dict[str, str]:
    """The facts a probe reports for a unit ``systemctl`` describes so."""
    encode = lambda word: base64.b64encode(f"{word}\n".encode()).decode()  # noqa: E731
    return {"systemctl": "yes", "active": encode(active), "enabled": encode(enabled)}


@pytest.mark.parametrize(
    ("op", "active", "enabled", "words"),
    [
        (Service(WEB, "reloaded"), "inactive", "enabled", "update service nexus-web (inactive →"),
        (Service(WEB, "reloaded"), "active", "enabled", f"reload service {WEB}"),
        (Service(WEB, enabled=True), "active", "static", f"ok: service {WEB} is static"),
        (Service(WEB, enabled=True), "active", "masked", "it is masked, so it cannot be enabled"),
        (Service(WEB, enabled=False), "active", "static", "which systemctl disable cannot change"),
        (Service(WEB, enabled=True), "active", "Access denied", "is-enabled says: Access denied"),
        (Service(WEB, "stopped"), "inactive", "not-found", f"ok: service {WEB} is inactive"),
        (Service(WEB, "started", daemon_reload=True), "active", "enabled", "ok: service nexus-web"),
    ],
)  # fmt: skip
def test_what_systemctl_answers_decides_the_step(
    op: Service, active: str, enabled: str, words: str
) -> None:
    assessment = op.assess(answers(active, enabled))
    said = assessment.failure or f"{assessment.verb or 'ok:'} {assessment.detail}"
    assert words in said
