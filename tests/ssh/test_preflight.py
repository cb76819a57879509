"""Preflight against real sshd: each check passes where a run would get in, and fails, with the
kind a run would report, where it would not; ``nexus preflight`` and ``nexus run --preflight``
say so with their exit codes and, for a refused run, by running and recording nothing."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from nexus_engine.config import LoadedConfig, load_config
from nexus_engine.connections import Overrides
from nexus_engine.plan import build_plan
from nexus_engine.preflight import HostReport, Verdict, preflight
from nexus_engine.words import Failure
from tests.ssh.harness import SshHost, SshLab

NEXUS = Path(sys.executable).with_name("nexus")


# --- helpers ------------------------------------------------------------------------------------


def host_line(
    name: str, host: SshHost | tuple[str, int], user: str, extra: Mapping[str, str] | None = None
) -> str:
    """``name = { hostname = …, port = …, user = … }`` for ``[hosts]``, plus ``extra`` keys."""
    address, port = (host.address, host.port) if isinstance(host, SshHost) else host
    fields = [f'hostname = "{address}"', f"port = {port}", f'user = "{user}"']
    fields += [f"{key} = {json.dumps(value)}" for key, value in (extra or {}).items()]
    return f"{name} = {{ {', '.join(fields)} }}"


def config_text(hosts: list[str], tasks: str, settings: str = "connect_timeout = 5") -> str:
    return f"[settings]\n{settings}\n\n[hosts]\n" + "\n".join(hosts) + "\n\n" + tasks


def task(name: str, on: list[str], *commands: str, sudo: bool = False) -> str:
    steps = ", ".join(
        f"{{ cmd = {json.dumps(cmd)}, sudo = true }}" if sudo else json.dumps(cmd)
        for cmd in commands
    )
    return f"[tasks.{name}]\non = {json.dumps(on)}\ncommands = [{steps}]\n"


def by_host(reports: list[HostReport]) -> dict[str, HostReport]:
    return {report.host: report for report in reports}


def verdicts(report: HostReport) -> tuple[Verdict, ...]:
    return tuple(check.verdict for check in report.checks)


PASSED, FAILED, SKIPPED, NA = (
    Verdict.PASSED,
    Verdict.FAILED,
    Verdict.SKIPPED,
    Verdict.NOT_APPLICABLE,
)


@pytest.fixture
def home(ssh_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Nexus resolves ``~`` from $HOME: the lab's, and no agent, so the developer's own keys
    never decide a test."""
    monkeypatch.setenv("HOME", str(ssh_home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return ssh_home


def load(tmp_path: Path, text: str) -> LoadedConfig:
    path = tmp_path / "nexus.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


async def check(loaded: LoadedConfig, overrides: Overrides | None = None) -> list[HostReport]:
    return await preflight(build_plan(loaded), loaded.config, overrides)


def sessions_of(user: str) -> list[str]:
    """sshd processes serving ``user``'s connections, which live on this machine."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text.startswith((f"sshd: {user}@", f"sshd: {user} ")) and state not in "ZX":
            found.append(text)
    return found


# --- the engine API -----------------------------------------------------------------------------


async def test_a_good_host_passes_tcp_and_ssh_and_needs_no_sudo_check(
    ssh_lab: SshLab, home: Path, tmp_path: Path
) -> None:
    h1 = ssh_lab.hosts[0]
    loaded = load(
        tmp_path,
        config_text([host_line("web", h1, ssh_lab.key_user)], task("t", ["web"], "true")),
    )
    (report,) = await check(loaded)
    assert report.host == "web"
    assert report.ok
    assert verdicts(report) == (PASSED, PASSED, NA)
    assert report.check("tcp").detail == f"{h1.address}:{h1.port} answers"
    assert report.check("ssh").kind is None
    assert report.where == f"{ssh_lab.key_user}@{h1.address}:{h1.port}"


async def test_sudo_is_checked_where_a_step_needs_it_and_passes_with_nopasswd(
    ssh_lab: SshLab, home: Path, tmp_path: Path
) -> None:
    loaded = load(
        tmp_path,
        config_text(
            [host_line("web", ssh_lab.hosts[0], ssh_lab.key_user)],
            task("t", ["web"], "true", sudo=True),
        ),
    )
    (report,) = await check(loaded)
    assert verdicts(report) == (PASSED, PASSED, PASSED)
    assert report.check("sudo").detail == "sudo works as root"


async def test_a_refused_port_fails_tcp_and_skips_the_rest(
    ssh_lab: SshLab, home: Path, tmp_path: Path
) -> None:
    refused = ssh_lab.refused()
    loaded = load(
        tmp_path,
        config_text(
            [host_line("gone", refused, ssh_lab.key_user)],
            task("t", ["gone"], "true", sudo=True),
        ),
    )
    (report,) = await check(loaded)
    assert not report.ok
    assert verdicts(report) == (FAILED, SKIPPED, SKIPPED)
    tcp = report.check("tcp")
    assert tcp.kind is Failure.UNREACHABLE
    assert f"connection refused by {refused[0]}:{refused[1]}" in tcp.detail
    assert report.failed is tcp
    assert report.check("ssh").detail == "not tried: tcp failed"


async def test_an_unknown_host_key_fails_ssh(ssh_lab: SshLab, home: Path, tmp_path: Path) -> None:
    with ssh_lab.spare() as spare:
        loaded = load(
            tmp_path,
            config_text(
                [host_line("new", spare, ssh_lab.key_user)],
                task("t", ["new"], "true", sudo=True),
            ),
        )
        (report,) = await check(loaded)
    assert verdicts(report) == (PASSED, FAILED, SKIPPED)
    ssh = report.check("ssh")
    assert ssh.kind is Failure.HOST_KEY_UNKNOWN
    assert spare.address in ssh.detail
    assert report.check("sudo").detail == "not tried: ssh failed"


async def test_a_key_the_server_does_not_know_fails_authentication(
    ssh_lab: SshLab, home: Path, tmp_path: Path
) -> None:
    stranger = str(ssh_lab.keys["stranger"])
    loaded = load(
        tmp_path,
        config_text(
            [host_line("web", ssh_lab.hosts[0], ssh_lab.key_user, {"identity": stranger})],
            task("t", ["web"], "true"),
        ),
    )
    (report,) = await check(loaded)
    assert verdicts(report) == (PASSED, FAILED, NA)
    assert report.check("ssh").kind is Failure.AUTH_FAILED
    assert stranger in report.check("ssh").detail


async def test_sudo_without_nopasswd_needs_the_sudo_password(
    ssh_lab: SshLab, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    h1 = ssh_lab.hosts[0]
    needs = task("t", ["pw"], "true", sudo=True)
    loaded = load(tmp_path, config_text([host_line("pw", h1, ssh_lab.password_user)], needs))
    (report,) = await check(loaded)
    assert verdicts(report) == (PASSED, PASSED, FAILED)
    assert report.check("sudo").kind is Failure.SUDO_PASSWORD_REQUIRED
    assert "sudo_password" in report.check("sudo").detail

    monkeypatch.setenv("SUDO_PW", ssh_lab.password)
    line = host_line("pw", h1, ssh_lab.password_user, {"sudo_password": "${secret:SUDO_PW}"})
    (report,) = await check(load(tmp_path, config_text([line], needs)))
    assert verdicts(report) == (PASSED, PASSED, PASSED)


async def test_a_wrong_sudo_password_is_reported_as_refused(
    ssh_lab: SshLab, home: Path, tmp_path: Path
) -> None:
    line = host_line("pw", ssh_lab.hosts[0], ssh_lab.password_user, {"sudo_password": "wrong"})
    loaded = load(tmp_path, config_text([line], task("t", ["pw"], "true", sudo=True)))
    (report,) = await check(loaded)
    assert verdicts(report) == (PASSED, PASSED, FAILED)
    assert report.check("sudo").kind is Failure.SUDO_AUTH_FAILED


async def test_sudo_is_checked_as_every_user_the_steps_become(
    ssh_lab: SshLab, home: Path, tmp_path: Path
) -> None:
    """``user = …`` runs through ``sudo -u``: that identity is checked, a missing one fails."""
    tasks = (
        '[tasks.t]\non = ["web"]\ncommands = [{ cmd = "true", user = "nobody" },'
        ' { cmd = "true", user = "nx-no-such-user" }]\n'
    )
    loaded = load(
        tmp_path, config_text([host_line("web", ssh_lab.hosts[0], ssh_lab.key_user)], tasks)
    )
    (report,) = await check(loaded)
    sudo = report.check("sudo")
    assert sudo.verdict is FAILED
    assert sudo.kind is None  # sudo's own refusal, in its words
    assert "sudo as nx-no-such-user exited 1" in sudo.detail
    assert "unknown user nx-no-such-user" in sudo.detail.split(":", 1)[1], sudo.detail


async def test_hosts_are_checked_together_local_units_are_not_and_nothing_stays_open(
    ssh_lab: SshLab, home: Path, tmp_path: Path
) -> None:
    good = ssh_lab.hosts[:6]
    hosts = [host_line(f"g{i}", host, ssh_lab.key_user) for i, host in enumerate(good)]
    hosts.append(host_line("gone", ssh_lab.refused(), ssh_lab.key_user))
    names = [f"g{i}" for i in range(len(good))] + ["gone"]
    tasks = task("remote", names, "true", sudo=True) + task("here", ["local"], "true")
    loaded = load(tmp_path, config_text(hosts, tasks))
    reports = await check(loaded)
    assert [report.host for report in reports] == names  # plan order; no "local"
    assert all(by_host(reports)[name].ok for name in names[:-1])
    assert not by_host(reports)["gone"].ok
    deadline = time.monotonic() + 5
    while sessions_of(ssh_lab.key_user):  # the server notices a closed connection late
        assert time.monotonic() < deadline, sessions_of(ssh_lab.key_user)
        await asyncio.sleep(0.05)


async def test_user_and_identity_from_the_command_line_win(
    ssh_lab: SshLab, home: Path, tmp_path: Path
) -> None:
    stranger = str(ssh_lab.keys["stranger"])
    line = host_line("web", ssh_lab.hosts[0], "nobody-here", {"identity": stranger})
    loaded = load(tmp_path, config_text([line], task("t", ["web"], "true")))
    (report,) = await check(loaded)
    assert report.check("ssh").kind is Failure.AUTH_FAILED
    right = Overrides(user=ssh_lab.key_user, identity=str(ssh_lab.keys["ed25519"]))
    (report,) = await check(loaded, right)
    assert report.ok, report


async def test_tcp_goes_where_ssh_config_sends_an_alias(
    ssh_lab: SshLab, home: Path, tmp_path: Path
) -> None:
    h2 = ssh_lab.hosts[1]
    (home / ".ssh" / "config").write_text(
        f"Host webalias\n  HostName {h2.address}\n  Port {h2.port}\n"
    )
    loaded = load(
        tmp_path,
        config_text(
            [f'web = {{ hostname = "webalias", user = "{ssh_lab.key_user}" }}'],
            task("t", ["web"], "true"),
        ),
    )
    (report,) = await check(loaded)
    assert verdicts(report) == (PASSED, PASSED, NA), report
    assert report.check("tcp").detail == f"{h2.address}:{h2.port} answers"


async def test_a_host_behind_a_proxy_jump_has_no_tcp_check_of_its_own(
    ssh_lab: SshLab, home: Path, tmp_path: Path
) -> None:
    """The direct path may well be closed (that is why the jump exists): only ssh says."""
    jump, target = ssh_lab.hosts[2], ssh_lab.hosts[3]
    (home / ".ssh" / "config").write_text(
        f"Host inner\n  HostName {target.address}\n  Port {target.port}\n"
        f"  ProxyJump {ssh_lab.key_user}@{jump.address}:{jump.port}\n"
    )
    loaded = load(
        tmp_path,
        config_text(
            [f'inner = {{ hostname = "inner", user = "{ssh_lab.key_user}" }}'],
            task("t", ["inner"], "true", sudo=True),
        ),
    )
    (report,) = await check(loaded)
    assert verdicts(report) == (NA, PASSED, PASSED), report
    assert report.ok
    assert "ProxyJump" in report.check("tcp").detail


# --- the command line ---------------------------------------------------------------------------


class Cli:
    """``nexus`` as a user runs it: the lab's HOME, no agent, a private state dir, no TTY."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root = root
        self.state = root / "state"
        self.env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
        self.env.update(HOME=str(home), NEXUS_STATE_DIR=str(self.state))
        self.env.pop("NO_COLOR", None)

    def write(self, text: str) -> None:
        (self.root / "nexus.toml").write_text(text, encoding="utf-8")

    def __call__(self, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(NEXUS), *argv],
            cwd=self.root,
            env={**self.env, **env},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def runs(self) -> list[Path]:
        runs = self.state / "runs"
        return sorted(runs.iterdir()) if runs.is_dir() else []


@pytest.fixture
def cli(ssh_home: Path, tmp_path: Path) -> Cli:
    project = tmp_path / "project"
    project.mkdir()
    return Cli(project, ssh_home)


@pytest.fixture
def drop() -> Iterator[Path]:
    """A directory every lab user may write: where a remote step leaves its marker (pytest's
    own tmp dirs are root's and closed to them)."""
    path = Path(tempfile.mkdtemp(prefix="nexus-preflight-"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def rows(out: str) -> dict[str, list[str]]:
    """The table's rows by host: cells split on runs of two or more spaces."""
    lines = [line for line in out.splitlines() if line and not line.startswith("preflight:")]
    assert lines[0].split() == ["HOST", "TCP", "SSH", "SUDO", "DETAIL"]
    return {cells[0]: cells for cells in (re.split(r"\s{2,}", line) for line in lines[1:])}


def test_preflight_passes_with_exit_0_and_a_table(ssh_lab: SshLab, cli: Cli) -> None:
    h1, h2 = ssh_lab.hosts[:2]
    cli.write(
        config_text(
            [host_line("h1", h1, ssh_lab.key_user), host_line("h2", h2, ssh_lab.key_user)],
            task("deploy", ["h1"], "true", sudo=True) + task("web", ["h2"], "true"),
        )
    )
    done = cli("preflight")
    assert done.returncode == 0, done.stdout + done.stderr
    table = rows(done.stdout)
    assert table["h1"] == [
        "h1",
        "✓ ok",
        "✓ ok",
        "✓ ok",
        f"{ssh_lab.key_user}@{h1.address}:{h1.port}",
    ]
    assert table["h2"][1:4] == ["✓ ok", "✓ ok", "-"]
    assert done.stdout.splitlines()[-1] == "preflight: 2 hosts ok"
    assert "\x1b" not in done.stdout  # not a terminal: no colour
    assert cli.runs() == []  # preflight records nothing


def test_preflight_fails_with_exit_1_naming_each_failure(ssh_lab: SshLab, cli: Cli) -> None:
    h1, h2, h3 = ssh_lab.hosts[:3]
    stranger = str(ssh_lab.keys["stranger"])
    with ssh_lab.spare() as spare:
        cli.write(
            config_text(
                [
                    host_line("good", h1, ssh_lab.key_user),
                    host_line("gone", ssh_lab.refused(), ssh_lab.key_user),
                    host_line("new", spare, ssh_lab.key_user),
                    host_line("locked", h2, ssh_lab.key_user, {"identity": stranger}),
                    host_line("pw", h3, ssh_lab.password_user),
                ],
                task("t", ["good", "gone", "new", "locked", "pw"], "true", sudo=True),
            )
        )
        done = cli("preflight")
    assert done.returncode == 1, done.stdout + done.stderr
    table = rows(done.stdout)
    assert table["good"][1:4] == ["✓ ok", "✓ ok", "✓ ok"]
    assert table["gone"][1:4] == ["✗ failed", "skipped", "skipped"]
    assert table["gone"][4].startswith("unreachable: connection refused by")
    assert table["new"][1:4] == ["✓ ok", "✗ failed", "skipped"]
    assert table["new"][4].startswith("host_key_unknown: ")
    assert table["locked"][1:4] == ["✓ ok", "✗ failed", "skipped"]
    assert table["locked"][4].startswith("auth_failed: ")
    assert table["pw"][1:4] == ["✓ ok", "✓ ok", "✗ failed"]
    assert table["pw"][4].startswith("sudo_password_required: ")
    assert done.stdout.splitlines()[-1] == "preflight: 4 of 5 hosts failed: gone, new, locked, pw"


def test_preflight_uses_a_sudo_password_from_a_secret(ssh_lab: SshLab, cli: Cli) -> None:
    line = host_line(
        "pw", ssh_lab.hosts[0], ssh_lab.password_user, {"sudo_password": "${secret:SUDO_PW}"}
    )
    cli.write(config_text([line], task("t", ["pw"], "true", sudo=True)))
    done = cli("preflight", SUDO_PW=ssh_lab.password)
    assert done.returncode == 0, done.stdout + done.stderr
    assert rows(done.stdout)["pw"][1:4] == ["✓ ok", "✓ ok", "✓ ok"]
    assert ssh_lab.password not in done.stdout + done.stderr


def test_preflight_checks_only_the_selected_tasks_and_hosts(ssh_lab: SshLab, cli: Cli) -> None:
    cli.write(
        config_text(
            [
                host_line("good", ssh_lab.hosts[0], ssh_lab.key_user),
                host_line("gone", ssh_lab.refused(), ssh_lab.key_user),
            ],
            task("a", ["good"], "true") + task("b", ["good", "gone"], "true"),
        )
    )
    assert cli("preflight", "a").returncode == 0
    assert cli("preflight", "--exclude", "gone").returncode == 0
    assert cli("preflight").returncode == 1
    done = cli("preflight", "nope")
    assert done.returncode == 2
    assert "no task named 'nope'" in done.stderr


def test_preflight_takes_user_and_identity_from_the_command_line(ssh_lab: SshLab, cli: Cli) -> None:
    cli.write(
        config_text([host_line("web", ssh_lab.hosts[0], "nobody-here")], task("t", ["web"], "true"))
    )
    assert cli("preflight").returncode == 1
    done = cli("preflight", "-u", ssh_lab.key_user, "-i", str(ssh_lab.keys["ecdsa"]))
    assert done.returncode == 0, done.stdout + done.stderr


def test_run_preflight_refuses_a_run_with_a_broken_host(
    ssh_lab: SshLab, cli: Cli, drop: Path
) -> None:
    marker = drop / "ran"
    cli.write(
        config_text(
            [
                host_line("good", ssh_lab.hosts[0], ssh_lab.key_user),
                host_line("gone", ssh_lab.refused(), ssh_lab.key_user),
            ],
            task("t", ["good", "gone"], f"touch {marker}"),
        )
    )
    done = cli("--headless", "run", "--preflight")
    assert done.returncode == 1, done.stdout + done.stderr
    assert not marker.exists()
    assert cli.runs() == []
    assert done.stdout == ""  # stdout belongs to the run, which never started
    assert "gone" in done.stderr
    assert "unreachable: connection refused" in done.stderr
    assert "nexus: preflight failed, so not starting the run" in done.stderr


def test_run_preflight_runs_the_tasks_when_every_host_passes(
    ssh_lab: SshLab, cli: Cli, drop: Path
) -> None:
    marker = drop / "ran"
    cli.write(
        config_text(
            [host_line("good", ssh_lab.hosts[0], "nobody-here")],
            task("t", ["good"], f"touch {marker}", sudo=True),
        )
    )
    done = cli("--headless", "run", "--preflight", "-u", ssh_lab.key_user)
    assert done.returncode == 0, done.stdout + done.stderr
    assert marker.exists()
    assert "preflight: 1 host ok" in done.stderr
    assert len(cli.runs()) == 1

    quiet = cli("--headless", "run", "--preflight", "-q", "-u", ssh_lab.key_user)
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "preflight:" not in quiet.stderr
