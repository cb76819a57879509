"""Host key verification against real servers: unknown, new, changed and revoked keys under
each policy, the user's known_hosts in its real forms, and concurrent first contacts
(T-SSH-3, 4, 5; T-SEC-9).

A "spare" is another sshd on an address no known_hosts lists, with a host key of its own; the
lab hosts are all listed in the fake HOME's ``~/.ssh/known_hosts``.
"""

from __future__ import annotations

import ast
import asyncio
import subprocess
import sys
from asyncio.subprocess import DEVNULL, PIPE
from collections.abc import Iterator
from pathlib import Path

import pytest

import nexus_engine
from nexus_engine.transports.base import CommandResult
from nexus_engine.transports.ssh import known_hosts as known_hosts_module
from nexus_engine.transports.ssh.connect import Login, hashes_known_hosts
from nexus_engine.transports.ssh.known_hosts import HostKeyPolicy, KnownHosts
from nexus_engine.transports.ssh.transport import SshTransport
from nexus_engine.words import Failure
from tests.ssh.harness import SshHost, SshLab, fingerprint
from tests.ssh.support import login, pool_for_test, run, token, use_home


@pytest.fixture
def home(monkeypatch: pytest.MonkeyPatch, ssh_home: Path) -> Path:
    use_home(monkeypatch, ssh_home)
    return ssh_home


class KnownHostsFile:
    """The fake HOME's known_hosts, read and written the ways these tests need."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __str__(self) -> str:
        return str(self.path)

    def bytes(self) -> bytes:
        return self.path.read_bytes()

    def lines(self) -> list[str]:
        return self.path.read_text().splitlines()

    def append(self, line: str) -> None:
        with self.path.open("a") as file:
            file.write(line + "\n")

    def replace(self, data: bytes) -> None:
        self.path.write_bytes(data)

    def exists(self) -> bool:
        return self.path.exists()

    def remove(self) -> None:
        self.path.unlink()

    def mode(self) -> int:
        return self.path.stat().st_mode & 0o777

    def forget(self, hosts: list[SshHost]) -> bytes:
        """Drop ``hosts``' lines, so they are new again; returns what is left."""
        names = tuple(f"[{host.address}]:{host.port} " for host in hosts)
        kept = [line for line in self.lines() if not line.startswith(names)]
        self.path.write_text("".join(f"{line}\n" for line in kept))
        return self.bytes()


@pytest.fixture
def known(home: Path) -> KnownHostsFile:
    return KnownHostsFile(home / ".ssh" / "known_hosts")


@pytest.fixture
def spare(ssh_lab: SshLab) -> Iterator[SshHost]:
    with ssh_lab.spare(new_host_key=True) as host:
        yield host


async def attempt(lab: SshLab, host: SshHost, policy: HostKeyPolicy) -> CommandResult:
    """One command on a fresh pool (so a fresh read of known_hosts) under ``policy``."""
    async with pool_for_test(policy) as pool:
        result, sink = await run(SshTransport(pool, login(lab, host)), "echo in", timeout=20)
    if result.succeeded:
        assert sink.out == b"in\n"
    return result


def key_fields(line: str) -> list[str]:
    """``[host]:port type base64`` of a known_hosts line, without any comment."""
    return line.split()[:3]


# --- unknown hosts ------------------------------------------------------------------------------


async def test_unknown_host_is_refused_under_strict(
    ssh_lab: SshLab, known: KnownHostsFile, spare: SshHost
) -> None:
    """T-SSH-3: fail closed, with the fingerprint to compare and the command that adds it."""
    before = known.bytes()
    result = await attempt(ssh_lab, spare, HostKeyPolicy.STRICT)
    assert result.failure is Failure.HOST_KEY_UNKNOWN, result
    error = result.error or ""
    assert fingerprint(ssh_lab.host_key_of(spare)) in error
    assert "ssh-keyscan" in error
    assert f"-p {spare.port} {spare.address}" in error
    assert known.bytes() == before


