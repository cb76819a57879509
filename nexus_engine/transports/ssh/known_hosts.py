"""Host key verification: which keys a host may present, and what to do about one it may not.

asyncssh verifies keys against whatever it is given and calls the client back for a key it
does not trust; this module is both sides of that. It reads the user's known_hosts files once per
run (the ones ``~/.ssh/config`` names, else ``~/.ssh/known_hosts``), answers asyncssh's lookups
from memory, and decides an untrusted key by the policy:

- ``strict`` refuses it, saying whether the host is unknown or its key *changed*;
- ``accept-new`` records a host seen for the first time (appended under ``flock``, so
  concurrent first contacts, from this run or another, never corrupt the file or write a host
  twice; its name hashed as OpenSSH would when ssh_config says ``HashKnownHosts yes``) and
  still refuses a changed key: a changed key is the attack TOFU exists to catch;
- ``off`` is the one place verification is switched off, and only when chosen by name.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import asyncssh

from nexus_engine.transports.ssh.errors import SshFailure
from nexus_engine.words import Failure


class HostKeyPolicy(StrEnum):
    STRICT = "strict"
    ACCEPT_NEW = "accept-new"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class Listed:
    """One known_hosts line that names a host: where it is, for the operator to find."""

    path: Path
    line: int
    key: asyncssh.SSHKey


class KnownHosts:
    """The run's view of known_hosts. Thread-safe only in the sense asyncssh needs: callbacks
    run on the event loop, file appends are serialised with a lock and ``flock``."""

    def __init__(self, policy: HostKeyPolicy, files: Sequence[Path]) -> None:
        self.policy = policy
        self.files = [path.expanduser() for path in files]
        self._parsed: asyncssh.SSHKnownHosts | None = None
        self._accepted: dict[str, asyncssh.SSHKey] = {}  # host pattern → key, this run
        self._append_lock = threading.Lock()

    def matcher(self) -> object:
        """What to pass to asyncssh as ``known_hosts``: None only for the ``off`` policy."""
        if self.policy is HostKeyPolicy.OFF:
            return None
        return self._match

    def _match(
        self, host: str, addr: str, port: int | None
    ) -> tuple[list[asyncssh.SSHKey], list[asyncssh.SSHKey], list[asyncssh.SSHKey]]:
        known = self._known()
        found = known.match(host, addr, port)
        host_keys, ca_keys, revoked = list(found[0]), list(found[1]), list(found[2])
        if port:
            # With no trusted key for host:port, asyncssh matches again without the port and
            # drops the @revoked keys it found with it: a revoked host:port must stay revoked.
            for name in {host, addr} - {""}:
                revoked += known.match(f"[{name}]:{port}", "", None)[2]
        accepted = self._accepted.get(pattern(host, port))
        if accepted is not None:
            host_keys.append(accepted)
        return host_keys, ca_keys, revoked

    def _known(self) -> asyncssh.SSHKnownHosts:
        if self._parsed is None:
            self._parsed = asyncssh.SSHKnownHosts()
            for path in self.files:
                with contextlib.suppress(OSError, UnicodeDecodeError):
                    self._parsed.load(path.read_text(encoding="utf-8"))
        return self._parsed

    def listed(self, host: str, addr: str, port: int | None) -> list[Listed]:
        """Every line that lists a key for this host: the error path only, so it may be slow."""
        found: list[Listed] = []
        for path in self.files:
            for number, text in _lines(path):
                try:
                    keys = asyncssh.import_known_hosts(text).match(host, addr, port)[0]
                except (ValueError, asyncssh.KeyImportError):
                    continue
                found.extend(Listed(path, number, key) for key in keys)
        return found

    def decide(
        self,
        host: str,
        addr: str,
        port: int | None,
        key: asyncssh.SSHKey,
        *,
        hash_names: Callable[[], bool] = bool,
    ) -> None:
        """Called for a key asyncssh does not trust: accept it (``accept-new``, a host seen for
        the first time) or raise the :class:`SshFailure` that says why not. ``hash_names`` is
        asked only when a line is about to be written."""
        where = pattern(host, port)
        offered = f"{key.get_algorithm()} {key.get_fingerprint()}"
        listed = self.listed(host, addr, port)
        if any(entry.key == key for entry in listed):
            return  # recorded since this run read the file (by another run at once): known
        if listed:
            first = listed[0]
            raise SshFailure(
                Failure.HOST_KEY_CHANGED,
                f"HOST KEY CHANGED for {where}: it offered {offered}, but "
                f"{first.path}:{first.line} lists {first.key.get_fingerprint()}. Someone may be "
                f"intercepting the connection. If the host was really re-keyed, remove the old "
                f"key with: ssh-keygen -R '{where}'",
            )
        if self.policy is not HostKeyPolicy.ACCEPT_NEW:
            raise SshFailure(
                Failure.HOST_KEY_UNKNOWN,
                f"host key not verified: {where} offered {offered}, which no known_hosts file "
                f"lists. Compare the fingerprint with the host's own (ssh-keygen -lf "
                f"/etc/ssh/ssh_host_*_key.pub on it), then add it: ssh-keyscan "
                f"{_keyscan_args(host, port)} >> ~/.ssh/known_hosts; or set "
                f'known_hosts = "accept-new" to record new hosts on first contact',
            )
        self._record(where, key, hashed=hash_names())

    def _record(self, where: str, key: asyncssh.SSHKey, *, hashed: bool) -> None:
        target = self.files[0]
        name = hashed_name(where) if hashed else where
        line = f"{name} {key.export_public_key().decode().strip()}\n".encode()
        with self._append_lock, _locked_append(target) as fd:
            # Another process may have recorded this host since we read the file.
            for number, text in _lines(target):
                try:
                    keys = asyncssh.import_known_hosts(text).match(where, "", None)[0]
                except (ValueError, asyncssh.KeyImportError):
                    continue
                if keys and key not in keys:
                    raise SshFailure(
                        Failure.HOST_KEY_CHANGED,
                        f"HOST KEY CHANGED for {where}: {target}:{number} was just recorded "
                        f"with another key",
                    )
                if keys:
                    break
            else:
                if target.stat().st_size and not target.read_bytes().endswith(b"\n"):
                    line = b"\n" + line  # never glue our line onto a last line without one
                os.write(fd, line)
        self._accepted[where] = key


def pattern(host: str, port: int | None) -> str:
    """The known_hosts name of a host: ``host``, or ``[host]:port`` off port 22."""
    return host if port in (None, 22) else f"[{host}]:{port}"


def hashed_name(name: str) -> str:
    """``name`` as ``HashKnownHosts`` writes it: ``|1|salt|HMAC-SHA1(salt, name)``, base64."""
    salt = os.urandom(20)
    digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def _keyscan_args(host: str, port: int | None) -> str:
    return host if port in (None, 22) else f"-p {port} {host}"


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip() and not line.lstrip().startswith("#"):
            yield number, line


@contextlib.contextmanager
def _locked_append(path: Path) -> Iterator[int]:
    """An append-only descriptor under an exclusive ``flock``: existing lines are never
    rewritten, and a writer killed mid-line cannot interleave with another's line."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # releases the lock


class KnownHostsBook:
    """The run's :class:`KnownHosts`, one per set of files: ssh_config may give hosts files of
    their own (``UserKnownHostsFile``), and each set is read once per run."""

    def __init__(self, policy: HostKeyPolicy) -> None:
        self.policy = policy
        self._by_files: dict[tuple[Path, ...], KnownHosts] = {}

    def for_files(self, files: Sequence[Path]) -> KnownHosts:
        key = tuple(path.expanduser() for path in files)
        if key not in self._by_files:
            self._by_files[key] = KnownHosts(self.policy, key)
        return self._by_files[key]
