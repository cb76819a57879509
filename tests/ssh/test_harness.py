"""The SSH lab itself: if these fail, every SSH transport test built on it is meaningless."""

from __future__ import annotations

import os
import selectors
import shlex
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ssh import harness
from tests.ssh.fixtures import start_lab
from tests.ssh.harness import SshLab, SshLabTooLarge, SshLabUnavailable, processes_matching


def _ssh(
    argv: list[str], command: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` with an ``ssh_argv`` command line; failures are the tests' to judge."""
    return subprocess.run(
        [*argv, "--", command],
        capture_output=True,
        text=True,
        timeout=20,
        stdin=subprocess.DEVNULL,
        env=env,
        check=False,
    )


def test_remote_reaches_the_named_host_as_key_user(ssh_lab: SshLab) -> None:
    h1, h2 = ssh_lab.hosts[:2]
    assert h1.address != h2.address
    for host in (h1, h2):
        done = ssh_lab.remote(host, 'id -un; echo "$SSH_CONNECTION"; echo "$SHELL"')
        assert done.returncode == 0, done.stderr
        user, connection, shell = done.stdout.splitlines()
        assert user == ssh_lab.key_user
        # SSH_CONNECTION = client-addr client-port server-addr server-port
        assert connection.split()[2:] == [host.address, str(host.port)]
        assert shell == "/bin/bash"


def test_hosts_are_many_sshds_of_at_most_16_addresses(ssh_lab: SshLab) -> None:
    assert [h.name for h in ssh_lab.hosts] == [f"h{i}" for i in range(1, 21)]
    assert len({h.address for h in ssh_lab.hosts}) == 20
    assert len({h.port for h in ssh_lab.hosts}) == 1
    sshds = [cmd for _, cmd in processes_matching(f"{harness.SSHD} -D") if str(ssh_lab.root) in cmd]
    assert len(sshds) == 2, sshds


def test_host_key_fingerprint_and_known_hosts_match_what_sshd_presents(ssh_lab: SshLab) -> None:
    printed = subprocess.run(
        ["ssh-keygen", "-lf", ssh_lab.host_key], capture_output=True, text=True, check=True
    ).stdout.split()[1]
    assert ssh_lab.host_key_fingerprint == printed
    host = ssh_lab.hosts[-1]
    scanned = subprocess.run(
        ["ssh-keyscan", "-t", "ed25519", "-p", str(host.port), host.address],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    ).stdout.strip()
    line = ssh_lab.known_hosts_line(host)
    assert scanned == line
    assert line.startswith(f"[{host.address}]:{host.port} ssh-ed25519 ")
    assert line in ssh_lab.known_hosts.read_text().splitlines()


@pytest.mark.parametrize("key", ["ed25519", "ecdsa", "rsa"])
@pytest.mark.parametrize("who", ["key_user", "password_user"])
def test_every_plain_client_key_logs_in_as_both_users(ssh_lab: SshLab, key: str, who: str) -> None:
    user = getattr(ssh_lab, who)
    argv = ssh_lab.ssh_argv(ssh_lab.hosts[2], user, key=ssh_lab.keys[key])
    done = _ssh(argv, "id -un; echo $0")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [user, "bash" if who == "key_user" else "sh"]


def test_stranger_key_is_refused(ssh_lab: SshLab) -> None:
    argv = ssh_lab.ssh_argv(ssh_lab.hosts[0], ssh_lab.password_user, key=ssh_lab.keys["stranger"])
    done = _ssh(argv, "true")
    assert done.returncode == 255
    assert "Permission denied" in done.stderr


@pytest.mark.parametrize("right", [True, False])
def test_password_user_logs_in_with_its_password_only(
    ssh_lab: SshLab, tmp_path: Path, right: bool
) -> None:
    secret = ssh_lab.password if right else ssh_lab.password + "x"
    askpass = tmp_path / "askpass"
    askpass.write_text(f"#!/bin/sh\nprintf '%s\\n' {shlex.quote(secret)}\n")
    askpass.chmod(0o700)
    argv = ssh_lab.ssh_argv(
        ssh_lab.hosts[0],
        ssh_lab.password_user,
        key=ssh_lab.keys["stranger"],
        options=["BatchMode=no", "PreferredAuthentications=password", "NumberOfPasswordPrompts=1"],
    )
    env = {**os.environ, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force"}
    done = _ssh(argv, "id -un", env=env)
    if right:
        assert (done.returncode, done.stdout.strip()) == (0, ssh_lab.password_user), done.stderr
    else:
        assert done.returncode == 255
        assert "Permission denied" in done.stderr


def test_connections_are_counted_per_host(ssh_lab: SshLab) -> None:
    counted, other = ssh_lab.hosts[3], ssh_lab.hosts[4]
    mark = ssh_lab.log_mark()
    assert ssh_lab.remote(counted, "true").returncode == 0
    assert ssh_lab.connections_since(mark, counted) == 1
    assert ssh_lab.remote(counted, "true").returncode == 0
    assert ssh_lab.connections_since(mark, counted) == 2
    assert ssh_lab.connections_since(mark, other) == 0
    assert ssh_lab.connections_since(ssh_lab.log_mark(), counted) == 0


def test_spare_with_new_host_key_is_unknown_then_changed(ssh_lab: SshLab, tmp_path: Path) -> None:
    with ssh_lab.spare() as spare:
        assert spare.address not in {h.address for h in ssh_lab.hosts}
        own_key = ssh_lab.host_key_of(spare)
        assert own_key != ssh_lab.host_key
        assert harness.fingerprint(own_key) != ssh_lab.host_key_fingerprint
        unknown = _ssh(ssh_lab.ssh_argv(spare), "true")
        assert unknown.returncode == 255
        assert "Host key verification failed" in unknown.stderr
        stale = tmp_path / "stale_known_hosts"
        stale.write_text(ssh_lab.known_hosts_line(spare) + "\n")  # the lab's key: now "changed"
        changed = _ssh(ssh_lab.ssh_argv(spare, known_hosts=stale), "true")
        assert changed.returncode == 255
        assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in changed.stderr
        right = tmp_path / "known_hosts"
        right.write_text(ssh_lab.known_hosts_line(spare, own_key) + "\n")
        done = _ssh(ssh_lab.ssh_argv(spare, ssh_lab.password_user, known_hosts=right), "id -un")
        assert (done.returncode, done.stdout.strip()) == (0, ssh_lab.password_user), done.stderr
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect((spare.address, spare.port))


def test_spare_with_lab_host_key_is_merely_unknown(ssh_lab: SshLab, tmp_path: Path) -> None:
    with ssh_lab.spare(new_host_key=False) as spare:
        assert ssh_lab.host_key_of(spare) == ssh_lab.host_key
        listed = tmp_path / "known_hosts"
        listed.write_text(ssh_lab.known_hosts_line(spare) + "\n")
        done = _ssh(ssh_lab.ssh_argv(spare, known_hosts=listed), "id -un")
        assert (done.returncode, done.stdout.strip()) == (0, ssh_lab.key_user), done.stderr


def test_silent_listener_accepts_and_says_nothing(ssh_lab: SshLab) -> None:
    with ssh_lab.silent_listener() as (address, port), socket.socket() as sock:
        sock.settimeout(2)
        sock.connect((address, port))
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(1)


def test_refused_refuses(ssh_lab: SshLab) -> None:
    address = ssh_lab.refused()
    with socket.socket() as sock:
        sock.settimeout(2)
        with pytest.raises(ConnectionRefusedError):
            sock.connect(address)


def test_agent_holds_keys_and_logs_in(ssh_lab: SshLab) -> None:
    keys = ssh_lab.keys
    with ssh_lab.agent(keys["ed25519"], keys["encrypted"]) as sock:
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        listed = subprocess.run(
            ["ssh-add", "-l"], env=env, capture_output=True, text=True, timeout=10, check=False
        )
        assert listed.returncode == 0, listed.stderr
        for name in ("ed25519", "encrypted"):
            assert harness.fingerprint(keys[name]) in listed.stdout
        assert harness.fingerprint(keys["rsa"]) not in listed.stdout
        done = _ssh(ssh_lab.ssh_argv(ssh_lab.hosts[5], agent=sock), "id -un")
        assert (done.returncode, done.stdout.strip()) == (0, ssh_lab.key_user), done.stderr
        assert processes_matching(str(sock))
    assert not sock.exists()
    assert not processes_matching(str(sock))


def test_sudo_is_free_for_key_user_and_needs_the_password_user_s_password(
    ssh_lab: SshLab,
) -> None:
    host = ssh_lab.hosts[6]
    free = ssh_lab.remote(host, "sudo -n true && sudo -n id -un")
    assert (free.returncode, free.stdout.strip()) == (0, "root"), free.stderr
    needs = ssh_lab.remote(host, "sudo -n true", user=ssh_lab.password_user)
    assert needs.returncode == 1
    assert "password is required" in needs.stderr
    given = ssh_lab.remote(
        host,
        f"printf '%s\\n' {shlex.quote(ssh_lab.password)} | sudo -S -p '' id -un",
        user=ssh_lab.password_user,
    )
    assert (given.returncode, given.stdout.strip()) == (0, "root"), given.stderr


def test_make_home_is_a_private_ssh_dir(ssh_lab: SshLab, ssh_home: Path) -> None:
    ssh_dir = ssh_home / ".ssh"
    assert stat.S_IMODE(ssh_dir.stat().st_mode) == 0o700
    names = {"id_ed25519", "id_ed25519.pub", "known_hosts", "config"}
    assert {p.name for p in ssh_dir.iterdir()} == names
    for name in names:
        assert stat.S_IMODE((ssh_dir / name).stat().st_mode) == 0o600
    assert (ssh_dir / "id_ed25519").read_bytes() == ssh_lab.keys["ed25519"].read_bytes()
    assert (ssh_dir / "known_hosts").read_text() == ssh_lab.known_hosts.read_text()
    assert (ssh_dir / "config").read_text() == ""


def test_second_lab_is_isolated_and_stop_leaves_nothing(ssh_lab: SshLab, tmp_path: Path) -> None:
    with SshLab.start(tmp_path / "lab2", n_hosts=17) as lab2:
        assert lab2.key_user != ssh_lab.key_user
        assert lab2.password_user != ssh_lab.password_user
        assert not {h.address for h in lab2.hosts} & {h.address for h in ssh_lab.hosts}
        marker = f"{lab2.root}/"
        assert len(processes_matching(marker)) == 2  # 17 addresses: 16 + 1
        # something a careless run leaves behind on a "server", outliving its session
        leftover = f"nxleft-{os.getpid()}"
        started = lab2.remote(
            lab2.hosts[16], f"setsid bash -c 'sleep 600; :' {leftover} </dev/null >/dev/null 2>&1 &"
        )
        assert started.returncode == 0, started.stderr
        assert processes_matching(leftover)
        assert lab2.sudoers_file.exists()
        with lab2.agent(lab2.keys["ed25519"]) as sock:
            lab2.stop()
            assert not processes_matching(marker)
            assert not processes_matching(leftover)
            assert not processes_matching(str(sock))
            assert not lab2.sudoers_file.exists()
            assert not lab2.authorized_keys_dir.exists()
    lab2.stop()  # idempotent
    assert ssh_lab.remote(ssh_lab.hosts[0], "true").returncode == 0  # the session lab lives on


def test_start_refuses_clearly_without_root(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SshLabUnavailable, match=r"must run as root .*just system-deps"):
        SshLab.start(tmp_path)


@pytest.mark.sshd
def test_a_lab_beyond_one_block_answers_on_every_host(tmp_path: Path) -> None:
    with start_lab(tmp_path / "lab", 200) as lab:
        addresses = [h.address for h in lab.hosts]
        assert len(set(addresses)) == 200
        networks = [a.rsplit(".", 1)[0] for a in addresses]
        own = networks[0]
        assert networks[: harness.SLOT_HOSTS] == [own] * harness.SLOT_HOSTS
        (block,) = set(networks[harness.SLOT_HOSTS :])
        assert int(block.split(".")[1]) in harness.BLOCK_SECOND_OCTETS  # no slot's network
        sshds = [cmd for _, cmd in processes_matching(f"{harness.SSHD} -D") if str(lab.root) in cmd]
        assert len(sshds) == 13  # ceil(200 / 16)
        assert _banners(lab.hosts) == dict.fromkeys(addresses, True)
        # each block's sshds present the lab's host key, as known_hosts says
        ends = [lab.hosts[0], lab.hosts[harness.SLOT_HOSTS - 1], lab.hosts[-1]]
        scanned = subprocess.run(
            ["ssh-keyscan", "-t", "ed25519", "-p", str(lab.hosts[0].port), "-f", "-"],
            input="".join(f"{h.address}\n" for h in ends),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.splitlines()
        assert sorted(scanned) == sorted(lab.known_hosts_line(h) for h in ends)
        done = lab.remote(lab.hosts[-1], 'echo "$SSH_CONNECTION"')
        assert done.returncode == 0, done.stderr
        assert done.stdout.split()[2] == lab.hosts[-1].address


def _banners(hosts: list[harness.SshHost]) -> dict[str, bool]:
    """Per address, whether an SSH server greeted a connection to it. All hosts are asked at
    once: sshd forks for every connection, and waiting on each in turn takes seconds."""
    greeted: dict[str, bool] = {}
    with selectors.DefaultSelector() as selector:
        for host in hosts:
            sock = socket.create_connection((host.address, host.port), timeout=10)
            selector.register(sock, selectors.EVENT_READ, host.address)
        while len(greeted) < len(hosts):
            ready = selector.select(timeout=30)
            assert ready, f"no greeting from {sorted({h.address for h in hosts} - set(greeted))}"
            for key, _ in ready:
                answered = key.fileobj
                assert isinstance(answered, socket.socket)
                greeted[key.data] = answered.recv(8).startswith(b"SSH-2.0-")
                selector.unregister(answered)
                answered.close()
    return greeted


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_fault_hosts_fail_as_named_and_leave_nothing(ssh_lab: SshLab) -> None:
    fds, processes = _fds(), ssh_lab.process_ids()
    known = ssh_lab.known_hosts.read_text()
    with ssh_lab.fault_hosts(silent=2, refused=2, rejecting=2) as faults:
        named = ["silent1", "silent2", "refused1", "refused2", "rejecting1", "rejecting2"]
        assert [h.name for h in faults.all] == named
        addresses = {h.address for h in faults.all}
        assert len(addresses) == 6
        assert not addresses & {h.address for h in ssh_lab.hosts}
        for host in faults.silent:
            with socket.create_connection((host.address, host.port), timeout=2) as sock:
                sock.settimeout(0.5)
                with pytest.raises(TimeoutError):
                    sock.recv(1)
        for host in faults.refused:
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((host.address, host.port), timeout=2)
        for host in faults.rejecting:
            assert ssh_lab.known_hosts_line(host) in ssh_lab.known_hosts.read_text()
            done = ssh_lab.remote(host, "true")
            assert done.returncode == 255
            assert "Permission denied (publickey" in done.stderr
        assert ssh_lab.remote(ssh_lab.hosts[0], "true").returncode == 0
    for host in faults.all:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host.address, host.port), timeout=2)
    assert ssh_lab.known_hosts.read_text() == known
    assert (_fds(), ssh_lab.process_ids()) == (fds, processes)
    with ssh_lab.fault_hosts(refused=1) as again:  # the addresses were given back
        assert again.refused[0].address == faults.silent[0].address


def test_fault_hosts_beyond_the_machine_are_refused_before_any_starts(ssh_lab: SshLab) -> None:
    room = harness.capacity().hosts
    with (
        pytest.raises(SshLabTooLarge, match=r"do not fit on this machine"),
        ssh_lab.fault_hosts(refused=room, rejecting=1),
    ):
        pytest.fail("started")
    with ssh_lab.fault_hosts(refused=1) as faults:  # nothing was taken
        assert faults.refused[0].address.rsplit(".", 1)[1] == str(len(ssh_lab.hosts) + 1)


@pytest.mark.sshd
def test_a_lab_beyond_the_machine_is_refused_before_anything_starts(tmp_path: Path) -> None:
    """With too few files allowed (a hard RLIMIT_NOFILE of 150, set by util-linux's prlimit)
    a 200-host lab is refused, the limit named, before a user, a file or an sshd is made."""
    root = tmp_path / "lab"
    watched = [Path("/etc/passwd"), Path("/etc/shadow"), harness.SUDOERS_DIR]
    before = [path.stat().st_mtime_ns for path in watched]
    program = (
        "import sys\nfrom tests.ssh.harness import SshLab\nSshLab.start(sys.argv[1], n_hosts=200)\n"
    )
    done = subprocess.run(
        ["prlimit", "--nofile=150:150", "--", sys.executable, "-c", program, str(root)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert (
        "SshLabTooLarge: 200 lab hosts do not fit on this machine: RLIMIT_NOFILE (hard) 150"
        in done.stderr
    )
    assert not root.exists()
    assert [path.stat().st_mtime_ns for path in watched] == before
    assert not processes_matching(str(root))