async def test_missing_known_hosts_is_not_a_reason_to_trust(
    ssh_lab: SshLab, known: KnownHostsFile
) -> None:
    known.remove()
    result = await attempt(ssh_lab, ssh_lab.hosts[9], HostKeyPolicy.STRICT)
    assert result.failure is Failure.HOST_KEY_UNKNOWN, result
    assert not known.exists()


async def test_accept_new_records_exactly_one_line(
    ssh_lab: SshLab, known: KnownHostsFile, spare: SshHost
) -> None:
    before = known.bytes()
    result = await attempt(ssh_lab, spare, HostKeyPolicy.ACCEPT_NEW)
    assert result.succeeded, result
    after = known.bytes()
    assert after.startswith(before)  # existing lines byte-identical
    added = after[len(before) :].decode().splitlines()
    assert len(added) == 1
    expected = ssh_lab.known_hosts_line(spare, ssh_lab.host_key_of(spare))
    assert key_fields(added[0]) == key_fields(expected)
    assert added[0].startswith(f"[{spare.address}]:{spare.port} ")

    # the line is right: strict now trusts the host; a second contact adds nothing
    assert (await attempt(ssh_lab, spare, HostKeyPolicy.STRICT)).succeeded
    assert (await attempt(ssh_lab, spare, HostKeyPolicy.ACCEPT_NEW)).succeeded
    assert known.bytes() == after


@pytest.mark.parametrize("for_this_host", [True, False], ids=["hashed", "other-host-only"])
async def test_accept_new_hashes_the_name_when_ssh_config_says_so(
    ssh_lab: SshLab, home: Path, known: KnownHostsFile, spare: SshHost, *, for_this_host: bool
) -> None:
    """T-SEC-9: ``HashKnownHosts yes`` (for this host) and the new line names no host, yet
    OpenSSH's own ``ssh-keygen -F`` finds it, and Nexus trusts it from then on."""
    pattern = spare.address if for_this_host else "elsewhere.example"
    (home / ".ssh" / "config").write_text(f"Host {pattern}\n    HashKnownHosts yes\n")
    before = known.bytes()
    assert (await attempt(ssh_lab, spare, HostKeyPolicy.ACCEPT_NEW)).succeeded
    added = known.bytes()[len(before) :].decode()
    name = f"[{spare.address}]:{spare.port}"
    assert added.startswith("|1|" if for_this_host else f"{name} ")
    assert (spare.address in added) is not for_this_host
    lookup = await asyncio.create_subprocess_exec(
        "ssh-keygen", "-F", name, "-f", str(known), stdout=PIPE, stderr=DEVNULL
    )
    found, _ = await lookup.communicate()
    assert lookup.returncode == 0
    assert key_fields(added) == key_fields(found.decode().splitlines()[-1])
    assert (await attempt(ssh_lab, spare, HostKeyPolicy.STRICT)).succeeded
    assert (await attempt(ssh_lab, spare, HostKeyPolicy.ACCEPT_NEW)).succeeded
    assert known.bytes() == before + added.encode()


async def test_accept_new_creates_a_private_known_hosts(
    ssh_lab: SshLab, known: KnownHostsFile, spare: SshHost
) -> None:
    known.remove()
    result = await attempt(ssh_lab, spare, HostKeyPolicy.ACCEPT_NEW)
    assert result.succeeded, result
    assert len(known.lines()) == 1
    assert known.mode() == 0o600


async def test_accept_new_never_glues_onto_a_last_line_without_newline(
    ssh_lab: SshLab, known: KnownHostsFile, spare: SshHost
) -> None:
    before = known.bytes().rstrip(b"\n")
    known.replace(before)
    result = await attempt(ssh_lab, spare, HostKeyPolicy.ACCEPT_NEW)
    assert result.succeeded, result
    lines = known.bytes().split(b"\n")
    assert b"\n".join(lines[:-2]) == before
    assert lines[-2].startswith(f"[{spare.address}]:{spare.port} ".encode())
    assert lines[-1] == b""
    assert (await attempt(ssh_lab, ssh_lab.hosts[-1], HostKeyPolicy.STRICT)).succeeded


# --- changed and revoked keys -------------------------------------------------------------------


