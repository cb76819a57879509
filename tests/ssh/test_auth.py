"""Getting in: key types, passphrases, the agent, passwords, and ``~/.ssh/config``
(T-SSH-2, T-SSH-10). Headless: nothing here may prompt or hang.

Each test starts from a HOME whose ``.ssh`` holds only what it names, so a key the test did not
mean to offer can never be what let it in.
"""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import asyncssh
import pytest
from asyncssh.public_key import load_default_keypairs

from nexus_engine.transports.base import CommandResult
from nexus_engine.transports.ssh.connect import Login, _cpu_has_aes, _read_ssh_config
from nexus_engine.transports.ssh.keyring import KeyRing
from nexus_engine.transports.ssh.pool import SshPool
from nexus_engine.transports.ssh.transport import SshTransport
from nexus_engine.words import Failure
from tests.ssh.harness import SshHost, SshLab
from tests.ssh.support import Prompter, login, pool_for_test, run, token, use_home


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, ssh_home: Path) -> Path:
    """The fake HOME without its default key: only what a test names can log in."""
    use_home(monkeypatch, ssh_home)
    for name in ("id_ed25519", "id_ed25519.pub"):
        (ssh_home / ".ssh" / name).unlink()
    return ssh_home


@pytest.fixture
def host(ssh_lab: SshLab) -> SshHost:
    return ssh_lab.hosts[8]


