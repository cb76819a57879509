"""Opening one SSH connection to one host, with every default Nexus insists on set explicitly.

asyncssh leaves the connect timeout and keepalives off and forwards the agent when
``~/.ssh/config`` says so; a deploy tool must not hang on a dead host, must notice a host that
vanished mid-command, and must not hand its agent to every host it touches. So each is set here,
in one place, and ``~/.ssh/config`` supplies the rest (aliases, HostName, User, Port,
IdentityFile, ProxyJump, UserKnownHostsFile), with ``nexus.toml`` and then the command line
taking precedence.

The cipher is asyncssh's choice unless the machine has AES instructions and ssh_config names no
``Ciphers``: then AES-GCM goes first. OpenSSH prefers chacha20-poly1305 because it is constant
time in software; with AES instructions AES-GCM is too, and asyncssh's chacha20-poly1305 builds
five cipher contexts per packet in Python where AES-GCM makes one call, a difference that shows
on every step of a busy run.

The connect timeout covers TCP, the handshake and authentication, but not the time a person
takes to type a password at a prompt: it is for hosts that do not answer.

Authentication tries keys, then the agent, then a password. asyncssh asks the agent first, so
when a key is named explicitly the agent is switched off and offered only after that key: an
agent with more keys than the server's ``MaxAuthTries`` would otherwise lock the right key out.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import getpass
import os
from asyncio import FIRST_COMPLETED
from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import asyncssh

from nexus_engine.transports.base import Ask
from nexus_engine.transports.ssh.errors import SshFailure, classify_connect_error, through_jump
from nexus_engine.transports.ssh.keyring import KeyRing
from nexus_engine.transports.ssh.known_hosts import KnownHosts, KnownHostsBook
from nexus_engine.words import Failure

DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts")
T = TypeVar("T")
_CONNECT_ERRORS = (TimeoutError, OSError, asyncssh.Error, ValueError)


@dataclass(frozen=True, slots=True)
class Login:
    """How to reach one host and be let in. Secrets are kept out of ``repr``."""

    name: str
    hostname: str
    port: int | None = None
    user: str | None = None
    identity: str | None = None
    password: str | None = field(default=None, repr=False)
    passphrase: str | None = field(default=None, repr=False)
    sudo_password: str | None = field(default=None, repr=False)

    @property
    def where(self) -> str:
        """``user@host:port`` as far as the file says; ssh_config may fill in the rest."""
        text = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        if self.user:
            text = f"{self.user}@{text}"
        return f"{text}:{self.port}" if self.port else text


@dataclass(frozen=True, slots=True)
class Route:
    """Where a login ends up once ``~/.ssh/config`` has had its say: the user, address and
    port ssh will use, and the jump host (``ProxyJump``) it goes through, if any."""

    user: str
    hostname: str
    port: int
    jump: str | None = None
    proxy_command: bool = False  # ssh_config's ProxyCommand carries the connection

    @property
    def where(self) -> str:
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return f"{self.user}@{host}:{self.port}"


SSH_CONFIG = Path("~/.ssh/config")


def route(login: Login, config: Path = SSH_CONFIG) -> Route:
    """The route :func:`connect` takes to ``login``: ``nexus.toml`` and the command line
    first, then ssh_config (HostName, User, Port, ProxyJump, ProxyCommand), then ssh's
    defaults. Reads the file only; connects nowhere."""
    local_user = _local_user()
    parsed = _read_ssh_config(login, config, local_user)
    options = {
        name: parsed.get(name) if parsed is not None else None
        for name in ("Hostname", "User", "Port", "ProxyJump", "ProxyCommand")
    }
    hostname, user, port = options["Hostname"], options["User"], options["Port"]
    jump = options["ProxyJump"]
    return Route(
        user=login.user or (user if isinstance(user, str) else local_user),
        hostname=hostname if isinstance(hostname, str) else login.hostname,
        port=login.port or (port if isinstance(port, int) else 22),
        jump=jump if isinstance(jump, str) else None,
        proxy_command=bool(options["ProxyCommand"]) and not isinstance(jump, str),
    )


@functools.cache
def _local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a uid with no name
        return str(os.getuid())


def _read_ssh_config(
    login: Login, config: Path, local_user: str
) -> asyncssh.config.SSHConfig | None:
    path = config.expanduser()
    if not os.access(path, os.R_OK):
        return None
    try:
        return asyncssh.config.SSHClientConfig.load(
            None,
            [path],
            False,
            False,
            False,
            local_user,
            login.user or (),
            login.hostname,
            login.port or (),
        )
    except (OSError, ValueError):
        return None


@dataclass(frozen=True, slots=True)
class ConnectSettings:
    """The timeouts of a connection: the handshake, and how a silent host is declared lost."""

    connect_timeout: float = 10.0
    keepalive_interval: float = 15.0
    keepalive_count_max: int = 3


async def connect(
    login: Login,
    settings: ConnectSettings,
    book: KnownHostsBook,
    ask: Ask | None = None,
    keys: KeyRing | None = None,
) -> asyncssh.SSHClientConnection:
    """A connected, authenticated connection, or :class:`SshFailure` saying why not. With
    ``keys``, the client's key files are read once for all the connections that share it."""
    if ask is not None and login.identity and login.passphrase is None:
        login = await _with_passphrase(login, ask)
    client = _Client(login, ask)
    tried = client.methods()
    parsed = None
    try:
        parsed = _read_ssh_config(login, SSH_CONFIG, _local_user())
        pairs = None
        if keys is not None and KeyRing.serves(parsed, login.identity):
            pairs = await keys.pairs(login.identity, login.passphrase)
        options = _options(login, settings, book, client, parsed=parsed, pairs=pairs)
        connecting = asyncssh.connect(login.hostname, login.port or (), **options)
        return await _within(connecting, settings.connect_timeout, client.person)
    except _CONNECT_ERRORS as error:
        if client.refusal is not None:
            raise client.refusal from None
        if isinstance(error, OSError) and error.filename in _key_files(login, parsed):
            # a key file that cannot be read: the operator's to fix, never an unreachable host
            reason = error.strerror or str(error)
            raise SshFailure(
                Failure.AUTH_FAILED, f"cannot read {error.filename} for {login.where}: {reason}"
            ) from None
        way = route(login)
        if way.jump is not None and not client.reached:
            # asyncssh raises what went wrong on the way (the jump host's own connection, or
            # its forwarding to the target): named as such, so nobody fixes the wrong host
            raise through_jump(
                error, login.name, way.where, way.jump, timeout=settings.connect_timeout
            ) from None
        lost = isinstance(error, asyncssh.DisconnectError | ConnectionError)
        if client.person.asked and lost and not isinstance(error, asyncssh.PermissionDenied):
            # the server hung up while a person was typing (sshd's LoginGraceTime): a login
            # that did not happen, never a network fault
            raise SshFailure(
                Failure.AUTH_FAILED,
                f"authentication failed for {login.where}: the server closed the connection "
                f"while waiting for the password ({error})",
            ) from None
        raise classify_connect_error(
            error, login.where, timeout=settings.connect_timeout, auth_tried=tried
        ) from None
    finally:
        client.forget_agent()


