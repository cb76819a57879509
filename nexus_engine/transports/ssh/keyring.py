"""Client key pairs read once per run, not once per connection.

Left to itself, ``asyncssh.connect`` reads and parses the client's keys for every connection it
makes: the named ``identity``, or each default key in ``~/.ssh`` with its certificate. At 50
hosts that was a tenth of a run's CPU, spent reading the same files fifty times. Here they are
read once (in a thread, as asyncssh reads them) and every connection that would read the same
files gets them from memory:

- as its own copies: asyncssh sets the signature algorithm on a key pair while it logs in (and,
  for an RSA certificate an old server refuses, its algorithm for good), so one pair shared by
  two logins could offer one host what the other chose;
- as long as the files are unchanged: each connection looks at them (``stat``), so a
  certificate renewed while a long run goes on (an agent that renews short-lived ones) is read
  again, as asyncssh would have.

Only logins whose keys depend on nothing else are served from here: when ssh_config names an
``IdentityFile``, a ``CertificateFile`` or ``IdentitiesOnly`` for the host, or may name them in
a second pass (``Match final``, hostname canonicalisation), asyncssh reads the keys itself.
"""

from __future__ import annotations

import asyncio
import copy
import os
from collections.abc import Sequence
from pathlib import Path

import asyncssh
from asyncssh.public_key import _DEFAULT_KEY_FILES, load_default_keypairs

#: ssh_config options that change which keys asyncssh reads, or how, for one host.
_PER_HOST = ("IdentityFile", "CertificateFile", "IdentitiesOnly")
#: What asyncssh reads beside a private key: its certificate and its public half.
_BESIDE = ("", "-cert.pub", ".pub")

_Stamp = tuple[tuple[int, int, int] | None, ...]  # per file: inode, mtime (ns), size, or absent
_Key = tuple[str | None, str | None, _Stamp]


class KeyRing:
    """The key pairs of one run, by the identity file they come from (None: the defaults)."""

    def __init__(self) -> None:
        self._pairs: dict[_Key, Sequence[asyncssh.SSHKeyPair]] = {}
        self._reading: dict[_Key, asyncio.Lock] = {}
        self.reads = 0  # times the files were read, for tests

    @staticmethod
    def serves(config: asyncssh.config.SSHConfig | None, identity: str | None) -> bool:
        """Whether the keys for a login are the same for every host: ssh_config (already
        applied for this host, None when there is none) names nothing about keys for it, and
        has no second pass that might."""
        if config is None:
            return True
        if config.has_match_final() or config.get("CanonicalizeHostname"):
            return False
        named = [option for option in _PER_HOST if config.get(option)]
        return not named or (identity is not None and named == ["IdentityFile"])

    async def pairs(
        self, identity: str | None, passphrase: str | None
    ) -> list[asyncssh.SSHKeyPair]:
        """Copies of the key pairs asyncssh would read: the ``identity`` file (``~`` expanded),
        else the default keys in ``~/.ssh``, skipping those that are encrypted unless
        ``passphrase`` opens them. A file that cannot be read raises as ``asyncssh.connect``
        would have."""
        key = (identity, passphrase, _stamp(identity))
        if (pairs := self._pairs.get(key)) is None:
            async with self._reading.setdefault(key, asyncio.Lock()):  # one read, not one a host
                if (pairs := self._pairs.get(key)) is None:
                    pairs = await asyncio.to_thread(_read, identity, passphrase)
                    self.reads += 1
                    self._pairs[key] = pairs
        return [copy.copy(pair) for pair in pairs]


def _files(identity: str | None) -> list[Path]:
    """The files asyncssh reads for these keys."""
    if identity is not None:
        keys = [Path(os.path.expanduser(identity))]
    else:
        keys = [
            Path("~", ".ssh", name).expanduser() for name, usable in _DEFAULT_KEY_FILES if usable
        ]
    return [key.with_name(key.name + suffix) for key in keys for suffix in _BESIDE]


def _stamp(identity: str | None) -> _Stamp:
    stamps: list[tuple[int, int, int] | None] = []
    for path in _files(identity):
        try:
            info = path.stat()
        except OSError:
            stamps.append(None)
        else:
            stamps.append((info.st_ino, info.st_mtime_ns, info.st_size))
    return tuple(stamps)


def _read(identity: str | None, passphrase: str | None) -> Sequence[asyncssh.SSHKeyPair]:
    if identity is None:
        return load_default_keypairs(passphrase)
    return asyncssh.load_keypairs([os.path.expanduser(identity)], passphrase)