@pytest.fixture(scope="session")
def strangers(ssh_lab: SshLab, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Seven keys the server does not know: more than its ``MaxAuthTries`` (6)."""
    where = tmp_path_factory.mktemp("strangers")
    keys = [ssh_lab.keys["stranger"]]
    for i in range(6):
        key = where / f"stranger{i}"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
            check=True,
            capture_output=True,
            timeout=30,
        )
        keys.append(key)
    return keys


async def whoami(pool: SshPool, login: Login) -> tuple[str, CommandResult]:
    """Who the host says we are ("" when we did not get in), and the result."""
    result, sink = await run(SshTransport(pool, login), "id -un", timeout=30)
    return sink.out.decode().strip(), result


# --- keys ---------------------------------------------------------------------------------------


async def test_no_key_no_agent_no_password_is_auth_failed(
    ssh_lab: SshLab, home: Path, pool: SshPool, host: SshHost
) -> None:
    """The baseline the other tests rely on: this HOME alone lets nobody in."""
    result, _ = await run(SshTransport(pool, login(ssh_lab, host)), "true")
    assert result.failure is Failure.AUTH_FAILED, result
    assert "authentication failed" in (result.error or "")
    assert result.duration < 5


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
async def test_each_key_type_logs_in(
    ssh_lab: SshLab, home: Path, pool: SshPool, host: SshHost, kind: str
) -> None:
    who, result = await whoami(pool, login(ssh_lab, host, identity=str(ssh_lab.keys[kind])))
    assert who == ssh_lab.key_user, result


async def test_identity_with_tilde_is_expanded_from_home(
    ssh_lab: SshLab, home: Path, pool: SshPool, host: SshHost
) -> None:
    (home / ".ssh" / "deploy_key").write_bytes(ssh_lab.keys["ecdsa"].read_bytes())
    (home / ".ssh" / "deploy_key").chmod(0o600)
    who, result = await whoami(pool, login(ssh_lab, host, identity="~/.ssh/deploy_key"))
    assert who == ssh_lab.key_user, result


async def test_default_keys_are_read_once_for_every_host(
    ssh_lab: SshLab, in_ssh_home: Path, pool: SshPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four hosts logged in with the default key in ``~/.ssh``: the file is read once, and the
    pairs read then let every host in (asyncssh alone reads it for each connection)."""
    read: list[str] = []
    read_file = asyncssh.public_key.read_file

    def counted(path: object, mode: str = "rb") -> bytes:
        read.append(str(path))
        return read_file(path, mode)

    monkeypatch.setattr(asyncssh.public_key, "read_file", counted)
    load_default_keypairs()
    once, read[:] = list(read), []  # what one reading of the keys reads
    hosts = ssh_lab.hosts[8:12]
    answers = await asyncio.gather(*(whoami(pool, login(ssh_lab, host)) for host in hosts))
    assert [who for who, _ in answers] == [ssh_lab.key_user] * len(hosts), answers
    assert str(in_ssh_home / ".ssh" / "id_ed25519") in once
    assert sorted(read) == sorted(once)  # once for the four, not once a host
    assert pool.keys.reads == 1


async def test_each_connection_gets_its_own_copy_of_the_keys(in_ssh_home: Path) -> None:
    """asyncssh sets the signature algorithm on a key pair as it logs in: logins to two hosts
    must not share one pair. A key file that changes (a renewed certificate) is read again."""
    ring = KeyRing()
    first, second = await ring.pairs(None, None), await ring.pairs(None, None)
    assert [pair.public_data for pair in first] == [pair.public_data for pair in second]
    assert first
    assert all(a is not b for a, b in zip(first, second, strict=True))
    first[0].set_sig_algorithm(b"rsa-sha2-512")  # what a login does to its pair
    assert second[0].sig_algorithm != b"rsa-sha2-512"
    assert (await ring.pairs(None, None))[0].sig_algorithm != b"rsa-sha2-512"
    assert ring.reads == 1
    key = in_ssh_home / ".ssh" / "id_ed25519"
    key.write_bytes(key.read_bytes())  # the same key, written anew
    await ring.pairs(None, None)
    assert ring.reads == 2


async def test_a_named_key_is_read_once_and_a_wrong_one_still_fails(
    ssh_lab: SshLab, home: Path, pool: SshPool
) -> None:
    ecdsa = str(ssh_lab.keys["ecdsa"])
    for host in ssh_lab.hosts[8:11]:
        who, result = await whoami(pool, login(ssh_lab, host, identity=ecdsa))
        assert who == ssh_lab.key_user, result
    assert pool.keys.reads == 1
    stranger = login(ssh_lab, ssh_lab.hosts[11], identity=str(ssh_lab.keys["stranger"]))
    who, result = await whoami(pool, stranger)
    assert (who, result.failure) == ("", Failure.AUTH_FAILED), result
    assert pool.keys.reads == 2  # another file: read for itself


async def test_a_key_file_that_cannot_be_read_is_reported_each_time(
    ssh_lab: SshLab, home: Path, pool: SshPool
) -> None:
    """A failed read is not remembered as "no keys": every host says what is wrong."""
    missing = str(home / ".ssh" / "no_such_key")
    for host in ssh_lab.hosts[8:10]:
        result, _ = await run(SshTransport(pool, login(ssh_lab, host, identity=missing)), "true")
        assert result.failure is Failure.AUTH_FAILED, result
        assert f"cannot read {missing} for " in (result.error or ""), result
        assert "No such file or directory" in (result.error or ""), result
    assert pool.keys.reads == 0
    # read by asyncssh itself (ssh_config says IdentitiesOnly): the same words
    (home / ".ssh" / "config").write_text("Host *\n    IdentitiesOnly yes\n")
    where = login(ssh_lab, ssh_lab.hosts[10], identity=missing)
    result, _ = await run(SshTransport(pool, where), "true")
    assert result.failure is Failure.AUTH_FAILED, result
    assert f"cannot read {missing} for " in (result.error or ""), result


async def test_a_proxy_command_that_cannot_start_is_not_a_key_problem(
    ssh_lab: SshLab, home: Path, pool: SshPool
) -> None:
    """A missing ProxyCommand program is also an OSError naming a file: it is the way to the
    host that failed, not the login's keys."""
    missing = home / "no-such-proxy"
    (home / ".ssh" / "config").write_text(f"Host *\n    ProxyCommand {missing} %h %p\n")
    result, _ = await run(SshTransport(pool, login(ssh_lab, ssh_lab.hosts[11])), "true")
    assert result.failure is Failure.UNREACHABLE, result
    assert "cannot read" not in (result.error or ""), result


async def test_encrypted_key_with_its_passphrase(
    ssh_lab: SshLab, home: Path, pool: SshPool, host: SshHost
) -> None:
    key = login(
        ssh_lab, host, identity=str(ssh_lab.keys["encrypted"]), passphrase=ssh_lab.key_passphrase
    )
    who, result = await whoami(pool, key)
    assert who == ssh_lab.key_user, result


@pytest.mark.parametrize("passphrase", [None, "wrong-passphrase"])
async def test_encrypted_key_without_the_right_passphrase_fails_without_asking(
    ssh_lab: SshLab, home: Path, host: SshHost, passphrase: str | None
) -> None:
    """Headless (nobody to ask), no hang: auth_failed, and no secret in the message."""
    async with pool_for_test() as pool:
        key = login(ssh_lab, host, identity=str(ssh_lab.keys["encrypted"]), passphrase=passphrase)
        result, _ = await run(SshTransport(pool, key), "true", timeout=30)
    assert result.failure is Failure.AUTH_FAILED, result
    assert result.duration < 5
    assert ssh_lab.key_passphrase not in (result.error or "")
    assert "wrong-passphrase" not in (result.error or "")


async def test_an_encrypted_key_asks_for_its_passphrase_when_someone_can_answer(
    ssh_lab: SshLab, home: Path, host: SshHost
) -> None:
    """On a terminal: the passphrase is asked for, naming the key; a plain key is not."""
    ask = Prompter(ssh_lab.key_passphrase)
    async with pool_for_test(ask=ask) as pool:
        encrypted = login(ssh_lab, host, identity=str(ssh_lab.keys["encrypted"]))
        who, result = await whoami(pool, encrypted)
        assert who == ssh_lab.key_user, result
        plain = login(ssh_lab, ssh_lab.hosts[9], identity=str(ssh_lab.keys["ed25519"]))
        who, result = await whoami(pool, plain)
        assert who == ssh_lab.key_user, result
    assert ask.asked == [f"passphrase for {ssh_lab.keys['encrypted']}: "]


# --- the agent ----------------------------------------------------------------------------------


async def test_agent_keys_log_in(
    ssh_lab: SshLab,
    home: Path,
    pool: SshPool,
    host: SshHost,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (home / ".ssh" / "config").unlink()  # nothing in ~/.ssh but known_hosts
    assert [p.name for p in (home / ".ssh").iterdir()] == ["known_hosts"]
    with ssh_lab.agent(ssh_lab.keys["ed25519"]) as sock:
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        who, result = await whoami(pool, login(ssh_lab, host))
    assert who == ssh_lab.key_user, result


async def test_explicit_identity_comes_before_a_crowded_agent(
    ssh_lab: SshLab,
    ssh_home: Path,
    host: SshHost,
    strangers: list[Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """T-SSH-2: an agent holding more unknown keys than the server's MaxAuthTries would lock the
    right key out if it were asked first. The control (no explicit key, the good key in
    ~/.ssh) shows the lock-out is real on this server."""
    use_home(monkeypatch, ssh_home)
    with ssh_lab.agent(*strangers) as sock:
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        async with pool_for_test() as pool:
            explicit = login(ssh_lab, host, identity=str(ssh_lab.keys["rsa"]))
            who, result = await whoami(pool, explicit)
            assert who == ssh_lab.key_user, result
        async with pool_for_test() as pool:
            _, control = await whoami(pool, login(ssh_lab, host))
    # sshd hangs up ("Too many authentication failures"): a refusal, not an unreachable host
    assert control.failure is Failure.AUTH_FAILED, control
    assert "agent" in (control.error or "")
    assert "authentication failures" in (control.error or "")


async def test_agent_is_still_offered_after_a_refused_explicit_key(
    ssh_lab: SshLab,
    home: Path,
    pool: SshPool,
    host: SshHost,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with ssh_lab.agent(ssh_lab.keys["ecdsa"]) as sock:
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        stranger = login(ssh_lab, host, identity=str(ssh_lab.keys["stranger"]))
        who, result = await whoami(pool, stranger)
    assert who == ssh_lab.key_user, result


async def test_agent_is_never_forwarded(
    ssh_lab: SshLab,
    home: Path,
    pool: SshPool,
    host: SshHost,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """T-SSH-10: not even when ~/.ssh/config asks for it for every host. The control (OpenSSH's
    client with ForwardAgent) shows the server would accept a forwarded agent."""
    (home / ".ssh" / "config").write_text("Host *\n    ForwardAgent yes\n")
    probe = 'echo "${SSH_AUTH_SOCK:-none}"'
    with ssh_lab.agent(ssh_lab.keys["ed25519"]) as sock:
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        result, sink = await run(SshTransport(pool, login(ssh_lab, host)), probe)
        argv = ssh_lab.ssh_argv(host, agent=sock, options=["ForwardAgent=yes"])
        control = await asyncio.to_thread(
            subprocess.run,
            [*argv, "--", probe],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    assert result.succeeded, result
    assert sink.out == b"none\n"
    assert control.returncode == 0, control.stderr
    assert control.stdout.strip() not in ("", "none")


# --- passwords ----------------------------------------------------------------------------------


async def test_password_login(ssh_lab: SshLab, home: Path, pool: SshPool, host: SshHost) -> None:
    by_password = login(
        ssh_lab,
        host,
        user=ssh_lab.password_user,
        password=ssh_lab.password,
        identity=str(ssh_lab.keys["stranger"]),
    )
    who, result = await whoami(pool, by_password)
    assert who == ssh_lab.password_user, result


async def test_wrong_password_is_auth_failed_without_the_password(
    ssh_lab: SshLab, home: Path, pool: SshPool, host: SshHost
) -> None:
    """T-SSH-2: the message says what was tried, never with what; and the host is marked down
    at once, since trying again cannot change the answer."""
    wrong = f"wrong-{token()}"
    by_password = login(
        ssh_lab,
        host,
        user=ssh_lab.password_user,
        password=wrong,
        identity=str(ssh_lab.keys["stranger"]),
    )
    transport = SshTransport(pool, by_password)
    result, _ = await run(transport, "true", timeout=30)
    assert result.failure is Failure.AUTH_FAILED, result
    error = result.error or ""
    assert "password" in error
    assert str(ssh_lab.keys["stranger"]) in error
    assert wrong not in error
    assert ssh_lab.password not in error
    assert wrong not in repr(by_password)
    assert result.duration < 5

    again, _ = await run(transport, "true")
    assert again.failure is Failure.AUTH_FAILED
    assert again.duration < 0.1
    assert pool.opened == 0


async def test_password_is_asked_once_when_someone_can_answer(
    ssh_lab: SshLab, home: Path, host: SshHost
) -> None:
    ask = Prompter(ssh_lab.password)
    async with pool_for_test(ask=ask) as pool:
        by_prompt = login(
            ssh_lab, host, user=ssh_lab.password_user, identity=str(ssh_lab.keys["stranger"])
        )
        who, result = await whoami(pool, by_prompt)
    assert who == ssh_lab.password_user, result
    assert len(ask.asked) == 1
    assert ssh_lab.password_user in ask.asked[0]


async def test_headless_password_host_fails_without_prompting(
    ssh_lab: SshLab, home: Path, pool: SshPool, host: SshHost
) -> None:
    no_password = login(
        ssh_lab, host, user=ssh_lab.password_user, identity=str(ssh_lab.keys["stranger"])
    )
    result, _ = await run(SshTransport(pool, no_password), "true", timeout=30)
    assert result.failure is Failure.AUTH_FAILED, result
    assert result.duration < 5


# --- ~/.ssh/config ------------------------------------------------------------------------------


def alias_config(host: SshHost, user: str, *extra: str) -> str:
    lines = [
        "Host myalias",
        f"    HostName {host.address}",
        f"    Port {host.port}",
        f"    User {user}",
        *(f"    {line}" for line in extra),
    ]
    return "\n".join(lines) + "\n"


async def test_ssh_config_alias_supplies_hostname_port_user_and_key(
    ssh_lab: SshLab, home: Path, pool: SshPool, host: SshHost
) -> None:
    (home / ".ssh" / "config").write_text(
        alias_config(host, ssh_lab.key_user, f"IdentityFile {ssh_lab.keys['rsa']}")
    )
    transport = SshTransport(pool, Login(name="aliased", hostname="myalias"))
    result, sink = await run(transport, 'id -un; echo "$SSH_CONNECTION"')
    assert result.succeeded, result
    who, connection = sink.out.decode().splitlines()
    assert who == ssh_lab.key_user
    assert connection.split()[2:] == [host.address, str(host.port)]
    assert pool.keys.reads == 0  # ssh_config names the key for this host: asyncssh reads it


@pytest.mark.parametrize(
    ("lines", "identity", "served"),
    [
        ([], None, True),
        (["IdentityFile ~/.ssh/other"], None, False),  # which keys: the host's own
        (["IdentityFile ~/.ssh/other"], "~/.ssh/named", True),  # the named key wins
        (["CertificateFile ~/.ssh/cert.pub"], "~/.ssh/named", False),
        (["IdentitiesOnly yes"], None, False),
        (["IdentitiesOnly no", "User someone"], None, True),
        (["CanonicalizeHostname yes"], None, False),  # a second pass could name keys
    ],
)
def test_keys_are_shared_only_where_ssh_config_says_nothing_about_them(
    tmp_path: Path, lines: list[str], identity: str | None, served: bool
) -> None:
    config = tmp_path / "config"
    config.write_text("Host target\n" + "".join(f"    {line}\n" for line in lines))
    parsed = _read_ssh_config(Login(name="t", hostname="target"), config, "me")
    assert KeyRing.serves(parsed, identity) is served
    assert KeyRing.serves(None, identity)  # no ssh_config: nothing to say


def test_keys_are_left_to_asyncssh_where_ssh_config_has_a_final_pass(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("Match final host target\n    IdentityFile ~/.ssh/other\n")
    parsed = _read_ssh_config(Login(name="t", hostname="target"), config, "me")
    assert parsed is not None
    assert parsed.get("IdentityFile") is None  # not seen yet
    assert not KeyRing.serves(parsed, None)


async def test_nexus_user_wins_over_ssh_config_user(
    ssh_lab: SshLab, home: Path, pool: SshPool, host: SshHost
) -> None:
    (home / ".ssh" / "config").write_text(
        alias_config(host, ssh_lab.key_user, f"IdentityFile {ssh_lab.keys['rsa']}")
    )
    transport = SshTransport(
        pool, Login(name="aliased", hostname="myalias", user=ssh_lab.password_user)
    )
    result, sink = await run(transport, "id -un")
    assert result.succeeded, result
    assert sink.out == f"{ssh_lab.password_user}\n".encode()


# --- the cipher ---------------------------------------------------------------------------------


async def cipher_used(pool: SshPool, where: Login) -> str:
    lease = await pool.acquire(where)
    try:
        return str(lease.connection.get_extra_info("send_cipher"))
    finally:
        pool.release(lease)


async def test_aes_gcm_leads_where_the_cpu_has_aes(
    ssh_lab: SshLab, home: Path, pool: SshPool, host: SshHost
) -> None:
    expected = "aes128-gcm@openssh.com" if _cpu_has_aes() else "chacha20-poly1305@openssh.com"
    assert await cipher_used(pool, login(ssh_lab, host, identity=str(ssh_lab.keys["rsa"]))) == (
        expected
    )


async def test_ssh_config_ciphers_are_kept_as_written(
    ssh_lab: SshLab, home: Path, pool: SshPool, host: SshHost
) -> None:
    (home / ".ssh" / "config").write_text(
        alias_config(host, ssh_lab.key_user, f"IdentityFile {ssh_lab.keys['rsa']}")
        + "    Ciphers aes256-ctr,chacha20-poly1305@openssh.com\n"
    )
    assert await cipher_used(pool, Login(name="aliased", hostname="myalias")) == "aes256-ctr"


@pytest.mark.parametrize(
    ("cpuinfo", "has_aes"),
    [
        ("processor\t: 0\nflags\t\t: fpu sse2 aes avx2\n", True),
        ("processor\t: 0\nflags\t\t: fpu sse2 avx2 vaes-like\n", False),
        ("processor\t: 0\nFeatures\t: fp asimd aes pmull sha1\n", True),
        ("processor\t: 0\nFeatures\t: fp asimd\n", False),
        ("Processor\t: ARMv6\n", False),
    ],
    ids=["x86-aes", "x86-none", "arm64-aes", "arm64-none", "no-flags"],
)
def test_cpu_aes_is_read_from_cpuinfo(tmp_path: Path, cpuinfo: str, has_aes: bool) -> None:
    path = tmp_path / "cpuinfo"
    path.write_text(cpuinfo)
    assert _cpu_has_aes(path) is has_aes


def test_unreadable_cpuinfo_means_no_aes(tmp_path: Path) -> None:
    assert _cpu_has_aes(tmp_path / "missing") is False