def _key_files(login: Login, config: asyncssh.config.SSHConfig | None) -> set[str]:
    """The key and certificate files a login names, in nexus.toml or in ssh_config, as read."""
    named = [login.identity] if login.identity else []
    if config is not None:
        named += [*_listed(config.get("IdentityFile")), *_listed(config.get("CertificateFile"))]
    return {os.path.expanduser(name) for name in named}


class PersonClock:
    """The time a connection spent waiting for a person to answer a question, which the
    connect timeout does not count: a timeout is for hosts that do not answer, not for an
    operator who types slowly."""

    def __init__(self) -> None:
        self.waited = 0.0
        self.asked = False
        self._since: float | None = None
        self.changed = asyncio.Event()

    @property
    def asking(self) -> bool:
        return self._since is not None

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        self.asked = True
        self._since = loop.time()
        self.changed.set()
        try:
            yield
        finally:
            self.waited += loop.time() - self._since
            self._since = None
            self.changed.set()


async def _within(work: Awaitable[T], limit: float, person: PersonClock) -> T:
    """``work``'s result, or TimeoutError once it has taken ``limit`` seconds beyond what it
    waited for a person (``asyncssh.connect``'s own timeout cannot be paused)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    task = asyncio.ensure_future(work)
    try:
        while not task.done():
            person.changed.clear()
            left = None
            if not person.asking:
                left = started + limit + person.waited - loop.time()
                if left <= 0:
                    raise TimeoutError
            changed = asyncio.ensure_future(person.changed.wait())
            try:
                await asyncio.wait({task, changed}, timeout=left, return_when=FIRST_COMPLETED)
            finally:
                changed.cancel()
        return task.result()
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, *_CONNECT_ERRORS):
                await task


async def _with_passphrase(login: Login, ask: Ask) -> Login:
    """A named key that is encrypted gets its passphrase asked for, once per key (``ask``
    remembers answers); an unreadable key is left for the connection to report."""
    path = login.identity or ""
    try:
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: asyncssh.read_private_key(os.path.expanduser(path))
        )
    except asyncssh.KeyImportError as error:
        # asyncssh says "Passphrase must be specified …" for an encrypted key; other import
        # errors are left for the connection attempt to report
        if "passphrase" in str(error).lower():
            return replace(login, passphrase=await ask(f"passphrase for {login.identity}: "))
    except OSError:
        pass
    return login


def _options(
    login: Login,
    settings: ConnectSettings,
    book: KnownHostsBook,
    client: _Client,
    *,
    parsed: asyncssh.config.SSHConfig | None,
    pairs: Sequence[asyncssh.SSHKeyPair] | None,
) -> dict[str, Any]:
    """Everything ``asyncssh.connect`` is given, so that it builds the connection's options
    once (keys read, ssh_config applied). Which known_hosts files apply to this host and
    whether ssh_config names ``Ciphers`` are read off ssh_config here, as asyncssh reads them:
    building a whole options object just to ask it cost every connection a second build.
    ``parsed``: ssh_config as it applies to the host; ``pairs``: the client's keys, if read."""
    known = ("UserKnownHostsFile", "GlobalKnownHostsFile")
    files = [] if parsed is None else [n for key in known for n in _listed(parsed.get(key))]
    client.known = book.for_files([Path(name) for name in files] or [DEFAULT_KNOWN_HOSTS])
    options: dict[str, Any] = {
        "known_hosts": client.known.matcher(),
        "connect_timeout": None,  # timed by ``_within``, which can pause for a person
        "keepalive_interval": settings.keepalive_interval,
        "keepalive_count_max": settings.keepalive_count_max,
        "agent_forwarding": False,
        "client_factory": lambda: client,
    }
    if login.user:
        options["username"] = login.user
    if pairs is not None:  # read already, for every host that reads the same files
        options["client_keys"] = pairs
    elif login.identity:
        options["client_keys"] = [os.path.expanduser(login.identity)]
    if login.identity:
        options["agent_path"] = None  # offered after the named key, by the client
    if login.password is not None:
        options["password"] = login.password
    if login.passphrase is not None:
        options["passphrase"] = login.passphrase
    if (parsed is None or parsed.get("Ciphers") is None) and _cpu_has_aes():
        options["encryption_algs"] = _aes_gcm_first(
            asyncssh.encryption.get_default_encryption_algs()
        )
    return options