@pytest.mark.parametrize("policy", [HostKeyPolicy.STRICT, HostKeyPolicy.ACCEPT_NEW])
async def test_changed_key_is_refused_under_every_policy_but_off(
    ssh_lab: SshLab, known: KnownHostsFile, spare: SshHost, policy: HostKeyPolicy
) -> None:
    """T-SSH-4: the file lists the lab's key for the spare's address; the spare presents its
    own. Refused, loudly, naming the line; the file is left alone."""
    known.append(ssh_lab.known_hosts_line(spare))
    line = len(known.lines())
    before = known.bytes()
    result = await attempt(ssh_lab, spare, policy)
    assert result.failure is Failure.HOST_KEY_CHANGED, result
    error = result.error or ""
    assert "HOST KEY CHANGED" in error
    assert f"{known}:{line}" in error
    assert fingerprint(ssh_lab.host_key_of(spare)) in error
    assert ssh_lab.host_key_fingerprint in error
    assert known.bytes() == before


async def test_off_connects_to_a_changed_host(
    ssh_lab: SshLab, known: KnownHostsFile, spare: SshHost
) -> None:
    known.append(ssh_lab.known_hosts_line(spare))
    before = known.bytes()
    result = await attempt(ssh_lab, spare, HostKeyPolicy.OFF)
    assert result.succeeded, result
    assert known.bytes() == before


@pytest.mark.parametrize("also_trusted", [False, True], ids=["revoked-only", "also-listed"])
@pytest.mark.parametrize("policy", [HostKeyPolicy.STRICT, HostKeyPolicy.ACCEPT_NEW])
async def test_revoked_key_is_refused(
    ssh_lab: SshLab,
    known: KnownHostsFile,
    spare: SshHost,
    policy: HostKeyPolicy,
    *,
    also_trusted: bool,
) -> None:
    """T-SSH-5: ``@revoked`` wins over everything, accept-new's first contact included."""
    line = ssh_lab.known_hosts_line(spare, ssh_lab.host_key_of(spare))
    if also_trusted:
        known.append(line)
    known.append(f"@revoked {line}")
    before = known.bytes()
    result = await attempt(ssh_lab, spare, policy)
    assert result.failure is Failure.HOST_KEY_REVOKED, result
    assert result.exit_code is None
    assert known.bytes() == before


# --- known_hosts in the forms users have it -----------------------------------------------------


async def test_hashed_known_hosts_entries_verify(ssh_lab: SshLab, known: KnownHostsFile) -> None:
    hashing = await asyncio.create_subprocess_exec(
        "ssh-keygen", "-H", "-f", str(known), stdout=DEVNULL, stderr=DEVNULL
    )
    assert await hashing.wait() == 0
    text = "\n".join(known.lines())
    host = ssh_lab.hosts[10]
    assert host.address not in text
    assert text.startswith("|1|")
    assert (await attempt(ssh_lab, host, HostKeyPolicy.STRICT)).succeeded


def host_certificate(lab: SshLab, where: Path) -> tuple[Path, str]:
    """The lab's host key certified by a fresh CA (no principals: valid for any name); the
    certificate's path, and the CA's public key line."""
    ca, public = where / "ca", where / "host.pub"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ca)], check=True)
    public.write_bytes(lab.host_key.with_name(lab.host_key.name + ".pub").read_bytes())
    subprocess.run(
        ["ssh-keygen", "-q", "-s", str(ca), "-I", "nexus-test", "-h", str(public)], check=True
    )
    return where / "host-cert.pub", (where / "ca.pub").read_text().strip()


@pytest.mark.parametrize("trusted", [True, False], ids=["ca-listed", "ca-unknown"])
async def test_a_host_certificate_is_trusted_through_cert_authority(
    ssh_lab: SshLab, known: KnownHostsFile, tmp_path: Path, *, trusted: bool
) -> None:
    """A host unknown by name whose certificate a listed ``@cert-authority`` signed is
    trusted; the same host under a CA nobody listed is unknown."""
    certificate, ca_line = host_certificate(ssh_lab, tmp_path)
    if trusted:
        known.append(f"@cert-authority * {ca_line}")
    config = [f"HostCertificate {certificate}"]
    with ssh_lab.spare(new_host_key=False, extra_config=config) as spare:
        result = await attempt(ssh_lab, spare, HostKeyPolicy.STRICT)
    if trusted:
        assert result.succeeded, result
    else:
        assert result.failure is Failure.HOST_KEY_UNKNOWN, result