def _listed(value: object) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list | tuple) else []


class _HashingConfig(asyncssh.config.SSHClientConfig):
    """asyncssh's ssh_config reader (Host, Match, Include, first value wins), taught the one
    option it skips that Nexus needs."""

    _handlers = {  # noqa: RUF012 - asyncssh's own table, extended
        **asyncssh.config.SSHClientConfig._handlers,
        "hashknownhosts": ("HashKnownHosts", asyncssh.config.SSHConfig._set_bool),
    }


def hashes_known_hosts(login: Login, config: Path = Path("~/.ssh/config")) -> bool:
    """Whether ssh_config says ``HashKnownHosts yes`` for this host: the file asyncssh reads,
    so the same file that names the host's user, port and known_hosts files."""
    path = config.expanduser()
    if not os.access(path, os.R_OK):
        return False
    try:
        parsed = _HashingConfig.load(
            None,
            [path],
            False,
            False,
            False,
            getpass.getuser(),
            login.user or (),
            login.hostname,
            login.port or (),
        )
    except (OSError, KeyError, ValueError):  # KeyError: getuser() for a uid with no name
        return False
    return parsed.get("HashKnownHosts") is True


def _aes_gcm_first(chosen: Sequence[bytes]) -> list[str]:
    """asyncssh's default ciphers with AES-GCM first (for a CPU with AES instructions)."""
    gcm = [name for name in chosen if name.endswith(b"-gcm@openssh.com")]
    ordered = sorted(gcm) + [name for name in chosen if name not in gcm]  # aes128 before aes256
    return [name.decode("ascii") for name in ordered]