async def test_user_known_hosts_file_from_ssh_config(
    ssh_lab: SshLab, home: Path, known: KnownHostsFile, spare: SshHost
) -> None:
    """T-SSH-5: ssh_config's file is the one read, and the one accept-new writes to."""
    (home / "elsewhere").mkdir()
    elsewhere = KnownHostsFile(known.path.rename(home / "elsewhere" / "hosts"))
    (home / ".ssh" / "config").write_text("UserKnownHostsFile ~/elsewhere/hosts\n")
    assert (await attempt(ssh_lab, ssh_lab.hosts[11], HostKeyPolicy.STRICT)).succeeded
    before = elsewhere.bytes()
    assert (await attempt(ssh_lab, spare, HostKeyPolicy.ACCEPT_NEW)).succeeded
    assert len(elsewhere.bytes()[len(before) :].splitlines()) == 1
    assert not known.exists()


# --- concurrent first contacts ------------------------------------------------------------------


def lines_for(text: str, host: SshHost) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f"[{host.address}]:{host.port} ")]


async def test_concurrent_first_contacts_write_one_line_each(
    ssh_lab: SshLab, known: KnownHostsFile
) -> None:
    """T-SEC-9 in one run: ten new hosts at once."""
    hosts = ssh_lab.hosts[:10]
    before = known.forget(hosts)
    async with pool_for_test(HostKeyPolicy.ACCEPT_NEW) as pool:
        results = await asyncio.gather(
            *(run(SshTransport(pool, login(ssh_lab, host)), "true") for host in hosts)
        )
    assert all(result.succeeded for result, _ in results), results
    after = known.bytes()
    assert after.startswith(before)
    text = after.decode()
    for host in hosts:
        (line,) = lines_for(text, host)
        assert key_fields(line) == key_fields(ssh_lab.known_hosts_line(host))
    assert len(text.splitlines()) == len(before.decode().splitlines()) + 10


async def test_a_host_recorded_by_another_run_meanwhile_is_trusted(
    ssh_lab: SshLab, known: KnownHostsFile
) -> None:
    """Run A read known_hosts before run B recorded a new host; when A then meets that host it
    finds B's line with the very key offered: the same host, not a changed one."""
    new, listed = ssh_lab.hosts[12], ssh_lab.hosts[13]
    known.forget([new])
    async with pool_for_test(HostKeyPolicy.ACCEPT_NEW) as run_a:
        first, _ = await run(SshTransport(run_a, login(ssh_lab, listed)), "true")
        assert first.succeeded, first  # run A has read the file now
        async with pool_for_test(HostKeyPolicy.ACCEPT_NEW) as run_b:
            recorded, _ = await run(SshTransport(run_b, login(ssh_lab, new)), "true")
            assert recorded.succeeded, recorded
        result, _ = await run(SshTransport(run_a, login(ssh_lab, new)), "true")
    assert result.succeeded, result
    assert len(lines_for("\n".join(known.lines()), new)) == 1


_FIRST_CONTACT = """
import asyncio, sys
from nexus_engine.transports.ssh.connect import ConnectSettings, Login, connect
from nexus_engine.transports.ssh.known_hosts import HostKeyPolicy, KnownHostsBook

async def main(user, targets):
    book = KnownHostsBook(HostKeyPolicy.ACCEPT_NEW)
    async def one(target):
        address, port = target.split(":")
        login = Login(target, address, int(port), user)
        connection = await connect(login, ConnectSettings(connect_timeout=10), book)
        connection.close()
        await connection.wait_closed()
    await asyncio.gather(*(one(t) for t in targets))

asyncio.run(main(sys.argv[1], sys.argv[2:]))
"""


async def test_concurrent_first_contacts_from_separate_processes(
    ssh_lab: SshLab, home: Path, known: KnownHostsFile
) -> None:
    """T-SEC-9 across processes: three runs meet the same ten new hosts at once. The flock and
    the re-read under it leave exactly one line per host and the old lines untouched."""
    hosts = ssh_lab.hosts[10:20]
    before = known.forget(hosts)
    targets = [f"{host.address}:{host.port}" for host in hosts]
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _FIRST_CONTACT,
            ssh_lab.key_user,
            *(targets[i:] + targets[:i]),
            env=env,
            stdout=DEVNULL,
            stderr=PIPE,
        )
        for i in range(3)
    ]
    async with asyncio.timeout(60):
        outcomes = [await proc.communicate() for proc in procs]
    for proc, (_, err) in zip(procs, outcomes, strict=True):
        assert proc.returncode == 0, err.decode()
    after = known.bytes()
    assert after.startswith(before)
    text = after.decode()
    for host in hosts:
        assert len(lines_for(text, host)) == 1, text
    assert len(text.splitlines()) == len(before.decode().splitlines()) + 10


# --- the one way to switch verification off -----------------------------------------------------


def test_only_the_off_policy_disables_verification() -> None:
    """T-SSH-4's grep test: asyncssh skips verification when ``known_hosts`` is None. The one
    place that connects passes the policy's matcher and nothing else; a module that builds
    options with None (to read ssh_config, say) never connects; and the matcher returns None
    only in its ``OFF`` branch."""
    root = Path(nexus_engine.__file__).parent
    connecting: dict[str, list[str]] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text())
        passed = []
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "known_hosts":
                passed.append(ast.unparse(node.value))
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "known_hosts":
                        passed.append(ast.unparse(value))
        connects = any(
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "asyncssh"
            and node.attr in _CONNECTING
            for node in ast.walk(tree)
        )
        if connects:
            connecting[path.relative_to(root).as_posix()] = passed
        elif "None" in passed:
            assert "SSHClientConnectionOptions" in path.read_text(), path
    assert connecting == {"transports/ssh/connect.py": ["client.known.matcher()"]}

    tree = ast.parse(Path(known_hosts_module.__file__).read_text())
    (matcher,) = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.name == "matcher"
    ]
    nones = [
        node
        for node in ast.walk(matcher)
        if isinstance(node, ast.Return)
        and (
            node.value is None
            or (isinstance(node.value, ast.Constant) and node.value.value is None)
        )
    ]
    guards = [
        node
        for node in ast.walk(matcher)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "self.policy is HostKeyPolicy.OFF"
    ]
    assert len(nones) == 1
    assert len(guards) == 1
    assert nones[0] in guards[0].body

    for policy in HostKeyPolicy:
        matcher_value = KnownHosts(policy, []).matcher()
        assert (matcher_value is None) == (policy is HostKeyPolicy.OFF)


#: asyncssh's ways to open a client connection (``connect_agent`` reaches the agent, no host).
_CONNECTING = {
    "connect",
    "connect_reverse",
    "create_connection",
    "run_client",
    "get_server_host_key",
}


def test_login_repr_hides_secrets() -> None:
    secrets = [f"secret-{token()}" for _ in range(3)]
    text = repr(Login("h", "example", None, "u", None, *secrets))
    assert "example" in text
    for secret in secrets:
        assert secret not in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, False),
        ("HashKnownHosts yes\n", True),
        ("HashKnownHosts no\nHost *\n    HashKnownHosts yes\n", False),  # the first value wins
        ("Host web*\n    HashKnownHosts yes\n", True),
        ("Match host db*\n    HashKnownHosts yes\n", False),
        ("Port notanumber\nHashKnownHosts yes\n", False),  # a file ssh would reject: no hashing
    ],
    ids=["no-file", "global", "first-wins", "host-pattern", "other-match", "broken-file"],
)
def test_hash_known_hosts_is_read_like_ssh_config(
    tmp_path: Path, text: str | None, *, expected: bool
) -> None:
    config = tmp_path / "config"
    if text is not None:
        config.write_text(text)
    web = Login(name="web", hostname="web1.example", port=2222, user="deploy")
    assert hashes_known_hosts(web, config) is expected