@functools.cache
def _cpu_has_aes(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU flags (x86) or features (arm64) list ``aes``; False where unknown."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in {"flags", "Features"}:
            return "aes" in value.split()
    return False


class _Client(asyncssh.SSHClient):
    """asyncssh's callbacks for one connection: host key decisions, the agent after a named
    key, a password typed by the operator."""

    def __init__(self, login: Login, ask: Ask | None) -> None:
        self._login = login
        self.known: KnownHosts | None = None  # set once ssh_config has named the files
        self._ask = ask
        self._agent: asyncssh.SSHAgentClient | None = None
        self._asked = False
        self.refusal: SshFailure | None = None
        self.person = PersonClock()
        self.reached = False  # the target's SSH connection began: the way there worked

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        self.reached = True

    def methods(self) -> str:
        """The methods this connection will offer, for an authentication failure message."""
        offered = []
        if self._login.identity:
            offered.append(f"key {self._login.identity}")
        else:
            offered.append("the keys in ~/.ssh and ssh_config")
        if os.environ.get("SSH_AUTH_SOCK"):
            offered.append("the ssh-agent's keys")
        if self._login.password is not None:
            offered.append("the configured password")
        elif self._ask is not None:
            offered.append("a password typed at the prompt")
        return ", ".join(offered)

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        if self.known is None:  # pragma: no cover - set before asyncssh connects
            return False
        try:
            self.known.decide(
                host, addr, port, key, hash_names=functools.partial(hashes_known_hosts, self._login)
            )
        except SshFailure as refusal:
            self.refusal = refusal
            return False
        return True

    async def public_key_auth_requested(self) -> list[asyncssh.SSHKeyPair] | None:
        sock = os.environ.get("SSH_AUTH_SOCK")
        if not self._login.identity or not sock or self._agent is not None:
            return None
        try:
            self._agent = await asyncssh.connect_agent(sock)
            return list(await self._agent.get_keys()) or None
        except (OSError, ValueError):
            return None

    async def password_auth_requested(self) -> str | None:
        if self._ask is None or self._asked or self._login.password is not None:
            return None
        self._asked = True
        with self.person.waiting():
            return await self._ask(f"password for {self._login.where}: ")

    def forget_agent(self) -> None:
        if self._agent is not None:
            self._agent.close()
            self._agent = None
